"""The lab PKI, checked against OpenSSL's own tools: chains verify, dates and
names are what the spec asked for, and TLSA data equals what openssl computes
for every selector and matching type."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from danelab.errors import SpecError
from danelab.pki import BUILTIN_CAS, LAB_INT, LAB_ROOT, ROGUE_INT, \
    ROGUE_ROOT, SELF_SIGNED, CertSpec, LabPKI, cert_file, tlsa_data, \
    tlsa_rdata

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[LabPKI, Path]:
    p = LabPKI()
    p.issue(CertSpec("ok", ["mx1.a.test"]))
    p.issue(CertSpec("rsa", ["mx1.a.test"], key="rsa"))
    p.issue(CertSpec("old", ["mx1.a.test"], validity="expired"))
    p.issue(CertSpec("early", ["mx1.a.test"], validity="not-yet-valid"))
    p.issue(CertSpec("own", ["mx1.a.test"], issuer=SELF_SIGNED))
    p.issue(CertSpec("rogue", ["mx1.a.test"], issuer=ROGUE_INT))
    p.issue(CertSpec("myca", ["My CA"], issuer=LAB_ROOT, ca=True))
    p.issue(CertSpec("under-myca", ["mx2.a.test"], issuer="myca"))
    p.issue(CertSpec("bare", ["mx1.a.test"], chain=[]))
    p.issue(CertSpec("no-root", ["mx1.a.test"], chain=[LAB_INT]))
    p.issue(CertSpec("padded", ["mx1.a.test"], issuer=ROGUE_INT,
                     chain=[ROGUE_INT, ROGUE_ROOT, LAB_INT]))
    d = tmp_path_factory.mktemp("pki")
    p.write(d)
    return p, d


def verify(d: Path, name: str, root: str) -> bool:
    cp = subprocess.run(["openssl", "verify", "-CAfile",
                         str(cert_file(d, root)),
                         "-untrusted", str(d / f"{name}.chain.pem"),
                         str(cert_file(d, name))], capture_output=True)
    return cp.returncode == 0


@pytest.mark.parametrize("name,root,verifies", [
    ("ok", LAB_ROOT, True),
    ("rsa", LAB_ROOT, True),
    ("under-myca", LAB_ROOT, True),      # a scenario's own CA under ours
    ("old", LAB_ROOT, False),            # expired
    ("early", LAB_ROOT, False),          # not yet valid
    ("rogue", LAB_ROOT, False),          # another CA
    ("rogue", ROGUE_ROOT, True),
    ("own", "own", True),                # self-signed: its own root
])
def test_chain_verifies_with_openssl(pki: tuple[LabPKI, Path], name: str,
                                     root: str, verifies: bool) -> None:
    assert verify(pki[1], name, root) is verifies


def test_names_go_in_the_san(pki: tuple[LabPKI, Path]) -> None:
    c = pki[0].issued["ok"].cert
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["mx1.a.test"]


@pytest.mark.parametrize("name,kind", [
    ("ok", ec.EllipticCurvePublicKey),   # the default key type
    ("rsa", rsa.RSAPublicKey),
])
def test_key_type(pki: tuple[LabPKI, Path], name: str, kind: type) -> None:
    assert isinstance(pki[0].issued[name].cert.public_key(), kind)


@pytest.mark.parametrize("name,valid_now,starts_in_future", [
    ("ok", True, False),
    ("old", False, False),               # validity = "expired"
    ("early", False, True),              # validity = "not-yet-valid"
])
def test_validity_dates(pki: tuple[LabPKI, Path], name: str,
                        valid_now: bool, starts_in_future: bool) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    c = pki[0].issued[name].cert
    assert (c.not_valid_before <= now <= c.not_valid_after) is valid_now
    assert (c.not_valid_before > now) is starts_in_future


def test_self_signed_is_its_own_issuer(pki: tuple[LabPKI, Path]) -> None:
    s = pki[0].issued["own"].cert
    assert s.issuer == s.subject


def test_chain_is_leaf_then_intermediate_then_root(
        pki: tuple[LabPKI, Path]) -> None:
    p = pki[0]
    assert [x.subject for x in p.issued["ok"].chain] == [
        p.issued["ok"].cert.subject, p.issued[LAB_INT].cert.subject,
        p.issued[LAB_ROOT].cert.subject]


def test_chain_files(pki: tuple[LabPKI, Path]) -> None:
    """The chain file holds the leaf and, after it, exactly what the spec's
    chain lists (by default the issuers up to the root)."""
    p, d = pki

    def names(name: str) -> list[str]:
        end = b"-----END CERTIFICATE-----\n"
        pems = (d / f"{name}.chain.pem").read_bytes().split(end)[:-1]
        return [x509.load_pem_x509_certificate(pem + end).subject
                .rfc4514_string() for pem in pems]

    def subject(name: str) -> str:
        return p.issued[name].cert.subject.rfc4514_string()

    assert names("ok") == [subject(n) for n in ("ok", LAB_INT, LAB_ROOT)]
    assert names("bare") == [subject("bare")]
    assert names("no-root") == [subject("no-root"), subject(LAB_INT)]
    assert names("padded") == [subject(n) for n in (
        "padded", ROGUE_INT, ROGUE_ROOT, LAB_INT)]
    assert verify(d, "no-root", LAB_ROOT) and not verify(d, "bare", LAB_ROOT)
    assert not verify(d, "padded", LAB_ROOT)
    assert verify(d, "padded", ROGUE_ROOT)


@pytest.mark.parametrize("name", ["rsa", "ok"])
@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_tlsa_data_matches_openssl(pki: tuple[LabPKI, Path], name: str,
                                   selector: int, mtype: int) -> None:
    p, d = pki
    crt = d / f"{name}.crt"
    if selector == 0:
        der = subprocess.run(["openssl", "x509", "-in", str(crt), "-outform",
                              "DER"], capture_output=True, check=True).stdout
    else:
        pub = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout",
                              "-pubkey"], capture_output=True,
                             check=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                             input=pub, capture_output=True,
                             check=True).stdout
    want = {0: der.hex(), 1: hashlib.sha256(der).hexdigest(),
            2: hashlib.sha512(der).hexdigest()}[mtype]
    assert tlsa_data(p.issued[name].cert, selector, mtype) == want
    assert tlsa_rdata(p.issued[name].cert, 3, selector, mtype) == \
        f"3 {selector} {mtype} {want}"


@pytest.mark.parametrize("spec,why", [
    (CertSpec("x", ["a.test"], issuer="nobody"), "issuer"),
    (CertSpec("y", ["a.test"], validity="sometimes"), "validity"),
    (CertSpec("k", ["a.test"], key="dsa"), "key"),
    (CertSpec("z", ["a.test"], issuer="leaf"), "not a CA"),   # a leaf
    (CertSpec("w", ["a.test"], chain=[LAB_INT, "nobody"]), "chain"),
], ids=["unknown-issuer", "bad-validity", "bad-key", "leaf-as-issuer",
        "unknown-chain-cert"])
def test_bad_certificate_spec(spec: CertSpec, why: str) -> None:
    p = LabPKI()
    p.issue(CertSpec("leaf", ["a.test"]))
    with pytest.raises(SpecError, match=why):
        p.issue(spec)
    assert spec.name not in p.issued


def test_docs_name_the_builtin_cas() -> None:
    """docs/scenarios.md's row for [[cert]] issuer names exactly the
    built-in CAs (and self): the names are spelled once, in pki.py."""
    doc = (ROOT / "docs" / "scenarios.md").read_text()
    row = next(ln for ln in doc.splitlines() if ln.startswith("| `issuer`"))
    named = {w for w in re.findall(r"`([a-z]+(?:-[a-z]+)*)`", row)}
    assert named - {"issuer"} == set(BUILTIN_CAS) | {SELF_SIGNED}


def test_rsa_certificates_share_two_keys() -> None:
    """RSA keys come from a pool of two, made ahead once expected: the
    first two RSA certificates get a key each, the third one of those."""
    p = LabPKI()
    p.expect_rsa(["rsa"] * 3)
    keys = [p.issue(CertSpec(f"r{i}", ["mx1.a.test"], key="rsa")).key
            for i in range(3)]
    nums = [k.private_numbers().d for k in keys]  # type: ignore[union-attr]
    assert nums[0] != nums[1] and nums[2] in nums[:2]


def test_rsa_keys_are_kept_in_the_key_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An RSA key is made once and read back from the cache after; a
    damaged cache file is replaced; DANELAB_CACHE="" keeps nothing."""
    from danelab.pki import _rsa_key
    monkeypatch.setenv("DANELAB_CACHE", str(tmp_path / "c"))
    k1 = _rsa_key(1024, "t")
    f = tmp_path / "c" / "rsa-1024-t.pem"
    assert f.stat().st_mode & 0o777 == 0o600
    assert _rsa_key(1024, "t").private_numbers() == k1.private_numbers()
    f.write_text("not a key")
    k2 = _rsa_key(1024, "t")
    assert k2.private_numbers() != k1.private_numbers()
    assert _rsa_key(1024, "t").private_numbers() == k2.private_numbers()
    monkeypatch.setenv("DANELAB_CACHE", "")
    assert _rsa_key(1024, "u").key_size == 1024
    assert not (tmp_path / "c" / "rsa-1024-u.pem").exists()
