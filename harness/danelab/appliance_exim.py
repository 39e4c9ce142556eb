"""Exim as a black-box appliance (appliance.py has Postfix): Debian's Exim
4.96 (ci/exim-install) as a daemon in a network namespace of its own,
configured as a vendor would set up a relay for the lab (docs/remote.md):
the lab resolver in resolv.conf with `options trust-ad`, the DANE settings
of the in-namespace `exim` sender (adapters/exim.py: hosts_try_dane = *,
the catalog's per-domain policies as routers) so that the two sets of
verdicts compare, and unlike it:

  - a daemon on port 25 (`exim -bdf -q1h`) that relays for the lab's range
    and delivers each message as it arrives (also past the tenth message
    of one SMTP session: smtp_accept_queue_per_connection = 0), then
    retries on its own schedule (a queue run an hour);
  - no local domain: a bounce goes by SMTP to the envelope sender
    tester@sender.test (the lab's sender mailbox);
  - the retry database is Exim's own (the adapter wipes it each pass).

The vendor hooks:
  flush   every queued message once more, now: `exim -M` (retry times and
          freezing ignored), 8 at a time (`exim -qff` would try them one
          after the other);
  expire  Exim has no per-message forced expiry: the administrator gives
          each message's domain a retry rule whose cut-off (1 s) it has
          outlived (what the adapter's expire() does), so the next
          failure returns it ("retry timeout exceeded");
  reload  none: Exim keeps no DNS cache between its processes.
"""
from __future__ import annotations

import shlex
from pathlib import Path

from .adapters.base import LabContext
from .adapters.exim import EximAdapter
from .adapters.mtalog import wait_for
from .appliance import Appliance
from .apex import bare, sender_domain
from .errors import LabError
from .labnet import LabNet

# (line of the adapter's configuration, the appliance's)
REPLACE = [
    ("daemon_smtp_ports = 2525", "daemon_smtp_ports = 25"),
    ("local_interfaces = 127.0.0.1\n", ""),
    ("domainlist local_domains = {sender}", "domainlist local_domains ="),
    ("acl_not_smtp = acl_ok", """acl_not_smtp = acl_ok
# -- the appliance: a relay for the lab, mail delivered as it arrives
hostlist relay_from_hosts = <; 127.0.0.1 ; ::1 ; {v4} ; {v6}
acl_smtp_rcpt = acl_relay
smtp_accept_queue_per_connection = 0
smtp_accept_max_per_connection = 10000"""),
    ("begin acl\n", """begin acl
acl_relay:
  accept hosts = +relay_from_hosts
  deny message = relaying for the lab only
"""),
]

FLUSH_SH = """#!/bin/sh
# flush hook: one forced delivery attempt of every queued message
{enter} {exim} -bpru | awk '/^ *[0-9]+[smhdw] /{{print $3}}' |
  xargs -r -n 1 -P 8 {enter} {exim} -M >/dev/null
"""

EXPIRE_SH = """#!/bin/sh
# expire hook: Message-IDs in; a retry rule with a passed cut-off for the
# domain of each (from the mainlog's arrival line), first in `begin retry`
set -e
log={log}
conf={conf}
for mid in "$@"; do
  arrival="s/.* <= .* id=<\\{{0,1\\}}$mid>\\{{0,1\\}} for"
  dom=$(sed -n "$arrival [^ @]*@\\([^ ]*\\).*/\\1/p" "$log" | tail -1)
  [ -n "$dom" ] || {{ echo "no arrival line for $mid" >&2; exit 1; }}
  grep -qx "$dom  \\*  F,1s,1s" "$conf" || sed -i "/^begin retry$/a\\\\
$dom  *  F,1s,1s\\\\
*.$dom  *  F,1s,1s" "$conf"
done
# the cut-off test is strict: more than 1 s since the first failure
sleep 2
"""


def appliance_config(text: str, net: LabNet) -> str:
    """The adapter's configuration TEXT made the appliance's."""
    for old, new in REPLACE:
        old = old.replace("{sender}", bare(sender_domain()))
        if old not in text:
            raise LabError(f"exim appliance: the adapter's configuration "
                           f"has no {old.strip()!r} any more")
        text = text.replace(old, new.format(v4=net.v4, v6=net.v6), 1)
    return text


class _Relay(EximAdapter):
    """The exim adapter's set-up with the appliance's configuration."""

    def __init__(self, net: LabNet) -> None:
        super().__init__("exim-appliance")
        self.net = net

    def _write_config(self) -> None:
        super()._write_config()
        assert self.ctx
        conf = self.ctx.run / "exim.conf"
        conf.write_text(appliance_config(conf.read_text(), self.net))


class EximAppliance(Appliance[_Relay]):
    """Exim in a namespace of its own; as PostfixAppliance."""

    folder = "exim"

    def __init__(self, run: Path, net: LabNet,
                 policies: dict[str, str] | None = None,
                 resolver: str | None = None) -> None:
        super().__init__(run, net, policies, _Relay(net), resolver)

    def _started(self, ctx: LabContext) -> None:
        """The Exim daemon (the adapter runs one exim -M per message):
        listening once its mainlog says so."""
        log = ctx.run / "log" / "mainlog"
        daemon = self.ns.spawn("exim-daemon", self.mta._argv(
            "-bdf", "-q1h"), log=ctx.run / "daemon.log")

        def listening() -> bool:
            if not daemon.alive():
                raise LabError("the Exim daemon exited; see "
                               f"{ctx.run / 'daemon.log'} and {log}")
            return log.exists() and b"daemon started" in log.read_bytes()
        wait_for(listening, 15, f"exim daemon (see {log})")

    def hooks(self) -> dict[str, str]:
        assert self.mta.ctx and self.mta.home and self.mta.bin
        enter = " ".join(shlex.quote(a) for a in self.ns.enter_argv())
        exim = " ".join(shlex.quote(str(a)) for a in self.mta._argv())
        run = self.mta.ctx.run
        out = {}
        for name, text in (("flush", FLUSH_SH), ("expire", EXPIRE_SH)):
            script = self.run / f"{name}.sh"
            script.write_text(text.format(
                enter=enter, exim=exim,
                log=shlex.quote(str(run / "log" / "mainlog")),
                conf=shlex.quote(str(run / "exim.conf"))))
            script.chmod(0o755)
            out[name] = shlex.quote(str(script))
        return out
