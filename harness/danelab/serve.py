"""`danelab serve`: a run for a sender the lab cannot drive (a cloud mail
gateway that retries on its own schedule over hours and cannot be told to
flush its queue), graded as its mail arrives.

  plan -> the lab up (LabRun.lab_up(): universe, fake-mx, receivers)
  -> the sender's messages (LabRun.start_sender(): submitted over smtp://,
     or, with --no-submit, sent by the operator to the recipients listed)
  -> every interval: fold fake-mx's events into sessions, grade the
     snapshot (LabRun.result(), the run's own grading) and write
     results.json, junit.xml and report.html again (each written aside,
     then renamed over the last)
  -> at --fix-after: repair the [fix] scenarios' zones (LabRun.fix_zones());
     their after-fix phase is what came after, by timestamp
  -> at the deadline (the window, from the submission), or on SIGTERM /
     SIGINT: grade once more, write the last files, stop everything.

A grade is final once it cannot change: the message was delivered (graded
as in a run), its DSN arrived (bounced), or its phase is over (the deadline;
a first phase whose zones were repaired).  Until then it is provisional:
recorded as info with the grade it would have now (`provisional()` in
grader.py), never a pass of a case whose message must not arrive.  An
interrupted serve leaves its provisional grades provisional.
[expect.after_limit] phases are not graded: the lab cannot drive a cloud
to its retry limit.

The plan and the universe are the run's (LabRun): whatever plan a run
builds, serve builds.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .adapters.smtp import OperatorAdapter, SmtpAdapter
from .grader import Grade, provisional
from .labplan import LabPlan
from .proc import shielded
from .results import write_run
from .runner import LabRun, RunResult, Lab, Passes
from .scenario import Scenario

WEEK = 7 * 86400.0
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)")
LIMIT_NOTE = ("danelab serve cannot drive a sender to its retry limit "
              "(it retries on its own schedule)")


def parse_duration(text: str) -> float:
    """Seconds in TEXT: a number of seconds, or a duration such as 90s,
    15m, 48h, 2d, 1h30m.  ValueError when it is neither."""
    t = text.strip().lower()
    parts = DURATION_RE.findall(t)
    if not t or "".join(n + u for n, u in parts) != t or \
            (len(parts) > 1 and not all(u for _, u in parts)):
        raise ValueError(f"{text!r} is no duration (seconds, or e.g. 90s, "
                         "15m, 48h, 2d, 1h30m)")
    return sum(float(n) * UNITS[u] for n, u in parts)


def when(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def span(seconds: float) -> str:
    """SECONDS for people: 42 s, 17m05s, 47h59m."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


@dataclass
class Schedule:
    window: float              # seconds from the submission to the deadline
    interval: float            # seconds between two gradings
    fix_after: float | None    # seconds from the submission to the fix


@dataclass
class ServeState:
    """Where a serve stands: the wall-clock times (time.time()) of the
    submission, the fix and the deadline, and whether it was cut short."""
    start: float
    deadline: float
    fix_at: float | None       # None: no [fix] scenario selected
    fixed: bool = False
    interrupted: bool = False
    intervals: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def head(self, final: bool) -> dict[str, Any]:
        """The `serve` member of results.json."""
        return {"serve": {
            "submitted": when(self.start), "deadline": when(self.deadline),
            "window_seconds": round(self.deadline - self.start, 3),
            "fix_at": when(self.fix_at) if self.fix_at else None,
            "fixed": self.fixed, "final": final,
            "interrupted": self.interrupted, "written": when(time.time()),
            "intervals": self.intervals, "grades": self.counts}}


def settle(grades: list[Grade], scs: dict[str, Scenario], st: ServeState,
           final: bool) -> None:
    """Mark each of GRADES final or provisional (module doc).  FINAL: the
    deadline has come, every phase is over."""
    for i, g in enumerate(grades):
        sc = scs[g.scenario]
        if g.phase == "after-limit" or final:
            g.final = True
        elif g.phase == "after-fix" and not st.fixed:
            assert st.fix_at is not None
            grades[i] = provisional(
                Grade(sc.id, g.phase, g.expected, "pending", "info"),
                f"the zones are repaired at {when(st.fix_at)}; this phase "
                "is graded from the sessions after that", now=False)
        elif g.phase == "first" and st.fixed and \
                sc.expect_after_fix is not None:
            g.final = True      # the zones were repaired: the phase is over
        elif g.observed.startswith("delivered") or g.observed == "bounced":
            g.final = True
        else:
            end = f"the zones are repaired at {when(st.fix_at)}" \
                if st.fix_at and sc.expect_after_fix and not st.fixed \
                else f"the deadline {when(st.deadline)}"
            provisional(g, f"{g.observed} so far (neither delivered nor "
                        f"bounced); final when {end}")


def tally(grades: list[Grade]) -> dict[str, int]:
    """How many grades are final, provisional, and final failures."""
    fin = [g for g in grades if g.final]
    return {"final": len(fin), "provisional": len(grades) - len(fin),
            "failures": sum(g.verdict == "fail" for g in fin)}


class Serve:
    """One `danelab serve`: the lab of LR (a LabRun, built as `run`
    builds one), graded every SCHEDULE.interval into OUT until the
    deadline.  ANNOUNCE gets the submissions once made (--no-submit prints
    them)."""

    def __init__(self, lr: LabRun, out: Path, schedule: Schedule,
                 command: str = "",
                 announce: Callable[[list[Any]], None] | None = None
                 ) -> None:
        self.lr = lr
        lr.limit_note = LIMIT_NOTE
        self.adapter, self.out, self.sched = lr.adapter, out, schedule
        self.say, self.command = lr.say, command
        self.announce = announce or (lambda subs: None)
        self.scs = {sc.id: sc for sc in lr.scenarios}
        self.fix = [sc for sc in lr.scenarios if sc.fix_zones is not None]
        self.written = False        # files of a snapshot in OUT
        adapter = lr.adapter
        if isinstance(adapter, SmtpAdapter):
            adapter.deferred_reason = "neither delivered nor bounced so far"

    def execute(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                               ServeState]:
        """Serve until the deadline or a signal; the cases and problems of
        the last files written, and how it ended."""
        lr = self.lr
        lr.run.mkdir(parents=True, exist_ok=True)
        lr.started = when(time.time())
        plan = lr.lab_plan()
        with lr.lab_up(plan) as lab:
            subs = lr.start_sender(lab)
            t0 = time.time()
            sch = self.sched
            st = ServeState(t0, t0 + sch.window,
                            t0 + (sch.fix_after if sch.fix_after is not None
                                  else sch.window / 2)
                            if self.fix else None)
            self.announce(subs)
            self.say(f"{len(subs)} message(s) "
                     + ("to be sent by the operator"
                        if isinstance(self.adapter, OperatorAdapter)
                        else f"submitted to {self.adapter.name}")
                     + f"; deadline {when(st.deadline)}"
                     + (f", zones repaired at {when(st.fix_at)}"
                        if st.fix_at else ""))
            p = Passes(subs, {}, {}, {})
            try:
                p.dns = p.dns2 = lab.dns.result()
                self._serve(lab, plan, p, st)
            except KeyboardInterrupt:
                st.interrupted = True
                self.say("interrupted: writing the last results "
                         "(provisional grades stay provisional)")
            if not p.dns:
                p.dns = p.dns2 = lab.dns.result()
            try:
                with shielded():
                    cases, problems = self._write(plan, p, st,
                                                  not st.interrupted)
            except KeyboardInterrupt:
                # a signal while the last files were written: they are
                # whole; stop
                st.interrupted = True
        return cases, problems, st

    def _serve(self, lab: Lab, plan: LabPlan, p: Passes,
               st: ServeState) -> None:
        """Grade and write every interval; fix the zones at their time;
        return at the deadline."""
        while True:
            now = time.time()
            if st.fix_at is not None and not st.fixed and now >= st.fix_at:
                p.first = self.adapter.outcomes()
                p.boundary = now
                self.lr.fix_zones(lab, plan, p, self.fix)
                st.fixed = True
            if now >= st.deadline:
                return
            self._write(plan, p, st, False)
            c = st.counts
            self.say(f"interval {st.intervals}: {c['final']} final, "
                     f"{c['provisional']} provisional, {c['failures']} "
                     f"failure(s) so far; deadline in "
                     f"{span(st.deadline - time.time())}")
            nxt = min(time.time() + self.sched.interval, st.deadline)
            if st.fix_at is not None and not st.fixed:
                nxt = min(nxt, st.fix_at)
            time.sleep(max(0.0, nxt - time.time()))

    def snapshot(self, plan: LabPlan, p: Passes, st: ServeState,
                 final: bool) -> RunResult:
        """Grade what has arrived (LabRun.result(), as a run grades) and
        mark each grade final or provisional."""
        out = self.adapter.outcomes()
        p.subs = list(getattr(self.adapter, "subs", p.subs))
        p.second = out
        if not st.fixed:
            # before the fix everything so far is the first phase
            p.first, p.boundary = out, math.inf
        # the after-limit phases are never reached: the first phase is
        # the whole window
        p.limit_boundary = math.inf
        res = self.lr.result(plan, p)
        res.started, res.sender_info = self.lr.started, self.lr.sender_info
        settle(res.grades, self.scs, st, final)
        st.counts = tally(res.grades)
        return res

    def _write(self, plan: LabPlan, p: Passes, st: ServeState,
               final: bool) -> tuple[list[dict[str, Any]],
                                     list[dict[str, Any]]]:
        """Grade a snapshot and write every file of it: first into a
        folder beside the report's, then each renamed over the last one,
        so a reader sees a whole file, old or new."""
        res = self.snapshot(plan, p, st, final)
        st.intervals += 1
        stage = self.out / ".next"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        group = stage / "group-results.json"
        cases, problems = write_run([(res, group)], stage, res.sender,
                                    self.command, st.head(final))
        os.replace(group, self.lr.run / "results.json")
        for f in sorted(stage.iterdir()):
            os.replace(f, self.out / f.name)
        stage.rmdir()
        self.written = True
        return cases, problems
