"""Would a DANE client have authenticated this server?  The grader's own
judgement of a presented chain against a TLSA RRset, independent of any
sender's code (RFC 7672 §3.1, RFC 7671 §5).

- DANE-EE (usage 3): the leaf certificate (selector 0) or its public key
  (selector 1) matches; names and dates are ignored (RFC 7672 §3.1.1).
- DANE-TA (usage 2): the record names a trust anchor, and the leaf must
  reach it by verified signatures: link by link through the certificates
  the server presented, or, when the record carries the full certificate
  or the full public key (matching type 0), to that record's own data even
  if the server did not send it (RFC 7671 §5.2.2).  A matching CA that was
  merely sent along, while the leaf chains to another CA, is no match.  The
  leaf's names must fit a reference identifier (RFC 7672 §3.2.2) and every
  certificate below the anchor must be within its validity (RFC 7672
  §3.1.2: DANE-TA keeps the usual date checks).
- Usages 0 and 1, unknown selectors or matching types, and digests of the
  wrong length are unusable (RFC 7672 §3.1.3): they never authenticate.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, \
    padding, rsa

from .pki import tlsa_data

DIGEST_HEX_LEN = {1: 64, 2: 128}


@dataclass(frozen=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: str                  # lower-case hex

    @classmethod
    def parse(cls, text: str) -> "Tlsa | None":
        """A "u s m hex" string, or None when it is not one."""
        f = text.split()
        if len(f) != 4 or not all(x.isdigit() for x in f[:3]):
            return None
        return cls(int(f[0]), int(f[1]), int(f[2]), f[3].lower())

    @property
    def usable(self) -> bool:
        """Usable by an RFC 7672 client (usage 2 or 3, selector 0 or 1,
        matching type 1 or 2 with a digest of the right length, or 0 with
        data that is a certificate or a public key: full data that is
        neither is malformed, and OpenSSL's DANE code refuses it)."""
        if self.usage not in (2, 3) or self.selector not in (0, 1) or \
                self.mtype not in (0, 1, 2):
            return False
        if self.mtype == 0:
            return _full_data(self) != (None, None)
        return len(self.data) == DIGEST_HEX_LEN[self.mtype]

    def matches(self, cert: x509.Certificate) -> bool:
        return tlsa_data(cert, self.selector, self.mtype) == self.data


def usable_records(records: list[str]) -> list[Tlsa]:
    out = []
    for r in records:
        t = Tlsa.parse(r)
        if t is not None and t.usable:
            out.append(t)
    return out


def signed_by(cert: x509.Certificate, key: object) -> bool:
    """Does KEY's signature over CERT verify?  Key types the lab does not
    use (DSA, RSA-PSS parameters) count as not verified."""
    sig, tbs = cert.signature, cert.tbs_certificate_bytes
    h = cert.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and h is not None:
            key.verify(sig, tbs, padding.PKCS1v15(), h)
        elif isinstance(key, ec.EllipticCurvePublicKey) and h is not None:
            key.verify(sig, tbs, ec.ECDSA(h))
        elif isinstance(key, (ed25519.Ed25519PublicKey,
                              ed448.Ed448PublicKey)):
            key.verify(sig, tbs)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    return child.issuer == parent.subject and \
        signed_by(child, parent.public_key())


Anchor = tuple[x509.Certificate | None, object | None]


def _full_data(t: "Tlsa") -> Anchor:
    """The full certificate or public key a matching-type-0 record carries
    (both None when it carries neither)."""
    if t.mtype != 0:
        return None, None
    try:
        raw = bytes.fromhex(t.data)
        if t.selector == 0:
            return x509.load_der_x509_certificate(raw), None
        return None, serialization.load_der_public_key(raw)
    except ValueError:
        return None, None


def ta_path(t: Tlsa, chain: list[x509.Certificate]
            ) -> list[x509.Certificate] | None:
    """The certificates from the leaf up to (not including) the trust
    anchor T names, each verified as signed by the next; None when the
    leaf does not reach that anchor."""
    cert_ta, key_ta = _full_data(t)

    def up(cur: x509.Certificate, used: frozenset[int]
           ) -> list[x509.Certificate] | None:
        if cert_ta is not None and issued_by(cur, cert_ta):
            return [cur]
        if key_ta is not None and signed_by(cur, key_ta):
            return [cur]
        for i, c in enumerate(chain[1:], 1):
            if i in used or not issued_by(cur, c):
                continue
            if t.matches(c):
                return [cur]
            rest = up(c, used | {i})
            if rest is not None:
                return [cur] + rest
        return None

    return up(chain[0], frozenset({0})) if chain else None


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        return [n.lower().rstrip(".") for n in
                san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        return [str(a.value).lower().rstrip(".") for a in
                cert.subject.get_attributes_for_oid(
                    x509.oid.NameOID.COMMON_NAME)]


def name_matches(pattern: str, name: str) -> bool:
    """RFC 6125 matching as RFC 7672 §3.2.3 allows it: exact, or a
    wildcard standing for exactly one whole left-most label."""
    name = name.lower().rstrip(".")
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:]
    return False


def names_fit(cert: x509.Certificate, references: list[str]) -> bool:
    return any(name_matches(p, r) for p in _dns_names(cert)
               for r in references if r)


def in_validity(cert: x509.Certificate, now: dt.datetime) -> bool:
    naive = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return cert.not_valid_before <= naive <= cert.not_valid_after


@dataclass
class Verdict:
    ok: bool
    why: str              # what matched, or why nothing did


def authenticate(records: list[str], chain: list[x509.Certificate],
                 references: list[str],
                 now: dt.datetime | None = None) -> Verdict:
    """Judge CHAIN (as presented, leaf first) against the TLSA RECORDS.
    REFERENCES are the names a DANE-TA leaf may carry (the TLSA base domain
    first, then the MX host name).  One usable record that authenticates
    is enough (RFC 7671 §5)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    usable = usable_records(records)
    if not chain:
        return Verdict(False, "no certificate was presented")
    if not usable:
        return Verdict(False, "no usable TLSA record")
    leaf, why = chain[0], "no usable TLSA record matches the chain"
    for t in usable:
        if t.usage == 3:
            if t.matches(leaf):
                return Verdict(True, f"DANE-EE {t.usage} {t.selector} "
                               f"{t.mtype} matches the leaf")
            continue
        path = ta_path(t, chain)
        if path is None:
            continue
        if not names_fit(leaf, references):
            why = (f"DANE-TA {t.usage} {t.selector} {t.mtype}: the leaf's "
                   f"names fit none of {', '.join(references)}")
            continue
        if not all(in_validity(c, now) for c in path):
            why = (f"DANE-TA {t.usage} {t.selector} {t.mtype}: a "
                   f"certificate below the trust anchor is outside its "
                   f"validity")
            continue
        return Verdict(True, f"DANE-TA {t.usage} {t.selector} {t.mtype}: "
                       f"the leaf chains to the trust anchor by verified "
                       f"signatures ({len(path)} link(s))")
    return Verdict(False, why)
