"""One conformance run: one universe for every selected scenario, one
fake-mx, one sender under test; then grading.

  plan -> PKI + zones on disk -> namespace -> NSD, Unbound, fake-mx
  -> DNS probe (what the universe really says about each host's TLSA)
  -> submit one message per scenario -> queue pass 1
  -> (scenarios with [fix]: rebuild zones, reload sender; scenarios with
      [expect.after_limit]: the sender expires their messages; queue pass 2)
  -> (hosts with per-connection profiles: more passes, nothing changed,
      while such a scenario's message is still queued)
  -> stop everything -> fold fake-mx events -> grade.

Connections fake-mx's catch-all took count for the scenario whose address
range they hit; those in no range are the run's `problems` (results.json,
the report, and the CLI's exit status: a run with problems fails).

Every daemon is stopped in a finally block, also on Ctrl-C.
"""
from __future__ import annotations

import email.utils
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import fakemx, probe, tlsrpt_grade
from .adapters import Adapter, LabContext, SenderOutcome, Submission
from .errors import LabError
from .grader import Grade, Observation, grade, not_graded, \
    sessions_by_scenario, stray_traffic
from .labplan import LabPlan, make_plan
from .netns import LabNamespace
from .observe import Session, sessions
from .scenario import Scenario
from .universe import Universe

SENDER_ADDR = "tester@sender.test"


class SetupError(LabError):
    """The sender under test is not set up so that grading means anything."""

    def __init__(self, sender: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"set-up error for sender {sender}, nothing graded: "
                         + "; ".join(problems))


@dataclass
class RunResult:
    sender: str
    run_dir: Path
    grades: list[Grade]
    scenarios: dict[str, Scenario]
    plan: LabPlan
    timings: dict[str, float] = field(default_factory=dict)
    dns: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[Grade]:
        return [g for g in self.grades if g.verdict == "fail"]


def message_for(sc: Scenario, run_id: str) -> Submission:
    mid = f"{sc.id}.{run_id}@danelab.test"
    rcpt = f"user@{sc.rcpt_domain.rstrip('.')}"
    body = (f"From: <{SENDER_ADDR}>\r\nTo: <{rcpt}>\r\n"
            f"Subject: danelab {sc.id}\r\nMessage-ID: <{mid}>\r\n"
            f"Date: {email.utils.formatdate(usegmt=True)}"
            f"\r\n\r\ndanelab scenario {sc.id}: {sc.title}\r\n")
    return Submission(sc.id, mid, SENDER_ADDR, rcpt, body.encode())


class Ticker:
    """While a queue pass runs, say every second how far fake-mx has seen
    it get (sessions and messages), read from its event log."""

    def __init__(self, run: Path, label: str, total: int,
                 say: Callable[[str], None]) -> None:
        self.path = run / "fakemx-events.jsonl"
        self.label, self.total, self.say = label, total, say
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.pos = 0
        self.sessions = self.messages = 0

    def __enter__(self) -> "Ticker":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _loop(self) -> None:
        t0 = time.monotonic()
        while not self.stop.wait(1.0):
            try:
                with self.path.open("rb") as f:
                    f.seek(self.pos)
                    chunk = f.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n") + 1
            self.pos += end
            for line in chunk[:end].splitlines():
                if b'"event":"connect"' in line.replace(b" ", b""):
                    self.sessions += 1
                elif b'"event":"message"' in line.replace(b" ", b""):
                    self.messages += 1
            self.say(f"{self.label}: {time.monotonic() - t0:.0f} s, "
                     f"{self.sessions} SMTP session(s), {self.messages} "
                     f"message(s) received of {self.total} submitted")


class LabRun:
    def __init__(self, scenarios: list[Scenario], adapter: Adapter,
                 run_dir: Path, progress: Callable[[str], None] | None = None
                 ) -> None:
        self.scenarios = scenarios
        self.adapter = adapter
        self.run = Path(run_dir)
        self.say = progress or (lambda s: None)
        self.timings: dict[str, float] = {}
        self.expired = False        # the adapter took expire()
        self.mine: dict[str, list[Session]] = {}   # sessions by scenario

    def _t(self, name: str, t0: float) -> None:
        self.timings[name] = round(time.monotonic() - t0, 3)

    def execute(self) -> RunResult:
        self.run.mkdir(parents=True, exist_ok=True)
        run_id = time.strftime("%Y%m%dT%H%M%S") + \
            f"-{int(time.time() * 1e3) % 1000:03d}"
        t0 = time.monotonic()
        self.say(f"planning {len(self.scenarios)} scenarios")
        plan = make_plan(self.scenarios)
        plan.pki.write(self.run / "pki")
        self._t("plan", t0)
        fix = [sc for sc in self.scenarios if sc.fix_zones is not None]
        limit = [sc for sc in self.scenarios
                 if sc.expect_after_limit is not None]
        retry = [sc for sc in self.scenarios if sc.retry_passes]
        boundary = None
        reported = False
        report_error: str | None = None
        with LabNamespace(self.run / "ns") as ns:
            t = time.monotonic()
            uni = Universe(plan.zones, self.run, ns)
            uni.start()
            assert uni.built
            self.say(f"universe up: {len(uni.built.zones)} zones "
                     f"({uni.timings['build']:.2f} s build), lab namespace "
                     f"in {ns.mode} mode")
            fmx = fakemx.start(ns, plan, self.run)
            https = fakemx.start_https_sink(ns, plan, self.run)
            self._t("universe", t)
            dns = probe.probe(ns, plan)
            dns2 = dns
            ctx = LabContext(ns, self.run / "sender", "127.53.0.53",
                             uni.trust_anchor,
                             self.run / "pki" / "lab-root.crt",
                             {sc.rcpt_domain: sc.policy
                              for sc in self.scenarios
                              if sc.policy != "dane"},
                             plan.infra.write(self.run / "pki"))
            try:
                t = time.monotonic()
                self.adapter.start(ctx)
                problems = self.adapter.preflight(ctx)
                if problems:
                    raise SetupError(self.adapter.name, problems)
                subs = [message_for(sc, run_id) for sc in self.scenarios]
                self.adapter.submit(subs)
                self.say(f"submitted {len(subs)} messages to "
                         f"{self.adapter.name}; queue pass 1")
                with Ticker(self.run, "pass 1", len(subs), self.say):
                    self.adapter.run_queue()
                first = self.adapter.outcomes()
                self._t("pass1", t)
                second: dict[str, SenderOutcome] = {}
                if fix or limit or retry:
                    t = time.monotonic()
                    boundary = time.time()
                    if limit:
                        self._expire(limit, subs)
                    if fix:
                        self.say(f"fixing {len(fix)} scenario(s)")
                        plan2 = make_plan(self.scenarios, fixed=True,
                                          pki=plan.pki)
                        uni.rebuild(plan2.zones)
                        dns2 = probe.probe(ns, plan2)
                        self.adapter.reload()
                    self.say("queue pass 2")
                    with Ticker(self.run, "pass 2", len(subs), self.say):
                        self.adapter.run_queue()
                    self._retry_passes(retry, subs)
                    second = self.adapter.outcomes()
                    self._t("pass2", t)
                t = time.monotonic()
                try:
                    reported = self.adapter.flush_reports()
                except LabError as e:
                    # The delivery results still count; every TLSRPT grade
                    # of this run then fails with this reason.
                    reported, report_error = True, str(e)
                    self.say(f"TLSRPT reporting failed: {e}")
                self._t("tlsrpt", t)
                if not reported:
                    self.say(f"{self.adapter.name} sends no TLSRPT "
                             "reports here: TLSRPT not graded")
            finally:
                self.adapter.stop()
                ns.sup.stop(https)
                ns.sup.stop(fmx)
        self._t("total", t0)
        sess = sessions(fakemx.read_events(self.run))
        self.mine = sessions_by_scenario(plan, sess.values())
        grades = self._grade(plan, sess, subs, first, second, dns, dns2,
                             boundary)
        if reported:
            self._grade_tlsrpt(plan, sess, grades, report_error,
                               [dns, dns2])
        evidence = {sid: {"first": probe.as_json(d),
                          **({"after_fix": probe.as_json(dns2[sid])}
                             if dns2 is not dns else {})}
                    for sid, d in dns.items()}
        return RunResult(self.adapter.name, self.run, grades,
                         {sc.id: sc for sc in self.scenarios}, plan,
                         self.timings, evidence, sess,
                         stray_traffic(plan, list(sess.values())))

    def _retry_passes(self, retry: list[Scenario], subs: list[Submission]
                      ) -> None:
        """Passes 3 and on, for hosts whose first connections have their
        own profiles (a sender that makes one connection a pass needs one
        pass per such connection, and one more): only while some of these
        scenarios' messages are still queued."""
        mid_of = {s.scenario: s.message_id for s in subs}
        want = max((sc.retry_passes for sc in retry), default=0) + 1
        for n in range(3, want + 1):
            out = self.adapter.outcomes()
            queued = [sc.id for sc in retry if sc.retry_passes + 1 >= n
                      and (o := out.get(mid_of[sc.id])) is not None
                      and o.state == "deferred"]
            if not queued:
                return
            self.say(f"queue pass {n}: {len(queued)} scenario(s) with "
                     "per-connection profiles still queued")
            with Ticker(self.run, f"pass {n}", len(subs), self.say):
                self.adapter.run_queue()

    def _expire(self, limit: list[Scenario], subs: list[Submission]
                ) -> None:
        mid_of = {s.scenario: s.message_id for s in subs}
        self.expired = self.adapter.expire([mid_of[sc.id] for sc in limit])
        self.say(f"{self.adapter.name}: {len(limit)} message(s) forced to "
                 "the retry limit" if self.expired else
                 f"{self.adapter.name} cannot be driven to its retry limit: "
                 f"{len(limit)} after-limit expectation(s) not graded")

    def _grade_tlsrpt(self, plan: LabPlan, sess: dict[str, Session],
                      grades: list[Grade], error: str | None,
                      phases: list[dict[str, dict[str, Any]]]) -> None:
        received = tlsrpt_grade.collect(self.run, plan, sess)
        loops = tlsrpt_grade.no_loops(received)
        last = {g.scenario: g for g in grades}     # the final phase
        for sc in self.scenarios:
            mine = self.mine.get(sc.id, [])
            tg = tlsrpt_grade.grade_scenario(
                sc, plan, received, mine,
                [d[sc.id]["hosts"] for d in phases])
            if loops:
                tg.checks.append(("MUST", False, "report delivery was "
                                  f"itself reported: {loops}"))
                tg.verdict = "fail"
            if error:
                tg.checks.append(("MUST", False, f"reporter failed: {error}"))
                tg.verdict = "fail"
            last[sc.id].tlsrpt = tg.as_dict()

    def _grade(self, plan: LabPlan, sess: dict[str, Session],
               subs: list[Submission], first: dict[str, SenderOutcome],
               second: dict[str, SenderOutcome],
               dns: dict[str, dict[str, Any]],
               dns2: dict[str, dict[str, Any]],
               boundary: float | None) -> list[Grade]:
        mid_of = {s.scenario: s.message_id for s in subs}
        grades = []
        for sc in self.scenarios:
            mid = mid_of[sc.id]
            status = dns[sc.id]["hosts"]
            mine = self.mine.get(sc.id, [])

            def deliveries(until: float | None
                           ) -> list[tuple[Session, dict[str, Any]]]:
                out = []
                for s in sess.values():
                    for m in s.messages:
                        if (m.get("message_id") or "").strip("<>") == mid \
                                and (until is None or m["ts"] < until):
                            out.append((s, m))
                return out
            later = sc.expect_after_fix or sc.expect_after_limit
            if later is not None and boundary is not None:
                early = [s for s in mine if s.events and
                         s.events[0]["ts"] < boundary]
                g1 = grade(sc, plan, sc.expect,
                           Observation(early, deliveries(boundary), status,
                                       first.get(mid)), "first")
                phase = "after-fix" if sc.expect_after_fix else "after-limit"
                obs = Observation(mine, deliveries(None),
                                  dns2[sc.id]["hosts"], second.get(mid))
                if phase == "after-limit" and not self.expired:
                    g2 = not_graded(sc, later, obs, phase, "the lab cannot "
                                    f"drive {self.adapter.name} to its "
                                    "retry limit (adapter has no expire)")
                else:
                    g2 = grade(sc, plan, later, obs, phase)
                grades += [g1, g2]
            else:
                out = second.get(mid) or first.get(mid)
                grades.append(grade(sc, plan, sc.expect,
                                    Observation(mine, deliveries(None),
                                                status, out)))
        return grades


def _records(plan: LabPlan, sc: Scenario) -> list[str]:
    out = []
    for z in plan.zones:
        if z.name == sc.domain or z.name.endswith("." + sc.domain):
            state = ("signed" if z.signed else "unsigned") + \
                (", DS in parent" if z.signed and z.ds_in_parent else "")
            faults = ", ".join(f.kind + (f" on {f.owner} {f.rtype}"
                                         if f.owner else "")
                               for f in z.faults)
            out.append(f"; zone {z.name} ({state}"
                       f"{'; faults: ' + faults if faults else ''})")
            out += [f"{r.owner} {r.rtype} {r.rdata}" for r in z.records]
    return out


def _brief(s: Session) -> list[dict[str, Any]]:
    keep = ("event", "ts", "stage", "code", "text", "name", "reply",
            "version", "cipher", "sni", "cert_sha256", "reason", "from",
            "to", "message_id", "size", "tls", "starttls_offered",
            "direction", "line", "peer", "local")
    return [{k: e[k] for k in keep if k in e} for e in s.events
            if e.get("event") != "state"]


def write_json(result: RunResult, path: Path) -> None:
    cases = []
    for g in result.grades:
        sc = result.scenarios[g.scenario]
        d = {"id": g.scenario, "sender": result.sender, "section": sc.section,
             "case": sc.case, "title": sc.title, "rfc": sc.rfc,
             "explain": sc.explain, "file": str(sc.path),
             "level": "MAY" if sc.expect.choice else "MUST",
             **g.as_dict(),
             "dns_records": _records(result.plan, sc),
             "transcript": [{"session": sid, "listener":
                             result.sessions[sid].listener,
                             "events": _brief(result.sessions[sid])}
                            for sid in g.sessions if sid in result.sessions],
             "evidence": {"run_dir": str(result.run_dir),
                          "fakemx_events": str(result.run_dir /
                                               "fakemx-events.jsonl"),
                          "sender_dir": str(result.run_dir / "sender"),
                          "dns": result.dns.get(sc.id)}}
        cases.append(d)
    counts: dict[str, int] = {}
    for g in result.grades:
        counts[g.verdict] = counts.get(g.verdict, 0) + 1
    path.write_text(json.dumps({"sender": result.sender,
                                "timings": result.timings,
                                "counts": counts,
                                "problems": result.problems,
                                "cases": cases}, indent=1))
