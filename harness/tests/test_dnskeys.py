"""Signing keys: the RRSIGs ldns-signzone makes carry our key's tag, also
for a key whose flags-256 twin has another tag (a regression: such zones
came out bogus about once in 65,536 keys)."""
from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from danelab.dns.dnskeys import ZoneKey, new_key
from danelab.dns.zonebuild import build_universe
from danelab.dns.zonespec import Record, ZoneSpec

# A key found in a run whose zone came out bogus (tag 15 vs 13 in RRSIGs).
WRAPPING = "XAis42QUO4KTC508AMElmzfF4uzsB62UgyxE4/Btirg="


def key_from(zone: str, b64: str) -> ZoneKey:
    d = int.from_bytes(base64.b64decode(b64), "big")
    return ZoneKey(zone, ec.derive_private_key(d, ec.SECP256R1()))


def rrsig_tags(zone_file: Path) -> set[int]:
    tags = set()
    for line in zone_file.read_text().splitlines():
        f = line.split()
        if len(f) > 10 and f[3] == "RRSIG":
            tags.add(int(f[10]))
    return tags


def test_wrapping_key_signs_with_its_own_tag(tmp_path: Path) -> None:
    k = key_from("wrap.test.", WRAPPING)
    u = build_universe([ZoneSpec("wrap.test.", [Record("a", "A",
                                                       "127.0.0.1")])],
                       tmp_path, keys={"wrap.test.": k})
    f = u.zones["wrap.test."].file
    assert rrsig_tags(f) == {k.tag}
    assert subprocess.run(["ldns-verify-zone", str(f)],
                          capture_output=True).returncode == 0


def test_fresh_keys_sign_with_their_tags(tmp_path: Path) -> None:
    specs = [ZoneSpec(f"k{i}.test.", [Record("a", "A", "127.0.0.1")])
             for i in range(20)]
    u = build_universe(specs, tmp_path)
    for name, bz in u.zones.items():
        assert bz.key is not None
        assert rrsig_tags(bz.file) == {bz.key.tag}, name


def test_ds_matches_key() -> None:
    k = new_key("x.test.")
    tag, alg, digest_type, _ = k.ds_text().split()
    assert (int(tag), int(alg), int(digest_type)) == (k.tag, 13, 2)
