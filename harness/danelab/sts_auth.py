"""Would an MTA-STS sender have accepted this server's certificate?  The
grader's own PKIX judgement (RFC 8461 §4.2, RFC 5280, RFC 6125), against
the lab's WebPKI root only, independent of any sender's TLS library:

- the leaf reaches the WebPKI root by verified signatures, through the
  certificates the server presented (the root itself need not be sent);
  every certificate above the leaf is a CA (basicConstraints cA);
- every certificate on that path is within its validity at the time;
- one of the leaf's DNS names fits the MX host name (exact, or a wildcard
  standing for one whole left-most label).
"""
from __future__ import annotations

import datetime as dt

from cryptography import x509

from .dane_auth import Verdict, in_validity, issued_by, names_fit


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(
            x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def pkix_path(chain: list[x509.Certificate], root: x509.Certificate
              ) -> list[x509.Certificate] | None:
    """The certificates from the leaf up to ROOT (included), each signed by
    the next; None when the leaf does not reach ROOT."""
    def up(cur: x509.Certificate, used: frozenset[int], depth: int
           ) -> list[x509.Certificate] | None:
        if depth > 8:
            return None
        if issued_by(cur, root) and _is_ca(root):
            return [cur, root]
        for i, c in enumerate(chain[1:], 1):
            if i in used or not _is_ca(c) or not issued_by(cur, c):
                continue
            rest = up(c, used | {i}, depth + 1)
            if rest is not None:
                return [cur] + rest
        return None

    if not chain:
        return None
    if chain[0] == root:
        return None          # the root is no server certificate
    return up(chain[0], frozenset({0}), 0)


def webpki_valid(chain: list[x509.Certificate], root: x509.Certificate,
                 host: str, now: dt.datetime | None = None) -> Verdict:
    """Judge CHAIN (as presented, leaf first) for MX host HOST."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if not chain:
        return Verdict(False, "no certificate was presented")
    path = pkix_path(chain, root)
    if path is None:
        return Verdict(False, "the chain does not lead to the WebPKI root "
                       "(certificate-not-trusted)")
    if not all(in_validity(c, now) for c in path):
        return Verdict(False, "a certificate of the chain is outside its "
                       "validity (certificate-expired)")
    if not names_fit(chain[0], [host.rstrip(".").lower()]):
        return Verdict(False, f"the leaf's names do not fit {host} "
                       "(certificate-host-mismatch)")
    return Verdict(True, f"WebPKI-valid for {host.rstrip('.')}")
