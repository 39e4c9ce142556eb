"""Fixtures for refsend-tlsrpt's end-to-end tests (no lab needed).

DNS is replaced by the reporter's test-only knobs `static_txt` and
`static_route` (docs/refsend-tlsrpt.md); report sinks are SMTP and HTTPS
servers running as threads of the test process on 127.0.0.1
(tlsrpt_sinks.py), so nothing outlives a test.  Keys and certificates are
made at test time.
"""
import datetime
import os
import pathlib
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tlsrpt_sinks import DNSSink, HTTPSSink, SMTPSink

# refsend's tests/hostile.py, the scripted misbehaving SMTP server: that
# folder is on sys.path when the whole suite runs, not when this folder's
# tests run alone (appended: it never shadows a module of this folder)
sys.path.append(str(pathlib.Path(__file__).resolve().parent.parent.parent
                    / "tests"))
from hostile import hostile_servers  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
BUILD = os.environ.get("DANELAB_BUILD", "build")
BINARY = HERE.parent / BUILD / "refsend-tlsrpt"


@pytest.fixture(scope="session")
def binary():
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: run make -C reference-impl/tlsrpt")
    return BINARY


def _ca(tmp, name):
    key = ec.generate_private_key(ec.SECP256R1())
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A test CA, a server certificate for reports.example.test signed by
    it, and an unrelated CA (for the untrusted case)."""
    tmp = tmp_path_factory.mktemp("pki")
    ca_key, ca, ca_path = _ca(tmp, "test-ca")
    _, _, other_path = _ca(tmp, "other-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, "reports.example.test")]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("reports.example.test")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = tmp / "server.pem", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return {"ca": ca_path, "other_ca": other_path, "cert": cert_path,
            "key": key_path}


@pytest.fixture(scope="session")
def dkim_key(tmp_path_factory):
    """(private key path, DKIM TXT record text)."""
    import base64
    tmp = tmp_path_factory.mktemp("dkim")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp / "dkim.pem"
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    pub = key.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    # s=tlsrpt: the key may only sign TLS reports (RFC 8460 section 3).
    return path, "v=DKIM1; k=rsa; s=tlsrpt; p=" + \
        base64.b64encode(pub).decode()


@pytest.fixture
def smtp_sink():
    sink = SMTPSink()
    yield sink
    sink.close()


@pytest.fixture
def https_sink(pki):
    """Factory: https_sink(codes=[503]) -> a started HTTPSSink."""
    sinks = []

    def make(codes=()):
        s = HTTPSSink(pki["cert"], pki["key"], codes)
        sinks.append(s)
        return s
    yield make
    for s in sinks:
        s.close()


class Reporter:
    """One reporter set-up: a config, an events file, a state folder."""

    def __init__(self, binary, tmp):
        self.binary, self.tmp = binary, tmp
        self.events = tmp / "events.jsonl"
        self.events.write_text("")
        self.state = tmp / "state"
        self.conf = tmp / "tlsrpt.conf"
        self.extra = []

    def configure(self, **kv):
        lines = [f"events = {self.events}", f"state_dir = {self.state}",
                 "reporting_domain = sender.test",
                 "organization_name = danelab reference sender",
                 "contact_info = tlsrpt-contact@sender.test",
                 "timeout = 5"]
        kv.setdefault("sending_mta_ip", "127.0.0.1")
        # Most tests report at once; period=None tests the default (daily).
        kv.setdefault("period", "flush")
        for k, v in kv.items():
            if v is None:       # None: leave the key out
                continue
            for one in (v if isinstance(v, list) else [v]):
                lines.append(f"{k} = {one}")
        self.conf.write_text("\n".join(lines) + "\n")

    def add_events(self, text):
        with open(self.events, "a") as f:
            f.write(text)

    def run(self, *args, check=True, clock=None):
        """The reporter; clock: run as if the time were this (-T)."""
        opt = ["-T", str(int(clock))] if clock is not None else []
        r = subprocess.run([str(self.binary), *opt, "-c", str(self.conf),
                            *args], capture_output=True, text=True,
                           timeout=60)
        if check:
            assert r.returncode == 0, r.stderr
        return r

    def log(self, event=None):
        import json
        path = self.state / "tlsrpt.jsonl"
        if not path.exists():
            return []
        out = [json.loads(line) for line in path.read_text().splitlines()]
        return [e for e in out if event is None or e["event"] == event]


@pytest.fixture
def reporter(binary, tmp_path):
    return Reporter(binary, tmp_path)


@pytest.fixture
def dns_sink():
    """Factory: dns_sink(records) -> a started DNSSink."""
    sinks = []

    def make(records):
        s = DNSSink(records)
        sinks.append(s)
        return s
    yield make
    for s in sinks:
        s.close()


@pytest.fixture
def hostile():
    """Factory: hostile(**script) -> a started SMTP server that misbehaves
    on command (refsend's ../../tests/hostile.py); closed at teardown."""
    with hostile_servers() as make:
        yield make
