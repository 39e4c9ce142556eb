"""Checks of TLSRPT (RFC 8460) reports as a receiver gets them.

check_mail()  a report mail: MIME structure, headers, subject, file name,
              gzip, JSON, DKIM signature of the reporting domain;
check_https() an HTTPS POST: content type, gzip, JSON;
check_json()  the report document itself (I-JSON, required keys, arrays where
              arrays belong, date range, result types).
Each returns the parsed report (or None) and a list of problems; an empty
list means the report is well-formed.  Grading against what the lab saw is
in tlsrpt_grade.py.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import gzip
import json
import re
from typing import Any, Callable

import dkim

from .scenario import RESULT_TYPES

POLICY_TYPES = ("tlsa", "sts", "no-policy-found")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?"
                     r"(Z|[+-]\d{2}:\d{2})$")
FILE_RE = re.compile(r"^(?P<sender>[^!]+)!(?P<domain>[^!]+)!(?P<begin>\d+)!"
                     r"(?P<end>\d+)(!(?P<uid>[^!]+))?\.json\.gz$")

Doc = dict[str, Any]


def _time(v: Any) -> dt.datetime | None:
    if not isinstance(v, str) or not RFC3339.match(v):
        return None
    return dt.datetime.fromisoformat(v.replace("Z", "+00:00"))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ValueError(f"duplicate keys (not I-JSON): {sorted(dup)}")
    return dict(pairs)


def parse_json(raw: bytes) -> tuple[Doc | None, list[str]]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, ["report is not UTF-8 (I-JSON, RFC 7493)"]
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except ValueError as e:
        return None, [f"report is not valid JSON: {e}"]
    if not isinstance(doc, dict):
        return None, ["report is not a JSON object"]
    return doc, []


def check_json(doc: Doc) -> list[str]:
    """RFC 8460 §4 structure of one report."""
    p: list[str] = []
    for k in ("organization-name", "contact-info", "report-id"):
        if not isinstance(doc.get(k), str) or not doc.get(k):
            p.append(f"{k} missing or not a string")
    dr = doc.get("date-range")
    if not isinstance(dr, dict):
        p.append("date-range missing or not an object")
    else:
        s, e = _time(dr.get("start-datetime")), _time(dr.get("end-datetime"))
        if s is None or e is None:
            p.append("date-range start/end not RFC 3339 date-times")
        elif e < s:
            p.append("date-range ends before it starts")
    pols = doc.get("policies")
    if not isinstance(pols, list) or not pols:
        return p + ["policies missing or not a non-empty array"]
    for i, entry in enumerate(pols):
        p += _check_policy_entry(i, entry)
    return p


def _check_policy_entry(i: int, entry: Any) -> list[str]:
    w = f"policies[{i}]"
    if not isinstance(entry, dict):
        return [f"{w} is not an object"]
    p: list[str] = []
    pol = entry.get("policy")
    if not isinstance(pol, dict):
        p.append(f"{w}.policy missing")
    else:
        if pol.get("policy-type") not in POLICY_TYPES:
            p.append(f"{w}.policy.policy-type {pol.get('policy-type')!r} "
                     "is not tlsa, sts or no-policy-found")
        if not isinstance(pol.get("policy-domain"), str) or \
                not pol.get("policy-domain"):
            p.append(f"{w}.policy.policy-domain missing")
        ps = pol.get("policy-string")
        if ps is not None and (not isinstance(ps, list) or
                               not all(isinstance(x, str) for x in ps)):
            p.append(f"{w}.policy.policy-string is not an array of strings")
        mx = pol.get("mx-host")
        if mx is not None and (not isinstance(mx, list) or
                               not all(isinstance(x, str) for x in mx)):
            p.append(f"{w}.policy.mx-host is not an array of strings "
                     "(RFC 8460 erratum 6241)")
    sm = entry.get("summary")
    if not isinstance(sm, dict):
        p.append(f"{w}.summary missing")
    else:
        for k in ("total-successful-session-count",
                  "total-failure-session-count"):
            v = sm.get(k)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                p.append(f"{w}.summary.{k} missing or not a count")
    fd = entry.get("failure-details", [])
    if not isinstance(fd, list):
        return p + [f"{w}.failure-details is not an array"]
    for j, f in enumerate(fd):
        if not isinstance(f, dict):
            p.append(f"{w}.failure-details[{j}] is not an object")
            continue
        if f.get("result-type") not in RESULT_TYPES:
            p.append(f"{w}.failure-details[{j}].result-type "
                     f"{f.get('result-type')!r} is not registered")
        c = f.get("failed-session-count")
        if not isinstance(c, int) or isinstance(c, bool) or c < 1:
            p.append(f"{w}.failure-details[{j}].failed-session-count "
                     "missing or not a positive count")
    if isinstance(sm, dict) and isinstance(fd, list):
        total = sum(f.get("failed-session-count", 0) for f in fd
                    if isinstance(f, dict) and
                    isinstance(f.get("failed-session-count"), int))
        if isinstance(sm.get("total-failure-session-count"), int) and \
                total > sm["total-failure-session-count"]:
            p.append(f"{w}: failure-details count {total} more failures "
                     "than the summary")
    return p


def _gunzip(raw: bytes) -> tuple[bytes | None, list[str]]:
    try:
        return gzip.decompress(raw), []
    except (OSError, EOFError) as e:
        return None, [f"report is not valid gzip: {e}"]


def check_https(body: bytes, content_type: str
                ) -> tuple[Doc | None, list[str]]:
    p: list[str] = []
    if content_type.split(";")[0].strip().lower() != \
            "application/tlsrpt+gzip":
        p.append(f"Content-Type {content_type!r}, expected "
                 "application/tlsrpt+gzip")
    raw, q = _gunzip(body)
    if raw is None:
        return None, p + q
    doc, q = parse_json(raw)
    if doc is None:
        return None, p + q
    return doc, p + check_json(doc)


DnsFunc = Callable[..., bytes | None]


def check_mail(raw: bytes, dnsfunc: DnsFunc, reporting_domain: str
               ) -> tuple[Doc | None, list[str]]:
    """A report mail as it arrived at the rua mailbox."""
    p: list[str] = []
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    if msg.get_content_type() != "multipart/report" or \
            msg.get_param("report-type") != "tlsrpt":
        p.append(f"top-level type {msg.get_content_type()} "
                 f"report-type={msg.get_param('report-type')!r}; expected "
                 "multipart/report; report-type=\"tlsrpt\"")
    dom = msg.get("TLS-Report-Domain")
    sub = msg.get("TLS-Report-Submitter")
    if not dom:
        p.append("TLS-Report-Domain header missing")
    if not sub:
        p.append("TLS-Report-Submitter header missing")
    subj = str(msg.get("Subject", ""))
    if not re.search(r"Report Domain:\s*\S+", subj) or \
            "Submitter:" not in subj or "Report-ID:" not in subj:
        p.append(f"Subject {subj!r} lacks 'Report Domain: … Submitter: … "
                 "Report-ID: …' (RFC 8460 §5.3)")
    try:
        ok = dkim.verify(raw, dnsfunc=dnsfunc, tlsrpt=True)
    except Exception as e:        # dkim raises many kinds on bad input
        ok = False
        p.append(f"DKIM verification error: {e}")
    sig = str(msg.get("DKIM-Signature", ""))
    if not sig:
        p.append("no DKIM-Signature")
    elif not ok:
        p.append("DKIM signature does not verify")
    elif not re.search(rf"\bd={re.escape(reporting_domain)}\s*;", sig + ";"):
        p.append(f"DKIM d= is not the reporting domain {reporting_domain}")
    parts = [x for x in msg.walk()
             if x.get_content_type() == "application/tlsrpt+gzip"]
    if len(parts) != 1:
        return None, p + [f"{len(parts)} application/tlsrpt+gzip parts, "
                          "expected 1"]
    fn = parts[0].get_filename() or ""
    m = FILE_RE.match(fn)
    if not m:
        p.append(f"file name {fn!r} is not sender!domain!begin!end"
                 "[!id].json.gz")
    elif dom and m["domain"] != dom:
        p.append(f"file name domain {m['domain']} != TLS-Report-Domain "
                 f"{dom}")
    raw_part = parts[0].get_payload(decode=True)
    if not isinstance(raw_part, bytes):
        return None, p + ["report part has no body"]
    js, q = _gunzip(raw_part)
    if js is None:
        return None, p + q
    doc, q = parse_json(js)
    if doc is None:
        return None, p + q
    p += check_json(doc)
    return doc, p
