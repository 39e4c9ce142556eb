"""From selected scenarios to one lab plan: zones, certificates, MX host
addresses and fake-mx listeners, all in one universe.

Scenario number S (1-based, in the order given) owns the addresses
127.25.S.H (and 127.26.S-250.H past 250), H being the host's position, and
their IPv6 twins fd25::S:H: all of 127.25.S.0/24 and fd25::S:0/112 is its
range, declared host or not.  An exposed lab (a LabNet) maps the same S and
H one to one into its routable range (labnet.py).  A scenario with [sts]
also has its MTA-STS policy host `mta-sts.<domain>` at 127.44.S.1
(127.45.S-250.1 past 250), port 443, served by the lab's policy server
(sts_server; on loopback only, also in an exposed lab).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace

from .dns.zonespec import Fault, Record, ZoneSpec, is_below
from .errors import SpecError
from .apex import localize
from .labinfra import LabInfra, default_tlsrpt, make_infra, txt_rdata
from .labnet import LOOPBACK_INFRA, InfraAddrs, LabNet
from .pki import BUILTIN_CAS, SELF_SIGNED, WEBPKI_INT, CertSpec, Issued, \
    LabPKI, tlsa_data
from .scenario import HostDecl, Scenario, StsDecl, TlsaDecl, ZoneDecl

ADDR_RE = re.compile(r"\{addr:([A-Za-z0-9_.-]+)\}")


@dataclass
class HostPlan:
    scenario: str
    name: str
    fqdn: str
    address: str
    listener: str
    cert: Issued
    sni_certs: dict[str, Issued]
    tlsa: list[str]
    tlsa_owner: str
    decl: HostDecl
    address6: str | None = None
    cert6: Issued | None = None
    cert_also: list[Issued] = field(default_factory=list)  # other key types

    @property
    def listener6(self) -> str:
        return self.listener + "~v6"


STS_NOSNI_NAME = "www.sts-hosting.test"   # shown to a fetch without SNI


@dataclass
class StsPlan:
    """One scenario's MTA-STS policy host, as the policy server runs it."""
    scenario: str
    domain: str                 # the policy domain, no trailing dot
    fqdn: str                   # mta-sts.<domain>, no trailing dot
    address: str
    cert: Issued
    policy: str                 # the policy file's text
    fault: str
    decl: StsDecl
    nosni_cert: Issued | None = None   # fault sni-required

    def config(self) -> dict[str, object]:
        """This host's entry in the policy server's JSON configuration."""
        cfg: dict[str, object] = {
            "scenario": self.scenario, "name": self.fqdn,
            "address": self.address, "fault": self.fault,
            "policy": self.policy,
            "chain": str(self.cert.chain_file),
            "key": str(self.cert.key_file)}
        if self.nosni_cert is not None:
            cfg["nosni_chain"] = str(self.nosni_cert.chain_file)
            cfg["nosni_key"] = str(self.nosni_cert.key_file)
        return cfg


@dataclass
class LabPlan:
    scenarios: list[Scenario]
    zones: list[ZoneSpec]
    pki: LabPKI
    infra: LabInfra
    hosts: dict[tuple[str, str], HostPlan] = field(default_factory=dict)
    net: LabNet | None = None          # None: the loopback plan
    by_address: dict[str, HostPlan] = field(default_factory=dict)
    by_listener: dict[str, HostPlan] = field(default_factory=dict)
    sts: dict[str, StsPlan] = field(default_factory=dict)   # by scenario

    def scenario_hosts(self, sid: str) -> list[HostPlan]:
        return [h for (s, _), h in self.hosts.items() if s == sid]

    def declared_addresses(self, sid: str) -> set[str]:
        """Every address of the scenario's hosts, listening or not."""
        return {a for h in self.scenario_hosts(sid)
                for a in (h.address, h.address6) if a}

    def scenario_of_address(self, address: str) -> str | None:
        """The scenario whose address range holds ADDRESS, if any."""
        s_index = self.net.scenario_index(address) if self.net \
            else scenario_index(address)
        if s_index is None or not 1 <= s_index <= len(self.scenarios):
            return None
        return self.scenarios[s_index - 1].id

    @property
    def addrs(self) -> InfraAddrs:
        """The lab's own service addresses in this plan."""
        return self.net.infra if self.net else LOOPBACK_INFRA

    def host_address(self, s_index: int, h_index: int) -> str:
        return self.net.host(s_index, h_index) if self.net \
            else host_address(s_index, h_index)

    def host_address6(self, s_index: int, h_index: int) -> str:
        return self.net.host6(s_index, h_index) if self.net \
            else host_address6(s_index, h_index)


def host_address(s_index: int, h_index: int) -> str:
    block, s = divmod(s_index - 1, 250)
    return f"127.{25 + block}.{s + 1}.{h_index}"


def host_address6(s_index: int, h_index: int) -> str:
    """The IPv6 twin of host_address: fd25::S:H (on the lab's lo)."""
    return f"fd25::{s_index:x}:{h_index:x}"


def sts_address(s_index: int) -> str:
    """The address of scenario S's MTA-STS policy host."""
    block, s = divmod(s_index - 1, 250)
    return f"127.{44 + block}.{s + 1}.1"


def policy_pattern(sc: Scenario, name: str) -> str:
    """An [sts] mx entry as the policy file spells it: a relative name is
    made absolute (without a trailing dot); one ending in a dot is kept."""
    if name.endswith("."):
        return name
    return sc.fqdn(name).rstrip(".")


def policy_text(sc: Scenario, d: StsDecl) -> str:
    """The policy file the lab serves for D (RFC 8461 §3.2, CRLF lines)."""
    dom = sc.rcpt_domain.rstrip(".")
    if d.policy is not None:
        return d.policy.replace("{domain}", dom)
    lines = ["version: STSv1"]
    if d.mode:
        lines.append(f"mode: {d.mode}")
    mx = d.mx if d.mx is not None else [h.name for h in sc.hosts
                                        if h.mx is not None]
    lines += [f"mx: {policy_pattern(sc, p)}" for p in mx]
    lines.append(f"max_age: {d.max_age}")
    return "\r\n".join(lines) + "\r\n"


def _sts_plan(sc: Scenario, s_index: int, d: StsDecl, pki: LabPKI
              ) -> StsPlan:
    dom = sc.rcpt_domain.rstrip(".")
    fq = f"mta-sts.{dom}"
    if d.cert:
        cert = pki.issued[_cert_id(sc, d.cert)]
    else:
        cert = pki.issue(CertSpec(f"{sc.id}--mta-sts", [fq],
                                  issuer=WEBPKI_INT,
                                  where=f"{sc.path}: sts"))
    sp = StsPlan(sc.id, dom, fq, sts_address(s_index), cert,
                 policy_text(sc, d), d.fault, d)
    if d.fault == "sni-required":
        sp.nosni_cert = pki.issue(CertSpec("lab--sts-nosni",
                                           [STS_NOSNI_NAME],
                                           issuer=WEBPKI_INT))
    return sp


def scenario_index(address: str) -> int | None:
    """S when ADDRESS lies in scenario S's range (127.25.S.x, 127.26.x.x
    past 250, fd25::S:x), whatever the host part; None otherwise."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 4:
        a, b, c, _ = ip.packed
        if a != 127 or b < 25 or not 1 <= c <= 250:
            return None
        return (b - 25) * 250 + c
    w = [int.from_bytes(ip.packed[i:i + 2], "big") for i in range(0, 16, 2)]
    if w[0] != 0xfd25 or any(w[1:6]) or w[6] == 0:
        return None
    return w[6]


def _cert_id(sc: Scenario, name: str) -> str:
    return name if name in BUILTIN_CAS else f"{sc.id}--{name}"


def _issue_certs(sc: Scenario, pki: LabPKI) -> None:
    """The scenario's [[cert]]s with absolute names and run-wide ids
    ({domain} in a cn: the scenario domain, without the final dot)."""
    for c in sc.certs:
        pki.issue(replace(
            c, name=_cert_id(sc, c.name),
            names=[sc.fqdn(n).rstrip(".") for n in c.names],
            issuer=c.issuer if c.issuer == SELF_SIGNED
            else _cert_id(sc, c.issuer),
            chain=[_cert_id(sc, n) for n in c.chain]
            if c.chain is not None else None,
            cn=c.cn.replace("{domain}", sc.domain.rstrip("."))
            if c.cn else None))


def _tlsa_rdata(sc: Scenario, t: TlsaDecl, own: Issued, pki: LabPKI) -> str:
    if t.ref and _cert_id(sc, t.ref) in pki.issued:
        cert = pki.issued[_cert_id(sc, t.ref)].cert
        data = None
    elif t.ref:
        data = t.ref.lower()
    else:
        cert, data = own.cert, None
    if data is None:
        sel = t.selector if t.selector in (0, 1) else 1
        mt = t.mtype if t.mtype in (0, 1, 2) else 1
        data = tlsa_data(cert, sel, mt)
    if t.damaged:
        data = data[:-1] + ("0" if data[-1] != "0" else "1")
    return f"{t.usage} {t.selector} {t.mtype} {data}"


def _zone_of(name: str, zones: list[ZoneSpec]) -> ZoneSpec | None:
    best = None
    for z in zones:
        if is_below(name, z.name) and (best is None or
                                       len(z.name) > len(best.name)):
            best = z
    return best


def _zone_specs(sc: Scenario, decls: list[ZoneDecl],
                addrs: dict[str, str]) -> list[ZoneSpec]:
    out = []
    for i, zd in enumerate(decls):
        zname = sc.fqdn(zd.name)
        if not is_below(zname, sc.domain):
            raise SpecError(str(sc.path), f"zone[{i}].name",
                            f"{zname} is not inside {sc.domain}")
        recs = []
        for j, text in enumerate(zd.records):
            def sub(m: re.Match[str]) -> str:
                if m[1] not in addrs:
                    raise SpecError(str(sc.path), f"zone[{i}].records[{j}]",
                                    f"{{addr:{m[1]}}}: no host {m[1]!r}")
                return addrs[m[1]]
            text = text.replace("{domain}", sc.domain)
            owner, rtype, rdata = ADDR_RE.sub(sub, text).split(None, 2)
            recs.append(Record(owner, rtype, rdata))
        faults = [Fault(f["kind"], f.get("owner"), f.get("rtype"))
                  for f in zd.faults]
        out.append(ZoneSpec(zname, recs, zd.signed, zd.ds, zd.denial,
                            faults, where=str(sc.path)))
    return out


def _scenario_zones(sc: Scenario, s_index: int, pki: LabPKI,
                    plan: LabPlan, decls: list[ZoneDecl],
                    sts: StsDecl | None = None) -> list[ZoneSpec]:
    addrs = {h.name: plan.host_address(s_index, k + 1)
             for k, h in enumerate(sc.hosts)}
    zones = _zone_specs(sc, decls, addrs)
    apex = next(z for z in zones if z.name == sc.rcpt_domain)
    for text in (sc.tlsrpt_records if sc.tlsrpt_records is not None
                 else [default_tlsrpt()]):
        apex.records.append(Record("_smtp._tls", "TXT",
                                   txt_rdata(localize(text))))
    if sts is not None:
        for text in sts.txt:
            apex.records.append(Record("_mta-sts", "TXT", txt_rdata(text)))
        if sts.host:
            apex.records.append(Record(f"mta-sts.{sc.rcpt_domain}", "A",
                                       sts_address(s_index)))
    for k, h in enumerate(sc.hosts):
        fq = sc.fqdn(h.name)
        where = f"host[{k}]"
        z = _zone_of(fq, zones)
        if z is None:
            raise SpecError(str(sc.path), f"{where}.name",
                            f"{fq} lies in none of the scenario's zones")
        if h.mx is not None:
            apex.records.append(Record("@", "MX", f"{h.mx} {fq}"))
        if h.address:
            z.records.append(Record(fq, "A", addrs[h.name]))
            if h.ipv6:
                z.records.append(Record(fq, "AAAA",
                                        plan.host_address6(s_index, k + 1)))
        hp = plan.hosts[(sc.id, h.name)]
        if h.tlsa:
            owner = sc.fqdn(h.tlsa_owner) if h.tlsa_owner \
                else f"_25._tcp.{fq}"
            tz = _zone_of(owner, zones)
            if tz is None:
                raise SpecError(str(sc.path), f"{where}.tlsa_owner",
                                f"{owner} lies in none of the scenario's "
                                "zones")
            for t in hp.tlsa:
                tz.records.append(Record(owner, "TLSA", t))
    return zones


def make_plan(scenarios: list[Scenario], fixed: bool = False,
              pki: LabPKI | None = None,
              infra: LabInfra | None = None,
              net: LabNet | None = None) -> LabPlan:
    """Plan one universe for SCENARIOS (with their [fix] zones if FIXED).
    Pass the PKI and infra of an earlier plan to keep the same keys; NET
    for an exposed lab's addresses (None: loopback)."""
    pki = pki or LabPKI()
    pki.expect_rsa([c.key for sc in scenarios for c in sc.certs])
    infra = infra or make_infra(pki)        # its DKIM key is being made
    plan = LabPlan(scenarios, [], pki, infra, net=net)
    for s_index, sc in enumerate(scenarios, 1):
        _issue_certs(sc, pki)
        for k, h in enumerate(sc.hosts):
            fq = sc.fqdn(h.name)
            cid = _cert_id(sc, h.cert) if h.cert else f"{sc.id}--{h.name}"
            if not h.cert:
                pki.issue(CertSpec(cid, [fq.rstrip(".")],
                                   where=f"{sc.path}: host[{k}]"))
            own = pki.issued[cid]
            sni = {sc.fqdn(n).rstrip("."): pki.issued[_cert_id(sc, c)]
                   for n, c in h.sni_certs.items()}
            tlsa = [_tlsa_rdata(sc, t, own, pki) for t in h.tlsa]
            owner = sc.fqdn(h.tlsa_owner) if h.tlsa_owner \
                else f"_25._tcp.{fq}"
            hp = HostPlan(sc.id, h.name, fq,
                          plan.host_address(s_index, k + 1),
                          f"{sc.id}:{h.name}", own, sni, tlsa, owner, h)
            hp.cert_also = [pki.issued[_cert_id(sc, c)] for c in h.cert_also]
            if h.ipv6:
                hp.address6 = plan.host_address6(s_index, k + 1)
                hp.cert6 = pki.issued[_cert_id(sc, h.cert_v6)] \
                    if h.cert_v6 else own
                plan.by_address[hp.address6] = hp
                plan.by_listener[hp.listener6] = hp
            plan.hosts[(sc.id, h.name)] = hp
            plan.by_address[hp.address] = hp
            plan.by_listener[hp.listener] = hp
        sts = sc.fix_sts if fixed and sc.fix_sts is not None else sc.sts
        if sts is not None:
            plan.sts[sc.id] = _sts_plan(sc, s_index, sts, pki)
        decls = sc.zones
        if fixed and sc.fix_zones is not None:
            by_name = {z.name: z for z in sc.zones}
            for z in sc.fix_zones:
                by_name[z.name] = z
            decls = list(by_name.values())
        plan.zones += _scenario_zones(sc, s_index, pki, plan, decls, sts)
    # last: they hold the DKIM key, made meanwhile
    plan.zones[:0] = infra.zones(net.infra if net else LOOPBACK_INFRA)
    return plan
