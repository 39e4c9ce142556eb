"""danelab's command line.  `danelab --help` lists the commands;
docs/cli.md describes them.  Exit status: 0 all MUSTs held, 1 a MUST failed,
2 bad input or a lab set-up error.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

from . import catalog
from .adapters import KNOWN
from .errors import LabError
from .labnet import DEFAULT_RANGE
from .apex import lab_apex, set_lab_apex
from .netns import LabNamespace, close_all, netns_id, pids_in_netns

ROOT = Path(__file__).resolve().parents[2]
# Characters a run folder's path may hold: it goes into NSD's, Unbound's and
# the senders' configuration files, where a quote, a space or a '#' breaks
# the syntax and Unbound takes '*', '?', '[', '{' and '~' for glob patterns.
SAFE_PATH_RE = re.compile(r"[\w./+@-]+")
# smtp://USER:PASS@HOST: the password never goes into a report
SMTP_PASSWORD_RE = re.compile(r"(smtp://[^:/@\s]*:)\S*@")


def prog_name() -> str:
    """How a hint names this program: `danelab` when that is on PATH,
    otherwise the clone's bin/danelab (relative to the working folder when
    it lies below it)."""
    if shutil.which("danelab"):
        return "danelab"
    exe = ROOT / "bin" / "danelab"
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return str(exe)


# A unix socket's address holds at most 107 octets (108 with its NUL); the
# deepest socket below a run folder is a group's Unbound control socket.
SUN_PATH_MAX = 107
DEEPEST_SOCKET = "/group99/unbound.ctl"


def _safe_run_dir(p: Path, deepest: str = DEEPEST_SOCKET) -> Path:
    bad = sorted(set(SAFE_PATH_RE.sub("", str(p))))
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise LabError(f"run folder {str(p)!r}: {shown} cannot be used in "
                       "its path (it goes into the NSD, Unbound and sender "
                       "configuration files); use letters, digits and "
                       "/ . _ - + @ (--run-dir, or DANELAB_RUNS for the "
                       "default folder)")
    longest = len(str(p)) + len(deepest)
    if longest > SUN_PATH_MAX:
        raise LabError(f"run folder {str(p)!r} is too deep: the lab puts "
                       f"unix sockets below it ({p}{deepest}: {longest} "
                       f"octets, at most {SUN_PATH_MAX}); use a shorter "
                       "folder (--run-dir, or DANELAB_RUNS for the default "
                       "folder)")
    return p


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: needs at least 1 (one "
                                         "universe per group)")
    return n


class Progress:
    """One updating line on a terminal; plain lines otherwise."""

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.s = stream
        self.tty = stream.isatty()
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, msg: str) -> None:
        with self.lock:
            line = f"[{time.monotonic() - self.t0:6.1f}s] {msg}"
            if self.tty:
                width = shutil.get_terminal_size().columns - 1
                self.s.write("\r\033[K" + line[:width])
            else:
                self.s.write(line + "\n")
            self.s.flush()

    def done(self) -> None:
        if self.tty:
            self.s.write("\n")
            self.s.flush()


def _sigterm(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _selected(a: argparse.Namespace) -> list[Any]:
    scs = catalog.load_catalog(Path(a.catalog))
    out = catalog.select(scs, a.scenario, a.section,
                         getattr(a, "shard", None))
    if not out:
        raise LabError("no scenario matches the selection")
    return out


def cmd_list(a: argparse.Namespace) -> int:
    """One line per scenario under a header; LEVEL is the strongest level
    its expectation is graded at (MUST, SHOULD or MAY)."""
    row = "{:40} {:4} {:6} {:28} {}"
    print(row.format("ID", "CASE", "LEVEL", "EXPECTED", "TITLE"))
    for sc in _selected(a):
        print(row.format(sc.id, f"{sc.section}{sc.case}", sc.level,
                         "/".join(sc.expect.outcome), sc.title))
    return 0


def run_groups(scs: list[Any], jobs: int) -> list[list[Any]]:
    """How `run -j JOBS` splits the selection into groups, each its own
    universe (explain uses it too, to show a run's real addresses)."""
    jobs = max(1, min(jobs, len(scs)))
    return [scs[i::jobs] for i in range(jobs)]


def _find(scs: list[Any], sid: str) -> Any:
    """The scenario SID names: its id, or the one id it is a prefix of."""
    exact = [s for s in scs if s.id == sid]
    if exact:
        return exact[0]
    hits = [s for s in scs if s.id.startswith(sid)]
    if not hits:
        raise LabError(f"no scenario {sid!r} (`{prog_name()} list` shows "
                       "them)")
    if len(hits) > 1:
        raise LabError(f"{sid!r} is the start of {len(hits)} scenario ids; "
                       "say which:\n  " + "\n  ".join(s.id for s in hits))
    return hits[0]


def cmd_explain(a: argparse.Namespace) -> int:
    scs = catalog.load_catalog(Path(a.catalog))
    sc = _find(scs, a.id)
    errors = catalog.universe_errors(sc)
    if errors:
        for err in errors:
            print(f"error: {err}", file=sys.stderr)
        raise LabError(f"{sc.path} does not pass `{prog_name()} lint`")
    # The plan of the group this scenario runs in, by the run's own split:
    # addresses depend on the scenario's position in it.
    sel = catalog.select(scs, a.scenario, a.section, a.shard)
    group = next((g for g in run_groups(sel, a.jobs)
                  if sc.id in [s.id for s in g]), None)
    if group is None:
        raise LabError(f"{sc.id} is not in the selection given")
    pos = [s.id for s in group].index(sc.id) + 1
    from .labplan import make_plan
    plan = make_plan(group)
    print(f"{sc.id}: {sc.title}\n  {sc.rfc}; case {sc.section}{sc.case} in "
          f"docs/cases.md; sender policy {sc.policy}")
    if sc.refs:
        print("  Reproduces a bug seen in real senders (refs):")
        for r in sc.refs:
            print(f"    {r}")
    print(f"\n{sc.explain}\n")
    e = sc.expect
    print(f"Expected: {' or '.join(e.outcome)}"
          + (f" (SHOULD: {' or '.join(e.prefer)})"
             if e.prefer != e.outcome else "")
          + (" — a MAY: the choice is recorded" if e.choice else "")
          + (f"; only hosts {', '.join(e.hosts) or '(none)'} may receive it"
             if e.hosts is not None else "")
          + (f"; TLSRPT {e.tlsrpt}" if e.tlsrpt else ""))
    print("\nDNS:")
    for z in plan.zones:
        if not (z.name == sc.domain or z.name.endswith("." + sc.domain)):
            continue
        faults = [f.kind + (f":{f.owner}/{f.rtype}" if f.owner else "")
                  for f in z.faults]
        print(f"  ; zone {z.name} signed={z.signed} ds={z.ds_in_parent} "
              f"denial={z.denial} faults={faults}")
        for r in z.records:
            print(f"  {r.owner} {r.rtype} {r.rdata}")
    whole = not (a.scenario or a.section or a.shard)
    print(f"\nMX hosts (addresses as in `{prog_name()} run` of "
          + ("the whole catalog" if whole else "this selection")
          + (f", -j {a.jobs}" if a.jobs > 1 else "")
          + f", where this is scenario {pos} of "
          f"{len(group)}{' in its group' if len(group) < len(sel) else ''}"
          "; another selection numbers its scenarios anew):")
    for hp in plan.scenario_hosts(sc.id):
        h = hp.decl
        v6 = f" [{hp.address6}]:25" if hp.address6 else ""
        certs = ",".join(it.name for it in [hp.cert] + hp.cert_also)
        print(f"  {hp.fqdn} {hp.address}:25{v6} starttls={h.starttls}"
              f" reply={h.starttls_reply} tls_fault={h.tls_fault} "
              f"mode={h.mode} cert={certs} "
              f"listen={'yes' if h.listen else 'no'}")
        first = 1
        for c in h.connections:
            what = {k: v for k, v in (
                ("starttls", c.starttls), ("reply", c.starttls_reply),
                ("tls_fault", c.tls_fault), ("tls_alert", c.tls_alert),
                ("close_after", c.close_after)) if v is not None}
            what.update(c.replies)
            span = f"{first}" if c.count == 1 else \
                f"{first}-{first + c.count - 1}"
            print(f"    connection {span}: " + " ".join(
                f"{k}={v!r}" if " " in v else f"{k}={v}"
                for k, v in what.items()))
            first += c.count
    return 0


def cmd_lint(a: argparse.Namespace) -> int:
    n, errors = catalog.lint(Path(a.catalog))
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    print(f"{n} scenario file(s) checked, {len(errors)} error(s)")
    return 2 if errors else 0


def _run_dir(a: argparse.Namespace) -> Path:
    if a.run_dir:
        p = _safe_run_dir(Path(a.run_dir).resolve())
        if p.exists() and any(p.iterdir()):
            raise LabError(f"run folder {p} is not empty; name a new one "
                           "(results of two runs must not mix)")
        return p
    base = Path(os.environ.get("DANELAB_RUNS", ROOT / "runs")).resolve()
    _safe_run_dir(base, "/YYYYmmdd-HHMMSS-xxxxxxxx" + DEEPEST_SOCKET)
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"),
                                 dir=base))


def cmd_run(a: argparse.Namespace) -> int:
    from .adapters import get_adapter
    from .results import write_run, write_setup_error
    from .runner import RunResult
    scs = _selected(a)
    groups = run_groups(scs, a.jobs)
    jobs = len(groups)
    # Every check of the input before the run folder exists: an unknown
    # sender or a missing script leaves nothing behind but the report that
    # says so, when --report names where.
    try:
        hooks = _hooks(a.hook)
        expose = _exposure(a)
        if expose and jobs > 1:
            raise LabError("--expose runs one group (no -j): one sender "
                           "under test, one link")
        adapters = [get_adapter(a.sender, hooks, a.pass_seconds)
                    for _ in groups]
        run = _run_dir(a)
    except LabError as e:
        if a.report:
            write_setup_error(Path(a.report), a.sender, e)
        raise
    out = Path(a.report) if a.report else run / "report"
    prog = Progress()
    results: list[RunResult | None] = [None] * jobs
    errors: list[BaseException] = []

    def one(i: int) -> None:
        def say(m: str) -> None:
            prog(m if jobs == 1 else f"group {i + 1}: {m}")
        try:
            results[i] = lab_run(a, groups[i], adapters[i],
                                 run / f"group{i + 1}", say,
                                 expose).execute()
        except BaseException as e:          # reported below
            errors.append(e)
    prog(f"{len(scs)} scenario(s), sender {a.sender}, {jobs} group(s), "
         f"run folder {run}")
    if jobs == 1:
        one(0)
    else:
        ts = [threading.Thread(target=one, args=(i,)) for i in range(jobs)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    if errors:
        prog.done()
        write_setup_error(out, a.sender, errors[0])
        print(f"set-up error written to {out}/results.json and "
              f"{out}/junit.xml", file=sys.stderr)
        raise errors[0]
    done = [r for r in results if r]
    assert len(done) == jobs
    cases, problems = write_run(
        [(r, run / f"group{i + 1}" / "results.json")
         for i, r in enumerate(done)], out, a.sender, command_line(a))
    prog.done()
    failed = print_summary(cases, problems, out, run)
    if not a.keep and not problems and not any(
            c["verdict"] == "fail" for c in cases):
        for i in range(jobs):
            for sub in ("ns", "zones/keys"):
                shutil.rmtree(run / f"group{i + 1}" / sub,
                              ignore_errors=True)
    return 1 if failed else 0


def lab_run(a: argparse.Namespace, scs: list[Any], adapter: Any,
            folder: Path, say: Any, expose: Any) -> Any:
    """The LabRun of one group of `run` (and of `serve`, which runs it
    piece by piece): whatever the universe options ask for applies to
    both."""
    from .runner import LabRun
    return LabRun(scs, adapter, folder, say, expose)


def print_summary(cases: list[dict[str, Any]],
                  problems: list[dict[str, Any]], out: Path, run: Path
                  ) -> bool:
    """On stdout: each failed or warned case with what went wrong, the
    run's problems, the counts and where the files are.  Returns whether
    the run failed (a failed MUST, TLSRPT failure or problem)."""
    counts: dict[str, int] = {}
    tl: dict[str, int] = {}
    for c in cases:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
        if c["verdict"] in ("fail", "warn"):
            bad = "; ".join(ch["text"] for ch in c["checks"] if not ch["ok"])
            print(f"{c['verdict'].upper():5} {c['id']} "
                  f"[{c.get('phase', 'first')}]: {bad}")
        tr = c.get("tlsrpt")
        if tr:
            tl[tr["verdict"]] = tl.get(tr["verdict"], 0) + 1
            if tr["verdict"] in ("fail", "warn"):
                bad = "; ".join(ch["text"] for ch in tr["checks"]
                                if not ch["ok"])
                print(f"{tr['verdict'].upper():5} {c['id']} [tlsrpt]: {bad}")
    for pr in problems:
        print(f"FAIL  run: {pr['text']}")
    print(f"{len(cases)} result(s): " + ", ".join(
        f"{counts.get(v, 0)} {v}" for v in ("pass", "fail", "warn", "info"))
          + ("; TLSRPT: " + ", ".join(f"{n} {v}" for v, n in sorted(
              tl.items())) if tl else "; TLSRPT not graded")
          + (f"; {len(problems)} problem(s) of the run" if problems
             else ""))
    print(f"report: {out / 'report.html'}  junit: {out / 'junit.xml'}  "
          f"json: {out / 'results.json'}  logs: {run}")
    return bool(counts.get("fail") or tl.get("fail") or problems)


def _duration(text: str) -> float:
    from .serve import parse_duration
    try:
        n = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0")
    return n


def cmd_serve(a: argparse.Namespace) -> int:
    """The long-running run (serve.py): grade as the mail arrives, until
    the deadline or SIGTERM/SIGINT."""
    from .adapters import get_adapter
    from .adapters.smtp import OperatorAdapter
    from .results import write_setup_error
    from .serve import WEEK, Schedule, Serve
    try:
        if a.no_submit == bool(a.sender):
            raise LabError("serve needs --sender smtp://HOST[:PORT] (the lab "
                           "submits) or --no-submit (the operator sends), "
                           "one of them")
        if a.sender and not a.sender.startswith("smtp://"):
            raise LabError(f"serve grades a sender it cannot drive: "
                           f"--sender smtp://HOST[:PORT], not {a.sender!r} "
                           f"(`{prog_name()} run` drives the others)")
        if a.window > WEEK:
            raise LabError(f"--window {a.window:.0f} s: at most a week "
                           f"({WEEK:.0f} s)")
        if a.fix_after is not None and a.fix_after >= a.window:
            raise LabError("--fix-after must come before the end of "
                           "--window")
        scs = _selected(a)
        expose = _exposure(a)
        adapter = OperatorAdapter(a.sender_name) if a.no_submit else \
            get_adapter(a.sender)
        run = _run_dir(a)
    except LabError as e:
        if a.report:
            write_setup_error(Path(a.report), a.sender or a.sender_name, e)
        raise
    out = Path(a.report) if a.report else run / "report"
    prog = Progress()

    def announce(subs: list[Any]) -> None:
        if not a.no_submit:
            return
        text = "".join(f"{s.rcpt}\n" for s in subs)
        (run / "recipients.txt").write_text(text)
        prog(f"send one message to each recipient below (envelope sender "
             f"{subs[0].sender}, so that bounces reach the lab); also in "
             f"{run / 'recipients.txt'}")
        sys.stdout.write(text)
        sys.stdout.flush()
    prog(f"serve: {len(scs)} scenario(s), sender "
         f"{a.sender or adapter.name}, window {a.window:.0f} s, interval "
         f"{a.interval:g} s, run folder {run}")
    sched = Schedule(a.window, a.interval, a.fix_after)
    srv = Serve(lab_run(a, scs, adapter, run / "group1", prog, expose),
                out, sched, command_line(a), announce)
    try:
        cases, problems, st = srv.execute()
    except (LabError, KeyboardInterrupt) as e:
        prog.done()
        if not srv.written:     # else the last snapshot's files stay
            write_setup_error(out, adapter.name, e)
        raise
    prog.done()
    failed = print_summary(cases, problems, out, run)
    if st.interrupted:
        print(f"danelab: interrupted; {st.counts['provisional']} grade(s) "
              "left provisional; everything the lab started is stopped",
              file=sys.stderr)
        return 130
    return 1 if failed else 0


def command_line(a: argparse.Namespace) -> str:
    """The command line that ran this (for the report: how to reproduce
    it), as a shell would take it; the password of an smtp:// sender is
    replaced by PASSWORD."""
    return shlex.join([prog_name(), *(SMTP_PASSWORD_RE.sub(
        r"\1PASSWORD@", w) for w in getattr(a, "argv", []))])


def _hooks(items: list[str] | None) -> dict[str, str]:
    out = {}
    for it in items or []:
        name, eq, cmd = it.partition("=")
        if not eq or not cmd:
            raise LabError(f"--hook {it!r}: use NAME=COMMAND (flush, expire, "
                           "reload)")
        out[name] = cmd
    return out


def _exposure(a: argparse.Namespace) -> Any:
    """The Exposure --expose asks for (None: loopback only).  A lab under
    --zone-parent is always exposed (veth unless said otherwise): the
    simulated Internet lives at the far end of its link."""
    if getattr(a, "zone_parent", None):
        if not getattr(a, "expose", None):
            a.expose = "veth"
        if a.expose.startswith("bridge:"):
            raise LabError("--zone-parent needs --expose veth or "
                           "netns:PATH: the simulated Internet runs in the "
                           "namespace at the far end of the link, which a "
                           "bridge port does not have")
    if not getattr(a, "expose", None):
        return None
    from .expose import Exposure, range_on_host
    from .labnet import LabNet
    net = LabNet.parse(a.lab_range)
    clash = range_on_host(net)
    if clash:
        raise LabError(f"lab range {net.describe()} is in use in this "
                       f"namespace ({clash[0]}); choose another with "
                       "--lab-range")
    return Exposure.parse(a.expose, net)


def cmd_report(a: argparse.Namespace) -> int:
    from .report import write_reports
    cases, problems = write_reports([Path(p) for p in a.results],
                                    Path(a.out))
    for pr in problems:
        print(f"FAIL  run ({pr['sender']}): {pr['text']}")
    print(f"{len(cases)} case(s) -> {a.out}/report.html, {a.out}/junit.xml")
    return 1 if problems or any(c["verdict"] == "fail" for c in cases) \
        else 0


# -- universe up / down / status / shell -------------------------------------

def _state_file(run: Path) -> Path:
    return run / "universe.json"


def cmd_universe(a: argparse.Namespace) -> int:
    run = Path(a.run_dir or ROOT / "runs" / "universe").resolve()
    if a.action == "up":
        _safe_run_dir(run, "/unbound.ctl")
    sf = _state_file(run)
    if a.action == "up":
        from . import fakemx
        from .labplan import make_plan
        from .dns.internet import Internet
        from .dns.universe import Universe
        if sf.exists() and _alive(json.loads(sf.read_text())):
            raise LabError(f"a universe is already up in {run}; `"
                           f"{prog_name()} universe down --run-dir {run}` "
                           "first")
        scs = _selected(a)
        expose = _exposure(a)
        run.mkdir(parents=True, exist_ok=True)
        plan = make_plan(scs, net=expose.net if expose else None)
        plan.pki.write(run / "pki")
        ns = LabNamespace(run / "ns")
        ns.open()
        try:
            inet = None
            if expose:
                expose.setup(ns, run)
                inet = Internet.attach(expose)
            u = Universe(plan.zones, run, ns,
                         (plan.addrs.resolver, str(expose.net.v4))
                         if expose else None, inet)
            u.start()
            fakemx.start(ns, plan, run)
            write_env(run, plan, u, expose)
        except BaseException:
            if expose:
                expose.close()
            ns.close()
            raise
        assert ns.holder
        procs: list[dict[str, Any]] = [
            {"name": t.name, "pid": t.pid} for t in ns.sup.procs]
        if inet:        # the Internet's daemons: in the SUT's namespace
            for p in procs:
                if p["name"] in ("inet-nsd", "inet-unbound"):
                    p["ns_id"] = netns_id(p["pid"]) or ""
        if expose and expose.sut_ns and expose.sut_ns.holder:
            procs.insert(0, {"name": "sut-ns-holder",
                             "pid": expose.sut_ns.holder.pid,
                             "ns_id": expose.sut_ns.ns_id})
        up: dict[str, Any] = {
            "run": str(run), "holder": ns.holder.pid, "mode": ns.mode,
            "ns_id": ns.ns_id, "procs": procs, "apex": lab_apex()}
        sf.write_text(json.dumps(up, indent=1))
        print(f"universe up: {len(scs)} scenario(s), "
              f"{len(u.built.zones) if u.built else 0} zones, "
              f"{ns.mode} mode, folder {run}\n"
              f"  NSD 127.53.0.1, Unbound {plan.addrs.resolver}, trust "
              f"anchor {u.trust_anchor}\n"
              + (f"  under {lab_apex()}: the simulated Internet's resolver "
                 f"{inet.resolver} (in {inet.netns})\n" if inet else "")
              + (f"  exposed ({expose.mode}): what a sender needs: "
                 f"{prog_name()} universe env --run-dir {run}\n"
                 if expose else "")
              + f"  enter it: {prog_name()} shell --run-dir {run}\n"
              f"  stop it:  {prog_name()} universe down --run-dir {run}")
        return 0
    if not sf.exists():
        print(f"no universe in {run}")
        return 0 if a.action == "down" else 1
    state = json.loads(sf.read_text())
    if a.action == "env":
        env = json.loads((run / "env.json").read_text())
        if a.json:
            print(json.dumps(env, indent=1))
        else:
            print(env_text(env))
        return 0
    if a.action == "status":
        for p in state["procs"]:
            alive = _proc_ok(p["pid"], p.get("ns_id") or state["ns_id"]) or \
                p["pid"] == state["holder"] and _alive(state)
            print(f"{p['name']:10} pid {p['pid']:7} "
                  f"{'running' if alive else 'gone'}")
        return 0 if _alive(state) else 1
    # down: stop every process we recorded, newest first, holder last;
    # only while it is still in the lab's network namespace (the holder
    # too): a recorded PID that ended may belong to someone else now.
    for p in reversed(state["procs"]):
        pid = p["pid"]
        if _proc_ok(pid, p.get("ns_id") or state["ns_id"]) and \
                p["name"] != "sut-ns-holder":
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and pids_in_netns(state["ns_id"]):
        time.sleep(0.05)
    left = pids_in_netns(state["ns_id"])
    for pid in left:
        if pid in [p["pid"] for p in state["procs"]]:
            os.kill(pid, signal.SIGKILL)
    for p in state["procs"]:
        sut_ns = p.get("ns_id", "")
        if p["name"] == "sut-ns-holder" and _proc_ok(p["pid"], sut_ns):
            try:
                os.kill(p["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
    sf.unlink()
    print(f"universe down ({run})")
    return 0


def write_env(run: Path, plan: Any, u: Any, expose: Any) -> None:
    """What a sender under test needs, for `universe env`: env.json, and
    the trust anchor as a BIND trust-anchors clause.  Under --zone-parent
    also what the operator publishes at the parent (the apex's DS) and
    where the simulated Internet's resolver is."""
    from .labinfra import sender_address
    from .pki import LAB_ROOT, cert_file
    trust_anchor = u.trust_anchor
    ds = trust_anchor.read_text().split(None, 4)[4].strip()
    tag, alg, dt, digest = ds.split(None, 3)
    bind = run / "trust-anchors.conf"
    bind.write_text(f'trust-anchors {{\n  . initial-ds {tag} {alg} {dt} '
                    f'"{digest.replace(" ", "")}";\n}};\n')
    env: dict[str, Any] = {
        "resolver": plan.addrs.resolver,
        "trust_anchor_ds": f". IN DS {ds}",
        "trust_anchor_file": str(trust_anchor),
        "trust_anchor_bind": str(bind),
        "lab_ca": str(cert_file(run / "pki", LAB_ROOT)),
        "envelope_sender": sender_address(),
        "sender_mailbox_mx": plan.addrs.sender_mx,
        "exposure": expose.facts if expose else None}
    if u.inet:
        env["zone_parent"] = {
            **u.inet.facts(),
            "ds": f"{lab_apex()} IN DS {u.built.apex_key.ds_text()}",
            "trust_anchor_file": str(trust_anchor)}
    if expose:
        sut = expose.facts["sut"]["ipv4"]
        env["submit"] = (f"the lab submits to smtp://{sut}:25 "
                         f"(danelab run --sender smtp://{sut}:25)")
    (run / "env.json").write_text(json.dumps(env, indent=1))


def env_text(env: dict[str, Any]) -> str:
    ex = env.get("exposure") or {}
    lines = [f"resolver          {env['resolver']} (validating; use it, "
             "and only it)",
             f"trust anchor      {env['trust_anchor_ds']}",
             f"  Unbound file    {env['trust_anchor_file']}",
             f"  BIND file       {env['trust_anchor_bind']}",
             f"lab CA bundle     {env['lab_ca']}",
             f"bounces go to     {env['envelope_sender']} (MX "
             f"{env['sender_mailbox_mx']})"]
    zp = env.get("zone_parent")
    if zp:
        lines += [f"lab apex          {zp['apex']} (under the simulated "
                  f"parent {zp['parent']})",
                  f"publish at parent {zp['ds']}",
                  f"Internet resolver {zp['resolver']} (validating, from "
                  "the simulated root; a cloud sender uses it)",
                  f"  trust anchor    {zp['trust_anchor_file']}",
                  f"Internet netns    {zp['namespace']} (root name server "
                  f"{zp['name_server']})"]
    if ex:
        sut = ex["sut"]
        lines += [f"exposed           {ex['mode']}, range {ex['range']}",
                  f"namespace         {ex.get('namespace') or '-'}"
                  + (f" (bridge {ex['bridge']})" if ex.get("bridge") else ""),
                  f"SUT addresses     {sut['ipv4']}/24, {sut['ipv6']}/64 on "
                  f"{ex['link']['sut_interface']}"
                  + ("" if sut["configured"] else " (configure them on the "
                     "SUT)"),
                  f"SUT routes        {'; '.join(sut['routes'])} (no default)",
                  f"submit            {env.get('submit', '')}"]
    return "\n".join(lines)


def _proc_ok(pid: int, ns_id: str) -> bool:
    from .netns import netns_id
    return netns_id(pid) == ns_id


def _alive(state: dict[str, Any]) -> bool:
    from .netns import netns_id
    return netns_id(state["holder"]) == state["ns_id"]


def cmd_shell(a: argparse.Namespace) -> int:
    run = Path(a.run_dir or ROOT / "runs" / "universe").resolve()
    sf = _state_file(run)
    if not sf.exists():
        raise LabError(f"no universe in {run}: `{prog_name()} universe up` "
                       "first")
    st = json.loads(sf.read_text())
    if not _alive(st):
        raise LabError(f"the universe in {run} is not running")
    argv = ["nsenter", "-t", str(st["holder"])]
    if st["mode"] == "user":
        argv += ["-U", "--preserve-credentials"]
    argv += ["-n", "-m", "--"]
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    cmd = cmd or [os.environ.get("SHELL", "/bin/bash")]
    if not cmd[1:] and cmd[0] == os.environ.get("SHELL", "/bin/bash"):
        print("inside the lab namespace: try `dig +dnssec MX "
              f"<scenario-id>.{st.get('apex', 'test.')}`; exit to leave",
              file=sys.stderr)
    os.execvp("nsenter", argv + cmd)


def cmd_demo(a: argparse.Namespace) -> int:
    from .demo.command import cmd_demo as demo
    return demo(a)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog_name(), description="SMTP DANE "
                                "(RFC 7672) conformance lab")
    p.add_argument("--catalog", default=str(catalog.DEFAULT_DIR),
                   help="scenario folder (default: scenarios/)")
    sub = p.add_subparsers(dest="cmd", required=True)

    def select_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--scenario", "-s", action="append",
                        help="id or glob (repeatable)")
        sp.add_argument("--section", help="section letters, e.g. AC")

    def parent_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--zone-parent", metavar="NAME",
                        help="put the lab under NAME (e.g. lab.example.net."
                        ") instead of test., with the zones above it served "
                        "by a simulated Internet in another namespace "
                        "(implies --expose veth; docs/internet-mode.md)")

    def expose_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--expose", metavar="MODE",
                        help="give the lab routable addresses for a sender "
                        "in another network stack: veth, netns:PATH, "
                        "bridge:NAME[@NETNS-PATH] (docs/remote.md)")
        sp.add_argument("--lab-range", default=DEFAULT_RANGE,
                        metavar="V4,V6", help="the exposed lab's private "
                        f"range (default {DEFAULT_RANGE})")

    sp = sub.add_parser("list", help="list scenarios")
    select_args(sp)
    sp.set_defaults(fn=cmd_list)
    sp = sub.add_parser("explain", help="show one scenario in full; the "
                        "selection options say which run's addresses to "
                        "show (default: the whole catalog)")
    sp.add_argument("id", help="a scenario id or the start of one")
    select_args(sp)
    sp.add_argument("--shard", help="K/N, as for run")
    sp.add_argument("--jobs", "-j", type=_positive, default=1,
                    help="as for run")
    parent_arg(sp)
    sp.set_defaults(fn=cmd_explain)
    sp = sub.add_parser("lint", help="check every scenario file")
    sp.set_defaults(fn=cmd_lint)
    sp = sub.add_parser("run", help="run scenarios against a sender")
    select_args(sp)
    sp.add_argument("--sender", default="reference",
                    help=f"{', '.join(KNOWN)}, or command:SCRIPT (a vendor "
                    "MTA, docs/adapters.md); default reference")
    sp.add_argument("--shard", help="K/N: run every N-th scenario from K")
    sp.add_argument("--jobs", "-j", type=_positive, default=1,
                    help="parallel groups, each its own universe")
    sp.add_argument("--report", help="report folder (default RUN/report)")
    sp.add_argument("--run-dir", help="run folder (default runs/<time>)")
    sp.add_argument("--keep", action="store_true",
                    help="keep keys and namespace files even on success")
    expose_args(sp)
    parent_arg(sp)
    sp.add_argument("--hook", action="append", metavar="NAME=CMD",
                    help="smtp:// sender: a vendor command for flush, "
                    "expire (gets the Message-IDs) or reload (repeatable)")
    sp.add_argument("--pass-seconds", type=float, default=60.0,
                    help="smtp:// sender: how long one queue pass waits for "
                    "every message to be delivered or bounced (default 60)")
    sp.set_defaults(fn=cmd_run)
    sp = sub.add_parser("serve", help="serve the lab for hours and grade a "
                        "sender the lab cannot drive as its mail arrives "
                        "(docs/internet-mode.md)")
    select_args(sp)
    sp.add_argument("--shard", help="K/N, as for run")
    sp.add_argument("--sender", help="smtp://[USER:PASS@]HOST[:PORT]: the "
                    "lab submits one message per scenario there")
    sp.add_argument("--no-submit", action="store_true",
                    help="submit nothing: print the recipients for the "
                    "operator to send to through the sender's own interface")
    sp.add_argument("--sender-name", default="operator-sent",
                    help="--no-submit: the sender's name in the report")
    sp.add_argument("--window", type=_duration, default=48 * 3600.0,
                    metavar="DURATION", help="the deadline, from the "
                    "submission: seconds or e.g. 90s, 30m, 48h, 2d "
                    "(default 48h, at most a week)")
    sp.add_argument("--interval", type=_duration, default=300.0,
                    metavar="DURATION", help="how often to grade and "
                    "rewrite the results (default 5m)")
    sp.add_argument("--fix-after", type=_duration, metavar="DURATION",
                    help="when to repair the [fix] scenarios' zones, from "
                    "the submission (default: half the window)")
    sp.add_argument("--report", help="report folder (default RUN/report)")
    sp.add_argument("--run-dir", help="run folder (default runs/<time>)")
    expose_args(sp)
    parent_arg(sp)
    sp.set_defaults(fn=cmd_serve)
    sp = sub.add_parser("report", help="merge results.json files into one "
                        "report")
    sp.add_argument("results", nargs="+")
    sp.add_argument("--out", required=True)
    sp.set_defaults(fn=cmd_report)
    sp = sub.add_parser("universe", help="bring a lab universe up or down")
    sp.add_argument("action", choices=("up", "down", "status", "env"))
    select_args(sp)
    sp.add_argument("--run-dir", help="default runs/universe")
    expose_args(sp)
    parent_arg(sp)
    sp.add_argument("--json", action="store_true",
                    help="env: as JSON")
    sp.set_defaults(fn=cmd_universe)
    sp = sub.add_parser("shell", help="a shell (or command) inside the "
                        "running universe's namespace")
    sp.add_argument("--run-dir", help="default runs/universe")
    sp.add_argument("command", nargs=argparse.REMAINDER)
    sp.set_defaults(fn=cmd_shell)
    sp = sub.add_parser("demo", help="teaching labs: watch an attack, then "
                        "watch DANE stop it (docs/teaching.md)")
    sp.add_argument("name", help="list, reset, or a demo (strip, impostor, "
                    "spoof-mx, tlsrpt, mta-sts)")
    sp.add_argument("--step", action="store_true",
                    help="wait for Enter after each stage")
    sp.add_argument("--student", type=_positive,
                    help="N: this student's own run folder")
    sp.add_argument("--sender", action="append",
                    help="a sender to run (repeatable; default postfix-may, "
                    "reference, postfix)")
    sp.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        set_lab_apex(getattr(a, "zone_parent", None))
        return int(a.fn(a))
    except LabError as e:
        print(f"danelab: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        left = close_all()
        if left:
            print(f"danelab: interrupted; these processes of the lab are "
                  f"still running: {' '.join(map(str, left))}",
                  file=sys.stderr)
        else:
            print("danelab: interrupted; everything the lab started is "
                  "stopped", file=sys.stderr)
        return 130
