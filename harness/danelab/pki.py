"""The lab PKI: a lab root CA, an intermediate, a rogue CA nobody trusts, a
WebPKI root and issuing CA for MTA-STS, and leaf certificates as scenarios
ask for them; and TLSA data for any of them.

Certificates are made at build time with `cryptography`.  EC and Ed25519
keys are cheap and made per certificate; RSA keys are slow to make (a tenth
of a second to seconds), so the process keeps a pool of two per size, made
in background threads as soon as a plan knows it needs them (expect_rsa),
and kept between runs in the key cache (key_cache()).
Files are written as PEM: <name>.crt, <name>.key and <name>.chain.pem (leaf
first, then its issuers up to the root, or what the certificate's spec lists
instead).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import threading
from collections import Counter
from concurrent.futures import Future
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
RSA_POOL = 2                 # RSA keys of one size a process makes
# Key types: "ec" is P-256, "rsa" is 2048 bits.
KEY_TYPES = ("ec", "ec-p384", "rsa", "rsa-1024", "rsa-3072", "rsa-4096",
             "ed25519")
RSA_BITS = {"rsa": 2048, "rsa-1024": 1024, "rsa-3072": 3072,
            "rsa-4096": 4096}
# "now", "+30d", "-400d", "+12h", "-90m" (from the build time), or an
# RFC 3339 date or UTC time: "2030-01-01", "2030-01-01T00:00:00Z".
WHEN_RE = re.compile(r"^(now|[+-]\d{1,5}[dhm])$")
_RSA_POOL: dict[int, list[Future[rsa.RSAPrivateKey]]] = {}


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
    _sha256: str | None = field(default=None, repr=False, compare=False)
    # its SubjectKeyIdentifier: what the certificates it issues name as
    # their AuthorityKeyIdentifier
    ski: x509.SubjectKeyIdentifier | None = field(default=None, repr=False,
                                                  compare=False)

    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.cert.public_bytes(
                serialization.Encoding.DER)).hexdigest()
        return self._sha256


def _der_item(der: bytes, at: int) -> tuple[int, int]:
    """(start of the contents, end) of the DER item at AT."""
    n = der[at + 1]
    at += 2
    if n & 0x80:
        width = n & 0x7F
        n = int.from_bytes(der[at:at + width], "big")
        at += width
    return at, at + n


def spki_der(cert: x509.Certificate) -> bytes:
    """CERT's SubjectPublicKeyInfo, the very bytes it holds (what TLSA
    selector 1 digests), read from its DER: asking `cryptography` for the
    public key parses and checks the key, a millisecond per certificate."""
    der = cert.public_bytes(serialization.Encoding.DER)
    start, _ = _der_item(der, 0)             # Certificate
    at, _ = _der_item(der, start)            # TBSCertificate
    fields = 6 if der[at] == 0xA0 else 5     # [0] version first, if any
    for _ in range(fields):                  # version?, serial, signature,
        at = _der_item(der, at)[1]           # issuer, validity, subject
    return der[at:_der_item(der, at)[1]]


def _naive_utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _der(cert: x509.Certificate, selector: int) -> bytes:
    if selector == 0:
        return cert.public_bytes(serialization.Encoding.DER)
    return spki_der(cert)


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


def key_cache() -> Path | None:
    """Where the RSA keys the lab makes are kept between runs:
    $DANELAB_CACHE (empty: nowhere), else $XDG_CACHE_HOME/danelab or
    ~/.cache/danelab."""
    env = os.environ.get("DANELAB_CACHE")
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "danelab"


def _rsa_key(bits: int, slot: str) -> rsa.RSAPrivateKey:
    """RSA key SLOT of BITS bits from the key cache, made (and kept there)
    if it is not there yet: a 4096-bit key takes seconds of CPU to make,
    and every run would wait for it."""
    cache = key_cache()
    path = cache / f"rsa-{bits}-{slot}.pem" if cache else None
    if path is not None:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(),
                                                     None)
            if isinstance(key, rsa.RSAPrivateKey) and key.key_size == bits:
                return key
        except (OSError, ValueError, TypeError):
            pass                            # not there, or damaged: anew
    key = rsa.generate_private_key(65537, bits)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}."
                                 f"{threading.get_ident()}")
            tmp.write_bytes(key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            tmp.chmod(0o600)
            os.replace(tmp, path)
        except OSError:
            pass                            # kept nowhere: made each run
    return key


def rsa_key_later(bits: int = 2048, slot: str = "0"
                  ) -> "Future[rsa.RSAPrivateKey]":
    """RSA key SLOT of BITS bits (see _rsa_key), loaded or made in a
    background thread (OpenSSL works without the GIL meanwhile);
    .result() waits for it."""
    f: Future[rsa.RSAPrivateKey] = Future()

    def make() -> None:
        try:
            f.set_result(_rsa_key(bits, slot))
        except BaseException as e:          # handed to whoever waits
            f.set_exception(e)
    threading.Thread(target=make, name="rsa-key", daemon=True).start()
    return f


def cert_file(folder: Path, name: str) -> Path:
    """Where LabPKI.write(FOLDER) puts certificate NAME (PEM)."""
    return folder / f"{name}.crt"


class LabPKI:
    """Issues certificates; write() puts them all on disk."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.timezone.utc).replace(
            microsecond=0)
        self.issued: dict[str, Issued] = {}
        self._rsa_used: dict[int, int] = {}      # by size
        self._by_sha256: dict[str, x509.Certificate] = {}
        self._serial = 1000
        for name, (cn, issuer) in BUILTIN_CAS.items():
            self._make(name, [cn], self.issued[issuer] if issuer else None,
                       "ec", "valid", ca=True)

    def expect_rsa(self, kinds: list[str]) -> None:
        """Certificates with keys of KINDS are coming: start making the RSA
        keys they will use (at most the pool's two per size) now, in the
        background."""
        for bits, n in Counter(RSA_BITS[k] for k in kinds
                               if k in RSA_BITS).items():
            pool = _RSA_POOL.setdefault(bits, [])
            while len(pool) < min(n, RSA_POOL):
                pool.append(rsa_key_later(bits, str(len(pool))))

    def _key(self, kind: str) -> Key:
        if kind == "ec":
            return ec.generate_private_key(ec.SECP256R1())
        if kind == "ec-p384":
            return ec.generate_private_key(ec.SECP384R1())
        if kind == "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
        bits = RSA_BITS[kind]
        pool = _RSA_POOL.setdefault(bits, [])
        used = self._rsa_used.get(bits, 0)
        if used < RSA_POOL:             # the first two: a key each
            if used == len(pool):
                pool.append(rsa_key_later(bits, str(used)))
            self._rsa_used[bits] = used + 1
            return pool[used].result()
        self._serial += 1
        return pool[self._serial % RSA_POOL].result()

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
        pub = key.public_key()
        ski = x509.SubjectKeyIdentifier.from_public_key(pub)
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
                subject_name=subject, public_key=pub,
                serial_number=self._serial,
                not_valid_before=_naive_utc(nb),
                not_valid_after=_naive_utc(na), extensions=[])
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                            critical=True)
             .add_extension(ski, critical=False))
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
                x509.AuthorityKeyIdentifier
                .from_issuer_subject_key_identifier(issuer.ski)
                if issuer.ski else
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    issuer.key.public_key()), critical=False)
        signer = issuer.key if issuer else key
        algo = None if isinstance(signer, ed25519.Ed25519PrivateKey) \
            else hashes.SHA256()
        cert = b.sign(signer, algo)
        chain = [cert] + (issuer.chain if issuer else [])
        it = Issued(name, cert, key, chain, ski=ski)
        self.issued[name] = it
        return it

    def by_sha256(self) -> dict[str, x509.Certificate]:
        """Every certificate issued so far, by the SHA-256 of its DER
        (how fake-mx's events name what a server presented)."""
        if len(self._by_sha256) != len(self.issued):
            self._by_sha256 = {it.sha256(): it.cert
                               for it in self.issued.values()}
        return self._by_sha256

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
        """Write every certificate, key and chain file into FOLDER (those
        written there before are left as they are)."""
        folder.mkdir(parents=True, exist_ok=True)
        pem = serialization.Encoding.PEM
        for it in self.issued.values():
            if it.cert_file == cert_file(folder, it.name):
                continue
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
