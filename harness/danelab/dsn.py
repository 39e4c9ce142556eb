"""Delivery status notifications (RFC 3464) as the smtp:// adapter reads
them: which message a DSN is about, what happened to it (Action), the
enhanced status code (Status, RFC 3463) and the remote or local
explanation (Diagnostic-Code)."""
from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message

MSGID_RE = re.compile(rb"^Message-ID:\s*<?([^>\s]+)>?", re.I | re.M)
STATUS_RE = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


@dataclass
class Dsn:
    message_id: str | None        # of the original message (without <>)
    action: str                   # failed | delayed | delivered | ...
    status: str                   # e.g. 5.7.5
    diagnostic: str               # Diagnostic-Code (type; text)
    recipient: str
    problems: list[str]


def _fields(part: Message) -> list[Message]:
    """The field groups of a message/delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    return []


def _original_id(msg: Message, raw: bytes, known: set[str]) -> str | None:
    for part in msg.walk():
        ct = part.get_content_type()
        if ct == "text/rfc822-headers":
            body = part.get_payload(decode=True) or b""
            m = MSGID_RE.search(body)
            if m:
                return m.group(1).decode(errors="replace")
        if ct == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                mid = inner[0].get("Message-ID", "")
                if mid:
                    return str(mid).strip().strip("<>")
    # a DSN without the original's headers: any known id it quotes
    for mid in known:
        if mid.encode() in raw:
            return mid
    return None


def parse(raw: bytes, known: frozenset[str] | set[str] = frozenset()
          ) -> Dsn | None:
    """RAW as a DSN, None when it is no multipart/report of type
    delivery-status."""
    msg = email.message_from_bytes(raw)
    if msg.get_content_type() != "multipart/report" or \
            str(msg.get_param("report-type", "")).lower() != \
            "delivery-status":
        return None
    probs: list[str] = []
    ds = next((p for p in msg.walk()
               if p.get_content_type() == "message/delivery-status"), None)
    groups = _fields(ds) if ds is not None else []
    if not groups:
        probs.append("no message/delivery-status part")
    rcpt = next((g for g in groups[1:] if g.get("Action")), None)
    action = str(rcpt.get("Action", "")).strip().lower() if rcpt else ""
    status = str(rcpt.get("Status", "")).strip() if rcpt else ""
    if rcpt is not None and not STATUS_RE.match(status):
        probs.append(f"Status {status!r} is no RFC 3463 code")
    diag = " ".join(str(rcpt.get("Diagnostic-Code", "")).split()) \
        if rcpt else ""
    final = str(rcpt.get("Final-Recipient", "")).strip() if rcpt else ""
    return Dsn(_original_id(msg, raw, set(known)), action, status, diag,
               final, probs)
