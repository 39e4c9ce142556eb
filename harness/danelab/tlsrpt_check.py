"""Checks of TLSRPT (RFC 8460) reports as a receiver gets them.

check_mail()  a report mail: MIME structure, headers, subject, file name,
              gzip, DKIM signature of the reporting domain, and that
              TLS-Report-Submitter is the domain of contact-info;
check_https() an HTTPS POST: content type, gzip;
both then check the report document itself (tlsrpt_doc.check_json: I-JSON
and every key of RFC 8460 section 4).  Each returns the parsed report (or
None) and a list of problems, each with its level (MUST or SHOULD); an
empty list means the report is well-formed.  Grading against what the lab
saw is in tlsrpt_grade.py and tlsrpt_count.py.
"""
from __future__ import annotations

import email
import email.policy
import zlib
import re
from typing import Callable

import dkim

from .tlsrpt_doc import Doc, Problem, check_json, contact_domain, \
    parse_json

__all__ = ["Doc", "Problem", "check_https", "check_json", "check_mail",
           "parse_json"]

FILE_RE = re.compile(r"^(?P<sender>[^!]+)!(?P<domain>[^!]+)!(?P<begin>\d+)!"
                     r"(?P<end>\d+)(!(?P<uid>[^!]+))?\.json\.gz$")


def _must(text: str) -> Problem:
    return Problem("MUST", text)


# A report larger than this once decompressed is refused: the sender under
# test writes it, and a gzip bomb must not exhaust the lab's grader.
MAX_REPORT = 16 * 1024 * 1024


def _gunzip(raw: bytes) -> tuple[bytes | None, list[Problem]]:
    """RAW decompressed (gzip, RFC 1952: one member or several), at most
    MAX_REPORT bytes; a problem for anything else."""
    out, rest = b"", raw
    try:
        while True:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += d.decompress(rest, MAX_REPORT + 1 - len(out))
            if len(out) > MAX_REPORT:
                return None, [_must(f"report is over {MAX_REPORT} bytes "
                                    "once decompressed (a gzip bomb?)")]
            if not d.eof:
                return None, [_must("report is not valid gzip: the stream "
                                    "is truncated")]
            rest = d.unused_data
            if not rest:
                return out, []
    except zlib.error as e:
        return None, [_must(f"report is not valid gzip: {e}")]


def check_https(body: bytes, content_type: str
                ) -> tuple[Doc | None, list[Problem]]:
    p: list[Problem] = []
    if content_type.split(";")[0].strip().lower() != \
            "application/tlsrpt+gzip":
        p.append(_must(f"Content-Type {content_type!r}, expected "
                       "application/tlsrpt+gzip"))
    raw, q = _gunzip(body)
    if raw is None:
        return None, p + q
    doc, q = parse_json(raw)
    if doc is None or q:
        return doc, p + q
    return doc, p + check_json(doc)


DnsFunc = Callable[..., bytes | None]


def check_mail(raw: bytes, dnsfunc: DnsFunc, reporting_domain: str
               ) -> tuple[Doc | None, list[Problem]]:
    """A report mail as it arrived at the rua mailbox (RFC 8460 §3, §5)."""
    p: list[Problem] = []
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if msg.get_content_type() != "multipart/report" or \
            msg.get_param("report-type") != "tlsrpt":
        p.append(_must(f"top-level type {msg.get_content_type()} "
                       f"report-type={msg.get_param('report-type')!r}; "
                       "expected multipart/report; report-type=\"tlsrpt\" "
                       "(RFC 8460 §5.3)"))
    dom = msg.get("TLS-Report-Domain")
    sub = msg.get("TLS-Report-Submitter")
    if not dom:
        p.append(_must("TLS-Report-Domain header missing (RFC 8460 §5.3)"))
    if not sub:
        p.append(_must("TLS-Report-Submitter header missing (RFC 8460 "
                       "§5.3)"))
    subj = str(msg.get("Subject", ""))
    if not re.search(r"Report Domain:\s*\S+", subj) or \
            "Submitter:" not in subj or "Report-ID:" not in subj:
        p.append(Problem("SHOULD", f"Subject {subj!r} lacks 'Report Domain: "
                         "… Submitter: … Report-ID: …' (RFC 8460 §5.3)"))
    try:
        ok = dkim.verify(raw, dnsfunc=dnsfunc, tlsrpt=True)
    except Exception as e:        # dkim raises many kinds on bad input
        ok = False
        p.append(_must(f"DKIM verification error: {e}"))
    sig = str(msg.get("DKIM-Signature", ""))
    if not sig:
        p.append(_must("no DKIM-Signature (RFC 8460 §3)"))
    elif not ok:
        p.append(_must("DKIM signature does not verify (RFC 8460 §3)"))
    elif not re.search(rf"\bd={re.escape(reporting_domain)}\s*;",
                       sig + ";"):
        p.append(_must(f"DKIM d= is not the reporting domain "
                       f"{reporting_domain} (RFC 8460 §3)"))
    parts = [x for x in msg.walk()
             if x.get_content_type() == "application/tlsrpt+gzip"]
    if len(parts) != 1:
        return None, p + [_must(f"{len(parts)} application/tlsrpt+gzip "
                                "parts, expected 1")]
    fn = parts[0].get_filename() or ""
    m = FILE_RE.match(fn)
    if not m:
        p.append(Problem("SHOULD", f"file name {fn!r} is not sender!domain!"
                         "begin!end[!id].json.gz (RFC 8460 §5.1: "
                         "RECOMMENDED)"))
    elif dom and m["domain"] != dom:
        p.append(Problem("SHOULD", f"file name domain {m['domain']} != "
                         f"TLS-Report-Domain {dom}"))
    raw_part = parts[0].get_payload(decode=True)
    if not isinstance(raw_part, bytes):
        return None, p + [_must("report part has no body")]
    js, q = _gunzip(raw_part)
    if js is None:
        return None, p + q
    doc, q = parse_json(js)
    if doc is None or q:
        return doc, p + q
    p += check_json(doc)
    cdom = contact_domain(doc)
    if sub and cdom and str(sub).strip().lower().rstrip(".") != cdom:
        p.append(_must(f"TLS-Report-Submitter {str(sub).strip()} is not the "
                       f"domain of contact-info ({cdom}) (RFC 8460 §5.3: "
                       "MUST match)"))
    return doc, p
