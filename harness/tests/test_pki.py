"""The lab PKI, checked against OpenSSL's own tools: chains verify, dates and
names are what the spec asked for, and TLSA data equals what openssl computes
for every selector and matching type."""
from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from danelab.errors import SpecError
from danelab.pki import CertSpec, LabPKI, tlsa_data, tlsa_rdata


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[LabPKI, Path]:
    p = LabPKI()
    p.issue(CertSpec("ok", ["mx1.a.test"]))
    p.issue(CertSpec("rsa", ["mx1.a.test"], key="rsa"))
    p.issue(CertSpec("old", ["mx1.a.test"], validity="expired"))
    p.issue(CertSpec("early", ["mx1.a.test"], validity="not-yet-valid"))
    p.issue(CertSpec("self", ["mx1.a.test"], issuer="self"))
    p.issue(CertSpec("rogue", ["mx1.a.test"], issuer="rogue-int"))
    p.issue(CertSpec("myca", ["My CA"], issuer="lab-root", ca=True))
    p.issue(CertSpec("under-myca", ["mx2.a.test"], issuer="myca"))
    p.issue(CertSpec("bare", ["mx1.a.test"], chain=[]))
    p.issue(CertSpec("no-root", ["mx1.a.test"], chain=["lab-int"]))
    p.issue(CertSpec("padded", ["mx1.a.test"], issuer="rogue-int",
                     chain=["rogue-int", "rogue-root", "lab-int"]))
    d = tmp_path_factory.mktemp("pki")
    p.write(d)
    return p, d


def verify(d: Path, name: str, root: str = "lab-root") -> bool:
    cp = subprocess.run(["openssl", "verify", "-CAfile",
                         str(d / f"{root}.crt"),
                         "-untrusted", str(d / f"{name}.chain.pem"),
                         str(d / f"{name}.crt")], capture_output=True)
    return cp.returncode == 0


def test_chains_verify_with_openssl(pki: tuple[LabPKI, Path]) -> None:
    _, d = pki
    assert verify(d, "ok") and verify(d, "rsa") and verify(d, "under-myca")
    assert not verify(d, "old")              # expired
    assert not verify(d, "early")            # not yet valid
    assert not verify(d, "rogue")            # another CA
    assert verify(d, "rogue", "rogue-root")
    assert verify(d, "self", "self")         # its own root


def test_properties(pki: tuple[LabPKI, Path]) -> None:
    p, _ = pki
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    c = p.issued["ok"].cert
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["mx1.a.test"]
    assert isinstance(c.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(p.issued["rsa"].cert.public_key(), rsa.RSAPublicKey)
    assert p.issued["old"].cert.not_valid_after < now
    assert p.issued["early"].cert.not_valid_before > now
    s = p.issued["self"].cert
    assert s.issuer == s.subject
    assert [x.subject for x in p.issued["ok"].chain][1:] == [
        p.issued["lab-int"].cert.subject, p.issued["lab-root"].cert.subject]


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

    assert names("ok") == [subject(n) for n in ("ok", "lab-int",
                                                "lab-root")]
    assert names("bare") == [subject("bare")]
    assert names("no-root") == [subject("no-root"), subject("lab-int")]
    assert names("padded") == [subject(n) for n in (
        "padded", "rogue-int", "rogue-root", "lab-int")]
    assert verify(d, "no-root") and not verify(d, "bare")
    assert not verify(d, "padded") and verify(d, "padded", "rogue-root")


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_tlsa_data_matches_openssl(pki: tuple[LabPKI, Path], selector: int,
                                   mtype: int) -> None:
    p, d = pki
    crt = d / "rsa.crt"
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
    assert tlsa_data(p.issued["rsa"].cert, selector, mtype) == want
    assert tlsa_rdata(p.issued["rsa"].cert, 3, selector, mtype) == \
        f"3 {selector} {mtype} {want}"


def test_bad_certificate_specs() -> None:
    p = LabPKI()
    with pytest.raises(SpecError, match="issuer"):
        p.issue(CertSpec("x", ["a.test"], issuer="nobody"))
    with pytest.raises(SpecError, match="validity"):
        p.issue(CertSpec("y", ["a.test"], validity="sometimes"))
    p.issue(CertSpec("leaf", ["a.test"]))
    with pytest.raises(SpecError, match="not a CA"):
        p.issue(CertSpec("z", ["a.test"], issuer="leaf"))
    with pytest.raises(SpecError, match="chain"):
        p.issue(CertSpec("w", ["a.test"], chain=["lab-int", "nobody"]))
