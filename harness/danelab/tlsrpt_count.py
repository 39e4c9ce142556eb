"""A domain's TLSRPT counts against the sessions fake-mx saw.

count_checks() takes every report one transport delivered for one scenario
domain (each report once) and that scenario's fake-mx sessions, and checks
the counts both ways.  fake-mx sorts each session, by the address the
sender dialled (the report's receiving-ip), into:

  ok     TLS was set up and the sender went on (EHLO, MAIL) after it;
  bad    TLS was tried and failed, or was set up and the sender said
         nothing more: a TLS failure the report must count;
  other  no TLS at all (nothing listening, no STARTTLS, cleartext): the
         report may count it as a failure (starttls-not-supported) or
         leave it out (RFC 8460 §4.3.4: transient failures need not be
         reported), never as a success.

Failure details with a receiving-ip stand for sessions at that address
(failure types may overlap within one session: tlsrpt_doc.failure_groups);
details without one (a policy failure before any connection) are not
compared with sessions.  The checks, all MUST:

  - every receiving-ip is an address the sender connected to;
  - no more failed sessions at an address than fake-mx saw there;
  - every bad session is counted as a failure at its address;
  - successes: at most the ok sessions not already counted as failures
    (no session is counted twice, RFC 8460 §4.2);
  - every ok session is counted, as a success or as a failure;
  - every ok or bad session lies (in part) inside a report's date-range,
    and no report counts more successes, or failures at an address, than
    fake-mx saw in its range;
  - (published_check) the tlsa policy strings are records the domain
    published.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .observe import Session
from .tlsrpt_doc import Doc, date_range, failure_groups

Check = tuple[str, bool, str]


@dataclass
class Seen:
    ok: int = 0
    bad: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return self.ok + self.bad + self.other


def classify(s: Session) -> str:
    """ok, bad or other (the module's header says what each means)."""
    if s.catch_all:
        return "other"
    if s.tls:
        seen_tls = False
        for e in s.events:
            if e.get("event") == "tls":
                seen_tls = True
            elif seen_tls and e.get("event") in ("ehlo", "mail"):
                return "ok"
        return "bad"
    return "bad" if s.tls_failed else "other"


def span(s: Session) -> tuple[float, float]:
    ts = [float(e["ts"]) for e in s.events
          if isinstance(e.get("ts"), (int, float))]
    return (min(ts), max(ts)) if ts else (0.0, 0.0)


def entries(doc: Doc | None, domain: str) -> list[dict[str, Any]]:
    """The policies[] entries of DOC for DOMAIN."""
    out = []
    for p in (doc or {}).get("policies", []) or []:
        if isinstance(p, dict) and isinstance(p.get("policy"), dict) and \
                str(p["policy"].get("policy-domain", "")).lower() \
                .rstrip(".") == domain:
            out.append(p)
    return out


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def successes(docs: Iterable[Doc | None], domain: str) -> int:
    return sum(_int((p.get("summary") or {}).get(
        "total-successful-session-count"))
        for d in docs for p in entries(d, domain)
        if isinstance(p.get("summary"), dict))


def failures(docs: Iterable[Doc | None], domain: str) -> int:
    return sum(_int((p.get("summary") or {}).get(
        "total-failure-session-count"))
        for d in docs for p in entries(d, domain)
        if isinstance(p.get("summary"), dict))


def _by_ip(docs: Iterable[Doc | None], domain: str
           ) -> dict[str, tuple[int, int]]:
    """(fewest, most) failed sessions reported per receiving-ip."""
    out: dict[str, tuple[int, int]] = {}
    for d in docs:
        for p in entries(d, domain):
            fd = p.get("failure-details")
            if not isinstance(fd, list):
                continue
            for (_, ip), (lo, hi) in failure_groups(fd).items():
                if ip is None:
                    continue
                a, b = out.get(ip, (0, 0))
                out[ip] = (a + lo, b + hi)
    return out


def _seen(sessions: Iterable[Session]) -> dict[str, Seen]:
    out: dict[str, Seen] = {}
    for s in sessions:
        v = out.setdefault(s.local_address, Seen())
        k = classify(s)
        setattr(v, k, getattr(v, k) + 1)
    return out


def count_checks(docs: list[Doc | None], sessions: list[Session],
                 domain: str, label: str = "") -> list[Check]:
    """The MUST checks of the module header, each one (level, ok, text);
    LABEL (the transport) starts every text."""
    pre = f"{label}: " if label else ""
    seen = _seen(sessions)
    rep = _by_ip(docs, domain)
    succ = successes(docs, domain)
    ok_total = sum(v.ok for v in seen.values())
    out: list[Check] = []

    alien = sorted(ip for ip in rep if seen.get(ip, Seen()).total == 0)
    out.append(("MUST", not alien,
                f"{pre}failures reported at {', '.join(alien)}, where the "
                "sender had no session" if alien else
                f"{pre}every receiving-ip is an address the sender "
                "connected to"))
    over = [f"{ip} ({rep[ip][0]} reported, {seen[ip].total} seen)"
            for ip in sorted(rep) if ip not in alien and
            rep[ip][0] > seen[ip].total]
    out.append(("MUST", not over,
                f"{pre}more failed sessions than fake-mx saw at "
                + ", ".join(over) if over else
                f"{pre}no address has more failures than sessions"))
    missed = [f"{ip} ({v.bad} failed, {rep.get(ip, (0, 0))[1]} reported)"
              for ip, v in sorted(seen.items())
              if v.bad > rep.get(ip, (0, 0))[1]]
    out.append(("MUST", not missed,
                f"{pre}TLS failures fake-mx saw are not reported at "
                + ", ".join(missed) if missed else
                f"{pre}every TLS failure fake-mx saw is reported at its "
                "address"))
    # ok sessions that the failures at an address must include (more
    # failures there than its bad and other sessions), and may include.
    must_fail = sum(max(0, min(v.ok, rep[ip][0] - v.bad - v.other))
                    for ip, v in seen.items() if ip in rep)
    may_fail = sum(max(0, min(v.ok, rep[ip][1] - v.bad))
                   for ip, v in seen.items() if ip in rep)
    if succ > ok_total:
        text = (f"{pre}{succ} successful session(s) reported, fake-mx saw "
                f"only {ok_total} go on after TLS")
    elif succ > ok_total - must_fail:
        text = (f"{pre}session(s) counted twice: {succ} success(es) and "
                f"{must_fail} failure(s) at addresses where fake-mx saw "
                f"{ok_total} session(s) go on after TLS in all")
    else:
        text = (f"{pre}{succ} success(es): no more than the {ok_total} "
                "session(s) that went on after TLS, none also a failure")
    out.append(("MUST", succ <= ok_total - must_fail, text))
    lost = ok_total - succ - may_fail
    out.append(("MUST", lost <= 0,
                f"{pre}{lost} session(s) went on after TLS but are counted "
                f"neither as successes ({succ}) nor as failures"
                if lost > 0 else
                f"{pre}every session that went on after TLS is counted"))
    out.append(_in_range(docs, sessions, domain, pre))
    return out


def _in_range(docs: list[Doc | None], sessions: list[Session],
              domain: str, pre: str) -> Check:
    ranges = []
    for d in docs:
        r = date_range(d)
        if r is not None and entries(d, domain):
            ranges.append((d, r[0].timestamp(), r[1].timestamp()))
    if not ranges:
        return ("MUST", True, f"{pre}no date-range to compare")
    counted = [s for s in sessions if classify(s) != "other"]
    outside = [s for s in counted
               if not any(span(s)[0] <= e and span(s)[1] >= b
                          for _, b, e in ranges)]
    bad = [f"session {s.id} at {_iso(span(s)[0])}" for s in outside[:3]]
    seen = _seen(sessions)
    ok_total = sum(v.ok for v in seen.values())
    for d, b, e in ranges:
        rid = str((d or {}).get("report-id"))[:60]
        when = f"from {_iso(b)} to {_iso(e)}"
        inside = _seen(s for s in sessions
                       if span(s)[0] <= e and span(s)[1] >= b)
        # More than all sessions is the counts' problem (above); here,
        # sessions counted that fake-mx saw at other times.
        n = min(successes([d], domain), ok_total)
        ok_in = sum(v.ok for v in inside.values())
        if n > ok_in:
            bad.append(f"report {rid} counts {n} success(es) {when}, "
                       f"fake-mx saw {ok_in} go on after TLS then")
        for ip, (lo, _) in sorted(_by_ip([d], domain).items()):
            n = min(lo, seen.get(ip, Seen()).total)
            n_in = inside.get(ip, Seen()).total
            if n > n_in:
                bad.append(f"report {rid} counts {n} failure(s) at {ip} "
                           f"{when}, fake-mx saw {n_in} session(s) there "
                           "then")
    return ("MUST", not bad,
            f"{pre}counted sessions outside the date-range: "
            + "; ".join(bad) if bad else
            f"{pre}every counted session is inside a report's date-range")


def published_check(docs: list[Doc | None], domain: str,
                    published: set[str], label: str = "") -> Check:
    """MUST: the tlsa policy strings are TLSA records the domain's hosts
    published (lower case, blanks folded)."""
    pre = f"{label}: " if label else ""
    strings = {re.sub(r"\s+", " ", s.strip().lower())
               for d in docs for p in entries(d, domain)
               if p["policy"].get("policy-type") == "tlsa"
               for s in p["policy"].get("policy-string") or []
               if isinstance(s, str)}
    alien = sorted(strings - published)
    return ("MUST", not alien, f"{pre}policy strings are the published "
            "TLSA records" if not alien else
            f"{pre}policy strings not published: {alien}")


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")
