"""Bad universe descriptions are refused before anything starts, with an
error naming the zone, the field and the reason."""
from __future__ import annotations

import pytest

from danelab.dns.zonespec import Fault, Record, ZoneSpec, validate_universe
from danelab.errors import SpecError

A = Record("mx1", "A", "127.25.1.1")

BAD = [
    ("unknown fault", [ZoneSpec("x.test.", [A], faults=[
        Fault("rrsig-wobbly", "mx1", "A")])], "faults[0].kind",
     "unknown fault"),
    ("fault target missing", [ZoneSpec("x.test.", [A], faults=[
        Fault("rrsig-expired", "mx2", "A")])], "faults[0].owner",
     "no A RRset at mx2.x.test."),
    ("fault on unsigned", [ZoneSpec("x.test.", [A], signed=False, faults=[
        Fault("rrsig-expired", "mx1", "A")])], "faults[0].kind",
     "needs a signed zone"),
    ("TLSA on missing host", [ZoneSpec("x.test.", [
        A, Record("_25._tcp.mx9", "TLSA", "3 1 1 " + "00" * 32)])],
     "records[1].owner", "mx9.x.test., which has no A"),
    ("CNAME loop", [ZoneSpec("x.test.", [
        Record("a", "CNAME", "b"), Record("b", "CNAME", "c.y.test.")]),
        ZoneSpec("y.test.", [Record("c", "CNAME", "a.x.test.")])],
     "records", "CNAME loop"),
    ("bad rdata", [ZoneSpec("x.test.", [Record("mx1", "A", "999.1.1.1")])],
     "records[0].rdata", "does not parse"),
    ("outside zone", [ZoneSpec("x.test.", [Record("a.y.test.", "A",
                                                  "127.0.0.1")])],
     "records[0].owner", "not inside zone"),
    ("not under test.", [ZoneSpec("example.com.", [])], "name",
     "below test."),
    ("twice", [ZoneSpec("x.test.", []), ZoneSpec("x.test.", [])], "name",
     "declared twice"),
    ("CNAME and data", [ZoneSpec("x.test.", [
        Record("a", "CNAME", "b"), Record("a", "A", "127.0.0.1")])],
     "records", "CNAME and other data"),
    ("in child zone", [ZoneSpec("x.test.", [Record("a.sub", "A",
                                                   "127.0.0.1")]),
                       ZoneSpec("sub.x.test.", [])], "records[0].owner",
     "lies in child zone"),
    ("bad denial", [ZoneSpec("x.test.", [], denial="nsec5")], "denial",
     "must be nsec or nsec3"),
]


@pytest.mark.parametrize("zones,field,why", [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_bad_description(zones: list[ZoneSpec], field: str, why: str
                         ) -> None:
    with pytest.raises(SpecError) as ei:
        validate_universe(zones)
    e = ei.value
    assert e.field == field
    assert why in e.why
    assert "x.test." in str(e) or "example.com." in str(e) or \
        "zone" in str(e)


def test_good_description_passes() -> None:
    validate_universe([ZoneSpec("x.test.", [
        A, Record("_25._tcp.mx1", "TLSA", "3 1 1 " + "00" * 32),
        Record("@", "MX", "10 mx1"), Record("alias", "CNAME", "mx1")],
        faults=[Fault("rrsig-expired", "@", "MX"), Fault("ds-mismatch")])])
