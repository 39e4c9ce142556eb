"""Exim (Debian's exim4-daemon-heavy 4.96, unpacked by ci/exim-install) as
a sender under test.

Two senders: `exim` (smtp transport `hosts_try_dane = *`: DANE where the
TLSA RRset is secure, opportunistic TLS elsewhere) and `exim-require-dane`
(`hosts_require_dane = *`: DANE everywhere, so a domain without a secure
TLSA RRset fails).  Exim reads DNSSEC status from the AD bit glibc passes on
(`dns_dnssec_ok = 1`, router `dnssec_request_domains = *`), which needs
`options trust-ad` in resolv.conf: preflight() checks that path.

No Exim daemon runs.  Everything is a short command inside the lab
namespace with a time limit, so nothing daemonizes and nothing is left
behind:

  submit      exim -C conf -odq -f SENDER -- RCPT < message  (queue only)
  run_queue   the retry database is wiped (not after expire()), then
              `exim -C conf -M ids...` in a few parallel slices
              (ns.spawn: tracked, killed with their deliveries at the
              deadline): one attempt per message
  outcomes    read from Exim's mainlog: `<=` (id=Message-ID), `=>`
              delivered, `==` deferred, `**` bounced
  reload      nothing to do: every delivery process starts afresh and Exim
              keeps no DNS cache between processes
  expire      a retry rule with a passed cut-off for the message's domain
              (Exim has no per-message forced expiry)

Exim runs as the Debian-exim user, which the host does not have (Postfix
is the system MTA); start() adds it inside the lab namespace only, by
bind-mounting copies of /etc/passwd and /etc/group that hold it.
Per-destination policies from the catalog are routers in front of the
default one: dane-only domains go to a transport that requires DANE, may
and exclude domains to one that does not look at TLSA records.
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import subprocess
import time
from pathlib import Path

from ..apex import bare, sender_domain
from ..errors import LabError
from .base import RUN_DIR, Adapter, LabContext, SenderOutcome, Submission, \
    text_digest
from .mtalog import Ledger, LogTail, MtaHome

EXIM_ROOT = Path(os.environ.get("DANELAB_EXIM_ROOT", "/opt/danelab/exim4"))
PASS_TIMEOUT = 300.0
SLICES = 8
USER = "Debian-exim"

# 2026-11-23 01:36:27 1tXYZa-000123-AB => user@x R=... T=... H=... C="250 ok"
LINE = re.compile(r"^\S+ \S+ (?:\[\d+\] )?(?P<id>[0-9A-Za-z]{6}-[0-9A-Za-z]"
                  r"{6,11}-[0-9A-Za-z]{2,4}) (?P<flag><=|=>|->|\*>|==|\*\*) "
                  r"(?P<rest>.*)$")
ENH = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")

CONF = """\
# danelab private Exim configuration (written by the exim adapter)
exim_path = {bin}
exim_user = {user}
exim_group = {user}
spool_directory = {run}/spool
log_file_path = {run}/log/%slog
pid_file_path = {run}/exim.pid
primary_hostname = exim.{sender}
qualify_domain = {sender}
domainlist local_domains = {sender}
trusted_users = root
never_users =
keep_environment =
daemon_smtp_ports = 2525
local_interfaces = 127.0.0.1
dns_dnssec_ok = 1
log_selector = +tls_certificate_verified +tls_peerdn +tls_sni \\
  +received_recipients +outgoing_port +deliver_time
ignore_bounce_errors_after = 0s
timeout_frozen_after = 1d
delay_warning =
remote_max_parallel = 4
acl_not_smtp = acl_ok

begin acl
acl_ok:
  accept

begin routers
local_sender:
  driver = redirect
  domains = +local_domains
  data = :blackhole:
{policy_routers}
dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  dnssec_request_domains = *
  transport = {default_transport}
  no_more

begin transports
{transports}
begin retry
{retry_rules}*  *  F,1d,1m

begin rewrite
"""

TRANSPORT = """\
{name}:
  driver = smtp
  helo_data = exim.{sender}
  connect_timeout = 3s
  command_timeout = 10s
  data_timeout = 10s
  final_timeout = 10s
{extra}
"""

ROUTER = """\
{name}:
  driver = dnslookup
  domains = <; {domains}
  dnssec_request_domains = *
  transport = {transport}
  no_more
"""


def exim_bin() -> Path:
    b = EXIM_ROOT / "usr" / "sbin" / "exim4"
    if not b.exists():
        raise LabError(f"Exim is not set up in {EXIM_ROOT}: run "
                       "ci/exim-install (as root)")
    return b


def exim_config(run: Path, bin_: Path, require: bool,
                policies: dict[str, str],
                expired: list[str] | None = None) -> str:
    """The whole configuration for RUN, with routers for the catalog's
    per-destination policies (dane-only, may, exclude), and a retry rule
    whose cut-off (1 s) has passed for each EXPIRED domain and its hosts."""
    groups: dict[str, list[str]] = {"dane-only": [], "may": [], "dane": []}
    for dom, level in sorted(policies.items()):
        key = "may" if level in ("may", "exclude") else level
        if key not in groups:
            raise LabError(f"exim: unknown policy {level!r} for {dom}")
        groups[key].append(dom.rstrip("."))
    me = bare(sender_domain())
    transports = [
        TRANSPORT.format(sender=me, name="dane_try",
                         extra="  hosts_try_dane = *"),
        TRANSPORT.format(sender=me, name="dane_require",
                         extra="  hosts_require_dane = *"),
        # Exim's own default is hosts_try_dane = *: say "no host" here
        TRANSPORT.format(sender=me, name="no_dane",
                         extra="  hosts_try_dane =")]
    routers = []
    for key, tr in (("dane-only", "dane_require"), ("may", "no_dane"),
                    ("dane", "dane_try")):
        if groups[key]:
            routers.append(ROUTER.format(
                name=f"policy_{key.replace('-', '_')}",
                domains="; ".join(groups[key]), transport=tr))
    retry = "".join(f"{pat}  *  F,1s,1s\n" for d in sorted(expired or [])
                    for pat in (d, f"*.{d}"))
    return CONF.format(bin=bin_, user=USER, run=run, retry_rules=retry,
                       sender=me,
                       policy_routers="\n".join(routers),
                       default_transport="dane_require" if require
                       else "dane_try",
                       transports="\n".join(transports))


def parse_line(rest: str, flag: str) -> SenderOutcome | None:
    """An outcome from a mainlog delivery line (=>, ==, **)."""
    if flag in ("=>", "->", "*>"):
        return SenderOutcome("delivered", _field(rest, "C") or "delivered",
                             "2.0.0", _detail(rest))
    if flag in ("==", "**"):
        temp = flag == "=="
        why = rest.split(": ", 1)[1] if ": " in rest else rest
        m = ENH.search(why)
        dsn = m.group(1) if m else ("4.0.0" if temp else "5.0.0")
        return SenderOutcome("deferred" if temp else "bounced", why, dsn,
                             _detail(rest))
    return None


def _field(rest: str, key: str) -> str:
    m = re.search(rf'(?:^| ){key}=("(?:[^"\\]|\\.)*"|\S+)', rest)
    return m.group(1).strip('"') if m else ""


def _detail(rest: str) -> str:
    return " ".join(f"{k}={v}" for k in ("R", "T", "H", "X", "CV", "SNI")
                    for v in [_field(rest, k)] if v)


class EximAdapter(Adapter):
    def __init__(self, name: str = "exim", require: bool = False) -> None:
        self.name = name
        self.require = require
        self.ctx: LabContext | None = None
        self.bin: Path | None = None
        self.conf: Path | None = None
        self.mounts: list[str] = []
        self.home: MtaHome | None = None
        self.ledger = Ledger()
        self.tail: LogTail | None = None
        self.submitted: list[Submission] = []
        self.expired: set[str] = set()

    # -- life cycle -------------------------------------------------------
    def start(self, ctx: LabContext) -> None:
        if ctx.ns.mode != "root":
            raise LabError(f"the {self.name} sender needs root mode "
                           "(Exim changes to its own user)")
        self.bin = exim_bin()
        self.ctx = ctx
        run = ctx.run
        run.mkdir(parents=True, exist_ok=True)
        run.chmod(0o755)
        uid = self._add_user()
        for d in ("spool", "log"):
            (run / d).mkdir(exist_ok=True)
            os.chown(run / d, uid, uid)
            (run / d).chmod(0o750)
        self.home = MtaHome(ctx.ns, run)
        self._write_config()
        self.conf = self.home.path / "exim.conf"
        self.tail = LogTail(run / "log" / "mainlog")
        cp = ctx.ns.run(self._argv("-bV"), timeout=30)
        if cp.returncode != 0:
            said = (cp.stdout + cp.stderr).decode(errors="replace")
            raise LabError(f"{self.name}: exim -bV rejects the configuration"
                           f" {self.conf}: {said[-600:]}")
        (run / "exim-version.txt").write_bytes(cp.stdout)

    def _write_config(self) -> None:
        assert self.ctx and self.home and self.bin
        (self.ctx.run / "exim.conf").write_text(exim_config(
            self.home.path, self.bin, self.require, self.ctx.policies,
            sorted(self.expired)))

    def expire(self, message_ids: list[str]) -> bool:
        """Exim has no per-message forced expiry (-Mg cancels, which is not
        a retry limit).  Its retry rules match domains and host names:
        give each message's domain a rule whose cut-off (1 s) the message
        has already outlived, so the next failure times it out and Exim
        bounces it as at the end of its retry period ("retry timeout
        exceeded").  Every Exim process reads the configuration afresh, so
        this takes effect at once; from now on the retry database is kept
        (it holds the first-failure times), and the cut-off test is strict
        (more than 1 s since the first failure), hence the wait."""
        rcpt_of = {s.message_id: s.rcpt for s in self.submitted}
        lost = [m for m in message_ids if m not in rcpt_of]
        if lost:
            raise LabError(f"{self.name}: expire: not submitted: {lost}")
        self.expired |= {rcpt_of[m].rsplit("@", 1)[1].rstrip(".").lower()
                         for m in message_ids}
        self._write_config()
        time.sleep(2.1)
        return True

    def _add_user(self) -> int:
        """Debian-exim inside the namespace only; returns its uid."""
        assert self.ctx
        try:
            return pwd.getpwnam(USER).pw_uid
        except KeyError:
            pass
        used = {p.pw_uid for p in pwd.getpwall()} | \
            {g.gr_gid for g in grp.getgrall()}
        uid = next(u for u in range(190, 999) if u not in used)
        etc = self.ctx.run / "etc"
        etc.mkdir(exist_ok=True)
        for name, line in (
                ("passwd", f"{USER}:x:{uid}:{uid}:danelab Exim:/nonexistent:"
                           "/usr/sbin/nologin\n"),
                ("group", f"{USER}:x:{uid}:\n")):
            text = Path("/etc", name).read_text()
            (etc / name).write_text(text.rstrip("\n") + "\n" + line)
            (etc / name).chmod(0o644)
            self.ctx.ns.run(["mount", "--bind", str(etc / name),
                             f"/etc/{name}"], check=True)
            self.mounts.append(f"/etc/{name}")
        return uid

    def stop(self) -> None:
        if not self.ctx:
            return
        for m in reversed(self.mounts):
            self.ctx.ns.run(["umount", m])
        self.mounts = []
        if self.home:
            self.home.close()
            self.home = None

    def _argv(self, *args: str) -> list[str]:
        assert self.bin and self.conf
        return [str(self.bin), "-C", str(self.conf), *args]

    # -- messages ---------------------------------------------------------
    def submit(self, subs: list[Submission]) -> None:
        assert self.ctx
        self.submitted += subs
        for s in subs:
            cp = self.ctx.ns.run(self._argv("-odq", "-i", "-f", s.sender,
                                            "--", s.rcpt),
                                 input=s.data, timeout=30)
            if cp.returncode != 0:
                raise LabError(f"{self.name}: submitting {s.scenario} failed "
                               f"(exit {cp.returncode}): "
                               f"{cp.stderr.decode(errors='replace')[-400:]}")
        self._read_log()

    def run_queue(self) -> None:
        """One forced attempt of every message still queued."""
        assert self.ctx
        self._read_log()
        ids = sorted(q for q in self.ledger.mid_of
                     if q not in self.ledger.last
                     or self.ledger.last[q].state == "deferred")
        self._reset_retry_db()
        self.ledger.pass_done = set()
        if not ids:
            return
        slices = [ids[i::SLICES] for i in range(min(SLICES, len(ids)))]
        # Spawned (tracked, own process group), not ns.run: a slice that
        # passes the deadline is killed with every delivery it forked.
        log = self.ctx.run / "queue-runs.log"
        runs = [self.ctx.ns.spawn(f"exim-M-{i}", self._argv("-M", *sl),
                                  log=log) for i, sl in enumerate(slices)]
        deadline = time.monotonic() + PASS_TIMEOUT
        late = []
        for t in runs:
            try:
                t.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                late.append(t.name)
            self.ctx.ns.sup.stop(t, grace=1)
        self._read_log()
        if late:
            raise LabError(f"{self.name}: queue pass not done within "
                           f"{PASS_TIMEOUT:.0f} s ({', '.join(late)} "
                           f"killed); see {self.ctx.run / 'log/mainlog'}")

    def _reset_retry_db(self) -> None:
        """Forget host and message retry times (and the TLS/wait data).
        Not once expire() was called: the retry records' first-failure
        times are what lets the expired domains' cut-off pass."""
        assert self.ctx
        if self.expired:
            return
        db = self.ctx.run / "spool" / "db"
        if db.exists():
            for f in db.iterdir():
                if f.is_file():
                    f.unlink()

    def reload(self) -> None:
        """Nothing is cached across Exim processes; the retry database is
        wiped before each pass anyway."""
        self._reset_retry_db()

    def _read_log(self) -> None:
        if not self.tail:
            return
        for line in self.tail.new_lines():
            m = LINE.match(line)
            if not m:
                continue
            qid, flag, rest = m.group("id"), m.group("flag"), m.group("rest")
            if flag == "<=":
                mid = _field(rest, "id")
                self.ledger.mid_of[qid] = mid.strip("<>")
                continue
            out = parse_line(rest, flag)
            if out:
                self.ledger.record(qid, out)

    def outcomes(self) -> dict[str, SenderOutcome]:
        self._read_log()
        return self.ledger.outcomes()

    # -- checks -----------------------------------------------------------
    def preflight(self, ctx: LabContext) -> list[str]:
        from ..preflight import check_resolver_path
        return check_resolver_path(ctx, self.name, needs_trust_ad=True)

    def version(self) -> str:
        v = EXIM_ROOT / "VERSION"
        ver = v.read_text().strip() if v.exists() else "4.96"
        mode = "hosts_require_dane" if self.require else "hosts_try_dane"
        return f"Exim {ver} ({mode} = *)"

    def config_digest(self) -> str:
        """The configuration exim_config() writes at start(), without the
        run folder's and the binary's paths and without the catalog's
        per-domain policies and expiry rules."""
        return text_digest(exim_config(Path(RUN_DIR), Path("$EXIM"),
                                       self.require, {}, []))
