"""Postfix with MTA-STS through postfix-mta-sts-resolver (Debian's package,
1.1.2 here): the sender `postfix-mta-sts`.

The private Postfix instance of postfix.py, at `smtp_tls_security_level =
dane`, asks the resolver daemon for a per-domain TLS policy:

  smtp_tls_policy_maps = texthash:RUN/conf/tls_policy,
                         socketmap:inet:127.0.0.1:8461:postfix
  smtp_tls_CAfile = /etc/ssl/certs/ca-certificates.crt

The catalog's own per-domain levels come first (none in section I); every
other domain goes to the daemon.  For a domain with an `enforce` policy it
answers `secure match=<mx patterns>` (a `*.` pattern handed on as `.`), and
Postfix then uses that level instead of `dane`: the certificate must chain
to the CA file and carry a name the patterns fit.  For a domain without a
policy, or in `testing` or `none` mode, it answers NOTFOUND and the default
`dane` applies.  The CA file is the system bundle, which inside the lab
namespace is the lab's WebPKI root alone (docs/mta-sts.md).

The daemon (`mta-sts-daemon`) runs inside the lab namespace under the
lab's supervisor, with its own configuration in RUN/mta-sts/ (port 8461 on
the namespace's loopback, the internal cache, the package's default time
limit of 4 s and SNI on), resolves through the namespace's resolv.conf
(the lab resolver) and trusts the same system bundle for its HTTPS fetches.
Its log is RUN/mta-sts/daemon.log.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import LabError
from ..proc import Tracked
from .base import RUN_DIR, LabContext, text_digest
from .postfix import MASTER_CF, PostfixAdapter, postfix_version

DAEMON = Path("/usr/bin/mta-sts-daemon")
PORT = 8461
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

DAEMON_YML = """\
# danelab: postfix-mta-sts-resolver inside the lab namespace
host: 127.0.0.1
port: {port}
reuse_port: true
shutdown_timeout: 2
cache:
  type: internal
  options:
    cache_size: 10000
default_zone:
  strict_testing: false
  timeout: 4
"""


def resolver_version() -> str:
    try:
        cp = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                             "postfix-mta-sts-resolver"],
                            capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return cp.stdout.decode().strip() or "?"


class PostfixStsAdapter(PostfixAdapter):
    features = ("mta-sts",)

    def __init__(self, name: str = "postfix-mta-sts") -> None:
        super().__init__(name, "dane")
        self.daemon: Tracked | None = None

    def policy_maps(self, run: str) -> list[str]:
        return super().policy_maps(run) + \
            [f"socketmap:inet:127.0.0.1:{PORT}:postfix"]

    def extra_main_cf(self) -> str:
        return ("# -- MTA-STS (RFC 8461) through postfix-mta-sts-resolver\n"
                f"smtp_tls_CAfile = {SYSTEM_BUNDLE}\n")

    def start(self, ctx: LabContext) -> None:
        if not DAEMON.exists():
            raise LabError("postfix-mta-sts-resolver is not installed "
                           "(ci/deps installs it)")
        folder = ctx.run / "mta-sts"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "mta-sts-daemon.yml"
        conf.write_text(DAEMON_YML.format(port=PORT))
        log = folder / "daemon.log"
        self.daemon = ctx.ns.spawn(
            "mta-sts-daemon", [str(DAEMON), "-c", str(conf), "-l", str(log),
                               "-v", "debug"],
            log=folder / "daemon.out")
        ctx.ns.sup.wait_ready(
            self.daemon, lambda: log.exists() and
            b"Server started." in log.read_bytes(), 15)
        super().start(ctx)

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.ctx and self.daemon:
                self.ctx.ns.sup.stop(self.daemon, grace=5)
                self.daemon = None

    def version(self) -> str:
        return f"Postfix {postfix_version()} (smtp_tls_security_level = " \
            f"dane) with postfix-mta-sts-resolver {resolver_version()}"

    def config_digest(self) -> str:
        """Postfix's main.cf and master.cf, and the daemon's configuration."""
        return text_digest(self._main_cf(RUN_DIR), MASTER_CF,
                           DAEMON_YML.format(port=PORT))
