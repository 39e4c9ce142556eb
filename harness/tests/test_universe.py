"""The signed DNS universe: every DNSSEC state of sections A–C of
docs/cases.md, as a validating resolver inside the lab namespace sees it."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from danelab.dns.dnsd import zone_load_errors
from danelab.dns.dnsq import Answer, query_in
from danelab.dns.universe import Universe
from danelab.dns.zonespec import Fault, Record, ZoneSpec
from danelab.netns import LabNamespace

TLSA = "3 1 1 " + "ab" * 32


def dom(name: str, faults: list[Fault] | None = None, **kw: object
        ) -> ZoneSpec:
    return ZoneSpec(f"{name}.test.", [
        Record("@", "MX", "10 mx1"), Record("mx1", "A", "127.25.1.1"),
        Record("_25._tcp.mx1", "TLSA", TLSA)], faults=faults or [],
        **kw)  # type: ignore[arg-type]


ZONES = [
    dom("secure"),
    dom("secure3", denial="nsec3"),
    dom("expired", [Fault("rrsig-expired", "@", "MX")]),
    dom("notyet", [Fault("rrsig-not-yet-valid", "@", "MX")]),
    dom("corrupt", [Fault("rrsig-corrupted", "@", "MX")]),
    dom("unknownkey", [Fault("rrsig-unknown-key", "@", "MX")]),
    dom("nosig", [Fault("rrsig-missing", "@", "MX")]),
    dom("dsmismatch", [Fault("ds-mismatch")]),
    dom("tlsabogus", [Fault("rrsig-corrupted", "_25._tcp.mx1", "TLSA")]),
    dom("abogus", [Fault("rrsig-expired", "mx1", "A")]),
    dom("insecure", signed=False),
    dom("island", ds_in_parent=False),
    ZoneSpec("nsecbroken.test.", [Record("mx1", "A", "127.25.1.1")],
             faults=[Fault("denial-broken")]),
    ZoneSpec("nsec3broken.test.", [Record("mx1", "A", "127.25.1.1")],
             faults=[Fault("denial-broken")], denial="nsec3"),
    ZoneSpec("nsecmissing.test.", [Record("mx1", "A", "127.25.1.1")],
             faults=[Fault("denial-missing")]),
    ZoneSpec("notlsa.test.", [Record("@", "MX", "10 mx1"),
                              Record("mx1", "A", "127.25.1.1")]),
    ZoneSpec("notlsa3.test.", [Record("@", "MX", "10 mx1"),
                               Record("mx1", "A", "127.25.1.1")],
             denial="nsec3"),
    ZoneSpec("nullmx.test.", [Record("@", "MX", "0 .")]),
    # A TLSA record of three bytes (no certificate data) beside a good one;
    # in a zone that faults rewrite with dnspython too (c14d).
    ZoneSpec("short.test.", [Record("mx1", "A", "127.25.3.1"),
                             Record("_25._tcp.mx1", "TLSA", TLSA),
                             Record("_25._tcp.mx1", "TLSA", r"\# 3 030101")]),
    ZoneSpec("shortfault.test.", [
        Record("mx1", "A", "127.25.3.2"), Record("mx2", "A", "127.25.3.3"),
        Record("_25._tcp.mx1", "TLSA", r"\# 3 030101")],
        faults=[Fault("rrsig-expired", "mx2", "A")]),
    # A CNAME chain from a secure zone into an insecure child zone.
    ZoneSpec("chain.test.", [Record("@", "MX", "10 mx"),
                             Record("mx", "CNAME", "mx.ins"),
                             Record("good", "CNAME", "mx1"),
                             Record("mx1", "A", "127.25.2.1")]),
    ZoneSpec("ins.chain.test.", [Record("mx", "A", "127.25.2.2")],
             signed=False),
]


@pytest.fixture(scope="module")
def universe(tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[LabNamespace, Universe]]:
    run = tmp_path_factory.mktemp("universe")
    with LabNamespace(run / "ns") as ns:
        u = Universe(ZONES, run, ns)
        u.start()
        yield ns, u


def q(u: tuple[LabNamespace, Universe], name: str, rtype: str) -> Answer:
    return query_in(u[0], name, rtype)


# (name, type, rcode, AD, EDE code or None)
CASES = [
    ("secure.test.", "MX", "NOERROR", True, None),
    ("_25._tcp.mx1.secure.test.", "TLSA", "NOERROR", True, None),
    ("secure3.test.", "MX", "NOERROR", True, None),
    ("expired.test.", "MX", "SERVFAIL", False, 7),       # signature expired
    ("notyet.test.", "MX", "SERVFAIL", False, 8),        # not yet valid
    ("corrupt.test.", "MX", "SERVFAIL", False, 6),       # DNSSEC bogus
    ("unknownkey.test.", "MX", "SERVFAIL", False, 9),    # DNSKEY missing
    ("nosig.test.", "MX", "SERVFAIL", False, 10),        # RRSIGs missing
    ("dsmismatch.test.", "MX", "SERVFAIL", False, 9),
    ("tlsabogus.test.", "MX", "NOERROR", True, None),    # only TLSA broken
    ("_25._tcp.mx1.tlsabogus.test.", "TLSA", "SERVFAIL", False, 6),
    ("abogus.test.", "MX", "NOERROR", True, None),
    ("mx1.abogus.test.", "A", "SERVFAIL", False, 7),
    ("insecure.test.", "MX", "NOERROR", False, None),
    ("_25._tcp.mx1.insecure.test.", "TLSA", "NOERROR", False, None),
    ("island.test.", "MX", "NOERROR", False, None),
    ("nsecbroken.test.", "MX", "SERVFAIL", False, 6),    # NODATA, bad NSEC
    ("_25._tcp.mx1.nsecbroken.test.", "TLSA", "SERVFAIL", False, 6),
    ("nsec3broken.test.", "MX", "SERVFAIL", False, 6),
    ("nsecmissing.test.", "MX", "SERVFAIL", False, None),
    ("_25._tcp.mx1.notlsa.test.", "TLSA", "NXDOMAIN", True, None),
    ("mx1.notlsa.test.", "TLSA", "NOERROR", True, None),  # secure NODATA
    ("_25._tcp.mx1.notlsa3.test.", "TLSA", "NXDOMAIN", True, None),
    ("nullmx.test.", "MX", "NOERROR", True, None),
    ("_25._tcp.mx1.short.test.", "TLSA", "NOERROR", True, None),
    ("_25._tcp.mx1.shortfault.test.", "TLSA", "NOERROR", True, None),
    ("mx2.shortfault.test.", "A", "SERVFAIL", False, 7),
    ("mx.chain.test.", "A", "NOERROR", False, None),     # chain leaves DNSSEC
    ("good.chain.test.", "A", "NOERROR", True, None),    # secure chain
]


@pytest.mark.parametrize("name,rtype,rcode,ad,ede", CASES,
                         ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_dnssec_state(universe: tuple[LabNamespace, Universe], name: str,
                      rtype: str, rcode: str, ad: bool,
                      ede: int | None) -> None:
    a = q(universe, name, rtype)
    assert (a.rcode, a.ad) == (rcode, ad), a
    if ede is not None:
        assert ede in [c for c, _ in a.ede], a.ede
    if rcode == "SERVFAIL":
        assert a.ede, "a bogus answer carries an Extended DNS Error"


def test_null_mx_record(universe: tuple[LabNamespace, Universe]) -> None:
    a = q(universe, "nullmx.test.", "MX")
    assert any(" MX 0 ." in line for line in a.answer), a.answer


def test_three_byte_tlsa_is_served(universe: tuple[LabNamespace, Universe]
                                   ) -> None:
    """ldns-signzone and dnspython write a TLSA record without data as
    "3 1 1", which NSD cannot read; the builder writes RFC 3597's form."""
    for name, n in (("_25._tcp.mx1.short.test.", 2),
                    ("_25._tcp.mx1.shortfault.test.", 1)):
        a = q(universe, name, "TLSA")
        lines = "\n".join(a.answer).splitlines()
        tlsa = [ln.split(" TLSA ", 1)[1].strip() for ln in lines
                if " IN TLSA " in ln]
        assert len(tlsa) == n and "3 1 1" in tlsa, a.answer
    for z in ("short.test.", "shortfault.test."):
        f = universe[1].built.zones[z].file  # type: ignore[union-attr]
        assert re.search(r"\sTLSA\s+\\# 3 030101\n", f.read_text())


def test_zone_load_errors_reads_from_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "nsd.log"
    old = ("[t] nsd[1]: error: zone a.test. file a.test.zone.signed read "
           "with 1 errors\n")
    log.write_text(old + "[t] nsd[2]: info: zone b.test. read with success\n"
                   "[t] nsd[2]: error: zone c.test. file c.test.zone.signed "
                   "read with 2 errors\n")
    assert zone_load_errors(log) == [
        old.strip(), "[t] nsd[2]: error: zone c.test. file "
        "c.test.zone.signed read with 2 errors"]
    assert len(zone_load_errors(log, len(old))) == 1
    assert zone_load_errors(tmp_path / "none.log") == []


def test_bogus_reason_is_logged(universe: tuple[LabNamespace, Universe]
                                ) -> None:
    q(universe, "expired.test.", "MX")
    log = (universe[1].run / "unbound.log").read_text()
    assert "signature expired" in log


def test_independent_validator(universe: tuple[LabNamespace, Universe]
                               ) -> None:
    """ldns-verify-zone agrees: clean zones verify, damaged ones do not."""
    u = universe[1]
    assert u.built
    verdicts = {}
    for name in ("secure.test.", "secure3.test.", "test.", ".",
                 "expired.test.", "corrupt.test.", "nosig.test."):
        f = u.built.zones[name].file
        cp = subprocess.run(["ldns-verify-zone", str(f)],
                            capture_output=True, text=True)
        verdicts[name] = cp.returncode == 0
    assert verdicts == {"secure.test.": True, "secure3.test.": True,
                        "test.": True, ".": True, "expired.test.": False,
                        "corrupt.test.": False, "nosig.test.": False}


def test_rebuild_fixes_a_fault(tmp_path: Path, labns: LabNamespace) -> None:
    """A zone repaired mid-run is seen as secure once rebuilt."""
    broken = [dom("fixme", [Fault("rrsig-expired", "@", "MX")])]
    u = Universe(broken, tmp_path, labns)
    u.start()
    assert query_in(labns, "fixme.test.", "MX").rcode == "SERVFAIL"
    u.rebuild([dom("fixme")])
    a = query_in(labns, "fixme.test.", "MX")
    assert (a.rcode, a.ad) == ("NOERROR", True)


def test_rebuild_touches_only_what_changed(tmp_path: Path,
                                           labns: LabNamespace) -> None:
    """A rebuild signs again only the zones whose spec, key or delegations
    changed (a DS withdrawn changes the parent too), gives them the old
    serial + 1, and leaves every other zone file as it was."""
    u = Universe([dom("keep"), dom("fix", [Fault("rrsig-expired", "@",
                                                 "MX")]), dom("island")],
                 tmp_path, labns)
    u.start()
    assert u.built
    before = {n: (bz.file.stat().st_mtime_ns, u.built.serials[n])
              for n, bz in u.built.zones.items()}
    old_serial = u.built.serial
    changed = u.rebuild([dom("keep"), dom("fix"),
                         dom("island", ds_in_parent=False)])
    assert sorted(changed) == ["fix.test.", "island.test.", "test."]
    assert u.built.serial == old_serial + 1
    for n, bz in u.built.zones.items():
        if n in changed:
            assert u.built.serials[n] == old_serial + 1
        else:
            assert (bz.file.stat().st_mtime_ns, u.built.serials[n]) == \
                before[n], n
    assert query_in(labns, "fix.test.", "MX").ad
    assert query_in(labns, "keep.test.", "MX").ad
    a = query_in(labns, "island.test.", "MX")
    assert (a.rcode, a.ad) == ("NOERROR", False)
    assert u.rebuild([dom("keep"), dom("fix"),
                      dom("island", ds_in_parent=False)]) == []


def test_readiness_waits_longer_each_time_and_latches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A name server's readiness check: each question waits twice as long
    as the one before (up to READY_QUERY_MAX); once one is answered the
    check stays true without asking again (wait_ready() asks it once more
    after the wait, and a busy machine must not turn that into "not
    ready")."""
    from danelab.dns import dnsd
    asked: list[float] = []
    answers = iter([False, False, False, False, True])

    def fake(ns: object, addr: str, name: str, timeout: float) -> bool:
        asked.append(timeout)
        return next(answers)
    monkeypatch.setattr(dnsd, "_ready", fake)
    check = dnsd._readiness(None, "127.53.0.1", ".")  # type: ignore[arg-type]
    assert [check() for _ in range(7)] == [False] * 4 + [True] * 3
    t, most = dnsd.READY_QUERY_TIMEOUT, dnsd.READY_QUERY_MAX
    assert asked == [min(t * 2 ** i, most) for i in range(5)]
    assert asked[0] < asked[2] and asked[-1] == most
