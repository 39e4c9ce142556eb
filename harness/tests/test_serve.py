"""`danelab serve`: a sender the lab cannot drive, graded as its mail
arrives.  The sender lives in a namespace of its own and is reached only
through --expose netns: and smtp:// (or, with --no-submit, the test sends
as an operator would): slow_sender.py, which delivers when the test says
so, and Debian's Postfix as an appliance (appliance.py), on its own retry
schedule."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from danelab.appliance import PostfixAppliance
from danelab.catalog import DEFAULT_DIR, load_catalog
from danelab.labnet import LabNet
from danelab.netns import LabNamespace
from danelab.proc import wait_until
from danelab.grader import Grade
from danelab.serve import ServeState, parse_duration, settle, span, \
    tally
from test_interrupt import _lab_processes

ROOT = Path(__file__).resolve().parents[2]
NET = LabNet.parse()
SUT = f"smtp://{NET.sut(0)[0]}:25"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
needs_postfix = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("postconf"),
    reason="needs root and Postfix (ci/deps)")
LIMIT = 90.0                # seconds any one serve may take here
INTERVAL = re.compile(r"\] interval \d+: ")   # a progress line


class SlowSender:
    """slow_sender.py in a namespace of its own, resolving at the exposed
    lab's resolver; `release(id)` lets its held message go."""

    def __init__(self, folder: Path, rules: dict[str, str]) -> None:
        self.control = folder / "control"
        self.control.mkdir(parents=True)
        self.rules = rules
        self.ns = LabNamespace(folder / "ns", nameserver=NET.infra.resolver)

    def __enter__(self) -> "SlowSender":
        self.ns.open()
        try:
            self.ns.spawn("slow-sender", [
                sys.executable, str(Path(__file__).with_name(
                    "slow_sender.py")),
                "--resolver", NET.infra.resolver,
                "--control", str(self.control)]
                + [f"--rule={k}={v}" for k, v in self.rules.items()],
                log=self.control / "stderr", env={
                    **os.environ, "PYTHONPATH": str(ROOT / "harness")})
            assert wait_until((self.control / "ready").exists, 10), \
                (self.control / "stderr").read_text()
        except BaseException:
            self.ns.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.ns.close()

    @property
    def netns(self) -> str:
        assert self.ns.holder
        return f"/proc/{self.ns.holder.pid}/ns/net"

    def release(self, sid: str) -> None:
        (self.control / f"release-{sid}").write_text("")

    def log(self) -> str:
        p = self.control / "log"
        return p.read_text() if p.exists() else ""


class Served:
    """`danelab serve ARGS` as a process (its own session); stop() ends it
    and anything of its run left behind (and says so)."""

    def __init__(self, run: Path, args: list[str]) -> None:
        self.run = run
        self.p = subprocess.Popen(
            [str(ROOT / "bin" / "danelab"), "serve", "--run-dir", str(run),
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True)
        self.err: list[str] = []
        self.watchdog = threading.Timer(LIMIT, self.p.terminate)
        self.watchdog.start()

    def lines(self) -> Iterator[str]:
        assert self.p.stderr
        for line in self.p.stderr:
            self.err.append(line)
            yield line

    def wait(self) -> int:
        for _ in self.lines():
            pass
        return self.p.wait(timeout=LIMIT)

    def results(self) -> dict[str, Any]:
        return dict(json.loads((self.run / "report" / "results.json")
                               .read_text()))

    def stop(self) -> list[int]:
        """End the serve if it still runs; the PIDs of its run that were
        left running (then killed)."""
        self.watchdog.cancel()
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        left = _lab_processes(self.run)
        for pid in left:                    # the test's own leak: end it
            os.kill(pid, signal.SIGKILL)
        return left


def by_case(res: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["id"], c["phase"]): c for c in res["cases"]}


def test_durations() -> None:
    assert parse_duration("90") == 90 and parse_duration("1.5") == 1.5
    assert parse_duration("48h") == 48 * 3600
    assert parse_duration("1h30m") == 5400 and parse_duration("2d") == 172800
    for bad in ("", "h", "1x", "1h30", "-5", "1 h"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert [span(x) for x in (-1, 42.9, 1025, 172740)] == \
        ["0 s", "42 s", "17m05s", "47h59m"]


def test_settle_marks_final_and_provisional() -> None:
    """The rules of serve.settle(), one grade each: delivered and bounced
    are final, nothing yet is provisional (info, never a pass); a [fix]
    scenario's after-fix phase is pending until the repair, its first
    phase final from then on; after-limit is final (not graded); at the
    deadline everything is final as graded."""
    scs = {sc.id: sc for sc in load_catalog(DEFAULT_DIR)}

    def grades() -> list[Grade]:
        return [Grade("a01-secure-dane-ee", "first", ["delivered-dane"],
                      "delivered-dane", "pass"),
                Grade("a07-null-mx", "first", ["bounced"], "bounced",
                      "pass"),
                Grade("a02-mx-rrsig-expired", "first", ["deferred"],
                      "deferred", "pass"),
                Grade("g35-retry-tlsa-fixed", "first", ["deferred"],
                      "deferred", "pass"),
                Grade("g35-retry-tlsa-fixed", "after-fix",
                      ["delivered-dane"], "deferred", "fail"),
                Grade("g35d-retry-limit-tlsa-mismatch", "after-limit",
                      ["bounced"], "not-graded", "info")]
    st = ServeState(1000.0, 5000.0, 3000.0)
    gs = grades()
    settle(gs, scs, st, final=False)
    assert [(g.final, g.verdict, g.observed) for g in gs] == [
        (True, "pass", "delivered-dane"), (True, "pass", "bounced"),
        (False, "info", "deferred"), (False, "info", "deferred"),
        (False, "info", "pending"), (True, "info", "not-graded")]
    assert "would be pass now" in gs[2].checks[-1].text
    assert "final when the deadline" in gs[2].checks[-1].text
    assert "final when the zones are repaired" in gs[3].checks[-1].text
    assert gs[4].checks[-1].kind == "provisional"
    assert tally(gs) == {"final": 3, "provisional": 3, "failures": 0}
    st.fixed = True
    gs = grades()
    settle(gs, scs, st, final=False)
    assert [g.final for g in gs] == [True, True, False, True, False, True]
    assert gs[4].verdict == "info" and gs[4].observed == "deferred"
    gs = grades()
    settle(gs, scs, st, final=True)
    assert [(g.final, g.verdict) for g in gs] == [
        (True, "pass"), (True, "pass"), (True, "pass"), (True, "pass"),
        (True, "fail"), (True, "info")]
    assert tally(gs)["failures"] == 1


def test_serve_refuses_bad_input(tmp_path: Path) -> None:
    def serve(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / "bin" / "danelab"), "serve",
                               "--run-dir", str(tmp_path / "run"),
                               "-s", "a01-secure-dane-ee", *args],
                              capture_output=True, text=True, timeout=30)
    for args, why in [((), "one of them"),
                      (("--sender", "reference"), "cannot drive"),
                      (("--no-submit", "--window", "8d"), "at most a week"),
                      (("--no-submit", "--window", "60",
                        "--fix-after", "60"), "before the end"),
                      (("--no-submit", "--window", "soon"), "no duration")]:
        cp = serve(*args)
        assert cp.returncode == 2 and why in cp.stderr, (args, cp.stderr)
    assert not list(tmp_path.iterdir())


# the scenarios of the slow sender's run, and what it does with each
SLOW = {"a01-secure-dane-ee": "release:deliver",   # late, then final
        "a07-null-mx": "release:bounce",           # its DSN, late
        "a02-mx-rrsig-expired": "hold",            # deferred at the deadline
        "g35-retry-tlsa-fixed": "release:deliver",  # after the fix
        "g35d-retry-limit-tlsa-mismatch": "hold"}  # after-limit: not graded


@root_only
def test_serve_grades_late_mail_then_settles_at_the_deadline(
        tmp_path: Path) -> None:
    """Provisional first, final once delivered or bounced (the files
    rewritten every interval); the zones repaired at --fix-after and the
    retry graded after-fix; at the deadline what never came is final
    `deferred`; after-limit not graded; exit 0; nothing left running."""
    run = tmp_path / "run"
    snaps: list[dict[str, Any]] = []
    with SlowSender(tmp_path / "sut", SLOW) as sut:
        s = Served(run, ["--sender", SUT, "--expose", f"netns:{sut.netns}",
                         "--interval", "1", "--window", "14",
                         "--fix-after", "7"]
                   + [a for sid in SLOW for a in ("-s", sid)])
        try:
            for line in s.lines():
                if "fixing 1 scenario" in line:
                    sut.release("g35-retry-tlsa-fixed")
                if INTERVAL.search(line):
                    snaps.append(s.results())
                    if len(snaps) == 1:
                        sut.release("a01-secure-dane-ee")
                        sut.release("a07-null-mx")
            rc = s.p.wait(timeout=LIMIT)
        finally:
            left = s.stop()
        log = sut.log()
    err = "".join(s.err)
    assert left == [], left
    assert rc == 0, err + log
    assert len(snaps) >= 5, err
    first = by_case(snaps[0])
    for sid in ("a01-secure-dane-ee", "a07-null-mx", "a02-mx-rrsig-expired"):
        c = first[(sid, "first")]
        assert c["final"] is False and c["verdict"] == "info", c
        assert c["observed"] == "deferred"
        assert any(ch["kind"] == "provisional" for ch in c["checks"])
    assert first[("g35-retry-tlsa-fixed", "after-fix")]["observed"] == \
        "pending"
    # rewritten every interval; a must-not-deliver case never passes early
    assert [x["serve"]["intervals"] for x in snaps] == \
        sorted({x["serve"]["intervals"] for x in snaps})
    for x in snaps:
        c = by_case(x)[("a02-mx-rrsig-expired", "first")]
        assert not c["final"] and c["verdict"] == "info", c
    late = [by_case(x)[("a01-secure-dane-ee", "first")] for x in snaps]
    flip = next(i for i, c in enumerate(late) if c["final"])
    assert flip > 0 and all(c["final"] for c in late[flip:]), late
    assert late[flip]["verdict"] == "pass" and \
        late[flip]["observed"] == "delivered-dane"
    end = s.results()
    assert end["serve"]["final"] is True and not end["serve"]["interrupted"]
    got = {k: (c["final"], c["observed"], c["verdict"])
           for k, c in by_case(end).items()}
    assert got == {
        ("a01-secure-dane-ee", "first"): (True, "delivered-dane", "pass"),
        ("a07-null-mx", "first"): (True, "bounced", "pass"),
        ("a02-mx-rrsig-expired", "first"): (True, "deferred", "pass"),
        ("g35-retry-tlsa-fixed", "first"): (True, "deferred", "pass"),
        ("g35-retry-tlsa-fixed", "after-fix"): (True, "delivered-dane",
                                                "pass"),
        ("g35d-retry-limit-tlsa-mismatch", "first"): (True, "deferred",
                                                      "pass"),
        ("g35d-retry-limit-tlsa-mismatch", "after-limit"): (
            True, "not-graded", "info")}, (got, log)
    limit = by_case(end)[("g35d-retry-limit-tlsa-mismatch", "after-limit")]
    assert "retry limit" in limit["checks"][0]["text"]
    assert by_case(end)[("a07-null-mx", "first")]["sender_outcome"][
        "dsn"] == "5.1.0"
    assert "delivered g35-retry-tlsa-fixed" in log
    for f in ("junit.xml", "report.html"):
        assert (run / "report" / f).stat().st_size > 0
    assert not (run / "report" / ".next").exists()
    assert (run / "group1" / "results.json").exists()


def _send(rcpts: list[str]) -> None:
    """As the operator: one message to each of RCPTS, with Message-IDs of
    our own, through the sender's own door (inside its namespace)."""
    c = smtplib.SMTP("127.0.0.1", 25, timeout=10)
    for i, r in enumerate(rcpts):
        c.sendmail("tester@sender.test", [r],
                   f"From: <tester@sender.test>\r\nTo: <{r}>\r\nSubject: "
                   f"by hand\r\nMessage-ID: <op{i}@operator.test>\r\n\r\n"
                   "sent through the cloud's interface\r\n".encode())
    c.quit()


@root_only
def test_serve_no_submit_then_sigterm(tmp_path: Path) -> None:
    """--no-submit prints the recipients; the messages the operator sends
    are found by recipient (their Message-IDs are not the lab's).  SIGTERM
    ends serve within seconds: the last files written with what is still
    open left provisional, exit 130, no process of the run left."""
    run = tmp_path / "run"
    with SlowSender(tmp_path / "sut", {"a02-mx-rrsig-expired": "hold"}
                    ) as sut:
        s = Served(run, ["--no-submit", "--expose", f"netns:{sut.netns}",
                         "--interval", "1", "--window", "1h",
                         "-s", "a01-secure-dane-ee",
                         "-s", "a02-mx-rrsig-expired"])
        try:
            assert s.p.stdout
            rcpts = [s.p.stdout.readline().strip() for _ in range(2)]
            assert rcpts == ["user@a01-secure-dane-ee.test",
                             "user@a02-mx-rrsig-expired.test"], s.err
            sut.ns.call(_send, rcpts)
            for line in s.lines():
                if INTERVAL.search(line) and " 1 final" in line:
                    break
            t0 = time.monotonic()
            s.p.send_signal(signal.SIGTERM)
            rc = s.wait()
            took = time.monotonic() - t0
        finally:
            left = s.stop()
    err = "".join(s.err)
    assert left == [], left
    assert rc == 130 and "Traceback" not in err, err
    assert took < 10, took
    end = s.results()
    assert end["serve"]["interrupted"] is True
    assert end["serve"]["final"] is False
    cases = by_case(end)
    a01 = cases[("a01-secure-dane-ee", "first")]
    assert (a01["final"], a01["observed"], a01["verdict"]) == \
        (True, "delivered-dane", "pass")
    a02 = cases[("a02-mx-rrsig-expired", "first")]
    assert (a02["final"], a02["verdict"]) == (False, "info"), a02
    assert "left provisional" in err


# a secure DANE case that must deliver, a TLSA mismatch and a bogus MX that
# must not, an insecure one
APPLIANCE_CASES = ["a01-secure-dane-ee", "a05b-implicit-mx-tlsa-mismatch",
                   "a02-mx-rrsig-expired", "a03-mx-insecure"]


def _final_as_published(s: Served) -> None:
    """Every APPLIANCE_CASES grade of S is final, with the verdict and
    observed outcome `run` gave the Postfix appliance
    (docs/results/postfix-blackbox.json)."""
    pub = json.loads((ROOT / "docs/results/postfix-blackbox.json")
                     .read_text())["cases"]
    got = {c["id"]: c for c in s.results()["cases"]}
    assert sorted(got) == sorted(APPLIANCE_CASES)
    for sid in APPLIANCE_CASES:
        c = got[sid]
        assert c["final"] is True
        assert (c["verdict"], c["observed"]) == \
            (pub[sid]["verdict"], pub[sid]["observed"]), (sid, c)


@needs_postfix
def test_serve_postfix_appliance_as_run_grades_it(tmp_path: Path) -> None:
    """Debian's Postfix as the "cloud": its own namespace, submitted to
    over smtp:// only, retrying on its own schedule.  serve's final
    verdicts and outcomes are those `run` gave the same appliance
    (docs/results/postfix-blackbox.json, written by `danelab run` through
    blackbox.py)."""
    scs = load_catalog(DEFAULT_DIR)
    policies = {sc.rcpt_domain: sc.policy for sc in scs
                if sc.policy != "dane"}
    run = tmp_path / "run"
    with PostfixAppliance(tmp_path / "appliance", NET, policies) as app:
        s = Served(run, ["--sender", app.url, "--expose",
                         f"netns:{app.netns_path}", "--interval", "1",
                         "--window", "10"]
                   + [a for sid in APPLIANCE_CASES for a in ("-s", sid)])
        try:
            rc = s.wait()
        finally:
            left = s.stop()
    assert left == [] and rc == 0, "".join(s.err)
    _final_as_published(s)


@needs_postfix
def test_serve_cloud_postfix_under_a_simulated_parent(tmp_path: Path
                                                      ) -> None:
    """Internet mode as far as it can be tried here (docs/internet-mode.md):
    the lab under lab.example.net., the zones above it (the root, net.,
    example.net.) served from another namespace, and Debian's Postfix as
    the "cloud" in that namespace, knowing only the simulated Internet's
    resolver, submitted to over smtp://, retrying on its own schedule.
    serve grades it: the verdicts and outcomes are those the same
    appliance gets in the lab under test. (published), and the
    Internet's resolver is the one it asked for the TLSA records."""
    from danelab.apex import apex_set
    apex = "lab.example.net."
    run = tmp_path / "run"
    with apex_set(apex), PostfixAppliance(
            tmp_path / "appliance", NET,
            resolver=NET.inet_resolver) as app:
        resolv = (app.run / "ns" / "resolv.conf")
        s = Served(run, ["--sender", app.url, "--expose",
                         f"netns:{app.netns_path}", "--zone-parent", apex,
                         "--interval", "1", "--window", "12"]
                   + [a for sid in APPLIANCE_CASES for a in ("-s", sid)])
        try:
            rc = s.wait()
        finally:
            left = s.stop()
        main_cf = (app.run / "postfix" / "conf" / "main.cf").read_text()
    assert left == [] and rc == 0, "".join(s.err)
    assert f"myorigin = sender.{apex[:-1]}" in main_cf
    assert f"nameserver {NET.inet_resolver}" in resolv.read_text()
    _final_as_published(s)
    # who asked the Internet's resolver for a01's TLSA record: the cloud
    log = "\n".join(p.read_text() for p in run.rglob("inet-unbound.log"))
    tlsa = f"_25._tcp.mx1.a01-secure-dane-ee.{apex} TLSA IN"
    asked = [ln for ln in log.splitlines() if tlsa in ln]
    assert asked and all(NET.sut(0)[0] in ln for ln in asked), asked
