"""Certificates made at test time for the fake-mx integration tests: EC
P-256 and RSA leaves, a CA, written as PEM files (the `pki` fixture of
conftest.py uses these)."""
from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Cert:
    """A key and certificate written as PEM files."""

    def __init__(self, d: Path, stem: str, key, cert: x509.Certificate,
                 issuer: "Cert | None" = None):
        self.key = key
        self.cert = cert
        self.key_path = d / f"{stem}.key.pem"
        self.cert_path = d / f"{stem}.pem"
        self.chain_path = d / f"{stem}.chain.pem"
        self.key_path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        pem = cert.public_bytes(serialization.Encoding.PEM)
        self.cert_path.write_bytes(pem)
        chain = pem + (issuer.cert.public_bytes(serialization.Encoding.PEM)
                       if issuer else b"")
        self.chain_path.write_bytes(chain)
        self.issuer = issuer

    @property
    def sha256(self) -> str:
        return hashlib.sha256(
            self.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def make_cert(d: Path, stem: str, cn: str, kind: str = "ec",
              issuer: Cert | None = None, ca: bool = False) -> Cert:
    if kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(_name(cn))
         .issuer_name(issuer.cert.subject if issuer else _name(cn))
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True))
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]),
                            critical=False)
    cert = b.sign(issuer.key if issuer else key, hashes.SHA256())
    return Cert(d, stem, key, cert, issuer)
