"""The lab PKI: a lab root CA, an intermediate, a rogue CA nobody trusts, and
leaf certificates as scenarios ask for them; and TLSA data for any of them.

Certificates are made at build time with `cryptography`.  EC and Ed25519
keys are cheap and made per certificate; RSA keys are slow to make, so the
process keeps a small pool of them per size.  Files are written as PEM:
<name>.crt, <name>.key and <name>.chain.pem (leaf first, then issuers, the
root last when asked for); chain_file() writes other chains a server is to
present (any order, duplicates, the leaf alone).
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
BUILTIN_CAS = ("lab-root", "lab-int", "rogue-root", "rogue-int")
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
    """A certificate a scenario wants.  ISSUER is a built-in CA, "self",
    or the name of another CertSpec with ca=True."""

    name: str
    names: list[str] = field(default_factory=list)
    issuer: str = "lab-int"
    key: str = "ec"
    validity: str = "valid"
    ca: bool = False
    chain_root: bool = True       # put the self-signed root in the chain file
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


class LabPKI:
    """Issues certificates; write() puts them all on disk."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.timezone.utc).replace(
            microsecond=0)
        self.issued: dict[str, Issued] = {}
        self.folder: Path | None = None     # set by write()
        self._serial = 1000
        root = self._make("lab-root", ["danelab Root CA"], None, "ec",
                          "valid", ca=True)
        self._make("lab-int", ["danelab Intermediate CA"], root, "ec",
                   "valid", ca=True)
        rogue = self._make("rogue-root", ["Rogue Root CA"], None, "ec",
                           "valid", ca=True)
        self._make("rogue-int", ["Rogue Intermediate CA"], rogue, "ec",
                   "valid", ca=True)

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
        if spec.issuer == "self":
            issuer = None
        elif spec.issuer in self.issued and self.issued[spec.issuer].cert \
                .extensions.get_extension_for_class(
                    x509.BasicConstraints).value.ca:
            issuer = self.issued[spec.issuer]
        else:
            raise SpecError(where, "issuer", f"{spec.issuer!r} is not a CA "
                            f"issued before (built-in: "
                            f"{', '.join(BUILTIN_CAS)}, or 'self')")
        return self._make(spec.name, spec.names, issuer, spec.key,
                          spec.validity, spec.ca,
                          (spec.not_before, spec.not_after), spec.cn)

    def chain_file(self, leaf: Issued, rest: list[Issued] | None) -> Path:
        """The PEM file a server presents: LEAF, then REST in that order
        (duplicates kept; [] for the leaf alone; None for the leaf's own
        chain file).  Written, once, into the folder of write()."""
        if rest is None:
            assert leaf.chain_file is not None, "write() first"
            return leaf.chain_file
        assert self.folder is not None, "write() first"
        stem = hashlib.sha256(" ".join([leaf.name] + [r.name for r in rest])
                              .encode()).hexdigest()[:16]
        path = self.folder / "presented" / f"{leaf.name}.{stem}.pem"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"".join(
                c.cert.public_bytes(serialization.Encoding.PEM)
                for c in [leaf] + rest))
        return path

    def write(self, folder: Path) -> None:
        """Write every certificate, key and chain file into FOLDER."""
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        pem = serialization.Encoding.PEM
        for it in self.issued.values():
            it.cert_file = folder / f"{it.name}.crt"
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
        return self.issued["lab-root"].cert.public_bytes(
            serialization.Encoding.PEM)
