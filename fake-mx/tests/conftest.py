"""Fixtures for the fake-mx integration tests.

One state-changing action per fixture, teardown beside setup:
- ``pki``: certificates made at test time (EC P-256 and RSA leaves, a CA).
- ``fakemx``: a factory; each call writes a config, starts one fake-mx,
  waits for its PID file and returns a handle.  Teardown stops every daemon
  it started by PID (SIGTERM, then SIGKILL), asserts a clean exit and that
  no sanitizer report was left in its stderr.

All traffic stays on 127.0.0.0/8 (and ::1).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent
FAKEMX_DIR = HERE.parent
BUILD = os.environ.get("DANELAB_BUILD", "build")
BINARY = FAKEMX_DIR / BUILD / "fake-mx"


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


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """EC and RSA leaves, plus a leaf issued by a CA (chain of two)."""
    d = tmp_path_factory.mktemp("pki")
    ca = make_cert(d, "ca", "danelab test CA", "ec", ca=True)
    return {
        "ec": make_cert(d, "ec", "mx1.a01.test", "ec"),
        "rsa": make_cert(d, "rsa", "mx1.a01.test", "rsa"),
        "other": make_cert(d, "other", "other.a01.test", "ec"),
        "ca": ca,
        "chained": make_cert(d, "chained", "mx2.a01.test", "ec", issuer=ca),
    }


_next_host = [0]


def free_addr(family: int = socket.AF_INET) -> tuple[str, int]:
    """A loopback address of our own (127.25.0.X) and a free port on it."""
    if family == socket.AF_INET6:
        host = "::1"
    else:
        _next_host[0] = _next_host[0] % 250 + 1
        host = f"127.25.{(os.getpid() % 200) + 1}.{_next_host[0]}"
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return host, port


class FakeMX:
    """One running fake-mx: its config, events and spool."""

    def __init__(self, workdir: Path, listeners: list[dict],
                 timeouts: dict | None = None, nofile: int | None = None):
        self.nofile = nofile
        self.dir = workdir
        self.events_path = workdir / "events.jsonl"
        self.spool = workdir / "spool"
        self.pidfile = workdir / "fake-mx.pid"
        self.stderr_path = workdir / "stderr.log"
        self.config_path = workdir / "config.json"
        self.listeners = {}
        for spec in listeners:
            if "address" not in spec:
                spec["address"], spec["port"] = free_addr()
            self.listeners[spec["name"]] = spec
        conf = {"events": str(self.events_path), "spool": str(self.spool),
                "listeners": listeners}
        if timeouts:
            conf["timeouts"] = timeouts
        self.config_path.write_text(json.dumps(conf, indent=1))
        self.proc = None
        self.pid = None

    def start(self) -> "FakeMX":
        self._stderr = open(self.stderr_path, "wb")
        # FAKEMX_WRAPPER="valgrind --error-exitcode=99 ..." runs the
        # daemon under a tool (the PID stays the daemon's own).
        wrapper = os.environ.get("FAKEMX_WRAPPER", "").split()

        def limit() -> None:
            if self.nofile:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE,
                                   (self.nofile, self.nofile))
        self.proc = subprocess.Popen(
            wrapper + [str(BINARY), "-c", str(self.config_path), "-p",
                       str(self.pidfile)],
            stdout=self._stderr, stderr=self._stderr, preexec_fn=limit)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.pidfile.exists() and self.pidfile.read_text().strip():
                self.pid = int(self.pidfile.read_text())
                assert self.pid == self.proc.pid
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError("fake-mx did not start: "
                           + self.stderr_path.read_text())

    def addr(self, name: str) -> tuple[str, int]:
        spec = self.listeners[name]
        return spec["address"], spec["port"]

    def events(self) -> list[dict]:
        if not self.events_path.exists():
            return []
        lines = self.events_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line]

    def session_events(self, session: str) -> list[dict]:
        return [e for e in self.events() if e["session"] == session]

    def wait_for(self, pred, timeout: float = 5.0) -> list[dict]:
        """Wait until some event satisfies pred; return all events."""
        deadline = time.time() + timeout
        while True:
            evs = self.events()
            if any(pred(e) for e in evs):
                return evs
            if time.time() > deadline:
                raise AssertionError("event not seen; have:\n" + "\n".join(
                    json.dumps(e) for e in evs[-30:]))
            time.sleep(0.02)

    def wait_closed(self, listener: str, n: int = 1,
                    timeout: float = 5.0) -> list[dict]:
        """Wait for n close events of listener; return its events."""
        deadline = time.time() + timeout
        while True:
            evs = [e for e in self.events() if e["listener"] == listener]
            if sum(e["event"] == "close" for e in evs) >= n:
                return evs
            if time.time() > deadline:
                raise AssertionError(
                    f"{listener}: {n} close events not seen; have:\n"
                    + "\n".join(json.dumps(e) for e in evs[-30:]))
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Stop the daemon by its PID; returns its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise
        finally:
            self._stderr.close()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@pytest.fixture
def fakemx(tmp_path):
    """Factory: fakemx(listeners, timeouts=None) -> running FakeMX."""
    started: list[FakeMX] = []
    count = [0]

    def start(listeners: list[dict], timeouts: dict | None = None,
              nofile: int | None = None) -> FakeMX:
        count[0] += 1
        d = tmp_path / f"fakemx{count[0]}"
        d.mkdir()
        fm = FakeMX(d, listeners, timeouts, nofile)
        started.append(fm)
        return fm.start()

    yield start
    for fm in started:
        try:
            rc = fm.stop()
        finally:
            if fm.proc is not None and fm.proc.poll() is None:
                os.kill(fm.proc.pid, signal.SIGKILL)
                fm.proc.wait()
        err = fm.stderr()
        assert "ERROR: AddressSanitizer" not in err, err
        assert "runtime error:" not in err, err
        assert "ERROR: LeakSanitizer" not in err, err
        assert "definitely lost: 0" in err or "definitely lost" not in err, err
        assert rc == 0, f"fake-mx exit status {rc}: {err}"
