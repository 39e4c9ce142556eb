"""A live DNS universe: zones built on disk, served and validated in a lab
namespace.  This is the object the rest of the lab (and the CLI) holds.

    with LabNamespace(run) as ns:
        u = Universe(specs, run, ns)
        u.start()            # build, NSD, Unbound
        ...                  # u.rebuild(new_specs) after a change
    # leaving the namespace stops NSD and Unbound

With INET (an internet.Internet: --zone-parent) the zones above the lab
apex are served by the Internet's NSD in another namespace, the Internet's
resolver checks the parent's DS, and only then does the lab's Unbound
start (from the same root hints).
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

from ..errors import DaemonError
from ..netns import LabNamespace
from ..proc import READY_LIMIT, Tracked, wait_until
from . import dnsd
from .dnsq import query_in
from .internet import Internet
from .zonebuild import NSD_ADDR, BuiltUniverse, build_universe
from .zonespec import ZoneSpec


class Universe:
    def __init__(self, specs: list[ZoneSpec], run: Path,
                 ns: LabNamespace,
                 exposed: tuple[str, str] | None = None,
                 inet: Internet | None = None) -> None:
        """EXPOSED: (address, IPv4 range) where Unbound also answers in an
        exposed lab; INET: the simulated Internet above the apex."""
        self.specs = specs
        self.inet = inet
        self.exposed = exposed
        self.run = Path(run)
        self.ns = ns
        self.built: BuiltUniverse | None = None
        self.nsd: Tracked | None = None
        self.unbound: Tracked | None = None
        self.timings: dict[str, float] = {}

    @property
    def trust_anchor(self) -> Path:
        assert self.built
        return self.built.trust_anchor

    def build(self) -> BuiltUniverse:
        t = time.monotonic()
        self.built = build_universe(self.specs, self.run / "zones",
                                    top=self.inet.top() if self.inet
                                    else None)
        self.timings["build"] = time.monotonic() - t
        return self.built

    def start(self) -> None:
        """Build (if not yet) and start NSD, then Unbound; wait for both."""
        if not self.built:
            self.build()
        assert self.built
        t = time.monotonic()
        if self.inet:
            self.nsd = dnsd.start_nsd(self.ns, self.built, self.run,
                                      self.built.lab_zones(),
                                      self.inet.lab_nsd_addrs())
            self.inet.start(self.ns, self.built, self.run)
        else:
            self.nsd = dnsd.start_nsd(self.ns, self.built, self.run)
        self.timings["nsd"] = time.monotonic() - t
        t = time.monotonic()
        self.unbound = dnsd.start_unbound(self.ns, self.built, self.run,
                                          self.exposed)
        self.timings["unbound"] = time.monotonic() - t

    def rebuild(self, specs: list[ZoneSpec]) -> list[str]:
        """Build the zones of SPECS that changed, with the same keys (the
        others' files stay as they are), make NSD load them and Unbound
        forget what it knew of them.  Returns the changed zones' names."""
        assert self.built and self.nsd
        t = time.monotonic()
        self.specs = specs
        self.built = build_universe(specs, self.run / "zones",
                                    previous=self.built)
        changed = self.built.changed
        self.timings["rebuild"] = time.monotonic() - t
        if not changed:
            return changed
        self.nsd.popen.send_signal(signal.SIGHUP)
        want = {z: self.built.serials[z] for z in changed}
        if not wait_until(lambda: all(self._nsd_serial(z) == s
                                      for z, s in want.items()),
                          READY_LIMIT):
            raise DaemonError("NSD did not load the rebuilt zones; see "
                              f"{self.run / 'nsd.log'}")
        dnsd.unbound_flush(self.ns, self.run, changed, self.nsd_addrs)
        if self.inet and self.inet.unbound:
            dnsd.unbound_flush(self.ns, self.run, changed, self.nsd_addrs,
                               name="inet-unbound")
        return changed

    @property
    def nsd_addrs(self) -> tuple[str, ...]:
        return self.inet.lab_nsd_addrs() if self.inet else (NSD_ADDR,)

    def _nsd_serial(self, zone: str) -> int | None:
        a = query_in(self.ns, zone, "SOA", server=NSD_ADDR)
        for line in a.answer:
            parts = line.split()
            if len(parts) >= 7 and parts[3] == "SOA":
                return int(parts[6])
        return None
