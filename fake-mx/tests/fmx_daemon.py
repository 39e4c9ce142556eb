"""One fake-mx daemon for the integration tests: its config, start (wait
for the PID file), events, stop by PID; the binary under test
(fake-mx/$DANELAB_BUILD/fake-mx) and loopback addresses of this test
process's own.  The `fakemx` fixture of conftest.py starts and reaps them.

All traffic stays on 127.0.0.0/8 (and ::1).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAKEMX_DIR = HERE.parent
BUILD = os.environ.get("DANELAB_BUILD", "build")
BINARY = FAKEMX_DIR / BUILD / "fake-mx"


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
