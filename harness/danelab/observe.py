"""What the network saw: fake-mx's events folded into sessions.

A Session is one TCP connection to one listener: whether TLS was set up (and
with which SNI and certificate), which envelope commands arrived before or
after TLS, which messages were accepted.  A connection to an address no
listener serves lands in fake-mx's catch-all (`catch_all`), which resets it
at once: `local` then says which address the sender dialled.  These are the
grader's ground truth.

An on-path attacker (a strip-relay listener) makes two sessions of one
delivery attempt: the sender's leg, to the relay (`relay`: True; what the
attacker read, stripped or made up is in its `relay` events), and the
relay's own leg to the real server.  sessions() joins them: the relay
dials from its own address and logs it (`upstream`), which the real server
logs as its session's peer.  The second leg's `via` names the first, whose
`upstream` names the second; the grader judges the second leg as a session
to the host the sender dialled (`via_listener`).
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
    impostor: bool = False            # an attacker's own server
    relay: bool = False               # an on-path relay (the sender's leg)
    upstream_local: str = ""          # relay: address:port it dialled from
    upstream: str | None = None       # relay: the real server's session
    via: str | None = None            # 2nd leg: the relay's session
    via_listener: str | None = None   # ... and its listener
    via_local: str = ""               # ... and the address:port it serves
    stripped: list[str] = field(default_factory=list)   # lines removed
    injected: list[str] = field(default_factory=list)   # lines made up
    tunnel: bool = False              # relay: TLS passed through unread
    captured: list[str] = field(default_factory=list)   # c2s in clear
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def local_address(self) -> str:
        """The address the sender dialled, without the port: for the
        second leg of a relayed session, the relay's (`local` is the
        leg's own)."""
        host = (self.via_local or self.local).rsplit(":", 1)[0]
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


def _relay_line(s: Session, e: dict[str, Any]) -> None:
    """What a relay event tells: a client line the attacker read in
    cleartext (and, for MAIL/RCPT, the envelope it saw), or a server line
    it removed or made up."""
    line = str(e.get("line", ""))
    if e.get("stripped"):
        s.stripped.append(line)
    if e.get("injected"):
        s.injected.append(line)
    if e.get("direction") != "c2s":
        return
    s.captured.append(line)
    verb = line[:10].upper()
    if verb.startswith("MAIL FROM:"):
        s.mail = s.plain_mail = True
    elif verb.startswith("RCPT TO:"):
        s.rcpts.append(line[8:].strip().strip("<>"))


def _join_legs(out: dict[str, Session]) -> None:
    """Match each relay's upstream connection to the server session whose
    peer is the address the relay dialled from (the nearest in time, should
    a port be reused)."""
    by_peer: dict[str, list[Session]] = {}
    for s in out.values():
        if s.peer and not s.relay:
            by_peer.setdefault(s.peer, []).append(s)
    for r in out.values():
        if not (r.relay and r.upstream_local):
            continue
        t0 = next((e.get("ts", 0.0) for e in r.events
                   if e.get("event") == "upstream"), 0.0)
        legs = [x for x in by_peer.get(r.upstream_local, []) if not x.via]
        if not legs:
            continue
        leg = min(legs, key=lambda x: abs(
            (x.events[0].get("ts", 0.0) if x.events else 0.0) - t0))
        r.upstream = leg.id
        leg.via, leg.via_listener, leg.via_local = r.id, r.listener, r.local


def sessions(events: Iterable[dict[str, Any]]) -> dict[str, Session]:
    """Fold EVENTS into sessions by their session id; join the two legs of
    every relayed session."""
    out: dict[str, Session] = {}
    for e in events:
        sid = e.get("session")
        if not sid:
            continue
        s = out.get(sid)
        if s is None:
            s = out[sid] = Session(sid, e.get("listener", ""))
        s.events.append(e)
        s.impostor = s.impostor or e.get("impostor") is True
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
        elif k == "upstream":
            s.relay, s.upstream_local = True, str(e.get("local", ""))
        elif k == "relay":
            s.relay = True
            _relay_line(s, e)
        elif k == "tunnel":
            s.tunnel = True
    _join_legs(out)
    return out
