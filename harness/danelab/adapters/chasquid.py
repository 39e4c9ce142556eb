"""chasquid (Debian's package, 1.11 here) as a sender under test: MTA-STS
(RFC 8461) without DANE.

A private instance inside the lab namespace, configured in RUN/conf
(`chasquid -config_dir`), its data (queue, MTA-STS policy cache, the
per-domain security levels it has seen) in RUN/data and its mail log in
RUN/mail.log.  It resolves through the namespace's resolv.conf (the lab
resolver; Go's resolver, no DNSSEC) and trusts the system bundle, which
inside the namespace is the lab's WebPKI root alone (docs/mta-sts.md).

How the lab drives it:

- submission: chasquid relays only for an authenticated user on its
  submission port, and offers AUTH only over TLS.  The adapter makes the
  user tester@<the lab's sender domain> (`chasquid-util user-add`) and a
  self-signed certificate for the submission port, and submit() only keeps the
  messages: the first run_queue() hands them over (STARTTLS, AUTH PLAIN),
  because chasquid tries each message as soon as it is queued;
- one queue pass: chasquid has no command to flush its queue; it retries
  on its own after 1 to 2 minutes, then 5, 10, 20.  A later run_queue()
  restarts it: at start it loads its queue and makes one attempt at every
  queued message at once (and no other for a minute).  A pass ends when
  every message of it has a new `sent` or `failed` line in the mail log;
- its MTA-STS cache: chasquid also refreshes every cached policy at start
  (and every 10 minutes), in the background, racing the queued deliveries.
  So that a pass does not depend on who wins, the restart is done in two
  steps: chasquid is first started with its queue folder set aside, until
  its monitoring page counts one finished refresh cycle, then stopped and
  started again with the queue.  A changed policy thus reaches the retry
  as it would after a refresh that came first;
- bounces: chasquid returns a message with a DSN after a permanent
  failure.  Its local delivery agent is a shell line that keeps the DSN in
  RUN/dsn/; the outcome's status code is the DSN's `Status:`.

Not driven: expiry (chasquid gives up after 20 hours of its own clock) and
advance_clock: those phases are `info`.
"""
from __future__ import annotations

import json
import re
import smtplib
import ssl
import subprocess
import urllib.request
from pathlib import Path

from ..apex import bare, sender_domain
from ..errors import LabError
from ..proc import Tracked
from .base import RUN_DIR, Adapter, LabContext, SenderOutcome, Submission, \
    text_digest
from .mtalog import LogTail, wait_for

CHASQUID = Path("/usr/bin/chasquid")
UTIL = Path("/usr/bin/chasquid-util")
SUBMISSION = ("127.0.0.1", 2525)
MONITORING = ("127.0.0.1", 1099)
REFRESHES = "chasquid/sts/cache/refreshCycles"
PASSWORD = "danelab-submission"
PASS_TIMEOUT = 300.0


def user() -> str:
    """The submission user: the lab's envelope sender."""
    return f"tester@{bare(sender_domain())}"


CONF = """\
# danelab private chasquid instance (written by the chasquid adapter)
hostname: "chasquid.{dom}"
smtp_address: "127.0.0.1:2526"
submission_address: "{sub}"
submission_over_tls_address: "127.0.0.1:2465"
monitoring_address: "{mon}"
data_dir: "{run}/data"
mail_log_path: "{run}/mail.log"
mail_delivery_agent_bin: "/bin/sh"
mail_delivery_agent_args: "-c"
mail_delivery_agent_args: "cat > \\"$0/$$.eml\\""
mail_delivery_agent_args: "{run}/dsn"
"""

# chasquid's mail log, after its time stamp: "ID from=F to=T sent",
# "ID from=F to=T failed (temporary|permanent): why",
# "ID from=F queued ip=A to=[T ...]"
SENT = re.compile(r"(?P<id>\S+) from=\S* to=(?P<to>\S+) "
                  r"(?:(?P<sent>sent)$|failed \((?P<kind>temporary|"
                  r"permanent)\): (?P<why>.*)$)")
DSN_STATUS = re.compile(r"^Status:\s*([245]\.\d{1,3}\.\d{1,3})", re.M)
DSN_RCPT = re.compile(r"^Final-Recipient:\s*[\w-]+;\s*(\S+)", re.M)


def chasquid_version() -> str:
    try:
        cp = subprocess.run([str(CHASQUID), "-version"], capture_output=True,
                            timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    out = cp.stdout.decode().split()
    return out[1] if len(out) > 1 else "?"


def parse_line(line: str) -> tuple[str, str, SenderOutcome] | None:
    """A mail log line's (queue id, recipient, outcome), if it is the
    result of one delivery attempt."""
    m = SENT.search(line)
    if not m:
        return None
    if m.group("sent"):
        return m.group("id"), m.group("to"), SenderOutcome("delivered",
                                                           "sent")
    state = "bounced" if m.group("kind") == "permanent" else "deferred"
    return m.group("id"), m.group("to"), SenderOutcome(state,
                                                       m.group("why"))


class ChasquidAdapter(Adapter):
    features = ("mta-sts",)

    def __init__(self, name: str = "chasquid") -> None:
        self.name = name
        self.ctx: LabContext | None = None
        self.daemon: Tracked | None = None
        self.waiting: list[Submission] = []     # submitted, not handed over
        self.mid_of: dict[str, str] = {}        # recipient -> Message-ID
        self.last: dict[str, SenderOutcome] = {}    # by recipient
        self.tail: LogTail | None = None
        self.seen: set[str] = set()             # recipients tried this pass
        self.starts = 0

    # -- life cycle -------------------------------------------------------
    def start(self, ctx: LabContext) -> None:
        if ctx.ns.mode != "root":
            raise LabError(f"the {self.name} sender needs root mode")
        if not CHASQUID.exists():
            raise LabError("chasquid is not installed (ci/deps installs it)")
        self.ctx = ctx
        run = ctx.run
        conf = run / "conf"
        dom = bare(sender_domain())
        for d in (conf / "certs" / f"chasquid.{dom}",
                  conf / "domains" / dom, run / "data",
                  run / "dsn"):
            d.mkdir(parents=True, exist_ok=True)
        (conf / "chasquid.conf").write_text(self._conf(str(run)))
        cert = conf / "certs" / f"chasquid.{dom}"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", f"/CN=chasquid.{dom}",
                        "-keyout", str(cert / "privkey.pem"),
                        "-out", str(cert / "fullchain.pem")],
                       check=True, capture_output=True, timeout=30)
        cp = subprocess.run([str(UTIL), f"-C={conf}", "user-add", user(),
                             f"--password={PASSWORD}"],
                            capture_output=True, timeout=30)
        if cp.returncode != 0:
            raise LabError("chasquid-util user-add failed: "
                           f"{cp.stderr.decode(errors='replace')}")
        self.tail = LogTail(run / "mail.log")
        self._launch()

    @staticmethod
    def _conf(run: str) -> str:
        return CONF.format(run=run, dom=bare(sender_domain()),
                           sub=f"{SUBMISSION[0]}:{SUBMISSION[1]}",
                           mon=f"{MONITORING[0]}:{MONITORING[1]}")

    def _launch(self) -> None:
        """Start chasquid; return once its submission port listens."""
        assert self.ctx
        run = self.ctx.run
        self.starts += 1
        mark = self._size(run / "mail.log")
        self.daemon = self.ctx.ns.spawn(
            "chasquid", [str(CHASQUID), "-config_dir", str(run / "conf"),
                         "-logfile", str(run / "chasquid.log"), "-v", "1"],
            log=run / f"chasquid.out.{self.starts}")
        want = f"daemon listening on {SUBMISSION[0]}:{SUBMISSION[1]}"
        self.ctx.ns.sup.wait_ready(
            self.daemon, lambda: want in self._since(run / "mail.log",
                                                     mark), 15)

    @staticmethod
    def _size(p: Path) -> int:
        return p.stat().st_size if p.exists() else 0

    @staticmethod
    def _since(p: Path, mark: int) -> str:
        try:
            with p.open("rb") as f:
                f.seek(mark)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.ctx and self.daemon:
            self.ctx.ns.sup.stop(self.daemon, grace=5)
            self.daemon = None

    # -- messages ---------------------------------------------------------
    def submit(self, subs: list[Submission]) -> None:
        self.waiting += subs
        for s in subs:
            self.mid_of[s.rcpt.lower()] = s.message_id
            self.last[s.rcpt.lower()] = SenderOutcome("deferred",
                                                      "not attempted")

    def _hand_over(self, subs: list[Submission]) -> None:
        """Give SUBS to chasquid on its submission port (inside the lab)."""
        assert self.ctx

        def send() -> None:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with smtplib.SMTP(*SUBMISSION,
                              local_hostname=bare(sender_domain()),
                              timeout=30) as c:
                c.starttls(context=ctx)
                c.login(user(), PASSWORD)
                for s in subs:
                    c.sendmail(s.sender, [s.rcpt], s.data)
        try:
            self.ctx.ns.call(send)
        except (OSError, smtplib.SMTPException) as e:
            raise LabError(f"chasquid: submission failed: {e} (see "
                           f"{self.ctx.run / 'mail.log'})") from e

    def run_queue(self) -> None:
        assert self.ctx
        self._read_log()
        if self.waiting:
            todo = {s.rcpt.lower() for s in self.waiting}
            self.seen = set()
            self._hand_over(self.waiting)
            self.waiting = []
        else:
            todo = {r for r, o in self.last.items() if o.state == "deferred"}
            self.seen = set()
            if not todo:
                return
            self._restart()

        def done() -> bool:
            self._read_log()
            if not todo <= self.seen:
                return False
            # a bounce is complete once its DSN has come back
            dsn = self._dsn_codes()
            return all(r in dsn for r in todo
                       if self.last[r].state == "bounced")
        wait_for(done, PASS_TIMEOUT, f"chasquid queue pass ({len(todo)} "
                 f"message(s); see {self.ctx.run / 'mail.log'})", 0.1)

    def _restart(self) -> None:
        """Stop chasquid; start it without its queue until its start-up
        refresh of the MTA-STS cache is done; stop it; start it with the
        queue (one attempt at every queued message)."""
        assert self.ctx
        data = self.ctx.run / "data"
        self.stop()
        held = data / "queue.held"
        (data / "queue").rename(held)
        self._launch()
        wait_for(lambda: self._refreshes() >= 1, 120,
                 "chasquid: its MTA-STS cache refresh at start")
        self.stop()
        (data / "queue").rmdir()         # made empty by that start
        held.rename(data / "queue")
        self._launch()

    def _refreshes(self) -> int:
        """Refresh cycles of the MTA-STS cache finished since start, from
        chasquid's monitoring page (expvar)."""
        assert self.ctx

        def get() -> int:
            url = f"http://{MONITORING[0]}:{MONITORING[1]}/debug/vars"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return int(json.load(r).get(REFRESHES, 0))
            except (OSError, ValueError):
                return 0
        return self.ctx.ns.call(get)

    def _read_log(self) -> None:
        if not self.tail:
            return
        for line in self.tail.new_lines():
            got = parse_line(line)
            if got is None:
                continue
            _qid, rcpt, out = got
            rcpt = rcpt.lower()
            if rcpt not in self.mid_of:
                continue
            self.last[rcpt] = out
            self.seen.add(rcpt)

    def reload(self) -> None:
        """Nothing to forget: Go's resolver caches nothing, and the next
        run_queue() restarts chasquid anyway."""

    def outcomes(self) -> dict[str, SenderOutcome]:
        self._read_log()
        dsn = self._dsn_codes()
        out = {}
        for rcpt, o in self.last.items():
            if o.state == "bounced" and not o.dsn:
                o.dsn = dsn.get(rcpt, "")
            out[self.mid_of[rcpt]] = o
        return out

    def _dsn_codes(self) -> dict[str, str]:
        """The Status of each bounce chasquid sent back, by recipient."""
        assert self.ctx
        codes = {}
        for f in sorted((self.ctx.run / "dsn").glob("*.eml")):
            text = f.read_text(errors="replace")
            st, rc = DSN_STATUS.search(text), DSN_RCPT.search(text)
            if st and rc:
                codes[rc.group(1).lower()] = st.group(1)
        return codes

    # -- checks -----------------------------------------------------------
    def preflight(self, ctx: LabContext) -> list[str]:
        from ..preflight import check_resolver_path
        return check_resolver_path(ctx, self.name, needs_trust_ad=False)

    def version(self) -> str:
        return f"chasquid {chasquid_version()} (MTA-STS, no DANE)"

    def config_digest(self) -> str:
        """chasquid.conf as start() writes it, without the run folder."""
        return text_digest(self._conf(RUN_DIR))
