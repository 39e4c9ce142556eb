"""Build the signed DNS universe on disk: zone files, keys, signatures, faults.

The root `.` and the lab apex (`test.`, apex.py) are always built; every
declared zone is delegated from its closest enclosing zone.  Under a
simulated parent (Top.inet_addr set: --zone-parent), the zones above the
apex (the root, `net.`, `example.net.` for `lab.example.net.`) are built
too, named by the simulated Internet's name server and marked `internet`:
another NSD serves them (internet.py); the apex's parent holds its DS and
the glue of `ns.<apex>` at the lab NSD's routable address.

All keys are made first, so every DS is known before any zone is signed
and the zones can be signed in parallel (one `ldns-signzone` per zone: it
builds the NSEC/NSEC3 chains).  Faults are then
applied per RRset with dnspython, to the signed files.

A rebuild (build_universe with PREVIOUS) keeps every zone whose spec, key
and zone text (its delegations and DS records included) are what they were:
its files are left as they are, so neither ldns-signzone nor NSD reads them
again.  The zones that changed get the previous serial + 1.
"""
from __future__ import annotations

import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dns.dnssec
import dns.name
import dns.node
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

from .. import apex
from ..errors import LabError
from .dnskeys import ZoneKey, new_key
from .zonespec import (Fault, Record, ZoneSpec, absolute, is_below,
                       validate_universe)

NSD_ADDR = "127.53.0.1"
DAY = 86400
SOA_TTL_NEG = 30
# A TLSA record with no certificate data (three bytes: usage, selector,
# matching type): ldns-signzone and dnspython both write it as "3 1 1",
# which NSD cannot read back; RFC 3597's generic form says the same thing.
EMPTY_TLSA_RE = re.compile(
    r"^(\S+[ \t]+\d+[ \t]+IN[ \t]+TLSA[ \t]+)(\d+)[ \t]+(\d+)[ \t]+(\d+)"
    r"[ \t]*$", re.M)
SIGN_JOBS = min(16, 4 * (os.cpu_count() or 2))   # zones made at once


@dataclass
class BuiltZone:
    spec: ZoneSpec
    parent: str | None
    key: ZoneKey | None
    unsigned_file: Path
    file: Path                      # the file NSD serves
    children: list[str] = field(default_factory=list)
    internet: bool = False          # above the apex: the simulated Internet


@dataclass(frozen=True)
class Top:
    """What lies above the lab's zones: by default the lab's own root and
    `test.`, all served by the lab NSD.  INET_ADDR set (--zone-parent):
    the zones above the apex are the simulated Internet, served at
    INET_ADDR; LAB_ADDR is where the Internet finds the lab NSD (the glue
    of ns.<apex>); APEX_FAULTS go to the apex's spec (ds-mismatch: its
    parent publishes a wrong DS)."""

    lab_addr: str = NSD_ADDR
    inet_addr: str | None = None
    apex_faults: tuple[Fault, ...] = ()

    def ns_of(self, bz: "BuiltZone") -> str:
        return apex.inet_ns_name() if bz.internet else apex.lab_ns_name()

    def addr_of(self, bz: "BuiltZone") -> str:
        if bz.internet:
            assert self.inet_addr
            return self.inet_addr
        return self.lab_addr


DEFAULT_TOP = Top()


@dataclass
class BuiltUniverse:
    """What build_universe() made; paths are inside its folder."""

    folder: Path
    zones: dict[str, BuiltZone]
    trust_anchor: Path              # root DS, for resolvers
    root_hints: Path
    root_key: ZoneKey
    serial: int                     # the highest SOA serial
    seconds: float = 0.0
    changed: list[str] = field(default_factory=list)   # (re)built zones
    serials: dict[str, int] = field(default_factory=dict)  # per zone
    top: Top = DEFAULT_TOP

    def lab_zones(self) -> list[str]:
        return [n for n, z in self.zones.items() if not z.internet]

    def internet_zones(self) -> list[str]:
        return [n for n, z in self.zones.items() if z.internet]

    @property
    def apex_key(self) -> ZoneKey:
        key = self.zones[apex.lab_apex()].key
        assert key
        return key


def _root_specs(top: Top) -> list[ZoneSpec]:
    """The zones always built: the root, the zones down to the apex, the
    apex (with its name server's address)."""
    above = apex.above_apex()
    out = [ZoneSpec(z, []) for z in above]
    if top.inet_addr:          # its name server lives in the TLD's zone
        out[1].records.append(Record(apex.inet_ns_name(), "A",
                                     top.inet_addr))
    out.append(ZoneSpec(apex.lab_apex(), [Record("ns", "A", top.lab_addr)],
                        faults=list(top.apex_faults)))
    return out


def _parent_of(name: str, names: list[str]) -> str:
    best = "."
    for n in names:
        if n != name and is_below(name, n) and len(n) > len(best):
            best = n
    return best


def _soa(ns: str, mail: str, serial: int) -> str:
    return (f"{ns} hostmaster.{mail} {serial} 3600 600 86400 "
            f"{SOA_TTL_NEG}")


def _zone_text(bz: BuiltZone, all_zones: dict[str, BuiltZone],
               serial: int, top: Top = DEFAULT_TOP) -> str:
    z = bz.spec
    ns = top.ns_of(bz)
    mail = ns.split(".", 1)[1] if bz.internet else apex.lab_apex()
    lines = [f"$ORIGIN {z.name}", "$TTL 300",
             f"@ 300 IN SOA {_soa(ns, mail, serial)}", f"@ 300 IN NS {ns}"]
    if bz.key:
        lines.append(f"@ 300 IN DNSKEY {bz.key.dnskey_text()}")
    for r in z.records:
        lines.append(f"{absolute(r.owner, z.name)} {r.ttl} IN "
                     f"{r.rtype.upper()} {r.rdata}")
    for c in bz.children:
        child = all_zones[c]
        cns = top.ns_of(child)
        lines.append(f"{c} 300 IN NS {cns}")
        if child.key and child.spec.ds_in_parent:
            ds = child.key.ds_text()
            if any(f.kind == "ds-mismatch" for f in child.spec.faults):
                ds = _damage_hex_tail(ds)
            lines.append(f"{c} 300 IN DS {ds}")
        if is_below(cns, c):
            lines.append(f"{cns} 300 IN A {top.addr_of(child)}")   # glue
    return "\n".join(lines) + "\n"


def _damage_hex_tail(ds: str) -> str:
    last = ds[-1]
    return ds[:-1] + ("0" if last != "0" else "1")


def build_universe(specs: list[ZoneSpec], folder: Path,
                   jobs: int | None = None,
                   keys: dict[str, ZoneKey] | None = None,
                   previous: BuiltUniverse | None = None,
                   top: Top | None = None) -> BuiltUniverse:
    """Validate SPECS and build every zone file into FOLDER.

    KEYS (zone name -> key) are reused where given, so a rebuild after a
    change keeps every DS and the trust anchor as they were.  PREVIOUS (the
    universe built before in FOLDER): only the zones that differ from it
    are written and signed again, with a serial above its own.  TOP:
    what lies above the lab's zones (default: PREVIOUS's, or the lab's
    own root).
    """
    tp: Top = top or (previous.top if previous else DEFAULT_TOP)
    if keys is None and previous is not None:
        keys = {n: z.key for n, z in previous.zones.items() if z.key}
    keys = keys or {}
    serial = previous.serial + 1 if previous else int(time.time())
    t0 = time.monotonic()
    validate_universe(specs)
    folder.mkdir(parents=True, exist_ok=True)
    keydir = folder / "keys"
    keydir.mkdir(exist_ok=True)
    all_specs = _root_specs(tp) + list(specs)
    names = [z.name for z in all_specs]
    above = set(apex.above_apex()) if tp.inet_addr else set()
    zones: dict[str, BuiltZone] = {}
    for z in all_specs:
        key = (keys.get(z.name) or new_key(z.name)) if z.signed else None
        fname = "root" if z.name == "." else z.name.rstrip(".")
        parent = None if z.name == "." else _parent_of(z.name, names)
        suffix = ".zone.signed" if key else ".zone"
        zones[z.name] = BuiltZone(z, parent, key, folder / f"{fname}.zone",
                                  folder / f"{fname}{suffix}",
                                  internet=z.name in above)
    for bz in zones.values():
        if bz.parent:
            zones[bz.parent].children.append(bz.spec.name)
    changed, serials = [], {}
    for bz in zones.values():
        kept = _unchanged(bz, zones, previous, tp)
        if kept is not None:
            serials[bz.spec.name] = kept
            continue
        changed.append(bz)
        serials[bz.spec.name] = serial

    def make(bz: BuiltZone) -> None:
        bz.unsigned_file.write_text(_zone_text(bz, zones, serial, tp))
        if bz.key:
            _sign(bz, keydir)
            if any(f.kind != "ds-mismatch" for f in bz.spec.faults):
                apply_faults(bz)
    # Each zone in a thread of its own while ldns-signzone runs: Python's
    # share (text, faults) overlaps the other zones' signing processes.
    with ThreadPoolExecutor(max_workers=jobs or SIGN_JOBS) as ex:
        list(ex.map(make, changed))
    root = zones["."]
    assert root.key
    ta = folder / "root.ds"
    ta.write_text(f". 300 IN DS {root.key.ds_text()}\n")
    hints = folder / "root.hints"
    rns = tp.ns_of(root)
    hints.write_text(f". 3600000 IN NS {rns}\n"
                     f"{rns} 3600000 IN A {tp.addr_of(root)}\n")
    return BuiltUniverse(folder, zones, ta, hints, root.key,
                         max(serials.values()), time.monotonic() - t0,
                         [bz.spec.name for bz in changed], serials, tp)


def _unchanged(bz: BuiltZone, zones: dict[str, BuiltZone],
               previous: BuiltUniverse | None, top: Top) -> int | None:
    """The serial BZ was built with in PREVIOUS when that build is still
    right for it (same spec, key and zone text, files in place); None when
    it has to be built."""
    old = previous.zones.get(bz.spec.name) if previous else None
    if previous is None or old is None or old.spec != bz.spec or \
            old.key is not bz.key or old.file != bz.file or \
            not bz.file.exists():
        return None
    was = previous.serials.get(bz.spec.name, previous.serial)
    try:
        text = old.unsigned_file.read_text()
    except OSError:
        return None
    return was if text == _zone_text(bz, zones, was, top) else None


def _sign(bz: BuiltZone, keydir: Path) -> None:
    assert bz.key
    base = bz.key.write_private(keydir)
    now = int(time.time())
    argv = ["ldns-signzone", "-d", "-i", str(now - DAY), "-e",
            str(now + 30 * DAY), "-f", str(bz.file), "-o", bz.spec.name]
    if bz.spec.denial == "nsec3":
        argv += ["-n", "-t", "0"]
    argv += [str(bz.unsigned_file), str(base)]
    cp = subprocess.run(argv, capture_output=True, text=True)
    if cp.returncode != 0:
        raise LabError(f"ldns-signzone failed for {bz.spec.label()}: "
                       f"{cp.stderr.strip() or cp.stdout.strip()}")
    generic_empty_tlsa(bz.file)


def generic_empty_tlsa(path: Path) -> None:
    """Rewrite PATH's TLSA records without certificate data ("3 1 1") in
    RFC 3597's generic form ("\\# 3 030101"): the same wire data, which
    NSD and dnspython read."""
    text = path.read_text()
    new = EMPTY_TLSA_RE.sub(
        lambda m: f"{m[1]}\\# 3 "
        f"{int(m[2]):02x}{int(m[3]):02x}{int(m[4]):02x}", text)
    if new != text:
        path.write_text(new)


# -- faults -------------------------------------------------------------------

def _rrsig_set(node: dns.node.Node,
               covered: int) -> dns.rdataset.Rdataset | None:
    return node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG,
                             dns.rdatatype.RdataType(covered))


def _resign(zone: dns.zone.Zone, name: dns.name.Name, rtype: int,
            key: ZoneKey, signer: dns.name.Name, inception: float,
            expiration: float) -> None:
    node = zone.find_node(name)
    rds = node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.RdataType(rtype))
    rrsig = dns.dnssec.sign((name, rds), key.private, signer,
                            key.dnskey_rdata(),  # type: ignore[arg-type]
                            inception=inception, expiration=expiration)
    node.replace_rdataset(dns.rdataset.from_rdata(rds.ttl, rrsig))


def _corrupt(rd: object) -> object:
    sig = bytearray(rd.signature)  # type: ignore[attr-defined]
    sig[len(sig) // 2] ^= 0x5A
    return rd.replace(signature=bytes(sig))  # type: ignore[attr-defined]


def _corrupt_rrsigs(node: dns.node.Node, covered: int) -> None:
    rs = _rrsig_set(node, covered)
    if rs is None:
        return
    new = dns.rdataset.Rdataset(rs.rdclass, rs.rdtype,
                                dns.rdatatype.RdataType(covered))
    for rd in rs:
        new.add(_corrupt(rd), rs.ttl)  # type: ignore[arg-type]
    node.replace_rdataset(new)


def _apply_one(zone: dns.zone.Zone, bz: BuiltZone, f: Fault) -> None:
    assert bz.key
    origin = dns.name.from_text(bz.spec.name)
    now = time.time()
    if f.kind in ("denial-broken", "denial-missing"):
        denial = dns.rdatatype.NSEC3 if bz.spec.denial == "nsec3" \
            else dns.rdatatype.NSEC
        for name, node in list(zone.nodes.items()):
            if node.get_rdataset(dns.rdataclass.IN, denial) is None:
                continue
            if f.kind == "denial-broken":
                _corrupt_rrsigs(node, denial)
            else:
                node.delete_rdataset(dns.rdataclass.IN, denial)
                node.delete_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG,
                                     denial)
                if not node.rdatasets:
                    del zone.nodes[name]
        return
    assert f.owner and f.rtype
    name = dns.name.from_text(absolute(f.owner, bz.spec.name))
    rtype = dns.rdatatype.from_text(f.rtype)
    node = zone.find_node(name)
    if f.kind == "rrsig-expired":
        _resign(zone, name, rtype, bz.key, origin, now - 60 * DAY,
                now - 30 * DAY)
    elif f.kind == "rrsig-not-yet-valid":
        _resign(zone, name, rtype, bz.key, origin, now + 30 * DAY,
                now + 60 * DAY)
    elif f.kind == "rrsig-unknown-key":
        _resign(zone, name, rtype, new_key(bz.spec.name), origin,
                now - DAY, now + 30 * DAY)
    elif f.kind == "rrsig-corrupted":
        _corrupt_rrsigs(node, rtype)
    elif f.kind == "rrsig-missing":
        node.delete_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rtype)


def apply_faults(bz: BuiltZone) -> None:
    """Rewrite BZ's signed file with its faults applied."""
    zone = dns.zone.from_file(str(bz.file), origin=bz.spec.name,
                              relativize=False, check_origin=False)
    for f in bz.spec.faults:
        if f.kind != "ds-mismatch":
            _apply_one(zone, bz, f)
    zone.to_file(str(bz.file), relativize=False)
    generic_empty_tlsa(bz.file)
