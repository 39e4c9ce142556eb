"""An exposed lab: routable private addresses for a sender under test (SUT)
that runs in another network stack (`--expose MODE`, docs/remote.md).

Modes:
  veth           the lab makes a second namespace for the SUT (its path is
                 /proc/PID/ns/net: podman `--network ns:PATH`, nsenter) and
                 a veth pair into it;
  netns:PATH     a veth pair into the existing network namespace PATH;
  bridge:NAME[@PATH]
                 a veth pair whose far end is a port of the Linux bridge
                 NAME (in the namespace PATH; without it, the namespace
                 this program runs in) where a VM's tap device or a
                 container network is attached; the far end gets no
                 address: the SUT on the bridge takes one handed out here.

Inside the lab namespace the whole range is local (as 127.0.0.0/8 is), in
the main routing table so that the link's /24 stays on the veth; fake-mx's
catch-all sees every port-25 connection into the range.  The SUT gets an
address on the link and one route to the range through the lab: no default
route, no NAT, no forwarding: nothing leaves the lab.

The lab never puts an address of the range on the namespace this program
runs in (the host's): the modes refuse it as a target.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .apex import bare, sender_domain
from .errors import LabError
from .labnet import LabNet
from .netns import LabNamespace, netns_id

LAB_IF = "dlab0"


def own_netns() -> str | None:
    return netns_id(os.getpid())


def netns_of_path(path: str) -> str:
    """The namespace id ('net:[N]') of a namespace file."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise LabError(f"network namespace {path}: {e.strerror}") from e
    return f"net:[{st.st_ino}]"


def run_in_netns(ns_path: str, argv: list[str]) -> None:
    """ARGV (ip commands) in the network namespace NS_PATH; LabError with
    its stderr when it fails."""
    import subprocess
    cp = subprocess.run(["nsenter", f"--net={ns_path}", "--", *argv],
                        capture_output=True, timeout=30,
                        stdin=subprocess.DEVNULL)
    if cp.returncode != 0:
        raise LabError(f"{' '.join(argv)} in {ns_path} failed: "
                       f"{cp.stderr.decode(errors='replace').strip()}")


@dataclass
class Exposure:
    mode: str                              # veth | netns | bridge
    net: LabNet
    target: str = ""                       # netns path (netns/bridge)
    bridge: str = ""
    sut_ns: LabNamespace | None = None     # made here (veth)
    lab: LabNamespace | None = None
    peer_if: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, net: LabNet) -> "Exposure":
        if text == "veth":
            return cls("veth", net)
        kind, _, arg = text.partition(":")
        if kind == "netns" and arg:
            return cls("netns", net, target=arg)
        if kind == "bridge" and arg:
            name, _, path = arg.partition("@")
            if not name or len(name) > 15:
                raise LabError(f"--expose {text}: bridge name 1-15 chars")
            return cls("bridge", net, target=path, bridge=name)
        raise LabError(f"--expose {text!r}: use veth, netns:PATH or "
                       "bridge:NAME[@NETNS-PATH]")

    # -- checks -------------------------------------------------------------
    def _guard(self, ns_path: str, what: str) -> None:
        """Refuse to give the range's addresses to our own namespace."""
        if netns_of_path(ns_path) == own_netns():
            raise LabError(f"{what} {ns_path} is the network namespace "
                           "danelab runs in (the host's): the lab never "
                           "puts its addresses there; give a container's "
                           "or a lab-made namespace")

    # -- set up / tear down ---------------------------------------------------
    def setup(self, lab: LabNamespace, run: Path) -> None:
        """Make the range local in LAB, then the link to the SUT."""
        if lab.mode != "root":
            raise LabError("--expose needs root (veth pairs)")
        assert lab.holder
        lab_path = f"/proc/{lab.holder.pid}/ns/net"
        self._guard(lab_path, "the lab namespace")
        self.lab = lab
        v4, v6 = str(self.net.v4), str(self.net.v6)
        for argv in (["ip", "route", "add", "local", v4, "dev", "lo",
                      "table", "main"],
                     ["ip", "-6", "route", "add", "local", v6, "dev", "lo",
                      "table", "main"],
                     ["sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1",
                      "net.ipv6.ip_nonlocal_bind=1",
                      "net.ipv4.ip_forward=0",
                      "net.ipv6.conf.all.forwarding=0"]):
            lab.run(argv, check=True)
        if self.mode == "veth":
            self.sut_ns = LabNamespace(run / "sut-ns",
                                       nameserver=self.net.infra.resolver)
            self.sut_ns.open()
            assert self.sut_ns.holder
            self.target = f"/proc/{self.sut_ns.holder.pid}/ns/net"
        target = self.target or f"/proc/{os.getpid()}/ns/net"
        if self.mode != "bridge":
            self._guard(target, "--expose namespace")
        gw4, gw6 = self.net.gateway()
        self.peer_if = f"dsut{lab.holder.pid % 100000}"
        lab.run(["ip", "link", "add", LAB_IF, "type", "veth", "peer",
                 "name", self.peer_if, "netns", target], check=True)
        for argv in (["ip", "addr", "add", f"{gw4}/24", "dev", LAB_IF],
                     ["ip", "addr", "add", f"{gw6}/64", "dev", LAB_IF,
                      "nodad"],
                     ["ip", "link", "set", LAB_IF, "up"]):
            lab.run(argv, check=True)
        s4, s6 = self.net.sut(0)
        if self.mode == "bridge":
            run_in_netns(target, ["ip", "link", "set", self.peer_if,
                                  "master", self.bridge, "up"])
        else:
            run_in_netns(target, ["ip", "link", "set", "lo", "up"])
            for argv in (["ip", "addr", "add", f"{s4}/24", "dev",
                          self.peer_if],
                         ["ip", "addr", "add", f"{s6}/64", "dev",
                          self.peer_if, "nodad"],
                         ["ip", "link", "set", self.peer_if, "up"],
                         ["ip", "route", "add", v4, "via", gw4],
                         ["ip", "-6", "route", "add", v6, "via", gw6]):
                run_in_netns(target, argv)
        self.facts = self._facts(target, s4, s6)
        (run / "exposure.json").write_text(json.dumps(self.facts, indent=1))

    def _facts(self, target: str, s4: str, s6: str) -> dict[str, Any]:
        gw4, gw6 = self.net.gateway()
        ia = self.net.infra
        f: dict[str, Any] = {
            "mode": self.mode, "range": self.net.describe(),
            "namespace": target if self.mode != "bridge" else None,
            "bridge": self.bridge or None,
            "link": {"ipv4": str(self.net.link4), "ipv6":
                     str(self.net.link6), "lab": [gw4, gw6],
                     "lab_interface": LAB_IF, "sut_interface": self.peer_if},
            "sut": {"ipv4": s4, "ipv6": s6,
                    "routes": [f"{self.net.v4} via {gw4}",
                               f"{self.net.v6} via {gw6}"],
                    "configured": self.mode != "bridge"},
            "resolver": ia.resolver,
            "sender_mailbox": {"domain": bare(sender_domain()),
                               "mx": ia.sender_mx},
            "report_sinks": {"mailto_mx": ia.sink_mx, "https": ia.https},
        }
        return f

    def close(self) -> None:
        """Remove the link (its far end goes with it) and the SUT
        namespace the lab made; the lab namespace's end dies with it."""
        if self.lab and self.lab.holder:
            self.lab.run(["ip", "link", "del", LAB_IF])
        if self.sut_ns:
            self.sut_ns.close()
            self.sut_ns = None
        self.lab = None


def range_on_host(net: LabNet) -> list[str]:
    """Addresses or routes of NET's range in the namespace this program
    runs in (the host's): [] when there are none, as there must be."""
    import ipaddress
    import subprocess
    found = []
    ranges: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] \
        = [("-4", net.v4), ("-6", net.v6)]
    for fam, rng in ranges:
        for what in (["addr", "show"], ["route", "show", "table", "all"]):
            out = subprocess.run(["ip", fam, "-o", *what], capture_output=True,
                                 text=True, timeout=10).stdout
            for line in out.splitlines():
                for word in line.split():
                    try:
                        n = ipaddress.ip_network(word, strict=False)
                    except ValueError:
                        continue
                    if isinstance(n, type(rng)) and \
                            n.overlaps(rng):  # type: ignore[arg-type]
                        found.append(line.strip())
                        break
    return found
