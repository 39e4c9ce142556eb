"""A real MTA as a black box ("the appliance") in its own network namespace,
for the black-box tests and published results: the lab reaches it only
through `--expose netns:PATH` and grades it only through `smtp://`.

PostfixAppliance: Debian's Postfix, configured as a vendor would set up a
relay for the lab (docs/remote.md, "What the SUT needs"): the lab resolver
in resolv.conf, DANE on, mail relayed for the lab's range, bounces to the
envelope sender by SMTP.  It keeps the DANE settings of the in-namespace
`postfix` sender (adapters/postfix.py) so the two sets of verdicts compare;
unlike it, it delivers at once on submission and retries on its own
schedule (once an hour here), and offers the vendor hooks:

  flush   nsenter ... postqueue -f
  expire  a script: the queue ids of the given Message-IDs from the
          appliance's maillog, then postsuper -e
  reload  SIGHUP to the master (smtp(8) caches TLSA records), returning
          once the master has logged the reload
"""
from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Generic, Self, TypeVar

from .adapters.base import Adapter, LabContext
from .adapters.postfix import PostfixAdapter
from .labnet import LabNet
from .netns import LabNamespace

APPLIANCE_CF = """
# -- the appliance: a relay for the lab, bounces by SMTP
inet_interfaces = all
mydestination =
local_recipient_maps =
mynetworks = 127.0.0.0/8 {v4} [{v6net}]/{v6len}
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
defer_transports =
"""

RELOAD_SH = """#!/bin/sh
# reload hook: SIGHUP to the master; returns once it has logged the reload
log={log}
mark=$(stat -c %s "$log")
kill -HUP {pid} || exit 1
for i in $(seq 100); do
  tail -c +$((mark + 1)) "$log" | grep -q 'postfix/master.*: reload' && exit 0
  sleep 0.1
done
echo "no reload line in $log after 10 s" >&2
exit 1
"""

SMTPD = "smtp      inet  n       -       n       -       -       smtpd\n"

EXPIRE_SH = """#!/bin/sh
# expire hook: Message-IDs in, `postsuper -e QID` for each
set -e
for mid in "$@"; do
  qid=$(sed -n "s/.*postfix\\/cleanup\\[[0-9]*\\]: \\([0-9A-Za-z]*\\): \
message-id=<$mid>.*/\\1/p" {log} | tail -1)
  [ -n "$qid" ] || {{ echo "no queue id for $mid" >&2; exit 1; }}
  {enter} /usr/sbin/postsuper -e "$qid"
done
"""


def override(main_cf: str, extra: str) -> str:
    """MAIN_CF with EXTRA's settings in place of its own: no parameter is
    set twice.  (A parameter set twice makes every Postfix process warn
    at start-up; after a reload all of them start at once, and their
    warnings overflow the logging socket, whose queue holds 10 datagrams
    in a fresh network namespace (net.unix.max_dgram_qlen): postlogd,
    warning too, then blocks on its own socket, and every process that
    logs, smtp(8) included, blocks behind it.  No delivery happened after
    the reload: the g35 results of docs/results/postfix-blackbox.json.)"""
    keys = {ln.split("=", 1)[0].strip() for ln in extra.splitlines()
            if "=" in ln and not ln.lstrip().startswith("#")}
    kept = [ln for ln in main_cf.splitlines()
            if ln.split("=", 1)[0].strip() not in keys
            or ln.lstrip().startswith("#") or "=" not in ln]
    return "\n".join(kept) + "\n" + extra


class _Relay(PostfixAdapter):
    """The postfix adapter's instance with the appliance's settings."""

    def __init__(self, net: LabNet) -> None:
        super().__init__("postfix-appliance", "dane")
        self.net = net

    def _write_config(self) -> None:
        super()._write_config()
        assert self.ctx
        conf = self.ctx.run / "conf"
        main = conf / "main.cf"
        main.write_text(override(main.read_text(), APPLIANCE_CF.format(
            v4=self.net.v4, v6net=self.net.v6.network_address,
            v6len=self.net.v6.prefixlen)))
        with (conf / "master.cf").open("a") as f:
            f.write(SMTPD)
        old = time.time() - 60          # as the adapter does: no re-reads
        for cf in (main, conf / "master.cf"):
            os.utime(cf, (old, old))


M = TypeVar("M", bound=Adapter)


class Appliance(Generic[M]):
    """An MTA (MTA, an adapter that relays for the lab) in a namespace of
    its own, the system under test of a black-box run.  Use a subclass as
    a context manager; then hand `netns_path` to --expose netns: and
    `hooks` to the smtp sender."""

    def __init__(self, run: Path, net: LabNet,
                 policies: dict[str, str] | None, mta: M,
                 resolver: str | None = None) -> None:
        """RESOLVER: the one the MTA asks (default the lab's; under
        --zone-parent a "cloud" asks the simulated Internet's,
        LabNet.inet_resolver)."""
        self.run = Path(run).resolve()
        self.net = net
        self.policies = policies or {}
        self.resolver = resolver or net.infra.resolver
        self.ns = LabNamespace(self.run / "ns", nameserver=self.resolver)
        self.mta = mta

    # the MTA's folder in the run folder
    folder = "mta"

    def __enter__(self) -> Self:
        """Open the namespace, start the MTA (then _started()); on any
        failure close everything again."""
        self.ns.open()
        try:
            ctx = LabContext(self.ns, self.run / self.folder,
                             self.resolver, Path("/dev/null"),
                             Path("/dev/null"), self.policies)
            self.mta.start(ctx)
            self._started(ctx)
        except BaseException:
            self.close()
            raise
        return self

    def _started(self, ctx: LabContext) -> None:
        """What the MTA needs beyond its adapter's start (a daemon)."""

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.mta.stop()
        self.ns.close()

    @property
    def netns_path(self) -> str:
        assert self.ns.holder
        return f"/proc/{self.ns.holder.pid}/ns/net"

    @property
    def url(self) -> str:
        return f"smtp://{self.net.sut(0)[0]}:25"


class PostfixAppliance(Appliance[_Relay]):
    """Postfix in a namespace of its own."""

    folder = "postfix"

    def __init__(self, run: Path, net: LabNet,
                 policies: dict[str, str] | None = None,
                 resolver: str | None = None) -> None:
        super().__init__(run, net, policies, _Relay(net), resolver)

    def hooks(self) -> dict[str, str]:
        enter = " ".join(shlex.quote(a) for a in self.ns.enter_argv())
        script = self.run / "expire.sh"
        script.write_text(EXPIRE_SH.format(
            log=shlex.quote(str(self.run / "postfix" / "maillog")),
            enter=enter))
        script.chmod(0o755)
        assert self.mta.master
        reload = self.run / "reload.sh"
        reload.write_text(RELOAD_SH.format(
            log=shlex.quote(str(self.run / "postfix" / "maillog")),
            pid=self.mta.master.pid))
        reload.chmod(0o755)
        return {"flush": f"{enter} /usr/sbin/postqueue -f",
                "expire": shlex.quote(str(script)),
                "reload": shlex.quote(str(reload))}
