"""Process supervisor: start, track by PID, wait for readiness, stop.

Every process the lab starts goes through a Supervisor.  Each is put in its own
session (so a terminal's Ctrl-C reaches only the harness, which then tears down
in order) and is stopped by its own PID and process group at teardown: SIGTERM,
a grace period, then SIGKILL.  Nothing else is ever signalled.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Iterator, Sequence

from .errors import DaemonError


@dataclass
class Tracked:
    """One process started by the lab."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path | None
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None


def pid_alive(pid: int) -> bool:
    """True while PID exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _exited(pid: int, timeout: float) -> bool:
    """Wait up to TIMEOUT for child PID to exit, without reaping it (it
    stays a zombie, so its PID and group ID are not reused meanwhile)."""
    def done() -> bool:
        try:
            return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG |
                             os.WNOWAIT) is not None
        except ChildProcessError:
            return True                 # reaped already
    return wait_until(done, timeout)


def group_alive(pgid: int) -> bool:
    """True while some process of group PGID exists and is not a zombie."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", encoding="ascii") as f:
                state, _, pgrp = f.read().rsplit(")", 1)[1].split()[:3]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


def wait_until(pred: Callable[[], bool], timeout: float,
               interval: float = 0.005) -> bool:
    """Poll PRED until it is true or TIMEOUT seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


# How long a daemon may take to become ready.  Generous: waiting ends as
# soon as it is ready, and a machine busy with parallel runs is slow.
READY_LIMIT = 30.0


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Teardown that no Ctrl-C (or SIGTERM) cuts short: in the main thread,
    SIGINT and SIGTERM are held while the block runs; if one came, a
    KeyboardInterrupt is raised once the block is done (unless an exception
    is already on its way out).  Other threads never get signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    old = {sig: signal.signal(sig, lambda n, f: came.append(n))
           for sig in (signal.SIGINT, signal.SIGTERM)}
    ok = False
    try:
        yield
        ok = True
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
        if came and ok:
            raise KeyboardInterrupt


@dataclass
class Supervisor:
    """Owns every process it starts; stop_all() ends them, newest first,
    and refuses to start any more (a thread still setting up a lab after an
    interrupt must not start a daemon nobody stops)."""

    procs: list[Tracked] = field(default_factory=list)
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock,
                                  repr=False, compare=False)

    def spawn(self, name: str, argv: Sequence[str], log: Path | None = None,
              env: dict[str, str] | None = None,
              stop_signal: int = signal.SIGTERM,
              stdin: int | None = subprocess.DEVNULL) -> Tracked:
        """Start ARGV as NAME, output to LOG (or discarded); return it."""
        out: IO[bytes] | None = open(log, "ab") if log else None
        try:
            with self._lock:
                if self.closed:
                    raise DaemonError(f"{name}: not started, the lab is "
                                      "being stopped")
                p = subprocess.Popen(list(argv),
                                     stdout=out or subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, stdin=stdin,
                                     env=env, start_new_session=True)
                t = Tracked(name, p, log, stop_signal)
                self.procs.append(t)
        except OSError as e:
            raise DaemonError(f"{name}: cannot start {argv[0]}: {e}") from e
        finally:
            if out:
                out.close()
        return t

    def wait_ready(self, t: Tracked, ready: Callable[[], bool],
                   timeout: float = READY_LIMIT) -> None:
        """Wait for READY(); raise DaemonError naming the log if the
        process dies first or READY() stays false."""
        def check() -> bool:
            if not t.alive():
                return True
            return ready()
        wait_until(check, timeout)
        if not t.alive():
            raise DaemonError(f"{t.name} exited with status "
                              f"{t.popen.returncode} before it was ready"
                              f"{self._tail(t)}")
        if not ready():
            raise DaemonError(f"{t.name} not ready after {timeout:.0f} s"
                              f"{self._tail(t)}")

    @staticmethod
    def _tail(t: Tracked) -> str:
        if not t.log or not t.log.exists():
            return ""
        lines = t.log.read_text(errors="replace").splitlines()[-8:]
        return f"; see {t.log}:\n  " + "\n  ".join(lines)

    def stop(self, t: Tracked, grace: float = 3.0) -> None:
        """Stop one process (and its process group) by PID; reap it.

        The group is killed while its leader is still unreaped (a zombie
        at most), so the group ID cannot belong to anyone else yet: with
        pid_max 32768 and many labs spawning at once, a reaped leader's
        number comes back soon, and a late killpg() once hit another
        lab's NSD."""
        if t.popen.returncode is None:
            self._signal(t, t.stop_signal)
            if not _exited(t.pid, grace):
                self._signal(t, signal.SIGKILL)
                _exited(t.pid, 5)
        if t.popen.returncode is None:
            # Children it forked (NSD's server processes) share its group.
            self._kill_group(t.pid)
            try:
                t.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
        elif group_alive(t.pid):
            # reaped earlier (poll()), but members still hold the number
            self._kill_group(t.pid)
        if t in self.procs:
            self.procs.remove(t)

    @staticmethod
    def _kill_group(pgid: int) -> None:
        """SIGKILL group PGID and wait until nothing of it is exiting."""
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        wait_until(lambda: not group_alive(pgid), 5)

    @staticmethod
    def _signal(t: Tracked, sig: int) -> None:
        try:
            os.killpg(t.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                t.popen.send_signal(sig)
            except ProcessLookupError:
                pass

    def stop_all(self) -> None:
        """Stop every tracked process, newest first (shielded())."""
        with shielded():
            with self._lock:
                self.closed = True
                procs = list(self.procs)
            for t in reversed(procs):
                self.stop(t)

    def pids(self) -> list[int]:
        return [t.pid for t in self.procs]
