"""What the network saw: fake-mx's events folded into sessions.

A Session is one TCP connection to one listener: whether TLS was set up (and
with which SNI and certificate), which envelope commands arrived before or
after TLS, which messages were accepted.  A connection to an address no
listener serves lands in fake-mx's catch-all (`catch_all`), which resets it
at once: `local` then says which address the sender dialled.  These are the
grader's ground truth.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass
class Session:
    id: str
    listener: str
    peer: str = ""
    local: str = ""
    tls: bool = False
    tls_version: str | None = None
    sni: str | None = None
    cert_sha256: str | None = None
    chain_sha256: list[str] = field(default_factory=list)
    tls_failed: str | None = None
    starttls_offered: bool | None = None
    starttls_reply: str | None = None
    plain_mail: bool = False          # MAIL FROM sent before TLS
    mail: bool = False                # MAIL FROM sent at all
    rcpts: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    close: str | None = None
    events_dropped: int = 0           # fake-mx's log budget ran out
    catch_all: bool = False           # caught: nothing listens at `local`
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def local_address(self) -> str:
        """The address the sender dialled, without the port."""
        host = self.local.rsplit(":", 1)[0]
        return host[1:-1] if host.startswith("[") else host

    def transcript(self) -> list[str]:
        """A readable line per event, for reports."""
        out = []
        for e in self.events:
            k = e.get("event")
            extra = {x: y for x, y in e.items()
                     if x not in ("ts", "session", "listener", "event")}
            detail = " ".join(f"{x}={y}" for x, y in extra.items())
            out.append(f"{k} {detail}".strip())
        return out


def sessions(events: Iterable[dict[str, Any]]) -> dict[str, Session]:
    """Fold EVENTS into sessions by their session id."""
    out: dict[str, Session] = {}
    for e in events:
        sid = e.get("session")
        if not sid:
            continue
        s = out.get(sid)
        if s is None:
            s = out[sid] = Session(sid, e.get("listener", ""))
        s.events.append(e)
        k = e.get("event")
        if k == "connect":
            s.peer, s.local = e.get("peer", ""), e.get("local", "")
            s.catch_all = e.get("catch_all") is True
        elif k == "ehlo" and "starttls_offered" in e:
            s.starttls_offered = bool(e["starttls_offered"])
        elif k == "starttls":
            s.starttls_reply = str(e.get("reply"))
        elif k == "tls":
            s.tls = True
            s.tls_version = e.get("version")
            s.sni = e.get("sni")
            s.cert_sha256 = e.get("cert_sha256")
            s.chain_sha256 = list(e.get("chain_sha256") or [])
        elif k == "tls-failed":
            s.tls_failed = e.get("reason") or "failed"
        elif k == "mail":
            s.mail = True
            s.plain_mail = s.plain_mail or not s.tls
        elif k == "rcpt":
            s.rcpts.append(e.get("to", ""))
        elif k == "message":
            s.messages.append(e)
        elif k == "close":
            s.close = e.get("reason")
            s.events_dropped = int(e.get("events_suppressed") or 0)
    return out
