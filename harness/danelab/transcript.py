"""SMTP/TLS sessions as people read them: a transcript (one line per
command, reply and TLS event, timestamps relative to the session's start)
and the steps of a sequence diagram, from the transcript entries of
results.json (results.transcript_entry()).

Who speaks in a session depends on its role: the sender talks to a server
or an impostor; to a relay (an on-path attacker) the sender talks, and the
attacker talks to the real server in a second, `relayed` session.  Once a
relay tunnels the TLS bytes unread, what the real server logs comes from
the sender itself, through the attacker.  Every field fake-mx logged is
kept: what a line does not spell out is appended as key=value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SENDER = "sender"
# Stages whose client command fake-mx logs no event of: the command is
# known from the reply's stage.
DERIVED = {"data": "DATA", "quit": "QUIT", "rset": "RSET", "noop": "NOOP",
           "starttls": "STARTTLS", "unknown": "(a command it did not know)",
           "ehlo": "EHLO"}
# Fields a line already says (or that only order events).
SAID = {"ts", "event", "session", "listener"}


@dataclass
class Line:
    """One transcript line: seconds since the session began, who speaks
    (`C`, `S`, `A` for the attacker, `*` the lab), text, CSS class."""
    t: float
    who: str
    text: str
    cls: str = ""


@dataclass
class Step:
    """One arrow (or note, when src == dst) of a sequence diagram."""
    ts: float
    src: str
    dst: str
    label: str
    kind: str            # c (command), r (reply), tls, err, note, attack


def _short(h: Any, n: int = 16) -> str:
    h = str(h or "")
    return h[:n] + "…" if len(h) > n else h


def _rest(e: dict[str, Any], used: set[str]) -> str:
    """The fields of E a line did not say, as key=value."""
    extra = {k: v for k, v in e.items() if k not in SAID | used}
    return "".join(f" {k}={v}" for k, v in extra.items())


def lane_of(entry: dict[str, Any]) -> str:
    """The diagram lane of a session's listener."""
    host = entry.get("host") or entry.get("dialled") or \
        str(entry.get("listener", "")).split(":", 1)[-1]
    if entry.get("role") in ("relay", "impostor"):
        return f"attacker at {entry.get('dialled') or host}"
    if entry.get("role") == "catch-all":
        return f"{entry.get('dialled') or 'no one'} (nothing listens)"
    return str(host)


def _tunnel_ts(entries: list[dict[str, Any]], relay: str | None
               ) -> float | None:
    for en in entries:
        if en.get("session") == relay:
            for e in en["events"]:
                if e.get("event") == "tunnel":
                    return float(e.get("ts", 0.0))
    return None


def _tls_text(e: dict[str, Any]) -> str:
    chain = e.get("chain_sha256") or []
    sni = e.get("sni")
    return (f"TLS established: {e.get('version')} {e.get('cipher')}, "
            f"SNI {sni if sni else '(none sent)'}, certificate sha256 "
            f"{_short(e.get('cert_sha256'))} (chain of {len(chain)})")


def readable(entry: dict[str, Any], entries: list[dict[str, Any]] | None
             = None) -> list[Line]:
    """ENTRY's events as transcript lines.  ENTRIES (the other sessions of
    the same case) tell when a relay began tunnelling, for a relayed
    session."""
    evs = entry.get("events") or []
    if not evs:
        return []
    t0 = float(evs[0].get("ts", 0.0))
    role = entry.get("role")
    tun = _tunnel_ts(entries or [], entry.get("via")) \
        if role == "relayed" else None
    out: list[Line] = []
    pending = ""                  # the stage a logged command awaits
    in_tls = False

    def add(e: dict[str, Any], who: str, text: str, cls: str,
            used: set[str]) -> None:
        out.append(Line(float(e.get("ts", t0)) - t0, who, text + _rest(
            e, used), cls))
    for e in evs:
        k = e.get("event")
        client = "C"
        if role == "relayed":
            client = "C" if tun is not None and e.get("ts", 0) >= tun \
                else "A"
        if k == "state":
            add(e, "*", f"state {e.get('from')} → {e.get('to')}", "state",
                {"from", "to"})
        elif k == "connect":
            add(e, "*", f"connection from {e.get('peer')} to "
                f"{e.get('local')}", "note", {"peer", "local"})
        elif k == "reply":
            stage = str(e.get("stage"))
            if stage in DERIVED and pending != stage and stage != "ehlo":
                out.append(Line(float(e.get("ts", t0)) - t0, client,
                                DERIVED[stage], "cmd"))
            pending = ""
            code = int(e.get("code") or 0)
            add(e, "S", f"{code} {e.get('text', '')}  ({stage})",
                "err" if code >= 400 else "reply",
                {"code", "text", "stage"})
        elif k == "ehlo":
            verb = "EHLO" if e.get("esmtp", True) else "HELO"
            offered = e.get("starttls_offered")
            add(e, client, f"{verb} {e.get('name', '')}"
                + ("  [server offers STARTTLS]" if offered else
                   "  [no STARTTLS offered]" if offered is False and
                   not in_tls else ""),
                "cmd", {"name", "esmtp", "starttls_offered"})
            pending = "ehlo"
        elif k == "starttls":
            if role == "relay" and e.get("forwarded"):
                add(e, "A", f"passes STARTTLS on; the server answers "
                    f"{e.get('reply')}", "attack", {"reply", "forwarded"})
            elif role == "relay":
                add(e, "A", f"answers STARTTLS itself with "
                    f"{e.get('reply')} (never forwarded to the server)",
                    "attack", {"reply"})
            else:
                add(e, client, f"STARTTLS  [server answers "
                    f"{e.get('reply')}]", "cmd", {"reply"})
                pending = "starttls"
        elif k == "tls":
            in_tls = True
            add(e, "*", _tls_text(e), "tls",
                {"version", "cipher", "sni", "cert_sha256", "chain_sha256"})
        elif k == "tls-failed":
            add(e, "*", f"TLS failed: {e.get('reason')} (SNI "
                f"{e.get('sni') or 'none'})", "err", {"reason", "sni"})
        elif k == "mail":
            add(e, client, f"MAIL FROM:<{e.get('from', '')}>", "cmd",
                {"from"})
            pending = "mail"
        elif k == "rcpt":
            add(e, client, f"RCPT TO:<{e.get('to', '')}>", "cmd", {"to"})
            pending = "rcpt"
        elif k == "message":
            how = "over TLS" if e.get("tls") else "IN CLEARTEXT"
            add(e, client, f"message text ({e.get('size')} bytes, {how}) "
                f"Message-ID <{e.get('message_id')}>, from "
                f"<{e.get('from')}> to {', '.join(e.get('to') or [])}",
                "cmd" if e.get("tls") else "err",
                {"size", "tls", "message_id", "from", "to"})
            pending = "eom"
        elif k == "relay":
            line = str(e.get("line", ""))
            if e.get("direction") == "c2s":
                add(e, "C", line, "captured", {"line", "direction"})
            elif e.get("stripped"):
                add(e, "A", f"REMOVED from the server's reply: {line}",
                    "stripped", {"line", "direction", "stripped"})
            elif e.get("injected"):
                add(e, "A", f"MADE UP, sent in plaintext: {line}",
                    "injected", {"line", "direction", "injected"})
            else:
                add(e, "S", line, "reply", {"line", "direction"})
        elif k == "upstream":
            add(e, "A", f"connects to the real server {e.get('peer')} "
                f"from {e.get('local')}", "attack", {"peer", "local"})
        elif k == "tunnel":
            add(e, "A", "from here on passes the TLS bytes through "
                f"unread ({e.get('injected', 0)} octets injected first)",
                "attack", {"injected"})
        elif k == "close":
            add(e, "*", f"closed: {e.get('reason')} (in state "
                f"{e.get('state')})", "note", {"reason", "state"})
        else:
            add(e, "*", str(k), "note", set())
    return out


def who_label(entry: dict[str, Any], who: str) -> str:
    """Who a transcript line's speaker is, in words."""
    role = entry.get("role")
    if who == "A":
        return "attacker"
    if who == "C":
        return "attacker" if role == "relayed" else SENDER
    if who == "S":
        return {"impostor": "attacker", "relay": "server, relayed"}.get(
            str(role), "server")
    return ""


def steps(entries: list[dict[str, Any]]) -> list[Step]:
    """Every session of a case as diagram steps, in time order: both legs
    of a relayed session, the attacker in the middle."""
    lanes = {en["session"]: lane_of(en) for en in entries}
    out: list[Step] = []
    for en in entries:
        lane = lanes[en["session"]]
        role = en.get("role")
        relay_lane = lanes.get(en.get("via") or "", SENDER)
        tun = _tunnel_ts(entries, en.get("via")) \
            if role == "relayed" else None
        out += _relay_steps(en, lane) if role == "relay" else \
            _server_steps(en, lane, relay_lane if role == "relayed"
                          else SENDER, tun)
    out.sort(key=lambda s: s.ts)
    return out


def _server_steps(en: dict[str, Any], lane: str, client: str,
                  tunnel: float | None) -> list[Step]:
    out: list[Step] = []
    pending = ""
    for e in en.get("events") or []:
        ts = float(e.get("ts", 0.0))
        c = SENDER if tunnel is not None and ts >= tunnel else client
        via = " (through the tunnel)" if c != client else ""
        k = e.get("event")
        if k == "connect":
            out.append(Step(ts, c, lane, "connect", "c"))
        elif k == "reply":
            stage = str(e.get("stage"))
            if stage in DERIVED and pending != stage and stage != "ehlo":
                out.append(Step(ts, c, lane, DERIVED[stage] + via, "c"))
            pending = ""
            code = int(e.get("code") or 0)
            text = str(e.get("text", ""))
            out.append(Step(ts, lane, c, f"{code} {_short(text, 34)}",
                            "err" if code >= 400 else "r"))
        elif k == "ehlo":
            out.append(Step(ts, c, lane, f"EHLO {e.get('name', '')}{via}",
                            "c"))
            pending = "ehlo"
        elif k == "starttls":
            out.append(Step(ts, c, lane, "STARTTLS" + via, "c"))
            pending = "starttls"
        elif k == "tls":
            out.append(Step(ts, c, lane, f"TLS {e.get('version')}, SNI "
                            f"{e.get('sni') or '(none)'}", "tls"))
        elif k == "tls-failed":
            out.append(Step(ts, c, lane, "TLS failed: "
                            f"{_short(e.get('reason'), 40)}", "err"))
        elif k in ("mail", "rcpt"):
            word = "MAIL FROM" if k == "mail" else "RCPT TO"
            out.append(Step(ts, c, lane, f"{word}:<"
                            f"{e.get('from') or e.get('to')}>{via}", "c"))
            pending = k
        elif k == "message":
            how = "over TLS" if e.get("tls") else "IN CLEARTEXT"
            out.append(Step(ts, c, lane, f"message {how} "
                            f"({e.get('size')} bytes)",
                            "tls" if e.get("tls") else "err"))
            pending = "eom"
        elif k == "close":
            out.append(Step(ts, lane, lane, f"close: {e.get('reason')}",
                            "note"))
    return out


def _relay_steps(en: dict[str, Any], lane: str) -> list[Step]:
    """The sender's leg to an on-path relay: what the sender sent (and
    the attacker read), what the attacker forwarded, removed or made up.
    Lines of one multi-line reply, and the lines of a message, become one
    arrow each."""
    out: list[Step] = []
    group: list[dict[str, Any]] = []
    in_data = False

    def flush() -> None:
        if not group:
            return
        first = str(group[0].get("line", ""))
        gone = [str(g.get("line", "")) for g in group if g.get("stripped")]
        made = [g for g in group if g.get("injected")]
        kept = [g for g in group if not g.get("stripped")]
        label = _short(first, 30) + (f" (+{len(kept) - 1} lines)"
                                     if len(kept) > 1 else "")
        ts = float(group[0].get("ts", 0.0))
        if made:
            out.append(Step(ts, lane, SENDER, "MADE UP: " + label, "attack"))
        else:
            out.append(Step(ts, lane, SENDER, label,
                            "err" if first[:1] in "45" else "r"))
        for g in gone:
            out.append(Step(float(group[-1].get("ts", ts)), lane, lane,
                            f"✂ removed: {g}", "attack"))
        group.clear()
    for e in en.get("events") or []:
        ts = float(e.get("ts", 0.0))
        k = e.get("event")
        if k == "relay" and e.get("direction") == "s2c":
            line = str(e.get("line", ""))
            if group and (bool(group[-1].get("injected")) !=
                          bool(e.get("injected"))):
                flush()
            group.append(e)
            if len(line) < 4 or line[3] != "-" or e.get("injected"):
                flush()
            continue
        flush()
        if k == "connect":
            out.append(Step(ts, SENDER, lane, "connect", "c"))
        elif k == "relay":
            line = str(e.get("line", ""))
            if in_data:
                if line == ".":
                    in_data = False
                    out.append(Step(ts, SENDER, lane, ". (end of the "
                                    "message)", "c"))
                continue
            out.append(Step(ts, SENDER, lane, _short(line, 34) +
                            " [read]", "err"))
            if line.upper() == "DATA":
                in_data = True
                out.append(Step(ts, lane, lane, "reads the message text "
                                "in cleartext", "attack"))
        elif k == "starttls" and not e.get("forwarded"):
            out.append(Step(ts, lane, lane, "answers STARTTLS itself "
                            f"({e.get('reply')})", "attack"))
        elif k == "tunnel":
            out.append(Step(ts, lane, lane, "TLS bytes pass through "
                            "unread", "note"))
        elif k == "close":
            out.append(Step(ts, lane, lane, f"close: {e.get('reason')}",
                            "note"))
    flush()
    return out


def lanes(entries: list[dict[str, Any]]) -> list[str]:
    """Diagram lanes left to right: the sender, each attacker, then the
    servers (a relay's real server right of its attacker)."""
    out = [SENDER]
    for en in entries:
        if en.get("role") != "relayed":
            ln = lane_of(en)
            if ln not in out:
                out.append(ln)
        up = next((x for x in entries
                   if x.get("session") == en.get("upstream")), None)
        if up is not None and lane_of(up) not in out:
            out.append(lane_of(up))
    for en in entries:
        if lane_of(en) not in out:
            out.append(lane_of(en))
    return out
