"""TLSRPT grading over several reports of one transport: a day split in two
reports is graded as one whole (each report's counts inside its own date
range), and a report delivered twice counts once.  Data: the mutation
corpus's real report and the fake-mx sessions of its scenario (f32e: one
session failed over IPv4, then one went on over IPv6)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from danelab.observe import sessions
from danelab.tlsrpt_check import Problem
from danelab.tlsrpt_count import count_checks
from danelab.tlsrpt_grade import Received, each_report_once

DATA = Path(__file__).parent / "data" / "tlsrpt-mutations"
ORIGINAL: dict[str, Any] = json.loads((DATA / "original.json").read_text())
DOMAIN = ORIGINAL["policies"][0]["policy"]["policy-domain"]
SESSIONS = list(sessions(
    json.loads(line) for line in
    (DATA / "sessions.jsonl").read_text().splitlines()).values())
# Between the IPv4 session's end and the IPv6 session's start.
SPLIT = "2026-11-30T05:18:46.680Z"


def half(rid: str, start: str, end: str, success: bool
         ) -> dict[str, Any]:
    """The original report cut to one of its two sessions."""
    d = copy.deepcopy(ORIGINAL)
    d["report-id"] = rid
    d["date-range"] = {"start-datetime": start, "end-datetime": end}
    p = d["policies"][0]
    if success:
        p["failure-details"] = []
        p["summary"]["total-failure-session-count"] = 0
    else:
        p["summary"]["total-successful-session-count"] = 0
    return d


def failed(checks: list[tuple[str, bool, str]]) -> list[str]:
    return [t for _, ok, t in checks if not ok]


def test_sessions_split_over_two_reports() -> None:
    day = ORIGINAL["date-range"]
    a = half("a", day["start-datetime"], SPLIT, success=False)
    b = half("b", SPLIT, day["end-datetime"], success=True)
    assert failed(count_checks([a, b], SESSIONS, DOMAIN)) == []
    # The same counts, each in the other's time: only the ranges are wrong.
    a2 = half("a", day["start-datetime"], SPLIT, success=True)
    b2 = half("b", SPLIT, day["end-datetime"], success=False)
    (why,) = failed(count_checks([a2, b2], SESSIONS, DOMAIN))
    assert why.startswith("counted sessions outside the date-range: "
                          "report a counts 1 success(es)")
    assert "report b counts 1 failure(s) at 127.25.140.1" in why


def test_a_report_received_twice_counts_once() -> None:
    ok = Problem("MUST", "x")
    reps = [Received("mailto", "m1", ORIGINAL, []),
            Received("mailto", "m2", copy.deepcopy(ORIGINAL), [ok]),
            Received("mailto", "m3", None, [ok])]
    docs = each_report_once(reps)
    assert docs == [ORIGINAL, None]
    assert failed(count_checks(docs, SESSIONS, DOMAIN)) == []
    # Counted twice, it would claim two successes for one session.
    assert failed(count_checks([ORIGINAL, ORIGINAL], SESSIONS, DOMAIN))
