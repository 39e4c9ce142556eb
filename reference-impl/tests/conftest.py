"""Fixtures for refsend's own pytest tests (reference-impl/tests).

These tests need no lab: they use the test-only `static_route` knob
(docs/refsend.md) to send to a local smtpsink.py on 127.0.0.1 and a free
high port.  Every process a fixture starts is stopped by PID at teardown.
"""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
IMPL = HERE.parent
PY = "/usr/bin/python3"


def refsend_path():
    return IMPL / os.environ.get("DANELAB_BUILD", "build") / "refsend"


@pytest.fixture(scope="session")
def refsend_bin():
    p = refsend_path()
    if not p.exists():
        pytest.skip(f"{p} not built (make -C reference-impl)")
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """One smtpsink.py process; .received() reads its log."""

    def __init__(self, tmp, **opts):
        self.port = free_port()
        self.log = tmp / f"sink-{self.port}.jsonl"
        self.pidfile = tmp / f"sink-{self.port}.pid"
        self.gate = tmp / f"sink-{self.port}.gate"
        argv = [PY, str(HERE / "smtpsink.py"), "--port", str(self.port),
                "--log", str(self.log), "--pidfile", str(self.pidfile),
                "--gate", str(self.gate)]
        for k, v in opts.items():
            argv += ["--" + k.replace("_", "-"), str(v)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=open(tmp / "sink.err", "ab"))
        deadline = time.time() + 10
        while not self.pidfile.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("smtpsink did not start: " +
                                   (tmp / "sink.err").read_text())
            time.sleep(0.02)

    def received(self):
        if not self.log.exists():
            return []
        return [json.loads(x) for x in self.log.read_text().splitlines()
                if x.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def sink_factory(tmp_path):
    sinks = []

    def make(**opts):
        s = Sink(tmp_path, **opts)
        sinks.append(s)
        return s
    yield make
    for s in sinks:
        s.stop()


class Refsend:
    """A refsend configuration in a temporary folder, and its commands."""

    def __init__(self, binary, tmp, port, extra=()):
        self.bin = binary
        self.tmp = tmp
        self.conf = tmp / "refsend.conf"
        self.events = tmp / "events.jsonl"
        self.queue = tmp / "queue"
        self.dsn = tmp / "dsn"
        lines = [f"queue_dir = {self.queue}", f"events = {self.events}",
                 f"dsn_dir = {self.dsn}",
                 # never asked: every test domain has a static route
                 "resolver = 127.0.0.1",
                 f"trust_anchor = {tmp / 'no-such-anchor.ds'}",
                 "helo_name = refsend.test.invalid",
                 f"static_route = sink.test 127.0.0.1:{port}",
                 "retry_schedule = 0", "connect_timeout = 5",
                 "command_timeout = 10"]
        lines += list(extra)
        self.conf.write_text("\n".join(lines) + "\n")
        (tmp / "no-such-anchor.ds").write_text(
            ". IN DS 20326 8 2 "
            "e06d44b80b8f1d39a95c0b0d7c65d08"
            "458e880409bbc683457104237c7f8ec8d\n")

    def cmd(self, *args, **kw):
        return subprocess.run([str(self.bin), "-c", str(self.conf), *args],
                              capture_output=True, timeout=kw.pop("timeout",
                                                                  60), **kw)

    def submit(self, rcpts, sender="sender@refsend.test", data=None,
               msgid=None):
        if data is None:
            data = (f"Message-ID: <{msgid}>\n" if msgid else "") + \
                "Subject: refsend test\n\nhello\n.leading dot\n"
        cp = self.cmd("submit", "-f", sender, *rcpts, input=data.encode())
        assert cp.returncode == 0, cp.stderr
        return cp.stdout.decode().strip()

    def status(self):
        cp = self.cmd("status")
        assert cp.returncode == 0, cp.stderr
        return [json.loads(x) for x in cp.stdout.decode().splitlines()]

    def events_of(self, kind=None):
        if not self.events.exists():
            return []
        ev = [json.loads(x) for x in self.events.read_text().splitlines()]
        return [e for e in ev if kind is None or e["event"] == kind]


@pytest.fixture
def refsend_factory(refsend_bin, tmp_path):
    def make(port, extra=()):
        return Refsend(refsend_bin, tmp_path, port, extra)
    return make


@pytest.fixture
def procs():
    """Processes a test starts itself: killed by PID at teardown if still
    running (e.g. when an assertion failed halfway)."""
    started = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.fixture
def hostile():
    """Factory: hostile(**script) -> a started hostile.Hostile, a scripted
    SMTP server that misbehaves on command (hostile.py); closed at
    teardown."""
    from hostile import hostile_servers
    with hostile_servers() as make:
        yield make
