"""The simulated Internet above a lab under --zone-parent (apex.py,
docs/internet-mode.md): the zones above the lab apex (the root, `net.`,
`example.net.` for `lab.example.net.`), their own name server and a
validating resolver, in another network namespace than the lab's.

  the Internet namespace   the SUT's end of an exposed lab's link (the
                           namespace `--expose veth` makes, or the one
                           `--expose netns:PATH` names): there the lab adds
                           the addresses below and starts
  the Internet's NSD       LabNet.inet_nsd (10.25.255.253): the root and
                           every zone above the apex, one name server
                           `sim-ns.<tld>.`, with the apex's NS, glue and DS
                           in the apex's parent, as an operator publishes
                           them;
  the Internet's resolver  LabNet.inet_resolver (10.25.255.254): Unbound,
                           trusting the simulated root's DS, its root hints
                           at the Internet's NSD: what a "cloud" sender in
                           that namespace uses; its log (inet-unbound.log)
                           has a line per question it was asked.

The lab's NSD then serves only the apex and below (also on LabNet.lab_nsd,
10.25.0.1, routed to the lab), and the lab's own Unbound starts from the
same root hints: every answer under the apex is trusted through the other
namespace.  Before the lab's resolver starts, check_parent_ds() asks the
Internet's resolver for the apex's DS and refuses a parent whose DS does
not match the lab's key (docs/internet-mode.md, `serve` step 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import apex
from ..errors import LabError
from ..labnet import LabNet
from ..netns import LabNamespace, resolv_conf_text
from ..proc import Tracked
from . import dnsd
from .dnskeys import ZoneKey
from .dnsq import query_in
from .zonebuild import NSD_ADDR, BuiltUniverse, Top
from .zonespec import Fault

if TYPE_CHECKING:
    from ..expose import Exposure

INET_NSD = "inet-nsd"
INET_UNBOUND = "inet-unbound"


@dataclass
class Internet:
    """Where the simulated Internet lives and what it publishes."""

    netns: str                  # the Internet namespace's file
    interface: str              # its end of the link to the lab
    net: LabNet
    apex_faults: tuple[Fault, ...] = ()   # ds-mismatch: a wrong parent DS
    nsd: Tracked | None = None
    unbound: Tracked | None = None

    @classmethod
    def for_exposure(cls, exp: "Exposure",
                     apex_faults: tuple[Fault, ...] = ()) -> "Internet":
        """The Internet at the SUT's end of EXP's link (set up already)."""
        if exp.mode == "bridge" or not exp.target or not exp.peer_if:
            raise LabError("--zone-parent needs --expose veth or netns:PATH "
                           "(the simulated Internet lives at the SUT's end "
                           "of the link; a bridge port has no namespace of "
                           "the lab's)")
        return cls(exp.target, exp.peer_if, exp.net, apex_faults)

    @property
    def nsd_addr(self) -> str:
        return self.net.inet_nsd

    @property
    def resolver(self) -> str:
        return self.net.inet_resolver

    def top(self) -> Top:
        return Top(lab_addr=self.net.lab_nsd, inet_addr=self.nsd_addr,
                   apex_faults=self.apex_faults)

    def lab_nsd_addrs(self) -> tuple[str, ...]:
        """Where the lab's NSD listens: loopback, and where the Internet
        finds it."""
        return (NSD_ADDR, self.net.lab_nsd)

    @classmethod
    def attach(cls, exp: "Exposure",
               apex_faults: tuple[Fault, ...] = ()) -> "Internet | None":
        """Under --zone-parent, the Internet at EXP's SUT end, its
        addresses up (a namespace the lab made resolves through it);
        otherwise None."""
        if not apex.parent_mode():
            return None
        inet = cls.for_exposure(exp, apex_faults)
        inet.setup()
        if exp.sut_ns is not None:
            exp.sut_ns.set_resolv_conf(resolv_conf_text(inet.resolver))
        exp.facts["internet"] = inet.facts()
        return inet

    def setup(self) -> None:
        """The Internet's two addresses on its end of the link."""
        from ..expose import run_in_netns
        for a in (self.nsd_addr, self.resolver):
            run_in_netns(self.netns, ["ip", "addr", "add",
                                      f"{a}/{self.net.link4.prefixlen}",
                                      "dev", self.interface])

    def facts(self) -> dict[str, str]:
        """What `universe env` says of the Internet (the DS is added once
        the zones are built)."""
        return {"apex": apex.lab_apex(), "parent": apex.apex_parent(),
                "namespace": self.netns, "name_server": self.nsd_addr,
                "resolver": self.resolver}

    def start(self, ns: LabNamespace, u: BuiltUniverse, run: Path) -> None:
        """The Internet's NSD and resolver, in the Internet namespace
        (tracked by the lab namespace's supervisor: they stop with it),
        then the DS check."""
        self.nsd = dnsd.start_nsd(ns, u, run, u.internet_zones(),
                                  (self.nsd_addr,), INET_NSD, self.netns)
        self.unbound = dnsd.start_unbound(
            ns, u, run, (self.resolver, str(self.net.v4)),
            self.resolver, INET_UNBOUND, self.netns, ready_name=".",
            log_queries=True)
        check_parent_ds(ns, self.resolver, u.apex_key)

    def stop_nsd(self, ns: LabNamespace) -> None:
        """Stop the Internet's name server (a test: the lab's names must
        stop resolving)."""
        if self.nsd is not None:
            ns.sup.stop(self.nsd)
            self.nsd = None


def parent_ds(ns: LabNamespace, resolver: str) -> tuple[list[str], bool]:
    """The DS records the apex's parent publishes, as RESOLVER sees them
    (from the lab namespace): (their rdata, validated)."""
    a = query_in(ns, apex.lab_apex(), "DS", server=resolver)
    if a.rcode != "NOERROR":
        raise LabError(f"the Internet's resolver {resolver} answers "
                       f"{a.rcode} for the DS of {apex.lab_apex()}")
    found = []
    for rrset in a.answer:
        for line in rrset.splitlines():
            parts = line.split(None, 4)
            if len(parts) == 5 and parts[3] == "DS":
                found.append(_norm(parts[4]))
    return found, a.ad


def _norm(ds: str) -> str:
    tag, alg, dt, digest = ds.split(None, 3)
    return f"{tag} {alg} {dt} {digest.replace(' ', '').lower()}"


def check_parent_ds(ns: LabNamespace, resolver: str, key: ZoneKey) -> None:
    """Refuse to go on unless the apex's parent publishes, validated, a DS
    of KEY (the lab apex's key)."""
    want = _norm(key.ds_text())
    top = apex.lab_apex()
    found, ad = parent_ds(ns, resolver)
    if want in found and ad:
        return
    seen = "; ".join(found) if found else "no DS at all"
    raise LabError(f"the parent {apex.apex_parent()} publishes for {top} "
                   f"{seen}{'' if ad or not found else ' (not validated)'}"
                   f", but the lab's key for {top} is DS {want}: publish "
                   f"`{top} IN DS {want}` at the parent (asked the "
                   f"Internet's resolver {resolver})")
