"""DNSSEC signing keys: generation, DNSKEY/DS records, files for ldns-signzone.

Every zone is signed with one ECDSA P-256 (algorithm 13) combined signing key
(flags 257).  Keys are made with `cryptography` (microseconds each, no
process start) and written in the BIND/ldns private-key format that
ldns-signzone reads.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = 13  # ECDSAP256SHA256


@dataclass
class ZoneKey:
    """A zone's signing key; the private key stays in memory and on disk."""

    zone: str                     # absolute name, e.g. "a01.test."
    private: ec.EllipticCurvePrivateKey
    flags: int = 257
    # derived from the key once (a rebuild asks again for every zone)
    _b64: str | None = field(default=None, repr=False, compare=False)
    _dnskey: dns.rdata.Rdata | None = field(default=None, repr=False,
                                            compare=False)
    _ds: dict[int, str] = field(default_factory=dict, repr=False,
                                compare=False)

    @property
    def public_b64(self) -> str:
        if self._b64 is None:
            nums = self.private.public_key().public_numbers()
            raw = nums.x.to_bytes(32, "big") + nums.y.to_bytes(32, "big")
            self._b64 = base64.b64encode(raw).decode("ascii")
        return self._b64

    def dnskey_rdata(self) -> dns.rdata.Rdata:
        if self._dnskey is None:
            self._dnskey = dns.rdata.from_text(
                dns.rdataclass.IN, dns.rdatatype.DNSKEY,
                f"{self.flags} 3 {ALGORITHM} {self.public_b64}")
        return self._dnskey

    def dnskey_text(self) -> str:
        return f"{self.flags} 3 {ALGORITHM} {self.public_b64}"

    @property
    def tag(self) -> int:
        return dns.dnssec.key_id(self.dnskey_rdata())  # type: ignore[arg-type]

    def ds_text(self, digest: int = 2) -> str:
        """The DS rdata for this key (digest 2 = SHA-256)."""
        if digest not in self._ds:
            ds = dns.dnssec.make_ds(dns.name.from_text(self.zone),
                                    self.dnskey_rdata(),
                                    digest)  # type: ignore
            self._ds[digest] = ds.to_text()
        return self._ds[digest]

    def basename(self) -> str:
        z = self.zone if self.zone != "." else "."
        return f"K{z}+{ALGORITHM:03d}+{self.tag:05d}"

    def write_private(self, folder: Path) -> Path:
        """Write <base>.private (ldns format) and <base>.key (the DNSKEY);
        return the path without the suffix.

        The .key file matters: without it ldns-signzone derives a DNSKEY
        with flags 256 from the private key and signs with that key's tag,
        which differs from our flags-257 key's tag whenever the tag sum
        wraps: a randomly bogus zone."""
        d = self.private.private_numbers().private_value.to_bytes(32, "big")
        base = folder / self.basename()
        base.with_name(base.name + ".private").write_text(
            "Private-key-format: v1.2\n"
            "Algorithm: 13 (ECDSAP256SHA256)\n"
            f"PrivateKey: {base64.b64encode(d).decode('ascii')}\n")
        base.with_name(base.name + ".key").write_text(
            f"{self.zone} IN DNSKEY {self.dnskey_text()}\n")
        return base


def new_key(zone: str, flags: int = 257) -> ZoneKey:
    return ZoneKey(zone, ec.generate_private_key(ec.SECP256R1()), flags)
