"""A live DNS universe: zones built on disk, served and validated in a lab
namespace.  This is the object the rest of the lab (and the CLI) holds.

    with LabNamespace(run) as ns:
        u = Universe(specs, run, ns)
        u.start()            # build, NSD, Unbound
        ...                  # u.rebuild(new_specs) after a change
    # leaving the namespace stops NSD and Unbound
"""
from __future__ import annotations

import signal
import time
from pathlib import Path

from ..errors import DaemonError
from ..netns import LabNamespace
from ..proc import Tracked, wait_until
from . import dnsd
from .dnsq import query_in
from .zonebuild import NSD_ADDR, BuiltUniverse, build_universe
from .zonespec import ZoneSpec


class Universe:
    def __init__(self, specs: list[ZoneSpec], run: Path,
                 ns: LabNamespace,
                 exposed: tuple[str, str] | None = None) -> None:
        """EXPOSED: (address, IPv4 range) where Unbound also answers in an
        exposed lab."""
        self.specs = specs
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
        self.built = build_universe(self.specs, self.run / "zones")
        self.timings["build"] = time.monotonic() - t
        return self.built

    def start(self) -> None:
        """Build (if not yet) and start NSD, then Unbound; wait for both."""
        if not self.built:
            self.build()
        assert self.built
        t = time.monotonic()
        self.nsd = dnsd.start_nsd(self.ns, self.built, self.run)
        self.timings["nsd"] = time.monotonic() - t
        t = time.monotonic()
        self.unbound = dnsd.start_unbound(self.ns, self.built, self.run,
                                          self.exposed)
        self.timings["unbound"] = time.monotonic() - t

    def rebuild(self, specs: list[ZoneSpec]) -> None:
        """Rebuild every zone from SPECS with the same keys, make NSD load
        them and Unbound forget its cache."""
        assert self.built and self.nsd
        keys = {n: bz.key for n, bz in self.built.zones.items() if bz.key}
        old = self.built.serial
        self.specs = specs
        time.sleep(max(0.0, old + 1 - time.time()))   # a new SOA serial
        self.built = build_universe(specs, self.run / "zones", keys=keys)
        self.nsd.popen.send_signal(signal.SIGHUP)
        serial = self.built.serial
        if not wait_until(lambda: self._nsd_serial() == serial, 10):
            raise DaemonError("NSD did not load the rebuilt zones; see "
                              f"{self.run / 'nsd.log'}")
        dnsd.unbound_flush(self.ns, self.run)

    def _nsd_serial(self) -> int | None:
        a = query_in(self.ns, "test.", "SOA", server=NSD_ADDR)
        for line in a.answer:
            parts = line.split()
            if len(parts) >= 7 and parts[3] == "SOA":
                return int(parts[6])
        return None
