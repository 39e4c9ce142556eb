"""fake-mx certificates: the chain is sent exactly as configured (order,
duplicates, leaf only), several key types share one context and the
client's signature algorithms choose (the "tls" event names the one really
sent), and unusual keys (RSA 1024 and 4096, P-384, Ed25519) load."""
from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from fmx_daemon import BINARY
from fmx_util import by_kind, one_session

PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\n(.*?)"
                    rb"-----END CERTIFICATE-----", re.S)


class Node:
    def __init__(self, key, cert: x509.Certificate):
        self.key, self.cert = key, cert

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.cert.public_bytes(
            serialization.Encoding.DER)).hexdigest()


def _issue(cn: str, key, issuer: Node | None, ca: bool) -> Node:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name)
         .issuer_name(issuer.cert.subject if issuer else name)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True))
    signer = issuer.key if issuer else key
    algo = None if isinstance(signer, ed25519.Ed25519PrivateKey) \
        else hashes.SHA256()
    return Node(key, b.sign(signer, algo))


@pytest.fixture(scope="module")
def tree():
    root = _issue("Test Root", ec.generate_private_key(ec.SECP256R1()),
                  None, True)
    inter = _issue("Test Int", ec.generate_private_key(ec.SECP256R1()),
                   root, True)
    other = _issue("Unrelated CA", ec.generate_private_key(ec.SECP256R1()),
                   None, True)
    leaves = {
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(65537, 2048),
        "rsa1024": rsa.generate_private_key(65537, 1024),
        "rsa4096": rsa.generate_private_key(65537, 4096),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    t = {"root": root, "int": inter, "other": other}
    for k, key in leaves.items():
        t[k] = _issue("mx1.a01.test", key, inter, False)
    return t


def files(d: Path, t: dict, leaf: str, rest: list[str]) -> dict:
    """A certs entry whose chain file is LEAF then REST, in that order."""
    stem = "-".join([leaf] + rest)
    chain, key = d / f"{stem}.pem", d / f"{leaf}.key"
    chain.write_bytes(b"".join(t[n].pem for n in [leaf] + rest))
    key.write_bytes(t[leaf].key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return {"chain": str(chain), "key": str(key)}


def s_client(addr, *extra: str) -> list[str]:
    """SHA-256 of each certificate the server sent, in order."""
    out = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         f"{addr[0]}:{addr[1]}", "-servername", "mx1.a01.test",
         "-showcerts", "-crlf", "-ign_eof", *extra],
        input=b"EHLO c.test\nQUIT\n", capture_output=True, timeout=30)
    assert b"221" in out.stdout, out.stdout + out.stderr
    return [hashlib.sha256(base64.b64decode(b"".join(m.split()))).hexdigest()
            for m in PEM_RE.findall(out.stdout)]


def listener(name: str, certs: list[dict]) -> dict:
    return {"name": name, "hostname": "mx1.a01.test",
            "tls": {"certs": certs}}


@pytest.mark.parametrize("rest", [
    ["int", "root"],                 # the usual order
    [],                              # the leaf alone
    ["root", "int"],                 # reordered
    ["int", "int", "root", "root"],  # duplicates
    ["int", "other", "root"],        # an unrelated CA in between
])
def test_chain_sent_as_configured(fakemx, tree, tmp_path, rest):
    fm = fakemx([listener("c", [files(tmp_path, tree, "ec", rest)])])
    want = [tree[n].sha256 for n in ["ec"] + rest]
    assert s_client(fm.addr("c")) == want
    evs = one_session(fm.wait_closed("c"), "c")
    tls = by_kind(evs, "tls")[0]
    assert tls["chain_sha256"] == want
    assert tls["cert_sha256"] == tree["ec"].sha256


@pytest.mark.parametrize("sigalgs,which", [
    ("rsa_pss_rsae_sha256", "rsa"),
    ("ecdsa_secp256r1_sha256", "ec"),
    ("ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256", "ec"),
])
def test_two_key_types_tls13(fakemx, tree, tmp_path, sigalgs, which):
    """One context, an EC and an RSA certificate: the client's signature
    algorithms decide (the server's order breaks ties), and the event
    names the certificate and chain really sent."""
    entry = files(tmp_path, tree, "ec", ["int", "root"])
    entry["also"] = [files(tmp_path, tree, "rsa", ["int"])]
    fm = fakemx([listener("d", [entry])])
    sent = s_client(fm.addr("d"), "-sigalgs", sigalgs)
    assert sent[0] == tree[which].sha256
    evs = one_session(fm.wait_closed("d"), "d")
    tls = by_kind(evs, "tls")[0]
    assert tls["cert_sha256"] == tree[which].sha256
    assert tls["chain_sha256"] == sent
    assert tls["key_type"] == which


@pytest.mark.parametrize("cipher,which", [
    ("ECDHE-RSA-AES128-GCM-SHA256", "rsa"),
    ("ECDHE-ECDSA-AES128-GCM-SHA256", "ec"),
])
def test_two_key_types_tls12(fakemx, tree, tmp_path, cipher, which):
    entry = files(tmp_path, tree, "rsa", ["int"])
    entry["also"] = [files(tmp_path, tree, "ec", ["int", "root"])]
    fm = fakemx([listener("d", [entry])])
    sent = s_client(fm.addr("d"), "-tls1_2", "-cipher", cipher)
    assert sent[0] == tree[which].sha256
    evs = one_session(fm.wait_closed("d"), "d")
    tls = by_kind(evs, "tls")[0]
    assert (tls["version"], tls["cert_sha256"]) == ("TLSv1.2",
                                                    tree[which].sha256)
    assert tls["chain_sha256"] == sent


def test_two_keys_of_one_type_refused(tree, tmp_path):
    entry = files(tmp_path, tree, "ec", ["int"])
    entry["also"] = [files(tmp_path, tree, "p384", ["int"])]
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({
        "events": str(tmp_path / "e"), "spool": str(tmp_path / "s"),
        "listeners": [dict(listener("d", [entry]), address="127.0.0.1",
                           port=2525)]}))
    cp = subprocess.run([str(BINARY), "-c", str(conf), "-t"],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 1
    assert "listeners[0].tls.certs[0].also[0].chain: a second certificate " \
        "with an ec key (one per key type)" in cp.stderr


@pytest.mark.parametrize("leaf,key_type,bits", [
    ("rsa1024", "rsa", 1024), ("rsa4096", "rsa", 4096), ("p384", "ec", 384),
    ("ed25519", "ed25519", 256),
])
def test_unusual_keys(fakemx, tree, tmp_path, leaf, key_type, bits):
    """Weak and unusual keys load (security level 0): judging them is the
    client's business."""
    fm = fakemx([listener("k", [files(tmp_path, tree, leaf, ["int"])])])
    extra = ["-cipher", "DEFAULT:@SECLEVEL=0"] if leaf == "rsa1024" else []
    assert s_client(fm.addr("k"), *extra)[0] == tree[leaf].sha256
    evs = one_session(fm.wait_closed("k"), "k")
    tls = by_kind(evs, "tls")[0]
    assert tls["cert_sha256"] == tree[leaf].sha256
    assert (tls["key_type"], tls["key_bits"]) == (key_type, bits)
