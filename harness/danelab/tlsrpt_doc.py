"""One TLSRPT report document checked against RFC 8460 section 4.

parse_json() reads the bytes as I-JSON (RFC 7493); check_json() checks the
report's keys and values.  Every problem carries the level at which the
RFC puts the rule (docs/tlsrpt-grading.md lists them all):

MUST    the document is not in the form section 4.4 defines: a key the
        format has for this kind of entry is missing, a value has the
        wrong JSON type or form (addr-spec, URI, RFC 3339 date-time, IP
        address, TLSA presentation format, A-label domain), the counts of
        one policy contradict each other; or an explicit MUST is broken
        (section 4: "policies" is an array; section 4.4: A-labels).
SHOULD  an explicit SHOULD is not met: a full UTC day (4.1), a
        failure-reason-code for certificate-not-trusted and
        validation-failure (4.3.1, 4.3.3).

Keys marked "(optional)" in section 4.4 (receiving-mx-helo and
additional-information) may be absent; every other key of the template is
expected wherever it has something to say (a failure without a session
has no receiving-ip).  Comparing the counts with what the lab saw is
tlsrpt_count.py's job.
"""
from __future__ import annotations

import calendar
import datetime as dt
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from .scenario import RESULT_TYPES

Doc = dict[str, Any]

POLICY_TYPES = ("tlsa", "sts", "no-policy-found")
NEGOTIATION = ("starttls-not-supported", "certificate-host-mismatch",
               "certificate-expired", "certificate-not-trusted",
               "validation-failure")
# Section 4.3.1 / 4.3.3: "SHOULD utilize the failure-reason-code".
REASON_SHOULD = ("certificate-not-trusted", "validation-failure")
# A negotiation failure happened in a session: sending-mta-ip,
# receiving-ip and receiving-mx-hostname ("the MX ... with which the
# Sending MTA attempted to negotiate", 4.4) are known and expected.  A
# policy failure (tlsa-invalid, dnssec-invalid, dane-required, sts-*) may
# come before any connection, even before any MX host is known.
NEEDS_SESSION = NEGOTIATION
MAX_COUNT = 2 ** 53 - 1          # I-JSON: integers exact in a double

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"'
_DLITERAL = r"\[[\x21-\x5a\x5e-\x7e]*\]"
ADDR_SPEC = re.compile(rf"(?:{_DOT_ATOM}|{_QUOTED})@(?:{_DOT_ATOM}|"
                       rf"{_DLITERAL})")
_URI_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]]|%[0-9A-Fa-f]{2})"
URI = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:{_URI_CHAR}*"
                 rf"(?:#{_URI_CHAR}*)?")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})"
                       r"(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))")
NO_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?")
TLSA_STRING = re.compile(r"(\d{1,3}) (\d{1,3}) (\d{1,3}) ([0-9A-Fa-f]+)")


@dataclass(frozen=True)
class Problem:
    level: str                   # MUST | SHOULD
    text: str

    def __str__(self) -> str:
        return self.text


def _must(text: str) -> Problem:
    return Problem("MUST", text)


def _should(text: str) -> Problem:
    return Problem("SHOULD", text)


# ------------------------------------------------------------ I-JSON


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ValueError(f"duplicate member names (not I-JSON, RFC 7493 "
                         f"§2.3): {sorted(dup)}")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bad_strings(v: Any, where: str = "") -> list[str]:
    """Strings holding surrogates (RFC 7493 §2.1: MUST NOT)."""
    if isinstance(v, str):
        return [where or "(top)"] if re.search("[\ud800-\udfff]", v) \
            else []
    if isinstance(v, dict):
        return [w for k, x in v.items()
                for w in _bad_strings(k, f"{where}.{k}") +
                _bad_strings(x, f"{where}.{k}")]
    if isinstance(v, list):
        return [w for i, x in enumerate(v)
                for w in _bad_strings(x, f"{where}[{i}]")]
    return []


def parse_json(raw: bytes) -> tuple[Doc | None, list[Problem]]:
    """The report as I-JSON: UTF-8, no duplicate names, no surrogates, an
    object at the top.  (None, problems) when it cannot be read."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, [_must("report is not UTF-8 (I-JSON, RFC 7493 §2.1)")]
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicate_keys,
                         parse_constant=_no_constant)
    except ValueError as e:
        return None, [_must(f"report is not valid JSON: {e}")]
    if not isinstance(doc, dict):
        return None, [_must("report is not a JSON object (RFC 8460 §4.4)")]
    bad = _bad_strings(doc)
    if bad:
        return doc, [_must(f"string(s) at {', '.join(bad[:3])} hold "
                           "surrogate code points (not I-JSON, RFC 7493 "
                           "§2.1)")]
    return doc, []


# ------------------------------------------------------------ value forms


def parse_time(v: Any) -> tuple[dt.datetime | None, str]:
    """An RFC 3339 §5.6 date-time as an aware UTC datetime, or (None,
    why not)."""
    if not isinstance(v, str):
        return None, "is missing or not a string"
    m = DATE_TIME.fullmatch(v)
    if not m:
        if NO_OFFSET.fullmatch(v):
            return None, (f"{v!r} has no time-offset (RFC 3339 §5.6 "
                          "requires Z or ±hh:mm)")
        return None, f"{v!r} is not an RFC 3339 date-time"
    y, mo, d, h, mi, s = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]
            and h <= 23 and mi <= 59 and s <= 60):
        return None, f"{v!r} is not a valid date and time (RFC 3339 §5.6)"
    off = dt.timedelta(0)
    if not m.group(8):
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None, f"{v!r} has an invalid time-offset (RFC 3339 §5.6)"
        off = dt.timedelta(hours=oh, minutes=om)
        if m.group(9) == "-":
            off = -off
    us = int(((m.group(7) or ".")[1:] + "000000")[:6])
    t = dt.datetime(y, mo, d, h, mi, min(s, 59), us,
                    tzinfo=dt.timezone(off))
    if s == 60:                                  # a leap second
        t += dt.timedelta(seconds=1)
    return t.astimezone(dt.timezone.utc), ""


def _domain(v: Any, where: str, wildcard: bool = False) -> list[Problem]:
    if not isinstance(v, str) or not v:
        return [_must(f"{where} missing or not a string")]
    if not v.isascii():
        return [_must(f"{where} {v!r} is not in A-labels (RFC 8460 §4.4: "
                      "IDNs MUST be Punycode A-labels)")]
    name = v[2:] if wildcard and v.startswith("*.") else v
    if len(name) > 254 or not HOSTNAME.fullmatch(name):
        return [_must(f"{where} {v!r} is not a domain name")]
    return []


def _ip(v: Any, where: str) -> list[Problem]:
    """IPv4 in dotted decimal (the §4.4 ABNF) or IPv6 as RFC 5952 has it."""
    if not isinstance(v, str):
        return [_must(f"{where} is not a string")]
    try:
        a = ipaddress.ip_address(v)
    except ValueError:
        return [_must(f"{where} {v!r} is not an IP address (RFC 8460 §4.4)")]
    if a.version == 6 and ("%" in v or (v != str(a) and "." not in v)
                           or v != v.lower()):
        return [_must(f"{where} {v!r} is not in RFC 5952 text form "
                      f"({str(a)!r})")]
    return []


def _count(v: Any, where: str, least: int = 0) -> list[Problem]:
    if not isinstance(v, int) or isinstance(v, bool):
        return [_must(f"{where} missing or not an integer (RFC 8460 §4.4: "
                      "an integer encoded as a JSON number)")]
    if v < least or v > MAX_COUNT:
        return [_must(f"{where} {v} is not a count"
                      + (" of at least 1" if least else ""))]
    return []


def _text(v: Any, where: str) -> list[Problem]:
    if not isinstance(v, str) or not v:
        return [_must(f"{where} missing or not a string")]
    return []


# ------------------------------------------------------------ the report


def check_json(doc: Doc) -> list[Problem]:
    """RFC 8460 section 4: every key of one report."""
    p: list[Problem] = []
    for k in ("organization-name", "report-id"):
        p += _text(doc.get(k), k)
    p += _contact(doc.get("contact-info"))
    p += _date_range(doc.get("date-range"))
    pols = doc.get("policies")
    if not isinstance(pols, list):
        return p + [_must("policies missing or not an array (RFC 8460 §4: "
                          "MUST be an array)")]
    if not pols:
        return p + [_must("policies is an empty array: the report names "
                          "no policy")]
    for i, entry in enumerate(pols):
        p += _policy_entry(f"policies[{i}]", entry)
    return p


def _contact(v: Any) -> list[Problem]:
    if not isinstance(v, str) or not v:
        return [_must("contact-info missing or not a string")]
    if ADDR_SPEC.fullmatch(v):
        return []
    if v.lower().startswith("mailto:"):
        return [_must(f"contact-info {v!r} is a mailto: URI, not an "
                      "addr-spec (RFC 8460 §4.4: RFC 5322 §3.4.1)")]
    return [_must(f"contact-info {v!r} is not an addr-spec (RFC 8460 §4.4: "
                  "RFC 5322 §3.4.1)")]


def contact_domain(doc: Doc | None) -> str | None:
    """The domain of a well-formed contact-info, lower case."""
    v = (doc or {}).get("contact-info")
    if isinstance(v, str) and ADDR_SPEC.fullmatch(v):
        return v.rsplit("@", 1)[1].lower().rstrip(".")
    return None


def date_range(doc: Doc | None
               ) -> tuple[dt.datetime, dt.datetime] | None:
    """(start, end) in UTC when both parse."""
    dr = (doc or {}).get("date-range")
    if not isinstance(dr, dict):
        return None
    s, _ = parse_time(dr.get("start-datetime"))
    e, _ = parse_time(dr.get("end-datetime"))
    return (s, e) if s and e else None


def _date_range(dr: Any) -> list[Problem]:
    if not isinstance(dr, dict):
        return [_must("date-range missing or not an object")]
    p: list[Problem] = []
    got = {}
    for k in ("start-datetime", "end-datetime"):
        t, why = parse_time(dr.get(k))
        if t is None:
            p.append(_must(f"date-range.{k} {why}"))
        got[k] = t
    s, e = got["start-datetime"], got["end-datetime"]
    if s is None or e is None:
        return p
    if e < s:
        return [_must("date-range ends before it starts")]
    span = (e - s).total_seconds()
    if s.time() != dt.time(0) or not 86399 <= span <= 86400:
        p.append(_should(
            f"date-range {dr['start-datetime']} to {dr['end-datetime']} is "
            "not one full UTC day (RFC 8460 §4.1: SHOULD cover 00:00-24:00 "
            "UTC)"))
    return p


def _policy_entry(w: str, entry: Any) -> list[Problem]:
    if not isinstance(entry, dict):
        return [_must(f"{w} is not an object")]
    p: list[Problem] = []
    pol = entry.get("policy")
    ptype = None
    if not isinstance(pol, dict):
        p.append(_must(f"{w}.policy missing or not an object"))
    else:
        ptype = pol.get("policy-type")
        p += _policy(f"{w}.policy", pol)
    sm = entry.get("summary")
    ok = failed = None
    if not isinstance(sm, dict):
        p.append(_must(f"{w}.summary missing or not an object"))
    else:
        for k in ("total-successful-session-count",
                  "total-failure-session-count"):
            p += _count(sm.get(k), f"{w}.summary.{k}")
        ok = sm.get("total-successful-session-count")
        failed = sm.get("total-failure-session-count")
    fd = entry.get("failure-details", [])
    if not isinstance(fd, list):
        return p + [_must(f"{w}.failure-details is not an array")]
    for j, f in enumerate(fd):
        p += _failure(f"{w}.failure-details[{j}]", f)
    countable = all(isinstance(f, dict) and not _count(
        f.get("failed-session-count"), "", least=1) for f in fd)
    if countable and isinstance(failed, int) and not _count(failed, ""):
        p += _failure_totals(w, failed, fd)
    if countable and ptype == "tlsa" and isinstance(ok, int) and \
            not _count(ok, "") and ok > 0 and \
            any(f.get("result-type") == "tlsa-invalid" for f in fd):
        p.append(_must(
            f"{w}: {ok} successful session(s) under a TLSA policy that its "
            "own tlsa-invalid detail calls unusable (RFC 8460 §4.2.1, "
            "§4.3.2.1: success means policy-compliant; no record of the "
            "RRset is valid): a session counted twice"))
    return p


def _policy(w: str, pol: Doc) -> list[Problem]:
    p: list[Problem] = []
    ptype = pol.get("policy-type")
    if ptype not in POLICY_TYPES:
        p.append(_must(f"{w}.policy-type {ptype!r} is not tlsa, sts or "
                       "no-policy-found (RFC 8460 §4.4)"))
    p += _domain(pol.get("policy-domain"), f"{w}.policy-domain")
    ps = pol.get("policy-string")
    if ps is None:
        if ptype in ("tlsa", "sts"):
            p.append(_must(f"{w}.policy-string missing for a {ptype} "
                           "policy (RFC 8460 §4.4, §4.5)"))
    elif not isinstance(ps, list) or \
            not all(isinstance(x, str) for x in ps):
        p.append(_must(f"{w}.policy-string is not an array of strings "
                       "(RFC 8460 §4.4)"))
    elif ptype == "tlsa":
        for i, s in enumerate(ps):
            if not _tlsa_ok(s):
                p.append(_must(
                    f"{w}.policy-string[{i}] {s!r} is not a TLSA RR in "
                    "presentation format, four fields without inner "
                    "spaces (RFC 8460 §4.5)"))
    mx = pol.get("mx-host")
    if mx is None:
        if ptype == "sts":
            p.append(_must(f"{w}.mx-host missing for an sts policy (RFC "
                           "8460 §4.4)"))
    elif not isinstance(mx, list) or \
            not all(isinstance(x, str) for x in mx):
        p.append(_must(f"{w}.mx-host is not an array of strings (RFC 8460 "
                       "§4.4, erratum 6241)"))
    else:
        for i, x in enumerate(mx):
            p += _domain(x, f"{w}.mx-host[{i}]", wildcard=True)
    return p


def _tlsa_ok(s: str) -> bool:
    m = TLSA_STRING.fullmatch(s)
    return m is not None and len(m.group(4)) % 2 == 0 and \
        all(int(m.group(i)) <= 255 for i in (1, 2, 3))


def _failure(w: str, f: Any) -> list[Problem]:
    if not isinstance(f, dict):
        return [_must(f"{w} is not an object")]
    p: list[Problem] = []
    rt = f.get("result-type")
    if rt not in RESULT_TYPES:
        p.append(_must(f"{w}.result-type {rt!r} is not a registered result "
                       "type (RFC 8460 §4.3)"))
    p += _count(f.get("failed-session-count"), f"{w}.failed-session-count",
                least=1)
    for k in ("sending-mta-ip", "receiving-ip"):
        if k in f:
            p += _ip(f[k], f"{w}.{k}")
        elif rt in NEEDS_SESSION:
            p.append(_must(f"{w}.{k} missing: a {rt} failure happened in a "
                           "session (RFC 8460 §4.4)"))
    if "receiving-ip" in f and "sending-mta-ip" not in f and \
            rt not in NEEDS_SESSION:
        p.append(_must(f"{w}.sending-mta-ip missing beside receiving-ip "
                       "(RFC 8460 §4.4)"))
    if "receiving-mx-hostname" in f:
        p += _domain(f["receiving-mx-hostname"],
                     f"{w}.receiving-mx-hostname")
    elif rt in NEEDS_SESSION:
        p.append(_must(f"{w}.receiving-mx-hostname missing: a {rt} failure "
                       "is about one MX host (RFC 8460 §4.4)"))
    if "receiving-mx-helo" in f:
        p += _text(f["receiving-mx-helo"], f"{w}.receiving-mx-helo")
    if "additional-information" in f:
        v = f["additional-information"]
        if not isinstance(v, str) or not URI.fullmatch(v):
            p.append(_must(f"{w}.additional-information {v!r} is not a URI "
                           "(RFC 8460 §4.4: additional-info-uri, RFC "
                           "3986)"))
    if "failure-reason-code" in f:
        p += _text(f["failure-reason-code"], f"{w}.failure-reason-code")
    elif rt in REASON_SHOULD:
        p.append(_should(f"{w}: no failure-reason-code for {rt} (RFC 8460 "
                         "§4.3.1, §4.3.3: SHOULD)"))
    return p


def _failure_totals(w: str, failed: int, fd: list[Any]) -> list[Problem]:
    """total-failure-session-count against failure-details.  Failure types
    may overlap (section 4: one session can fail in several ways), but only
    within one session, i.e. one (MX host, receiving IP): the failed
    sessions of such a group number at least its largest per-type count
    and at most the sum of its counts."""
    lo = sum(b[0] for b in failure_groups(fd).values())
    hi = sum(b[1] for b in failure_groups(fd).values())
    if failed > hi:
        return [_must(f"{w}.summary counts {failed} failed session(s), its "
                      f"failure-details account for {hi} (RFC 8460 §4.2.2, "
                      "§4.3)")]
    if failed < lo:
        return [_must(f"{w}.failure-details count {lo} failed session(s) "
                      f"even where types overlap, its summary only {failed} "
                      "(RFC 8460 §4.2.2)")]
    return []


def failure_groups(fd: list[Any]) -> dict[tuple[str, str | None],
                                          tuple[int, int]]:
    """By (receiving-mx-hostname, receiving-ip) (None: no session), the
    (fewest, most) failed sessions the well-formed entries stand for."""
    groups: dict[tuple[str, str | None], dict[str, int]] = {}
    for f in fd:
        if not isinstance(f, dict):
            continue
        c = f.get("failed-session-count")
        if not isinstance(c, int) or isinstance(c, bool) or c < 1:
            continue
        rip = f.get("receiving-ip")
        key = (str(f.get("receiving-mx-hostname", "")).lower().rstrip("."),
               rip if isinstance(rip, str) else None)
        g = groups.setdefault(key, {})
        rt = str(f.get("result-type"))
        g[rt] = g.get(rt, 0) + c
    return {k: (max(g.values()), sum(g.values()))
            for k, g in groups.items()}
