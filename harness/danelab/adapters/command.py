"""The `command` adapter: any MTA, driven by a short script that follows the
contract of docs/adapters.md.

`danelab run --sender command:PATH` runs `PATH ACTION` inside the lab
namespace for each step (start, preflight, submit, run-queue, status,
reload, expire, flush-reports, stop), with the lab's facts in DANELAB_*
environment variables.
Each action runs in its own session under the lab's supervisor with a time
limit; when the limit passes, the action's whole process group is killed
and the run stops with an error naming the action and its log.  The
script's standard error and output go to RUN/command.log; `status`
answers on standard output (captured separately).

Teardown never depends on the script behaving: after `stop` (whatever it
returns), the PIDs the script listed in $DANELAB_PIDFILE are stopped, and
so is any other process still in the lab namespace that the lab itself did
not start (the namespace holds only the lab's daemons and the sender under
test, so such a process can only be the sender's); their PIDs are written
to RUN/teardown.log.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from ..apex import bare, sender_domain
from ..errors import LabError
from ..netns import netns_id, pids_in_netns
from ..proc import pid_alive, wait_until
from .base import Adapter, LabContext, SenderOutcome, Submission

ROOT = Path(__file__).resolve().parents[3]
TIMEOUTS = {"start": 60.0, "preflight": 30.0, "submit": 30.0,
            "run-queue": 300.0, "status": 30.0, "reload": 60.0,
            "expire": 30.0, "flush-reports": 300.0, "stop": 30.0,
            "describe": 30.0}
OPTIONAL = ("preflight", "reload", "expire", "flush-reports", "describe")
UNSUPPORTED = 3                        # exit status: optional action absent
STATES = ("delivered", "deferred", "bounced")


class CommandAdapter(Adapter):
    def __init__(self, script: str | Path,
                 timeouts: dict[str, float] | None = None) -> None:
        self.script = Path(script).resolve()
        self.name = f"command:{script}"
        self.timeouts = {**TIMEOUTS, **(timeouts or {})}
        self.ctx: LabContext | None = None
        self.sessions: list[int] = []
        self.stopped = False
        self.described: dict[str, str] | None = None

    # -- running one action -----------------------------------------------
    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        assert self.ctx
        c, run = self.ctx, self.ctx.run
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                       "/sbin:/bin",
               "HOME": str(run), "LANG": "C.UTF-8",
               "DANELAB_ROOT": str(ROOT),
               "DANELAB_RUN_DIR": str(run),
               "DANELAB_RESOLVER": c.resolver,
               "DANELAB_TRUST_ANCHOR": str(c.trust_anchor),
               "DANELAB_LAB_CA": str(c.lab_ca),
               "DANELAB_POLICIES": str(run / "policies"),
               "DANELAB_PIDFILE": str(run / "pids"),
               "DANELAB_SMTP_PORT": "25",
               "DANELAB_LISTEN": "127.0.0.1:2525",
               "DANELAB_HELO": bare(sender_domain())}
        env.update(extra or {})
        return env

    def _act(self, action: str, extra: dict[str, str] | None = None
             ) -> tuple[int, str]:
        """Run ACTION; return (exit status, standard output).  A time-out
        kills the action's process group and raises LabError."""
        assert self.ctx
        ns, run = self.ctx.ns, self.ctx.run
        limit = self.timeouts[action]
        env = self._env({"DANELAB_ACTION": action, **(extra or {})})
        out = run / f".{action}.out"
        log = run / "command.log"
        with log.open("ab") as f:
            f.write(f"--- {time.strftime('%H:%M:%S')} {action}\n".encode())
        # stdout to OUT, stderr to the shared log, both inside the namespace
        argv = ["sh", "-c", 'exec "$0" "$1" >"$2" 2>>"$3"',
                str(self.script), action, str(out), str(log)]
        t = ns.spawn(f"command-{action}", argv, log=log, env=env)
        self.sessions.append(t.pid)
        try:
            rc = t.popen.wait(limit)
        except subprocess.TimeoutExpired:
            ns.sup.stop(t, grace=1)
            raise LabError(f"{self.name}: action {action!r} did not finish "
                           f"within {limit:.0f} s (killed); see {log}")
        ns.sup.stop(t, grace=0.5)          # its leftover group members
        text = out.read_text(errors="replace") if out.exists() else ""
        return rc, text

    def _must(self, action: str, extra: dict[str, str] | None = None) -> str:
        rc, text = self._act(action, extra)
        if rc != 0:
            assert self.ctx
            tail = (self.ctx.run / "command.log").read_text(
                errors="replace").splitlines()[-6:]
            raise LabError(f"{self.name}: action {action!r} exited {rc}; "
                           f"last lines of {self.ctx.run / 'command.log'}: "
                           + " | ".join(tail))
        return text

    def check(self) -> None:
        """Raise LabError unless the script is an executable file.
        get_adapter() calls it, so a wrong path is reported before the lab
        builds anything; start() checks again."""
        if not self.script.exists():
            raise LabError(f"{self.name}: no such file: {self.script}")
        if not self.script.is_file() or not os.access(self.script, os.X_OK):
            raise LabError(f"{self.name}: {self.script} is not an executable "
                           "file (chmod +x?)")

    # -- the Adapter interface ----------------------------------------------
    def start(self, ctx: LabContext) -> None:
        self.check()
        self.ctx = ctx
        ctx.run.mkdir(parents=True, exist_ok=True)
        (ctx.run / "policies").write_text("".join(
            f"{d.rstrip('.')} {lv}\n" for d, lv in sorted(
                ctx.policies.items())))
        self._must("start")

    def preflight(self, ctx: LabContext) -> list[str]:
        rc, text = self._act("preflight")
        if rc == UNSUPPORTED:
            return []
        probs = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if rc != 0 and not probs:
            probs = [f"preflight exited {rc}"]
        return [f"{self.name}: {p}" for p in probs]

    def submit(self, subs: list[Submission]) -> None:
        assert self.ctx
        d = self.ctx.run / "outgoing"
        d.mkdir(exist_ok=True)
        for i, s in enumerate(subs):
            f = d / f"{i:05d}.eml"
            f.write_bytes(s.data)
            self._must("submit", {"DANELAB_FROM": s.sender,
                                  "DANELAB_RCPT": s.rcpt,
                                  "DANELAB_MESSAGE_ID": s.message_id,
                                  "DANELAB_MESSAGE_FILE": str(f),
                                  "DANELAB_SCENARIO": s.scenario})

    def run_queue(self) -> None:
        self._must("run-queue")

    def reload(self) -> None:
        rc, _ = self._act("reload")
        if rc not in (0, UNSUPPORTED):
            raise LabError(f"{self.name}: action 'reload' exited {rc}")

    def expire(self, message_ids: list[str]) -> bool:
        """`expire` with DANELAB_MESSAGE_IDS (space-separated); exit 3
        when the MTA cannot be driven to its retry limit."""
        rc, _ = self._act("expire",
                          {"DANELAB_MESSAGE_IDS": " ".join(message_ids)})
        if rc == UNSUPPORTED:
            return False
        if rc != 0:
            raise LabError(f"{self.name}: action 'expire' exited {rc}")
        return True

    def outcomes(self) -> dict[str, SenderOutcome]:
        return parse_status(self._must("status"), self.name)

    def flush_reports(self) -> bool:
        """`flush-reports`: send every TLSRPT report due now (whatever
        closes the reporting period: the lab is about to stop), signed
        with the lab's DKIM key for DANELAB_REPORTING_DOMAIN; exit 3 when
        the MTA sends no TLSRPT (then TLSRPT is not graded).  The reports
        get the same checks as the reference's (tlsrpt_grade)."""
        assert self.ctx
        c = self.ctx
        rc, _ = self._act("flush-reports", {
            "DANELAB_REPORTING_DOMAIN": c.reporting_domain,
            "DANELAB_DKIM_SELECTOR": c.dkim_selector,
            "DANELAB_DKIM_KEY": str(c.dkim_key or "")})
        if rc == UNSUPPORTED:
            return False
        if rc != 0:
            raise LabError(f"{self.name}: action 'flush-reports' exited "
                           f"{rc}; see {c.run / 'command.log'}")
        return True

    def stop(self) -> None:
        """The script's `stop`, then the sweep.  Never raises: teardown
        must go on, and the error that ended the run must stay the one
        reported; a failing `stop` is written to RUN/teardown.log."""
        if not self.ctx or self.stopped:
            return
        self.stopped = True
        try:
            self._must("stop")
        except LabError as e:
            with (self.ctx.run / "teardown.log").open("a") as f:
                f.write(f"{e}\n")
        self._sweep()

    def _sweep(self) -> None:
        """Stop what the script left running: its PID file, then anything
        else in the namespace the lab did not start."""
        assert self.ctx
        ns = self.ctx.ns
        if not ns.ns_id:
            return
        listed = []
        pf = self.ctx.run / "pids"
        if pf.exists():
            listed = [int(w) for w in pf.read_text().split() if w.isdigit()]
        lab = set(ns.sup.pids())
        strays = [p for p in pids_in_netns(ns.ns_id)
                  if _pgid(p) not in lab and p not in lab]
        victims = sorted({p for p in listed
                          if netns_id(p) == ns.ns_id} | set(strays))
        if not victims:
            return
        with (self.ctx.run / "teardown.log").open("a") as f:
            f.write(f"stopping PIDs left by the sender: {victims} "
                    f"(listed in {pf.name}: {sorted(listed)})\n")
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p in victims:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            if wait_until(lambda: not any(pid_alive(p) for p in victims),
                          3):
                break

    def describe(self) -> dict[str, str]:
        """The optional `describe` action's answer (once per run): lines
        `version: TEXT` and `config: TEXT` (a digest of the MTA's
        configuration).  An MTA that does not answer (any exit status but
        0, or no such line) leaves the lab's defaults: describing is for
        the report only and never stops a run."""
        if self.described is None:
            self.described = {}
            if self.ctx is not None:
                try:
                    rc, text = self._act("describe")
                except LabError:
                    rc, text = 1, ""
                for line in text.splitlines() if rc == 0 else []:
                    key, colon, val = line.partition(":")
                    if colon and key.strip() in ("version", "config") \
                            and val.strip():
                        self.described[key.strip()] = val.strip()[:200]
        return self.described

    def version(self) -> str:
        return self.describe().get("version") or \
            f"command adapter {self.script}"

    def config_digest(self) -> str:
        return self.describe().get("config", "")


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return -1


def parse_status(text: str, who: str = "command") -> dict[str, SenderOutcome]:
    """The `status` action's output: one message a line, either JSON
    ({"message_id", "state", "dsn", "reason", "detail"}) or words
    `MESSAGE-ID STATE [DSN [REASON...]]`.  Blank and # lines are skipped;
    anything else is an error (a garbled answer must not grade)."""
    out: dict[str, SenderOutcome] = {}
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("{"):
            try:
                e = json.loads(s)
                mid, state = str(e["message_id"]), str(e["state"])
            except (json.JSONDecodeError, KeyError, TypeError) as ex:
                raise LabError(f"{who}: status line {n} is not a status "
                               f"object ({ex}): {s[:120]!r}") from None
            o = SenderOutcome(state, str(e.get("reason") or ""),
                              str(e.get("dsn") or ""),
                              str(e.get("detail") or ""))
        else:
            w = s.split(None, 3)
            if len(w) < 2:
                raise LabError(f"{who}: status line {n} is not "
                               f"'MESSAGE-ID STATE ...': {s[:120]!r}")
            mid, state = w[0], w[1]
            o = SenderOutcome(state, w[3] if len(w) > 3 else "",
                              w[2] if len(w) > 2 else "")
        if state not in STATES:
            raise LabError(f"{who}: status line {n}: state {state!r} is not "
                           f"one of {', '.join(STATES)}: {s[:120]!r}")
        if "@" not in mid:
            raise LabError(f"{who}: status line {n}: {mid!r} is not a "
                           "Message-ID")
        out[mid.strip("<>")] = o
    return out
