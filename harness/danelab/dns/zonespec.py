"""The declarative description of a DNS universe, and its validation.

A universe is a set of zones below the lab apex, `test.` by default (the
root `.` and the apex are always there and need not be declared; apex.py).
Each zone lists its records and says whether it is signed, whether its
parent publishes a DS for it, which denial (NSEC or NSEC3) it uses, and
which faults to apply.  validate_universe() checks all of
it before anything is built or started, and raises SpecError naming the zone,
the field and the reason.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from ..apex import lab_apex
from ..errors import SpecError

# Faults on one RRset (owner + type) of a signed zone.
RRSET_FAULTS = {
    "rrsig-expired": "RRSIG whose expiration is in the past",
    "rrsig-not-yet-valid": "RRSIG whose inception is in the future",
    "rrsig-corrupted": "RRSIG with a damaged signature",
    "rrsig-unknown-key": "RRSIG made by a key not in the DNSKEY RRset",
    "rrsig-missing": "no RRSIG at all",
}
# Faults on a whole zone.
ZONE_FAULTS = {
    "ds-mismatch": "the parent's DS matches no DNSKEY of the zone",
    "denial-broken": "every NSEC/NSEC3 signature is damaged",
    "denial-missing": "the NSEC/NSEC3 chain is removed",
}
FAULT_KINDS = {**RRSET_FAULTS, **ZONE_FAULTS}


@dataclass
class Record:
    owner: str            # relative to the zone ("mx1", "@") or absolute
    rtype: str            # "MX", "TLSA", ...
    rdata: str            # presentation format, names relative to the zone ok
    ttl: int = 300


@dataclass
class Fault:
    kind: str
    owner: str | None = None   # RRset faults: the owner name
    rtype: str | None = None   # RRset faults: the type


@dataclass
class ZoneSpec:
    name: str
    records: list[Record] = field(default_factory=list)
    signed: bool = True
    ds_in_parent: bool = True    # a signed zone without DS is an island
    denial: str = "nsec"         # nsec | nsec3
    faults: list[Fault] = field(default_factory=list)
    where: str = ""              # where it came from (a scenario file)

    def label(self) -> str:
        return f"{self.where}: zone {self.name}" if self.where \
            else f"zone {self.name}"


def absolute(owner: str, zone: str) -> str:
    """OWNER (relative to ZONE, or absolute) as an absolute lowercase name."""
    o = owner.strip().lower()
    if o in ("@", ""):
        return zone
    if o.endswith("."):
        return o
    return o + "." + zone if zone != "." else o + "."


def is_below(name: str, zone: str) -> bool:
    """True when NAME equals ZONE or lies below it."""
    return zone == "." or name == zone or name.endswith("." + zone)


def _check_name(where: str, fld: str, name: str) -> str:
    try:
        n = dns.name.from_text(name)
    except dns.exception.DNSException as e:
        raise SpecError(where, fld, f"{name!r} is not a domain name ({e})")
    return n.to_text().lower()


class _BadRecord(Exception):
    """A record that does not parse: (field suffix, reason)."""


@functools.lru_cache(maxsize=65536)
def _parse_record(zone: str, owner: str, rtype: str, rdata: str) -> str:
    """The record's absolute owner name; _BadRecord if it does not parse.
    Cached: a rebuild checks the same records again."""
    try:
        n = dns.name.from_text(absolute(owner, zone))
    except dns.exception.DNSException as e:
        raise _BadRecord(".owner", f"{absolute(owner, zone)!r} is not a "
                         f"domain name ({e})")
    name = n.to_text().lower()
    if not is_below(name, zone):
        raise _BadRecord(".owner", f"{name} is not inside zone {zone}")
    try:
        rt = dns.rdatatype.from_text(rtype)
    except dns.exception.DNSException:
        raise _BadRecord(".rtype", f"unknown type {rtype!r}")
    if rt in (dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3,
              dns.rdatatype.DNSKEY, dns.rdatatype.SOA, dns.rdatatype.DS):
        raise _BadRecord(".rtype", f"{rtype} records are made by the "
                         "universe builder; declare faults instead")
    try:
        dns.rdata.from_text(dns.rdataclass.IN, rt, rdata,
                            origin=dns.name.from_text(zone))
    except (dns.exception.DNSException, ValueError) as e:
        raise _BadRecord(".rdata", f"{rtype} {rdata!r} does not parse: {e}")
    return name


def _check_record(z: ZoneSpec, i: int, r: Record) -> str:
    fld = f"records[{i}]"
    try:
        owner = _parse_record(z.name, r.owner, r.rtype, r.rdata)
    except _BadRecord as e:
        raise SpecError(z.label(), fld + e.args[0], e.args[1])
    if not 0 <= r.ttl < 2**31:
        raise SpecError(z.label(), f"{fld}.ttl", f"{r.ttl} is out of range")
    return owner


def _child_zone(owner: str, zone: str, names: set[str]) -> str | None:
    """The zone of NAMES, below ZONE, that OWNER (in ZONE) lies in."""
    while owner not in (zone, "."):
        if owner in names:
            return owner
        owner = owner.split(".", 1)[1] or "."
    return None


def validate_universe(zones: list[ZoneSpec]) -> None:
    """Check every zone and the universe as a whole; raise SpecError."""
    seen: dict[str, ZoneSpec] = {}
    for z in zones:
        z.name = _check_name(z.where or "universe", "name",
                             z.name if z.name.endswith(".") else z.name + ".")
        if z.name in seen:
            raise SpecError(z.label(), "name", "declared twice "
                            f"(also in {seen[z.name].where or 'universe'})")
        top = lab_apex()
        if not is_below(z.name, top) or z.name == top:
            raise SpecError(z.label(), "name",
                            f"lab zones must lie below {top}")
        if z.denial not in ("nsec", "nsec3"):
            raise SpecError(z.label(), "denial",
                            f"{z.denial!r}: must be nsec or nsec3")
        seen[z.name] = z
    owners: dict[str, dict[str, str]] = {}   # name -> {rtype: zone}
    names = set(seen)
    for z in zones:
        for i, r in enumerate(z.records):
            owner = _check_record(z, i, r)
            c = _child_zone(owner, z.name, names)
            if c is not None:
                raise SpecError(z.label(), f"records[{i}].owner",
                                f"{owner} lies in child zone {c}")
            owners.setdefault(owner, {})[r.rtype.upper()] = z.name
        _check_faults(z)
    for name, types in owners.items():
        if "CNAME" in types and len(types) > 1:
            raise SpecError(f"zone {types['CNAME']}", "records",
                            f"{name} has a CNAME and other data "
                            f"({', '.join(sorted(types))})")
    _check_tlsa_hosts(zones, owners)
    _check_cname_loops(zones)


def _check_faults(z: ZoneSpec) -> None:
    rrsets = {(absolute(r.owner, z.name), r.rtype.upper()) for r in z.records}
    rrsets |= {(z.name, "SOA"), (z.name, "NS"), (z.name, "DNSKEY")}
    for i, f in enumerate(z.faults):
        fld = f"faults[{i}]"
        if f.kind not in FAULT_KINDS:
            raise SpecError(z.label(), f"{fld}.kind",
                            f"unknown fault {f.kind!r}; known: "
                            f"{', '.join(sorted(FAULT_KINDS))}")
        if not z.signed:
            raise SpecError(z.label(), f"{fld}.kind",
                            f"{f.kind} needs a signed zone")
        if f.kind in ZONE_FAULTS:
            if f.owner or f.rtype:
                raise SpecError(z.label(), fld,
                                f"{f.kind} is a zone fault: no owner/rtype")
            continue
        if not f.owner or not f.rtype:
            raise SpecError(z.label(), fld,
                            f"{f.kind} needs an owner and an rtype")
        key = (absolute(f.owner, z.name), f.rtype.upper())
        if key not in rrsets:
            raise SpecError(z.label(), f"{fld}.owner",
                            f"no {key[1]} RRset at {key[0]} to damage")


def _tlsa_base(owner: str) -> str | None:
    labels = owner.split(".")
    if len(labels) > 3 and labels[0].startswith("_") and \
            labels[1].startswith("_"):
        return ".".join(labels[2:])
    return None


def _check_tlsa_hosts(zones: list[ZoneSpec],
                      owners: dict[str, dict[str, str]]) -> None:
    """A TLSA RRset must belong to a host that exists, unless it is reached
    through a CNAME or is a wildcard (RFC 7671 §7 allows both)."""
    targets = {absolute(r.rdata, z.name) for z in zones for r in z.records
               if r.rtype.upper() == "CNAME"}
    for z in zones:
        for i, r in enumerate(z.records):
            if r.rtype.upper() != "TLSA":
                continue
            owner = absolute(r.owner, z.name)
            if owner in targets or owner.startswith("*."):
                continue
            base = _tlsa_base(owner)
            if base is None:
                raise SpecError(z.label(), f"records[{i}].owner",
                                f"TLSA owner {owner} is not _port._proto.host")
            if base.startswith("*."):
                continue
            types = owners.get(base, {})
            if not {"A", "AAAA", "CNAME"} & set(types):
                raise SpecError(z.label(), f"records[{i}].owner",
                                f"TLSA for host {base}, which has no A, "
                                "AAAA or CNAME record in the universe")


def _check_cname_loops(zones: list[ZoneSpec]) -> None:
    cname: dict[str, tuple[str, str]] = {}
    for z in zones:
        for r in z.records:
            if r.rtype.upper() == "CNAME":
                cname[absolute(r.owner, z.name)] = (
                    absolute(r.rdata, z.name), z.label())
    for start in cname:
        seen = [start]
        cur = start
        while cur in cname:
            cur = cname[cur][0]
            if cur in seen:
                raise SpecError(cname[start][1], "records",
                                "CNAME loop: " + " -> ".join(seen + [cur]))
            seen.append(cur)
