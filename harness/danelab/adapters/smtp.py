"""The black-box adapter: `--sender smtp://[USER:PASS@]HOST[:PORT]` grades
an MTA the lab can neither configure nor read the logs of (an appliance, a
hosted service, a container), usually in an exposed lab (docs/remote.md).

  submit      one SMTP session per message to HOST:PORT (default 25) from
              inside the lab namespace: EHLO, STARTTLS when offered (not
              verified: this is the lab's own leg), AUTH PLAIN/LOGIN when
              the URL has USER:PASS, MAIL/RCPT/DATA;
  delivered   a lab host (fake-mx) received the message (its Message-ID);
  bounced     the SUT returned a DSN (RFC 3464, Action: failed) to the
              envelope sender tester@sender.<apex>, whose MX is the lab's
              sender mailbox (labinfra.py): its Status and Diagnostic-Code
              are the outcome's, tied to the message by the DSN's copy of
              the original headers;
  deferred    neither, when the pass ends.

A queue pass lasts until every message is delivered or bounced, or
`pass_seconds` have passed (the SUT retries on its own schedule).  Optional
vendor hooks, run in this program's namespace with a time limit:
  flush=CMD   before every pass after the first: one more attempt now;
  expire=CMD  with the Message-IDs as arguments: return them to the sender
              (the after-limit cases); without it those are not graded;
  reload=CMD  before the first submission and after the lab changed a
              zone: forget cached DNS.
"""
from __future__ import annotations

import dataclasses
import smtplib
import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path

from .. import dsn, fakemx
from ..errors import LabError
from ..labinfra import SENDER_LISTENER, SINK_LISTENER
from ..observe import sessions
from .base import Adapter, LabContext, SenderOutcome, Submission

HOOKS = ("flush", "expire", "reload")
HOOK_TIMEOUT = 120.0
LAB_LISTENERS = (SENDER_LISTENER, SINK_LISTENER)


class SmtpTarget:
    """smtp://[USER:PASS@]HOST[:PORT] parsed."""

    def __init__(self, url: str) -> None:
        u = urllib.parse.urlsplit(url)
        if u.scheme != "smtp" or not u.hostname:
            raise LabError(f"sender {url!r}: use smtp://[USER:PASS@]HOST"
                           "[:PORT]")
        try:
            self.port = u.port or 25
        except ValueError as e:
            raise LabError(f"sender {url!r}: {e}") from e
        self.host = u.hostname
        self.user = urllib.parse.unquote(u.username) if u.username else None
        self.password = urllib.parse.unquote(u.password or "")
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.label = f"smtp://{shown}:{self.port}"


class SmtpAdapter(Adapter):
    def __init__(self, url: str, hooks: dict[str, str] | None = None,
                 pass_seconds: float = 60.0) -> None:
        self.target = SmtpTarget(url)
        self.name = self.target.label
        self.hooks = dict(hooks or {})
        bad = set(self.hooks) - set(HOOKS)
        if bad:
            raise LabError(f"unknown hook(s) {', '.join(sorted(bad))}; "
                           f"known: {', '.join(HOOKS)}")
        self.pass_seconds = pass_seconds
        self.ctx: LabContext | None = None
        self.subs: list[Submission] = []
        self.passes = 0
        self.banner = ""
        self.pass_times: list[float] = []
        # what a message neither delivered nor bounced is, as a reason
        self.deferred_reason = "neither delivered nor bounced by the end " \
            "of the pass"

    # -- life cycle -------------------------------------------------------
    def start(self, ctx: LabContext) -> None:
        if ctx.ns.mode != "root":
            raise LabError("the smtp:// sender needs root mode (the lab "
                           "submits from inside its namespace)")
        self.ctx = ctx
        ctx.run.mkdir(parents=True, exist_ok=True)

    def preflight(self, ctx: LabContext) -> list[str]:
        """The SUT answers SMTP and takes AUTH when the URL asks for it."""
        try:
            return ctx.ns.call(self._probe)
        except (OSError, smtplib.SMTPException) as e:
            return [f"{self.name}: cannot talk SMTP to the sender under "
                    f"test: {e}"]

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        c = smtplib.SMTP(t.host, t.port, local_hostname="lab.danelab.test",
                         timeout=30)
        c.ehlo()
        if c.has_extn("starttls"):
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
            c.starttls(context=tls)
            c.ehlo()
        if t.user is not None:
            c.login(t.user, t.password)
        return c

    def _probe(self) -> list[str]:
        c = self._connect()
        try:
            code, msg = c.noop()
            self.banner = c.ehlo_resp.decode(errors="replace").split(
                "\n")[0] if c.ehlo_resp else ""
        finally:
            c.quit()
        return [] if code == 250 else [f"{self.name}: NOOP answered {code} "
                                       f"{msg.decode(errors='replace')}"]

    # -- messages ---------------------------------------------------------
    def submit(self, subs: list[Submission]) -> None:
        """Submit every message; the reload hook first, when there is one:
        every run makes new keys under the same names, and a SUT that
        still holds an earlier run's TLSA records (Postfix's smtp(8) keeps
        them while it lives) would fail a case the lab cannot tell from a
        real failure (docs/remote.md)."""
        assert self.ctx
        self._hook("reload", [])
        self.subs = list(subs)
        self.ctx.ns.call(self._submit_all, subs)

    def _submit_all(self, subs: list[Submission]) -> None:
        c = self._connect()
        try:
            for s in subs:
                try:
                    c.sendmail(s.sender, [s.rcpt], s.data)
                except smtplib.SMTPException as e:
                    raise LabError(f"{self.name} refused the message of "
                                   f"{s.scenario}: {e}") from e
                c.rset()
        finally:
            try:
                c.quit()
            except smtplib.SMTPException:
                pass

    def run_queue(self) -> None:
        """Wait until every message is delivered or bounced, or the pass
        length is over; from the second pass on, the flush hook first."""
        self.passes += 1
        if self.passes > 1:
            self._hook("flush", [])
        t0 = time.monotonic()
        deadline = t0 + self.pass_seconds
        while time.monotonic() < deadline:
            outs = self.outcomes()
            if all(outs.get(s.message_id, SenderOutcome("deferred")).state
                   in ("delivered", "bounced") for s in self.subs):
                break
            time.sleep(0.5)
        self.pass_times.append(round(time.monotonic() - t0, 1))

    def reload(self) -> None:
        self._hook("reload", [])

    def expire(self, message_ids: list[str]) -> bool:
        if "expire" not in self.hooks:
            return False
        self._hook("expire", message_ids)
        return True

    def _hook(self, name: str, args: list[str]) -> None:
        cmd = self.hooks.get(name)
        if not cmd or not self.ctx:
            return
        log = self.ctx.run / "hooks.log"
        with log.open("a") as f:
            f.write(f"$ {name}: {cmd} {' '.join(args)}\n")
            f.flush()
            try:
                cp = subprocess.run(["sh", "-c", cmd + ' "$@"', name, *args],
                                    stdout=f, stderr=f, timeout=HOOK_TIMEOUT,
                                    stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as e:
                raise LabError(f"hook {name} did not finish within "
                               f"{HOOK_TIMEOUT:.0f} s (see {log})") from e
        if cp.returncode != 0:
            raise LabError(f"hook {name} failed (exit {cp.returncode}); see "
                           f"{log}")

    # -- what happened ------------------------------------------------------
    def outcomes(self) -> dict[str, SenderOutcome]:
        """From the lab's own evidence: fake-mx's deliveries and the DSNs
        in the sender mailbox."""
        assert self.ctx
        want = {s.message_id for s in self.subs}
        res = {m: SenderOutcome("deferred", self.deferred_reason)
               for m in want}
        sess = sessions(fakemx.read_events(self.lab_run))
        for s in sess.values():
            for m in s.messages:
                mid = (m.get("message_id") or "").strip("<>")
                if s.listener == SENDER_LISTENER:
                    self._dsn(m, want, res)
                elif mid in want and s.listener not in LAB_LISTENERS:
                    res[mid] = SenderOutcome("delivered", "a lab host "
                                             "received it", "2.0.0",
                                             f"listener={s.listener}")
        return res

    def _dsn(self, m: dict[str, object], want: set[str],
             res: dict[str, SenderOutcome]) -> None:
        p = Path(str(m.get("spool") or ""))
        if not p.is_file():
            return
        d = dsn.parse(p.read_bytes(), want)
        if d is None or d.message_id not in want or d.action != "failed":
            return
        if res[d.message_id].state == "delivered":
            return
        res[d.message_id] = SenderOutcome(
            "bounced", d.diagnostic or "DSN without Diagnostic-Code",
            d.status, f"dsn={p.name}"
            + (f" problems={d.problems}" if d.problems else ""))

    @property
    def lab_run(self) -> Path:
        """The run folder (fake-mx's events); the adapter's own is below."""
        assert self.ctx
        return self.ctx.run.parent

    def version(self) -> str:
        return f"{self.name} (black box" + \
            (f"; {self.banner}" if self.banner else "") + ")"


class OperatorAdapter(SmtpAdapter):
    """`danelab serve --no-submit`: the operator sends one message per
    scenario through the sender's own interface (a cloud's web mail, an
    API), so the lab submits nothing and cannot choose the Message-IDs.
    A scenario's message is then the first one a lab host received for
    its recipient, or the one a DSN for its recipient names; from there
    the outcomes are the black box's (delivered, bounced, deferred)."""

    def __init__(self, label: str) -> None:
        super().__init__("smtp://operator.invalid")
        self.name = label
        self.learned: set[str] = set()        # scenarios whose id is known

    def start(self, ctx: LabContext) -> None:
        self.ctx = ctx
        ctx.run.mkdir(parents=True, exist_ok=True)

    def preflight(self, ctx: LabContext) -> list[str]:
        return []

    def submit(self, subs: list[Submission]) -> None:
        self.subs = list(subs)

    def outcomes(self) -> dict[str, SenderOutcome]:
        self._learn()
        return super().outcomes()

    def _learn(self) -> None:
        """Each scenario's Message-ID, from the first message a lab host
        received for its recipient or the first DSN about it."""
        by_rcpt = {s.rcpt.lower(): i for i, s in enumerate(self.subs)}

        def found(rcpt: str, mid: str | None) -> None:
            i = by_rcpt.get(rcpt.strip().strip("<>").lower())
            if i is None or not mid or self.subs[i].scenario in self.learned:
                return
            self.subs[i] = dataclasses.replace(self.subs[i],
                                               message_id=mid)
            self.learned.add(self.subs[i].scenario)
        for s in sessions(fakemx.read_events(self.lab_run)).values():
            for m in s.messages:
                mid = (m.get("message_id") or "").strip("<>")
                if s.listener not in LAB_LISTENERS:
                    for r in s.rcpts:
                        found(r, mid)
                elif s.listener == SENDER_LISTENER:
                    p = Path(str(m.get("spool") or ""))
                    d = dsn.parse(p.read_bytes()) if p.is_file() else None
                    if d is not None:
                        found(d.recipient.split(";")[-1], d.message_id)

    def version(self) -> str:
        return f"{self.name} (black box, messages sent by the operator)"
