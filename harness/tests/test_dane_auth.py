"""The grader's own DANE judgement (dane_auth), over chains generated here:
usage 3 by key or certificate with names and dates ignored; usage 2 only on
the verified signature path, in both directions of the mistake (a matching
CA padded into the chain is no match; a full-data anchor the server did not
send is one)."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from danelab.dane_auth import Tlsa, authenticate, name_matches, ta_path
from danelab.pki import LAB_INT, LAB_ROOT, ROGUE_INT, ROGUE_ROOT, \
    SELF_SIGNED, CertSpec, Issued, LabPKI, tlsa_rdata

HOST = "mx1.d.test"


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    p = LabPKI()
    p.issue(CertSpec("good", [HOST]))                       # by lab-int
    p.issue(CertSpec("rogue", [HOST], issuer=ROGUE_INT))
    p.issue(CertSpec("other-name", ["mx9.elsewhere.test"]))
    p.issue(CertSpec("wild", ["*.d.test"]))
    p.issue(CertSpec("wild-deep", ["*.test"]))
    p.issue(CertSpec("expired", [HOST], validity="expired"))
    p.issue(CertSpec("future", [HOST], validity="not-yet-valid"))
    p.issue(CertSpec("self", [HOST], issuer=SELF_SIGNED))
    p.issue(CertSpec("rsa", [HOST], key="rsa"))
    p.issue(CertSpec("int2", ["Second Intermediate"], issuer=LAB_INT,
                     ca=True))
    p.issue(CertSpec("deep", [HOST], issuer="int2"))
    p.issue(CertSpec("old-int", ["Old Intermediate"], issuer=LAB_ROOT,
                     ca=True, validity="expired"))
    p.issue(CertSpec("under-old", [HOST], issuer="old-int"))
    return p


def c(pki: LabPKI, name: str) -> x509.Certificate:
    return pki.issued[name].cert


def rec(pki: LabPKI, name: str, u: int, s: int, m: int) -> str:
    return tlsa_rdata(c(pki, name), u, s, m)


def chain(pki: LabPKI, *names: str) -> list[x509.Certificate]:
    return [c(pki, n) for n in names]


def full(it: Issued) -> list[x509.Certificate]:
    return it.chain


# (what, records, presented chain, expected)
CASES: list[tuple[str, list[tuple[str, int, int, int]], list[str], bool]] = [
    # DANE-EE: every selector x matching type; names, dates, issuer ignored
    *[(f"EE {s} {m}", [("good", 3, s, m)], ["good", LAB_INT], True)
      for s in (0, 1) for m in (0, 1, 2)],
    ("EE self-signed leaf", [("self", 3, 1, 1)], ["self"], True),
    ("EE expired leaf", [("expired", 3, 1, 1)], ["expired"], True),
    ("EE not-yet-valid leaf", [("future", 3, 0, 1)], ["future"], True),
    ("EE wrong name", [("other-name", 3, 1, 1)], ["other-name"], True),
    ("EE RSA leaf", [("rsa", 3, 1, 2)], ["rsa", LAB_INT], True),
    ("EE other key", [("rogue", 3, 1, 1)], ["good", LAB_INT], False),
    ("EE record names the issuer", [(LAB_INT, 3, 1, 1)],
     ["good", LAB_INT], False),
    # DANE-TA: depth 1 and 2, by certificate and by key, both digests
    *[(f"TA int {s} {m}", [(LAB_INT, 2, s, m)], ["good", LAB_INT], True)
      for s in (0, 1) for m in (0, 1, 2)],
    ("TA root, full chain", [(LAB_ROOT, 2, 1, 1)],
     ["good", LAB_INT, LAB_ROOT], True),
    ("TA depth 2", [(LAB_INT, 2, 0, 1)], ["deep", "int2", LAB_INT],
     True),
    ("TA chain out of order", [(LAB_ROOT, 2, 1, 2)],
     ["good", LAB_ROOT, LAB_INT], True),
    ("TA chain with an unrelated CA added", [(LAB_INT, 2, 1, 1)],
     ["good", ROGUE_ROOT, LAB_INT], True),
    ("TA duplicated intermediate", [(LAB_INT, 2, 1, 1)],
     ["good", LAB_INT, LAB_INT], True),
    # the anchor is not sent: only full data in the record can stand in
    ("TA 2 0 0 not sent", [(LAB_INT, 2, 0, 0)], ["good"], True),
    ("TA 2 1 0 not sent", [(LAB_INT, 2, 1, 0)], ["good"], True),
    ("TA 2 0 1 not sent", [(LAB_INT, 2, 0, 1)], ["good"], False),
    ("TA 2 1 1 root not sent, int sent", [(LAB_ROOT, 2, 1, 1)],
     ["good", LAB_INT], False),
    ("TA 2 0 0 root not sent, int sent", [(LAB_ROOT, 2, 0, 0)],
     ["good", LAB_INT], True),
    ("TA intermediate missing", [(LAB_ROOT, 2, 1, 1)],
     ["good", LAB_ROOT], False),
    # the mistake the other way: the CA is there but is not the leaf's
    ("TA padded: leaf chains to another CA", [(LAB_INT, 2, 1, 1)],
     ["rogue", ROGUE_INT, LAB_INT], False),
    ("TA padded, full record", [(LAB_INT, 2, 0, 0)],
     ["rogue", ROGUE_INT, LAB_INT], False),
    ("TA record matches only the leaf", [("good", 2, 1, 1)],
     ["good", LAB_INT], False),
    ("TA only the leaf sent", [(LAB_INT, 2, 1, 1)], ["good"], False),
    # names (RFC 7672 §3.2.2-3) and dates keep their weight under DANE-TA
    ("TA wrong name", [(LAB_INT, 2, 1, 1)], ["other-name", LAB_INT],
     False),
    ("TA wildcard, one label", [(LAB_INT, 2, 1, 1)], ["wild", LAB_INT],
     True),
    ("TA wildcard, two labels", [(LAB_INT, 2, 1, 1)],
     ["wild-deep", LAB_INT], False),
    ("TA expired leaf", [(LAB_INT, 2, 1, 1)], ["expired", LAB_INT],
     False),
    ("TA expired intermediate below the anchor", [(LAB_ROOT, 2, 1, 1)],
     ["under-old", "old-int", LAB_ROOT], False),
    ("TA expired intermediate is the anchor", [("old-int", 2, 1, 1)],
     ["under-old", "old-int"], True),
    # several records: one is enough, unusable ones never authenticate
    ("one of two matches", [(ROGUE_INT, 2, 1, 1), ("good", 3, 1, 1)],
     ["good", LAB_INT], True),
    ("EE and TA, only TA matches", [("rogue", 3, 1, 1), (LAB_INT, 2, 1, 1)],
     ["good", LAB_INT], True),
    ("usage 1 (PKIX-EE) is unusable", [("good", 1, 1, 1)],
     ["good", LAB_INT], False),
    ("usage 0 (PKIX-TA) is unusable", [(LAB_INT, 0, 1, 1)],
     ["good", LAB_INT], False),
]


@pytest.mark.parametrize("what,records,presented,want", CASES,
                         ids=[x[0] for x in CASES])
def test_authenticate(pki: LabPKI, what: str,
                      records: list[tuple[str, int, int, int]],
                      presented: list[str], want: bool) -> None:
    rrs = [rec(pki, *r) for r in records]
    v = authenticate(rrs, chain(pki, *presented), [HOST])
    assert v.ok is want, f"{what}: {v.why}"


@pytest.mark.parametrize("text,usable", [
    ("3 1 1 " + "ab" * 32, True),
    ("3 1 1 " + "ab" * 31, False),            # digest of the wrong length
    ("3 1 2 " + "ab" * 64, True),
    ("3 1 2 " + "ab" * 32, False),
    ("3 1 0 " + "ab" * 40, False),            # full data that is no key
    ("3 2 1 " + "ab" * 32, False),            # unknown selector
    ("3 1 255 " + "ab" * 32, False),          # private matching type
    ("4 1 1 " + "ab" * 32, False),
    ("garbage", False),
])
def test_usable(text: str, usable: bool) -> None:
    t = Tlsa.parse(text)
    assert (t is not None and t.usable) is usable


def test_full_key_record_is_usable(pki: LabPKI) -> None:
    t = Tlsa.parse(rec(pki, "good", 3, 1, 0))
    assert t is not None and t.usable


def test_ta_path_names_the_links(pki: LabPKI) -> None:
    t = Tlsa.parse(rec(pki, LAB_ROOT, 2, 1, 1))
    assert t is not None
    path = ta_path(t, chain(pki, "deep", LAB_ROOT, "int2", LAB_INT))
    assert path == chain(pki, "deep", "int2", LAB_INT)


def test_dates_are_judged_at_the_session_time(pki: LabPKI) -> None:
    rrs = [rec(pki, LAB_INT, 2, 1, 1)]
    then = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=100)
    presented = chain(pki, "expired", LAB_INT)
    assert authenticate(rrs, presented, [HOST], then).ok
    assert not authenticate(rrs, presented, [HOST]).ok


def test_no_chain_or_no_usable_record(pki: LabPKI) -> None:
    assert not authenticate([rec(pki, "good", 3, 1, 1)], [], [HOST]).ok
    v = authenticate(["0 1 1 " + "00" * 32], chain(pki, "good"), [HOST])
    assert not v.ok and "no usable" in v.why


@pytest.mark.parametrize("pattern,name,ok", [
    ("mx1.d.test", "MX1.d.test.", True),
    ("*.d.test", "mx1.d.test", True),
    ("*.d.test", "d.test", False),
    ("*.d.test", "a.mx1.d.test", False),
    ("mx1.d.test", "mx2.d.test", False),
])
def test_name_matches(pattern: str, name: str, ok: bool) -> None:
    assert name_matches(pattern, name) is ok
