"""Postfix (Debian's package, 3.7 here) as a sender under test.

A private instance inside the lab namespace: its own main.cf/master.cf in
RUN/conf, bind-mounted over /etc/postfix inside the namespace only (the
namespace has a private mount table), its own queue in RUN/queue and its
log in RUN/maillog (postlogd, no syslog).  Settings that matter for DANE:

  smtp_dns_support_level = dnssec     trust the resolver's AD bit
  smtp_tls_security_level = dane      (dane-only for `postfix-dane-only`;
                                      may, opportunistic TLS without DANE,
                                      for `postfix-may`)
  smtp_tls_policy_maps                per-destination levels from the
                                      scenario catalog (dane, dane-only,
                                      may; exclude is `may`)

A smtp(8) process that crashes in a delivery (a panic on a malformed DNS
answer, as in c14d) writes no status= line, and qmgr retries the message
in a loop: the pass ends CRASH_QUIET seconds after the last status line,
and each message still without one is deferred, its reason the crash.

The master runs in the foreground (`master -s`) under the lab's supervisor,
so stop() ends exactly the processes it started (master and its children
share its process group).  The queue directories are made here, so the slow
`postfix start` (its permission checks) is never needed.

One queue pass is one delivery attempt per message: `defer_transports =
smtp` keeps messages in the deferred queue until `postqueue -f`, and the
pass ends when every message queued before it has a new status= line in
the maillog.  smtp(8) caches TLSA RRsets in-process, so reload() sends the
master SIGHUP, which replaces every smtp(8) process.
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..apex import bare, sender_domain
from ..errors import LabError
from ..proc import Tracked
from .base import RUN_DIR, Adapter, LabContext, SenderOutcome, Submission, \
    text_digest
from .mtalog import Ledger, LogTail, MtaHome, wait_for

SBIN = Path("/usr/lib/postfix/sbin")
PASS_TIMEOUT = 300.0
LEVELS = {"dane": "dane", "dane-only": "dane-only", "may": "may",
          "exclude": "may"}

# postfix/smtp[123]: 4F2A31C0123: to=<u@x>, relay=..., dsn=4.7.5,
#   status=deferred (reason)
LINE = re.compile(r"postfix(?:/[\w.-]+)*/(?P<prog>[\w-]+)\[\d+\]: "
                  r"(?P<qid>[0-9A-F]{6,}|[0-9B-Zb-z]{10,}): (?P<rest>.*)$")
STATUS = re.compile(r"to=<[^>]*>, (?:orig_to=<[^>]*>, )?relay=(?P<relay>"
                    r"[^,]*),.* dsn=(?P<dsn>[\d.]+), status=(?P<state>\w+)"
                    r" \((?P<why>.*)\)$")
EXPIRED = re.compile(r"from=<[^>]*>, status=(?:force-)?expired, "
                     r"returned to sender")
MSGID = re.compile(r"message-id=<?(?P<mid>[^>\s]*)>?")
# smtp(8) dying in a delivery: its own panic or fatal line, or the master
# reporting the process killed by a signal or ended with an exit status
CRASH = re.compile(r"postfix(?:/[\w.-]+)*/(?:smtp\[\d+\]: (?:panic|fatal): .*"
                   r"|master\[\d+\]: warning: process \S*/smtp pid \d+ "
                   r"(?:killed by signal \d+|exit status \d+))$")
# After a crash, how long without a new status= line before the pass is
# over: the message that crashes smtp(8) never gets one (qmgr tries it again
# and again), while others may still wait for a slow lookup (the lab's
# Unbound gives up on a name server that never answers, case c12h, after
# about 3 s; Postfix's own resolver retries add a few more).
CRASH_QUIET = 30.0

MAIN_CF = """\
# danelab private Postfix instance (written by the postfix adapter)
compatibility_level = 3.6
queue_directory = {run}/queue
data_directory = {run}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.{sender}
mydomain = {sender}
myorigin = {sender}
mydestination = {sender}
local_transport = discard:local bounce copies are not kept
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = all
append_dot_mydomain = no
biff = no
smtputf8_enable = no
maillog_file = {run}/maillog
maillog_file_prefixes = {run}
# -- DANE (RFC 7672)
smtp_dns_support_level = dnssec
smtp_host_lookup = dns
smtp_tls_security_level = {level}
smtp_tls_policy_maps = {policy_maps}
smtp_tls_loglevel = 1
smtp_tls_session_cache_database =
smtp_connection_cache_on_demand = no
smtp_helo_name = postfix.{sender}
# -- one attempt per queue pass, quick time-outs, nothing expires
defer_transports = smtp
queue_run_delay = 3600s
minimal_backoff_time = 3600s
maximal_backoff_time = 3600s
maximal_queue_lifetime = 1d
bounce_queue_lifetime = 1d
delay_warning_time = 0
smtp_connect_timeout = 3s
smtp_helo_timeout = 10s
smtp_starttls_timeout = 5s
smtp_mail_timeout = 10s
smtp_rcpt_timeout = 10s
smtp_data_init_timeout = 10s
smtp_data_xfer_timeout = 10s
smtp_data_done_timeout = 10s
smtp_quit_timeout = 5s
default_process_limit = {procs}
default_destination_concurrency_limit = {dest}
initial_destination_concurrency = {initial}
{extra}"""

# At `may` nothing is authenticated, so the address Postfix tries first
# decides where a message goes when a host's addresses serve different
# certificates (f32c-f32e); by default the order is random (IPv4 or IPv6,
# and among equal ones).  Fixed here, the results are reproducible.  (The
# DANE levels go on to the next address after a failed match: the order
# does not change their outcome, so they keep Postfix's defaults.)
MAY_ORDER = """\
# -- a fixed address order at `may` (danelab: reproducible results)
smtp_address_preference = ipv4
smtp_randomize_addresses = no
"""

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# (name, owner, group, mode) of the queue folders `postfix check` would make
QUEUE_DIRS = [("active", "postfix", "root", 0o700),
              ("bounce", "postfix", "root", 0o700),
              ("corrupt", "postfix", "root", 0o700),
              ("defer", "postfix", "root", 0o700),
              ("deferred", "postfix", "root", 0o700),
              ("flush", "postfix", "root", 0o700),
              ("hold", "postfix", "root", 0o700),
              ("incoming", "postfix", "root", 0o700),
              ("private", "postfix", "root", 0o700),
              ("saved", "postfix", "root", 0o700),
              ("trace", "postfix", "root", 0o700),
              ("maildrop", "postfix", "postdrop", 0o730),
              ("public", "postfix", "postdrop", 0o710),
              ("pid", "root", "root", 0o755)]


def postfix_version() -> str:
    try:
        cp = subprocess.run(["/usr/sbin/postconf", "-d", "-h", "mail_version"],
                            capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return cp.stdout.decode().strip() or "?"


def tls_policy(policies: dict[str, str]) -> str:
    """The smtp_tls_policy_maps table for the catalog's policies."""
    lines = []
    for dom, level in sorted(policies.items()):
        if level not in LEVELS:
            raise LabError(f"postfix: unknown policy {level!r} for {dom}")
        lines.append(f"{dom.rstrip('.')} {LEVELS[level]}")
    return "\n".join(lines) + "\n"


def parse_status(rest: str) -> SenderOutcome | None:
    """A maillog status= line's tail as an outcome; None for the
    `deferred transport` hold of defer_transports (no attempt made)."""
    m = STATUS.search(rest)
    if not m:
        return None
    why = m.group("why")
    if m.group("state") == "deferred" and why == "deferred transport":
        return None
    state = {"sent": "delivered", "deferred": "deferred",
             "bounced": "bounced"}.get(m.group("state"), "unknown")
    return SenderOutcome(state, why, m.group("dsn"),
                         f"relay={m.group('relay')}")


class PostfixAdapter(Adapter):
    def __init__(self, name: str = "postfix", level: str = "dane") -> None:
        self.name = name
        self.level = level
        self.ctx: LabContext | None = None
        self.master: Tracked | None = None
        self.mounted = False
        self.home: MtaHome | None = None
        self.procs = 100                # smtp(8) processes in all
        self.dest = 20                  # in flight to one destination
        self.ledger = Ledger()
        self.tail: LogTail | None = None
        self.held: set[str] = set()     # qids parked by defer_transports
        self.crashes: list[str] = []    # smtp(8) crash lines, in order
        self.last_status = 0.0          # monotonic time of the last one

    # -- life cycle -------------------------------------------------------
    def start(self, ctx: LabContext) -> None:
        if ctx.ns.mode != "root":
            raise LabError(f"the {self.name} sender needs root mode "
                           "(Postfix changes to its own user)")
        if not (SBIN / "master").exists():
            raise LabError("Postfix is not installed (ci/deps installs it)")
        self.ctx = ctx
        run = ctx.run
        run.mkdir(parents=True, exist_ok=True)
        run.chmod(0o755)
        self.home = MtaHome(ctx.ns, run)
        self._write_config()
        self._make_queue()
        self.tail = LogTail(run / "maillog")
        ctx.ns.run(["mount", "--bind", str(run / "conf"), "/etc/postfix"],
                   check=True)
        self.mounted = True
        self.master = ctx.ns.spawn(
            "postfix-master", [str(SBIN / "master"), "-s"],
            log=run / "master.log")
        ctx.ns.sup.wait_ready(
            self.master, lambda: (run / "queue" / "public" / "pickup")
            .exists() and (run / "maillog").exists(), 15)

    def _write_config(self) -> None:
        assert self.ctx
        run = self.ctx.run
        conf = run / "conf"
        conf.mkdir(exist_ok=True)
        # meta_directory files Postfix reads from /etc/postfix
        for f in ("dynamicmaps.cf", "postfix-files"):
            if Path("/etc/postfix", f).exists():
                shutil.copy(Path("/etc/postfix", f), conf / f)
        for d in ("dynamicmaps.cf.d", "postfix-files.d"):
            (conf / d).mkdir(exist_ok=True)
        assert self.home
        (conf / "main.cf").write_text(self._main_cf(str(self.home.path)))
        (conf / "master.cf").write_text(MASTER_CF)
        (conf / "tls_policy").write_text(tls_policy(self.ctx.policies))
        # Postfix re-reads a main.cf younger than a second or two, in
        # 300 ms steps, until its mtime is old (it might be half-written):
        # 1.5-2.5 s at every start or reload.  Ours is complete: date it back.
        old = time.time() - 60
        for cf in conf.iterdir():
            if cf.is_file():
                os.utime(cf, (old, old))

    def _main_cf(self, run: str) -> str:
        return MAIN_CF.format(run=run, level=self.level, procs=self.procs,
                              sender=bare(sender_domain()),
                              dest=self.dest, initial=min(5, self.dest),
                              policy_maps=", ".join(self.policy_maps(run)),
                              extra=self.extra_main_cf()) \
            + (MAY_ORDER if self.level == "may" else "")

    def policy_maps(self, run: str) -> list[str]:
        """The tables of smtp_tls_policy_maps, searched in this order."""
        return [f"texthash:{run}/conf/tls_policy"]

    def extra_main_cf(self) -> str:
        """main.cf lines a variant adds (postfix_sts.py)."""
        return ""

    def _make_queue(self) -> None:
        assert self.ctx
        run = self.ctx.run
        q = run / "queue"
        q.mkdir(exist_ok=True)
        os.chown(q, 0, 0)
        q.chmod(0o755)
        for name, user, group, mode in QUEUE_DIRS:
            d = q / name
            d.mkdir(exist_ok=True)
            os.chown(d, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
            d.chmod(mode)
        data = run / "data"
        data.mkdir(exist_ok=True)
        pf = pwd.getpwnam("postfix")
        os.chown(data, pf.pw_uid, pf.pw_gid)
        data.chmod(0o700)

    def set_concurrency(self, n: int) -> None:
        """Deliveries in flight (bench/delivery.py sends to one domain)."""
        self.procs = max(2, n)
        self.dest = max(1, n)
        if self.ctx and self.master:
            self._write_config()
            self.reload()

    def stop(self) -> None:
        if not self.ctx:
            return
        if self.master:
            self.ctx.ns.sup.stop(self.master, grace=5)
            self.master = None
        if self.mounted:
            self.ctx.ns.run(["umount", "/etc/postfix"])
            self.mounted = False
        if self.home:
            self.home.close()
            self.home = None

    def reload(self) -> None:
        """SIGHUP to the master: every smtp(8) (and its TLSA cache) is
        replaced; main.cf is read again."""
        if not self.master or not self.master.alive():
            where = self.ctx.run / "maillog" if self.ctx else "its maillog"
            raise LabError(f"postfix master is not running; see {where}")
        self._read_log()
        mark = self.tail.mark() if self.tail else 0
        os.kill(self.master.pid, signal.SIGHUP)
        wait_for(lambda: self._log_has("reload", mark), 10,
                 "postfix reload")

    def _log_has(self, word: str, since: int) -> bool:
        assert self.ctx
        try:
            with (self.ctx.run / "maillog").open("rb") as f:
                f.seek(since)
                return word.encode() in f.read()
        except OSError:
            return False

    # -- messages ---------------------------------------------------------
    def submit(self, subs: list[Submission]) -> None:
        assert self.ctx
        out = self.ctx.run / "outgoing"
        out.mkdir(exist_ok=True)
        lines = ["set -e"]
        for i, s in enumerate(subs):
            f = out / f"{i:05d}.eml"
            f.write_bytes(s.data)
            lines.append(f"/usr/sbin/sendmail -i -f {shlex.quote(s.sender)} "
                         f"-- {shlex.quote(s.rcpt)} < {shlex.quote(str(f))}")
        script = out / "submit.sh"
        script.write_text("\n".join(lines) + "\n")
        cp = self.ctx.ns.run(["sh", str(script)], timeout=120)
        if cp.returncode != 0:
            raise LabError("postfix: sendmail failed: "
                           f"{cp.stderr.decode(errors='replace')[-500:]}"
                           f" (see {self.ctx.run / 'maillog'})")
        want = {s.message_id for s in subs}

        def held() -> bool:
            self._read_log()
            qids = {q for q, m in self.ledger.mid_of.items() if m in want}
            return len(qids) == len(want) and qids <= self.held
        wait_for(held, 60, f"postfix: queueing {len(subs)} message(s) "
                 f"(see {self.ctx.run / 'maillog'})")

    def run_queue(self) -> None:
        assert self.ctx
        self._read_log()
        pending = {q for q in self.ledger.mid_of
                   if self.ledger.last.get(q) is None
                   or self.ledger.last[q].state == "deferred"}
        self.ledger.pass_done = set()
        crashed = len(self.crashes)
        self.last_status = time.monotonic()
        cp = self.ctx.ns.run(["/usr/sbin/postqueue", "-f"], timeout=30)
        if cp.returncode != 0:
            raise LabError("postqueue -f failed: "
                           f"{cp.stderr.decode(errors='replace')}")

        def done() -> bool:
            self._read_log()
            return pending <= self.ledger.pass_done or (
                len(self.crashes) > crashed and
                time.monotonic() - self.last_status > CRASH_QUIET)
        wait_for(done, PASS_TIMEOUT + CRASH_QUIET, f"postfix queue pass "
                 f"({len(pending)} message(s); see "
                 f"{self.ctx.run / 'maillog'})", 0.1)
        for q in sorted(pending - self.ledger.pass_done):
            self.ledger.record(q, SenderOutcome(
                "deferred", "still queued: smtp(8) crashed in this pass ("
                f"{self.crashes[crashed]})"))

    def expire(self, message_ids: list[str]) -> bool:
        """`postsuper -e`: Postfix's forced expiration (3.5 and later);
        the message is returned at its next delivery attempt."""
        assert self.ctx
        self._read_log()
        qids = {m: self.ledger.qid_of(m) for m in message_ids}
        lost = [m for m, q in qids.items() if not q]
        if lost:
            raise LabError(f"postfix: no queue id for {lost}")
        argv = ["/usr/sbin/postsuper"]
        for q in qids.values():
            argv += ["-e", str(q)]
        cp = self.ctx.ns.run(argv, timeout=30)
        if cp.returncode != 0:
            raise LabError("postsuper -e failed: "
                           f"{cp.stderr.decode(errors='replace')}")
        return True

    def _read_log(self) -> None:
        if not self.tail:
            return
        for line in self.tail.new_lines():
            c = CRASH.search(line)
            if c:
                self.crashes.append(c.group(0))
                continue
            m = LINE.search(line)
            if not m:
                continue
            qid, rest = m.group("qid"), m.group("rest")
            if m.group("prog") == "cleanup" and rest.startswith("message-id"):
                mm = MSGID.match(rest)
                if mm:
                    self.ledger.mid_of[qid] = mm.group("mid")
                continue
            if "status=" not in rest:
                continue
            if EXPIRED.search(rest):
                # qmgr returns a (forced-)expired message: no per-recipient
                # line; the DSN carries the last deferral's status code.
                was = self.ledger.last.get(qid)
                self.ledger.record(qid, SenderOutcome(
                    "bounced", "expired: " + (was.reason if was else ""),
                    was.dsn if was else "", was.detail if was else ""))
                self.last_status = time.monotonic()
                continue
            out = parse_status(rest)
            if out is None:
                self.held.add(qid)
            else:
                self.ledger.record(qid, out)
                self.last_status = time.monotonic()

    def outcomes(self) -> dict[str, SenderOutcome]:
        self._read_log()
        return self.ledger.outcomes()

    def log_lines(self, message_id: str, domain: str) -> list[str]:
        """The maillog lines of the message's queue id, and those of the
        smtp(8) processes that tried it which name DOMAIN (its TLS lines
        carry no queue id)."""
        if not self.ctx or not (self.ctx.run / "maillog").exists():
            return []
        self._read_log()
        qid = self.ledger.qid_of(message_id)
        if not qid:
            return []
        lines = (self.ctx.run / "maillog").read_text(
            errors="replace").splitlines()
        pids = {m.group(1) for ln in lines if f"{qid}: " in ln
                and (m := re.search(r"/smtp\[(\d+)\]", ln))}
        dom = domain.rstrip(".")
        return [ln for ln in lines if "(deferred transport)" not in ln
                and (f"{qid}: " in ln or (dom in ln and any(
                    f"/smtp[{p}]" in ln for p in pids)))]

    # -- checks -----------------------------------------------------------
    def preflight(self, ctx: LabContext) -> list[str]:
        from ..preflight import check_resolver_path
        return check_resolver_path(ctx, self.name, needs_trust_ad=False)

    def version(self) -> str:
        return f"Postfix {postfix_version()} (smtp_tls_security_level = " \
            f"{self.level})"

    def config_digest(self) -> str:
        """main.cf and master.cf as _write_config() writes them, without
        the run folder's paths; the tls_policy table (the catalog's
        per-domain policies) is left out."""
        return text_digest(self._main_cf(RUN_DIR), MASTER_CF)
