"""What the lab resolver says about each scenario's names, asked the way a
sender asks: the MX RRset, each host's address, and its TLSA RRset at
`_25._tcp.<host>` (and at `_25._tcp.<alias>` for every CNAME alias of the
host, which RFC 7672 §2.2.3 tries second).  The grader uses the TLSA records
found here, not the ones the scenario file meant to publish.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from .dns.dnsq import Answer, query_in
from .dns.zonespec import absolute
from .labplan import HostPlan, LabPlan
from .netns import LabNamespace
from .scenario import Scenario

PARALLEL = 16        # scenarios probed at once


def status(a: Answer, rtype: str) -> str:
    """secure | insecure | bogus, with -empty when no RRset of RTYPE came."""
    if a.status == "bogus":
        return "bogus"
    has = any(f" {rtype} " in line for line in a.answer)
    return a.status if has else f"{a.status}-empty"


def describe(a: Answer, rtype: str) -> dict[str, Any]:
    return {"status": status(a, rtype), "rcode": a.rcode,
            "answer": a.answer, "ede": [t for _, t in a.ede]}


def tlsa_rdata(a: Answer) -> list[str]:
    """The TLSA records of an answer, as "u s m hex" strings."""
    out = []
    for rrset in a.answer:
        for line in rrset.splitlines():
            f = line.split()
            if len(f) >= 8 and f[3] == "TLSA":
                out.append(" ".join(f[4:7] + ["".join(f[7:]).lower()]))
    return out


@dataclass
class HostDns:
    tlsa_status: str                   # of the first secure candidate
    tlsa: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    base: str = ""                     # the TLSA base domain (no dot)
    mx_status: str = ""                # the recipient domain's MX RRset
    addr_status: str = ""              # the host's address RRset(s)

    @property
    def references(self) -> list[str]:
        """The names a DANE-TA leaf may carry (RFC 7672 §3.2.2): the TLSA
        base domain first, then every other name TLSA was asked at."""
        names = [self.base] + [n.removeprefix("_25._tcp.").rstrip(".")
                               for n in self.asked]
        return list(dict.fromkeys(n.lower() for n in names if n))


def _aliases(plan: LabPlan, hp: HostPlan) -> list[str]:
    out = []
    for z in plan.zones:
        for r in z.records:
            if r.rtype.upper() == "CNAME" and \
                    absolute(r.rdata, z.name) == hp.fqdn:
                out.append(absolute(r.owner, z.name))
    return out


def _worst(statuses: list[str]) -> str:
    """bogus over insecure over secure (an -empty suffix dropped)."""
    plain = [s.removesuffix("-empty") for s in statuses]
    for s in ("bogus", "insecure"):
        if s in plain:
            return s
    return "secure" if plain else ""


def probe_host(ns: LabNamespace, plan: LabPlan, hp: HostPlan,
               mx_status: str = "") -> HostDns:
    detail = {"A": describe(query_in(ns, hp.fqdn, "A"), "A")}
    if hp.address6:
        detail["AAAA"] = describe(query_in(ns, hp.fqdn, "AAAA"), "AAAA")
    addr = _worst([detail[t]["status"] for t in ("A", "AAAA")
                   if t in detail])
    names = [f"_25._tcp.{hp.fqdn}"] + [f"_25._tcp.{a}"
                                       for a in _aliases(plan, hp)]
    first: HostDns | None = None
    for n in names:
        a = query_in(ns, n, "TLSA")
        detail[n] = describe(a, "TLSA")
        h = HostDns(status(a, "TLSA"), tlsa_rdata(a), names, detail,
                    n.removeprefix("_25._tcp.").rstrip("."), mx_status, addr)
        if first is None:
            first = h
        if h.tlsa_status == "secure":
            return h
    assert first is not None
    return first


def probe_scenario(ns: LabNamespace, plan: LabPlan, sc: Scenario
                   ) -> dict[str, Any]:
    """What the lab resolver says about scenario SC: {"MX": ..., "hosts":
    {name: HostDns}, "tlsa": {name: status}} (the last for readers of
    results.json)."""
    mx = describe(query_in(ns, sc.rcpt_domain, "MX"), "MX")
    hosts = {hp.name: probe_host(ns, plan, hp, mx["status"])
             for hp in plan.scenario_hosts(sc.id)}
    return {"MX": mx, "hosts": hosts,
            "tlsa": {n: h.tlsa_status for n, h in hosts.items()}}


def probe(ns: LabNamespace, plan: LabPlan, only: set[str] | None = None,
          warm: threading.Event | None = None
          ) -> dict[str, dict[str, Any]]:
    """probe_scenario() for every scenario of PLAN (or those in ONLY),
    PARALLEL at a time: each one's questions follow one another, as a
    sender's do, and the lab resolver answers many scenarios at once.

    WARM is set once all but a few scenarios are done (the lab resolver's
    cache then holds nearly everything a sender will ask; the last ones
    are those waiting for an answer that does not come), and in any case
    when this returns or fails."""
    scs = [sc for sc in plan.scenarios if only is None or sc.id in only]
    try:
        with ThreadPoolExecutor(PARALLEL, thread_name_prefix="probe") as ex:
            futs = [ex.submit(probe_scenario, ns, plan, sc) for sc in scs]
            if warm is not None:
                left = len(futs)
                for _ in as_completed(futs):
                    left -= 1
                    if left <= max(2, len(futs) // 50):
                        warm.set()
                        break
            return {sc.id: f.result() for sc, f in zip(scs, futs)}
    finally:
        if warm is not None:
            warm.set()


def as_json(d: dict[str, Any]) -> dict[str, Any]:
    """A probe() result with its HostDns made plain for results.json."""
    return {"MX": d["MX"], "tlsa": d["tlsa"],
            "hosts": {n: {"tlsa_status": h.tlsa_status, "tlsa": h.tlsa,
                          "detail": h.detail}
                      for n, h in d["hosts"].items()}}
