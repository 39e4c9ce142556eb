"""The lab PKI: a lab root CA, an intermediate, a rogue CA nobody trusts, a
WebPKI root and issuing CA for MTA-STS, and leaf certificates as scenarios
ask for them; and TLSA data for any of them.

Certificates are made at build time with `cryptography`.  EC and Ed25519
keys are cheap and made per certificate; RSA keys are slow to make, so the
process keeps a small pool of them per size.  Files are written as PEM:
<name>.crt, <name>.key and <name>.chain.pem (leaf first, then its issuers up
to the root, or what the certificate's spec lists instead).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from .errors import SpecError

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | \
    ed25519.Ed25519PrivateKey

# The built-in CAs: the only place their names are spelled.  Scenarios name
# them as issuers and TLSA references, the linter accepts them, the docs
# list them (a test checks docs/scenarios.md against BUILTIN_CAS).
LAB_ROOT = "lab-root"        # the lab's root; senders get it as ctx.lab_ca
LAB_INT = "lab-int"          # under LAB_ROOT; the default issuer
ROGUE_ROOT = "rogue-root"    # a root nobody trusts or publishes
ROGUE_INT = "rogue-int"      # under ROGUE_ROOT
# The lab's "public" WebPKI for MTA-STS (RFC 8461 §4.2): senders in the lab
# namespace trust WEBPKI_ROOT through the CA bundle the runner bind-mounts
# over /etc/ssl/certs there (docs/mta-sts.md); lab-root is not in it.
WEBPKI_ROOT = "webpki-root"
WEBPKI_INT = "webpki-int"    # under WEBPKI_ROOT
# name -> (subject common name, issuer), in the order they are made
BUILTIN_CAS: dict[str, tuple[str, str | None]] = {
    LAB_ROOT: ("danelab Root CA", None),
    LAB_INT: ("danelab Intermediate CA", LAB_ROOT),
    ROGUE_ROOT: ("Rogue Root CA", None),
    ROGUE_INT: ("Rogue Intermediate CA", ROGUE_ROOT),
    WEBPKI_ROOT: ("danelab WebPKI Root CA", None),
    WEBPKI_INT: ("danelab WebPKI Issuing CA", WEBPKI_ROOT),
}
SELF_SIGNED = "self"         # as an issuer: the certificate signs itself
VALIDITIES = ("valid", "expired", "not-yet-valid")
# Key types: "ec" is P-256, "rsa" is 2048 bits.
KEY_TYPES = ("ec", "ec-p384", "rsa", "rsa-1024", "rsa-3072", "rsa-4096",
             "ed25519")
RSA_BITS = {"rsa": 2048, "rsa-1024": 1024, "rsa-3072": 3072,
            "rsa-4096": 4096}
# "now", "+30d", "-400d", "+12h", "-90m" (from the build time), or an
# RFC 3339 date or UTC time: "2030-01-01", "2030-01-01T00:00:00Z".
WHEN_RE = re.compile(r"^(now|[+-]\d{1,5}[dhm])$")
_RSA_POOL: dict[int, list[rsa.RSAPrivateKey]] = {}


def key_family(kind: str) -> str:
    """What a TLS server can hold one of: "ec", "rsa" or "ed25519"."""
    return "rsa" if kind.startswith("rsa") else \
        "ec" if kind.startswith("ec") else kind


def parse_when(text: str, now: dt.datetime) -> dt.datetime:
    """A not_before / not_after value as an aware UTC time; ValueError
    with a reason if it is none of the forms WHEN_RE and RFC 3339 allow."""
    t = text.strip()
    if WHEN_RE.match(t):
        if t == "now":
            return now
        unit = {"d": "days", "h": "hours", "m": "minutes"}[t[-1]]
        return now + dt.timedelta(**{unit: int(t[:-1])})
    try:
        when = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r}: expected 'now', an offset like '+30d', "
                         "'-400d', '-12h', or a date like '2030-01-01' / "
                         "'2030-01-01T00:00:00Z'") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    if not 1950 <= when.year <= 9999:
        raise ValueError(f"{text!r}: the year must be 1950..9999")
    return when.astimezone(dt.timezone.utc)


@dataclass
class CertSpec:
    """A certificate to issue, as a scenario's [[cert]] declares it (NAMES
    relative to the scenario domain, NAME and ISSUER the file's own) or as
    the lab issues it (names absolute, NAME unique in the run).  ISSUER is
    a built-in CA, SELF_SIGNED, or the NAME of a CertSpec with ca=True
    issued before; WHERE says where it was declared, for errors."""

    name: str
    names: list[str] = field(default_factory=list)
    issuer: str = LAB_INT
    key: str = "ec"
    validity: str = "valid"
    ca: bool = False
    # what a server presenting it sends after it (names of certificates
    # issued before); None: its issuers up to the root, root included
    chain: list[str] | None = None
    where: str = ""
    not_before: str | None = None     # parse_when(); overrides validity
    not_after: str | None = None
    cn: str | None = None             # subject CN; default: names[0]


@dataclass
class Issued:
    name: str
    cert: x509.Certificate
    key: Key
    chain: list[x509.Certificate]      # leaf first
    cert_file: Path | None = None
    key_file: Path | None = None
    chain_file: Path | None = None

    def sha256(self) -> str:
        return hashlib.sha256(
            self.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _naive_utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _der(cert: x509.Certificate, selector: int) -> bytes:
    if selector == 0:
        return cert.public_bytes(serialization.Encoding.DER)
    return cert.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)


def tlsa_data(cert: x509.Certificate, selector: int, mtype: int) -> str:
    """The hex association data of CERT for SELECTOR and MTYPE."""
    raw = _der(cert, selector)
    if mtype == 0:
        return raw.hex()
    if mtype == 1:
        return hashlib.sha256(raw).hexdigest()
    if mtype == 2:
        return hashlib.sha512(raw).hexdigest()
    raise ValueError(f"matching type {mtype} has no defined digest")


def tlsa_rdata(cert: x509.Certificate, usage: int, selector: int,
               mtype: int) -> str:
    return f"{usage} {selector} {mtype} {tlsa_data(cert, selector, mtype)}"


def cert_file(folder: Path, name: str) -> Path:
    """Where LabPKI.write(FOLDER) puts certificate NAME (PEM)."""
    return folder / f"{name}.crt"


class LabPKI:
    """Issues certificates; write() puts them all on disk."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.timezone.utc).replace(
            microsecond=0)
        self.issued: dict[str, Issued] = {}
        self._serial = 1000
        for name, (cn, issuer) in BUILTIN_CAS.items():
            self._make(name, [cn], self.issued[issuer] if issuer else None,
                       "ec", "valid", ca=True)

    def _key(self, kind: str) -> Key:
        if kind == "ec":
            return ec.generate_private_key(ec.SECP256R1())
        if kind == "ec-p384":
            return ec.generate_private_key(ec.SECP384R1())
        if kind == "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
        bits = RSA_BITS[kind]
        pool = _RSA_POOL.setdefault(bits, [])
        if len(pool) < 2:
            pool.append(rsa.generate_private_key(65537, bits))
            return pool[-1]
        self._serial += 1
        return pool[self._serial % 2]

    def _validity(self, v: str) -> tuple[dt.datetime, dt.datetime]:
        day = dt.timedelta(days=1)
        if v == "expired":
            return self.now - 400 * day, self.now - 30 * day
        if v == "not-yet-valid":
            return self.now + 30 * day, self.now + 400 * day
        return self.now - day, self.now + 365 * day

    def _make(self, name: str, names: list[str], issuer: Issued | None,
              key_kind: str, validity: str, ca: bool,
              dates: tuple[str | None, str | None] = (None, None),
              cn: str | None = None) -> Issued:
        key = self._key(key_kind)
        cn = cn or (names[0] if names else name)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                                "danelab")])
        nb, na = self._validity(validity)
        if dates[0]:
            nb = parse_when(dates[0], self.now)
        if dates[1]:
            na = parse_when(dates[1], self.now)
        self._serial += 1
        # The constructor, not the setters: they refuse not_after before
        # not_before, and such a certificate is a case to test.
        b = (x509.CertificateBuilder(
                issuer_name=issuer.cert.subject if issuer else subject,
                subject_name=subject, public_key=key.public_key(),
                serial_number=self._serial,
                not_valid_before=_naive_utc(nb),
                not_valid_after=_naive_utc(na), extensions=[])
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                            critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                 key.public_key()), critical=False))
        if ca:
            b = b.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
        else:
            if names:
                b = b.add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName(n) for n in names]), critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage(
                [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        if issuer:
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    issuer.key.public_key()), critical=False)
        signer = issuer.key if issuer else key
        algo = None if isinstance(signer, ed25519.Ed25519PrivateKey) \
            else hashes.SHA256()
        cert = b.sign(signer, algo)
        chain = [cert] + (issuer.chain if issuer else [])
        it = Issued(name, cert, key, chain)
        self.issued[name] = it
        return it

    def issue(self, spec: CertSpec) -> Issued:
        """Issue SPEC (once; a second call with the same name returns it)."""
        if spec.name in self.issued:
            return self.issued[spec.name]
        where = spec.where or f"certificate {spec.name}"
        if spec.key not in KEY_TYPES:
            raise SpecError(where, "key", f"{spec.key!r}: must be one of "
                            f"{', '.join(KEY_TYPES)}")
        if spec.validity not in VALIDITIES:
            raise SpecError(where, "validity", f"{spec.validity!r}: must be "
                            f"one of {', '.join(VALIDITIES)}")
        for fld, v in (("not_before", spec.not_before),
                       ("not_after", spec.not_after)):
            try:
                if v is not None:
                    parse_when(v, self.now)
            except ValueError as e:
                raise SpecError(where, fld, str(e))
        if spec.issuer == SELF_SIGNED:
            issuer = None
        elif spec.issuer in self.issued and self.issued[spec.issuer].cert \
                .extensions.get_extension_for_class(
                    x509.BasicConstraints).value.ca:
            issuer = self.issued[spec.issuer]
        else:
            raise SpecError(where, "issuer", f"{spec.issuer!r} is not a CA "
                            f"issued before (built-in: "
                            f"{', '.join(BUILTIN_CAS)}, or {SELF_SIGNED!r})")
        missing = [n for n in spec.chain or [] if n not in self.issued]
        if missing:
            raise SpecError(where, "chain", f"{missing[0]!r} was not "
                            "issued before")
        it = self._make(spec.name, spec.names, issuer, spec.key,
                        spec.validity, spec.ca,
                        (spec.not_before, spec.not_after), spec.cn)
        if spec.chain is not None:
            it.chain = [it.cert] + [self.issued[n].cert for n in spec.chain]
        return it

    def write(self, folder: Path) -> None:
        """Write every certificate, key and chain file into FOLDER."""
        folder.mkdir(parents=True, exist_ok=True)
        pem = serialization.Encoding.PEM
        for it in self.issued.values():
            it.cert_file = cert_file(folder, it.name)
            it.key_file = folder / f"{it.name}.key"
            it.chain_file = folder / f"{it.name}.chain.pem"
            it.cert_file.write_bytes(it.cert.public_bytes(pem))
            it.key_file.write_bytes(it.key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            it.key_file.chmod(0o600)
            it.chain_file.write_bytes(b"".join(
                c.public_bytes(pem) for c in it.chain))

    def root_pem(self) -> bytes:
        return self.issued[LAB_ROOT].cert.public_bytes(
            serialization.Encoding.PEM)
