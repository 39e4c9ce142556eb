"""One conformance run: one universe for every selected scenario, one
fake-mx, one sender under test; then grading.

  plan -> PKI + zones on disk -> namespace -> NSD, Unbound (fake-mx, the
     report receiver and the MTA-STS policy server start meanwhile; a
     sender whose queue needs nothing of the lab takes its messages
     meanwhile too, Adapter.stage())
  -> DNS probe (what the universe really says about each host's TLSA; it
     also fills the lab resolver's cache), while the sender starts and
     takes one message per scenario (unless staged)
  -> queue pass 1 (once the probe is done but for questions that get no
     answer)
  -> (scenarios with [fix]: rebuild the zones that changed, probe them
      again, reload the sender; scenarios with [expect.after_limit]: the
      sender expires their messages; queue pass 2)
  -> (hosts with per-connection profiles: pass 2, and more passes with
      nothing changed while such a scenario's message is still queued)
  -> the sender's TLSRPT reports
  -> stop everything -> fold fake-mx events -> grade.

RunResult.timings has the seconds of each phase (docs/cli.md lists them).

Connections fake-mx's catch-all took count for the scenario whose address
range they hit; those in no range are the run's `problems` (results.json,
the report, and the CLI's exit status: a run with problems fails).

Every daemon is stopped in a finally block, also on Ctrl-C.

`danelab serve` (serve.py) runs the same pieces on a wall clock instead
of queue passes: lab_up(), start_sender(), fix_zones() and result(), the
grading of whatever has arrived.
"""
from __future__ import annotations

import email.utils
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from . import fakemx, probe, sts_lab, tlsrpt_grade
from .adapters import Adapter, LabContext, SenderOutcome, Submission
from .apex import lab_apex, parent_mode
from .dns.internet import Internet
from .dns.universe import Universe
from .errors import LabError
from .expose import Exposure
from .grader import Grade, Observation, feature_gate, grade, not_graded, \
    sessions_by_scenario, stray_traffic
from .labinfra import sender_address
from .labplan import LabPlan, make_plan
from .netns import LabNamespace, resolv_conf_text
from .observe import Session, sessions
from .pki import LAB_ROOT, cert_file
from .proc import Tracked, shielded
from .scenario import Scenario


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
    message_ids: dict[str, str] = field(default_factory=dict)  # by scenario

    @property
    def failed(self) -> list[Grade]:
        return [g for g in self.grades if g.verdict == "fail"]

    # set by LabRun.execute(): the adapter's name, version() and
    # config_digest() after start(), and when the run began (UTC, ISO 8601)
    sender_info: dict[str, str] = field(default_factory=dict)
    started: str = ""


def message_for(sc: Scenario, run_id: str) -> Submission:
    mid = f"{sc.id}.{run_id}@danelab.test"
    rcpt = f"user@{sc.rcpt_domain.rstrip('.')}"
    sender = sender_address()
    body = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\n"
            f"Subject: danelab {sc.id}\r\nMessage-ID: <{mid}>\r\n"
            f"Date: {email.utils.formatdate(usegmt=True)}"
            f"\r\n\r\ndanelab scenario {sc.id}: {sc.title}\r\n")
    return Submission(sc.id, mid, sender, rcpt, body.encode())


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


@dataclass
class Lab:
    """The lab of one run while it is up: the namespace, the universe, the
    daemons beside it, what the sender is given, and what the lab resolver
    said before the first queue pass."""
    ns: LabNamespace
    uni: Universe
    daemons: list[Tracked]             # stopped last to first
    ctx: LabContext
    dns: "Future[dict[str, dict[str, Any]]]"   # probe.probe(), under way
    warm: threading.Event                      # probe.probe()'s WARM
    sts: Tracked | None = None         # the MTA-STS policy server


@dataclass
class Passes:
    """What driving the sender produced, for the grader."""
    subs: list[Submission]
    dns: dict[str, dict[str, Any]]     # the probe before pass 1
    dns2: dict[str, dict[str, Any]]    # before pass 2 (dns: no zone changed)
    first: dict[str, SenderOutcome]    # by Message-ID, after pass 1
    second: dict[str, SenderOutcome] = field(default_factory=dict)
    boundary: float | None = None      # when pass 2 began (None: no pass 2)
    # when the [expect.after_limit] phases begin (None: at `boundary`, as
    # in a run, where the expiry comes with pass 2)
    limit_boundary: float | None = None
    plan2: LabPlan | None = None       # the [fix] plan of pass 2
    advanced: bool = True              # the sender's clock was advanced
    reported: bool = False             # the sender sent TLSRPT reports
    report_error: str | None = None    # why its reporter failed

    def cut(self, sc: Scenario) -> float | None:
        """When SC's second phase begins (None: it has one phase)."""
        if sc.expect_after_limit is not None and \
                self.limit_boundary is not None:
            return self.limit_boundary
        return self.boundary


Accepted = dict[str, list[tuple[Session, dict[str, Any]]]]


def _accepted(sess: dict[str, Session]) -> Accepted:
    """Every message fake-mx accepted, with its session, by Message-ID."""
    out: Accepted = {}
    for s in sess.values():
        for m in s.messages:
            mid = (m.get("message_id") or "").strip("<>")
            out.setdefault(mid, []).append((s, m))
    return out


def _deliveries(acc: Accepted, mid: str, until: float | None
                ) -> list[tuple[Session, dict[str, Any]]]:
    """The messages with Message-ID MID fake-mx accepted (before UNTIL)."""
    return [(s, m) for s, m in acc.get(mid, [])
            if until is None or m["ts"] < until]


class LabRun:
    def __init__(self, scenarios: list[Scenario], adapter: Adapter,
                 run_dir: Path, progress: Callable[[str], None] | None = None,
                 expose: Exposure | None = None) -> None:
        self.scenarios = scenarios
        self.expose = expose            # None: everything on loopback
        self.adapter = adapter
        self.run = Path(run_dir)
        self.say = progress or (lambda s: None)
        self.timings: dict[str, float] = {}
        self.expired = False        # the adapter took expire()
        self.mine: dict[str, list[Session]] = {}   # sessions by scenario
        self.fetches: dict[str, list[dict[str, Any]]] = {}  # sts_lab
        self.started = ""
        self.sender_info: dict[str, str] = {}
        # why an after-limit phase is not graded when the adapter took no
        # expire() (None: the adapter's lack of one)
        self.limit_note: str | None = None

    def _t(self, name: str, t0: float) -> None:
        self.timings[name] = round(time.monotonic() - t0, 3)

    def execute(self) -> RunResult:
        """Plan, bring the lab up, drive the sender, stop everything (also
        on error or Ctrl-C), grade."""
        self.run.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        self.started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        subs = self.submissions()
        # A sender whose queue needs nothing of the lab takes its messages
        # while the lab is planned and built (stage()); the others after
        # start() (_pass1).  The executor waits for it on the way out.
        with ThreadPoolExecutor(1, thread_name_prefix="stage") as st:
            staged = st.submit(self._stage, subs)
            plan = self.lab_plan()
            with self.lab_up(plan) as lab:
                passes = self._drive(lab, plan, subs, staged)
        t = time.monotonic()
        res = self.result(plan, passes)
        res.started, res.sender_info = self.started, self.sender_info
        self._t("grade", t)
        self._t("total", t0)
        return res

    # -- the lab -----------------------------------------------------------

    @contextmanager
    def lab_up(self, plan: LabPlan) -> Iterator[Lab]:
        """The lab of PLAN up (_start_lab()) while the block runs; then
        the sender and every daemon stopped, also on error or Ctrl-C."""
        # bg (the DNS probe) is shut down, waiting for it, before the
        # namespace closes
        with LabNamespace(self.run / "ns") as ns, \
                ThreadPoolExecutor(1, thread_name_prefix="probe") as bg:
            lab = self._start_lab(ns, plan, bg)
            try:
                yield lab
            finally:
                with shielded():
                    self.adapter.stop()
                    for d in reversed(lab.daemons):
                        ns.sup.stop(d)
                    if self.expose:
                        self.expose.close()

    def lab_plan(self) -> LabPlan:
        t = time.monotonic()
        self.say(f"planning {len(self.scenarios)} scenarios")
        plan = make_plan(self.scenarios,
                         net=self.expose.net if self.expose else None)
        plan.pki.write(self.run / "pki")
        self._t("plan", t)
        return plan

    def _start_lab(self, ns: LabNamespace, plan: LabPlan,
                   bg: ThreadPoolExecutor) -> Lab:
        """NSD and Unbound with the universe (fake-mx, the HTTPS report
        receiver and the MTA-STS policy server start meanwhile), the DNS
        probe (started in BG: pass 1 waits for it); and the sender's
        context."""
        t = time.monotonic()
        exposed = None
        inet = None
        if parent_mode() and not self.expose:
            raise LabError(f"a lab under {lab_apex()} (--zone-parent) needs "
                           "an exposed link (--expose veth)")
        if self.expose:
            self.expose.setup(ns, self.run)
            exposed = (plan.addrs.resolver, str(self.expose.net.v4))
            # a sender inside the lab namespace (postfix, chasquid, ...)
            # reads resolv.conf: the resolver the plan gives out, the same
            # Unbound on the exposed address
            ns.set_resolv_conf(resolv_conf_text(plan.addrs.resolver,
                                                ns.trust_ad))
            self.say(f"lab exposed ({self.expose.mode}): resolver "
                     f"{plan.addrs.resolver}, the sender's link "
                     f"{self.expose.net.link4}")
        try:
            if self.expose:
                inet = Internet.attach(self.expose)
            # the receivers need no DNS: they start while the zones are
            # signed
            with ThreadPoolExecutor(1, thread_name_prefix="daemons") as ex:
                side = ex.submit(self._receivers, ns, plan)
                uni = Universe(plan.zones, self.run, ns, exposed, inet)
                uni.start()
                # The zones do not change before the fix of pass 2: the
                # probe's answers are the same whenever it asks.  It asks
                # while the sender starts, and pass 1 waits for it (it
                # fills the lab resolver's cache) but for its last
                # questions (a TLSA lookup that never gets an answer
                # waits out its time limit, case 12h).
                warm = threading.Event()
                dns = bg.submit(self._probe, ns, plan, warm)
                daemons, webpki, sts = side.result()
        except BaseException:
            if self.expose:
                self.expose.close()
            raise
        assert uni.built
        self.timings["zones"] = round(uni.timings["build"], 3)
        self.say(f"universe up: {len(uni.built.zones)} zones "
                 f"({uni.timings['build']:.2f} s build), lab namespace "
                 f"in {ns.mode} mode")
        self._t("universe", t)
        ctx = LabContext(ns, self.run / "sender", plan.addrs.resolver,
                         uni.trust_anchor,
                         cert_file(self.run / "pki", LAB_ROOT),
                         {sc.rcpt_domain: sc.policy
                          for sc in self.scenarios if sc.policy != "dane"},
                         plan.infra.write(self.run / "pki"),
                         exposure=self.expose.facts if self.expose else None,
                         webpki_ca=webpki)
        return Lab(ns, uni, daemons, ctx, dns, warm, sts)

    def _receivers(self, ns: LabNamespace, plan: LabPlan
                   ) -> tuple[list[Tracked], Path, Tracked | None]:
        """fake-mx (every MX host, the report and DSN sinks), the HTTPS
        report receiver, the WebPKI trust of the namespace and the MTA-STS
        policy server, up: (daemons, the WebPKI bundle, the policy
        server)."""
        daemons = [fakemx.start(ns, plan, self.run)]
        daemons.append(fakemx.start_https_sink(ns, plan, self.run))
        webpki = sts_lab.write_trust(plan.pki, self.run / "webpki")
        sts_lab.mount_trust(ns, webpki.parent)
        sts = sts_lab.start(ns, plan, self.run) if plan.sts else None
        if sts is not None:
            daemons.append(sts)
        return daemons, webpki, sts

    def _probe(self, ns: LabNamespace, plan: LabPlan, warm: threading.Event
               ) -> dict[str, dict[str, Any]]:
        t = time.monotonic()
        dns = probe.probe(ns, plan, warm=warm)
        self._t("probe", t)
        return dns

    # -- the sender --------------------------------------------------------

    def _stage(self, subs: list[Submission]) -> bool:
        t = time.monotonic()
        staged = self.adapter.stage(self.run / "sender", subs)
        if staged:
            self._t("stage", t)
        return staged

    def _drive(self, lab: Lab, plan: LabPlan, subs: list[Submission],
               staged: "Future[bool]") -> Passes:
        """Pass 1 for every scenario, pass 2 when a scenario has [fix],
        [expect.after_limit] or per-connection profiles, passes 3 and on
        for the last while they need it, then the sender's TLSRPT
        reports."""
        passes = self._pass1(lab, subs, staged)
        if any(sc.fix_zones is not None or sc.expect_after_limit is not None
               or sc.retry_passes for sc in self.scenarios):
            self._pass2(lab, plan, passes)
        self._flush_reports(passes)
        return passes

    def _pass1(self, lab: Lab, subs: list[Submission],
               staged: "Future[bool]") -> Passes:
        """Start the sender, check its set-up, submit one message per
        scenario (while the DNS probe runs) unless they were staged, run
        its queue once (once the probe is done but for its last
        questions), then wait for the probe."""
        t = time.monotonic()
        self.start_sender(lab, subs, staged)
        self._t("submit", t)
        lab.warm.wait()
        self.say(f"submitted {len(subs)} messages to "
                 f"{self.adapter.name}; queue pass 1")
        q = time.monotonic()
        with Ticker(self.run, "pass 1", len(subs), self.say):
            self.adapter.run_queue()
        self._t("queue1", q)
        dns = lab.dns.result()
        passes = Passes(subs, dns, dns, self.adapter.outcomes())
        self._t("pass1", t)
        return passes

    def submissions(self) -> list[Submission]:
        """One message per scenario, with this run's Message-IDs."""
        run_id = time.strftime("%Y%m%dT%H%M%S") + \
            f"-{int(time.time() * 1e3) % 1000:03d}"
        return [message_for(sc, run_id) for sc in self.scenarios]

    def start_sender(self, lab: Lab, subs: list[Submission] | None = None,
                     staged: "Future[bool] | None" = None
                     ) -> list[Submission]:
        """Start the sender, check its set-up (SetupError), submit SUBS
        (default: one new message per scenario) unless STAGED says the
        sender took them already; return them."""
        self.adapter.start(lab.ctx)
        problems = self.adapter.preflight(lab.ctx)
        if problems:
            raise SetupError(self.adapter.name, problems)
        self.sender_info = {"name": self.adapter.name,
                            "version": self.adapter.version(),
                            "config_digest": self.adapter.config_digest()}
        if subs is None:
            subs = self.submissions()
        if staged is None or not staged.result():
            self.adapter.submit(subs)
        return subs

    def _pass2(self, lab: Lab, plan: LabPlan, p: Passes) -> None:
        """Expire the [expect.after_limit] messages, fix the [fix] zones
        (rebuild, probe again, reload the sender), run the queue again."""
        fix = [sc for sc in self.scenarios if sc.fix_zones is not None]
        limit = [sc for sc in self.scenarios
                 if sc.expect_after_limit is not None]
        t = time.monotonic()
        p.boundary = time.time()
        if limit:
            self._expire(limit, p.subs)
        if fix:
            self.fix_zones(lab, plan, p, fix)
            advance = max(sc.fix_advance for sc in fix)
            if advance:
                p.advanced = self.adapter.advance_clock(advance)
                self.say(f"{self.adapter.name}: clock advanced {advance} s"
                         if p.advanced else f"{self.adapter.name}'s clock "
                         "cannot be advanced: those after-fix phases are "
                         "not graded")
        self._t("fix", t)
        self.say("queue pass 2")
        q = time.monotonic()
        with Ticker(self.run, "pass 2", len(p.subs), self.say):
            self.adapter.run_queue()
        self._t("queue2", q)
        r = time.monotonic()
        self._retry_passes(p.subs)
        self._t("retry_passes", r)
        p.second = self.adapter.outcomes()
        self._t("pass2", t)

    def fix_zones(self, lab: Lab, plan: LabPlan, p: Passes,
                  fix: list[Scenario]) -> None:
        """Repair the zones of the [fix] scenarios FIX: rebuild them (and
        the MTA-STS policies), probe them again into P.dns2, reload the
        sender."""
        self.say(f"fixing {len(fix)} scenario(s)")
        plan2 = make_plan(self.scenarios, fixed=True, pki=plan.pki,
                          infra=plan.infra, net=plan.net)
        plan2.pki.write(self.run / "pki")
        changed = lab.uni.rebuild(plan2.zones)
        if lab.sts is not None:
            sts_lab.reload(lab.sts, plan2, self.run)
        p.plan2 = plan2
        # rebuild() built only the zones that changed: the [fix]
        # scenarios' own and their delegations; the other scenarios' first
        # probe still holds
        again = {sc.id for sc in fix} | {
            sc.id for sc in self.scenarios
            if any(z == sc.domain or z.endswith("." + sc.domain)
                   for z in changed)}
        p.dns2 = {**p.dns, **probe.probe(lab.ns, plan2, again)}
        self.adapter.reload()
        self.say(f"{len(changed)} zone(s) rebuilt")

    def _retry_passes(self, subs: list[Submission]) -> None:
        """Passes 3 and on, for hosts whose first connections have their
        own profiles (a sender that makes one connection a pass needs one
        pass per such connection, and one more), only while some of these
        scenarios' messages are still queued."""
        retry = [sc for sc in self.scenarios if sc.retry_passes]
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

    def _flush_reports(self, p: Passes) -> None:
        t = time.monotonic()
        try:
            p.reported = self.adapter.flush_reports()
        except LabError as e:
            # The delivery results still count; every TLSRPT grade of this
            # run then fails with this reason.
            p.reported, p.report_error = True, str(e)
            self.say(f"TLSRPT reporting failed: {e}")
        self._t("tlsrpt", t)
        if not p.reported:
            self.say(f"{self.adapter.name} sends no TLSRPT reports here: "
                     "TLSRPT not graded")

    # -- grading -----------------------------------------------------------

    def result(self, plan: LabPlan, p: Passes) -> RunResult:
        """Fold fake-mx's events into sessions and grade every scenario
        (and its TLSRPT reports when the sender sent any)."""
        sess = sessions(fakemx.read_events(self.run))
        self.mine = sessions_by_scenario(plan, sess.values())
        grades = self._grade(plan, sess, p)
        if p.reported:
            self._grade_tlsrpt(plan, sess, grades, p.report_error,
                               [p.dns, p.dns2])
        evidence = {sid: {"first": probe.as_json(d),
                          **({"after_fix": probe.as_json(p.dns2[sid])}
                             if p.dns2[sid] is not d else {})}
                    for sid, d in p.dns.items()}
        return RunResult(self.adapter.name, self.run, grades,
                         {sc.id: sc for sc in self.scenarios}, plan,
                         self.timings, evidence, sess,
                         stray_traffic(plan, list(sess.values())),
                         {s.scenario: s.message_id for s in p.subs})

    def _grade(self, plan: LabPlan, sess: dict[str, Session], p: Passes
               ) -> list[Grade]:
        mid_of = {s.scenario: s.message_id for s in p.subs}
        self.fetches = sts_lab.fetches(self.run)
        acc = _accepted(sess)
        grades = []
        feats = tuple(getattr(self.adapter, "features", ()))
        for sc in self.scenarios:
            gs = self._grade_scenario(sc, plan, acc, p, mid_of[sc.id])
            phases = [sc.expect, sc.expect_after_fix or
                      sc.expect_after_limit]
            grades += [feature_gate(sc, phases[min(i, 1)] or sc.expect, g,
                                    feats) for i, g in enumerate(gs)]
        return grades

    def _sts_obs(self, obs: Observation, sc: Scenario, plan: LabPlan,
                 until: float | None = None, since: float | None = None
                 ) -> Observation:
        """OBS with the policy PLAN serves for SC and the fetches of it
        (between SINCE and UNTIL)."""
        obs.sts = plan.sts.get(sc.id)
        obs.sts_fetches = [
            f for f in self.fetches.get(sc.id, [])
            if (until is None or f.get("ts", 0) < until) and
            (since is None or f.get("ts", 0) >= since)]
        return obs

    def _grade_scenario(self, sc: Scenario, plan: LabPlan, acc: Accepted,
                        p: Passes, mid: str) -> list[Grade]:
        """One grade, or two (first pass, then after-fix / after-limit)
        for a scenario with a second expectation."""
        status = p.dns[sc.id]["hosts"]
        mine = self.mine.get(sc.id, [])
        later = sc.expect_after_fix or sc.expect_after_limit
        cut = p.cut(sc)
        if later is None or cut is None:
            out = p.second.get(mid) or p.first.get(mid)
            return [grade(sc, plan, sc.expect, self._sts_obs(
                Observation(mine, _deliveries(acc, mid, None), status,
                            out), sc, plan))]
        early = [s for s in mine if s.events and
                 s.events[0]["ts"] < cut]
        obs1 = Observation(early, _deliveries(acc, mid, cut), status,
                           p.first.get(mid))
        g1 = grade(sc, plan, sc.expect,
                   self._sts_obs(obs1, sc, plan, until=cut), "first")
        phase = "after-fix" if sc.expect_after_fix else "after-limit"
        obs = self._sts_obs(
            Observation(mine, _deliveries(acc, mid, None),
                        p.dns2[sc.id]["hosts"], p.second.get(mid)),
            sc, p.plan2 or plan, since=cut)
        if phase == "after-fix" and sc.fix_advance and not p.advanced:
            g2 = not_graded(sc, later, obs, phase, "the lab cannot advance "
                            f"{self.adapter.name}'s clock (adapter has no "
                            "advance_clock)")
        elif phase == "after-limit" and not self.expired:
            g2 = not_graded(sc, later, obs, phase, self.limit_note or
                            "the lab cannot drive "
                            f"{self.adapter.name} to its retry limit "
                            "(adapter has no expire)")
        else:
            g2 = grade(sc, plan, later, obs, phase)
        return [g1, g2]

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
                tg.checks.append(("SHOULD", False, "report delivery was "
                                  f"itself reported: {loops}", "loop"))
                if tg.verdict == "pass":
                    tg.verdict = "warn"
            if error:
                tg.checks.append(("MUST", False, f"reporter failed: {error}",
                                  "reporter"))
                tg.verdict = "fail"
            missing = [f for f in sc.requires if f not in
                       getattr(self.adapter, "features", ())]
            if missing:
                tg.checks.append(("MAY", False, "not graded: the sender "
                                  f"does not implement {', '.join(missing)}"
                                  f" (the grade would be {tg.verdict})",
                                  "not-graded"))
                tg.verdict = "info"
            last[sc.id].tlsrpt = tg.as_dict()
