"""The lab namespace: an isolated network + mount namespace.

Inside it there is only `lo` (all of 127.0.0.0/8 usable, ports 25 and 53 free)
and a private /etc/resolv.conf (bind-mounted, private propagation, so the
host's /etc is never written).  A holder process keeps the namespace alive;
every process the lab runs inside is started through `nsenter` into that
holder's namespaces and tracked by a Supervisor.  close() stops them all,
then the holder, after which the kernel frees the namespace.

Two modes:
  root  — `unshare --net --mount` (the usual case: CI runs as root);
  user  — `unshare --user --map-root-user --net --mount` for an ordinary user
          (NSD, Unbound and fake-mx work; Postfix and Exim need root).
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from .errors import LabError
from .proc import Supervisor, Tracked, pid_alive, shielded, wait_until

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
CALL_THREADS = 16         # call()s that run at once

# Every namespace open in this process, so that an interrupt or SIGTERM in
# the main thread can stop all of them, whichever thread opened them.
_OPEN: set["LabNamespace"] = set()
_OPEN_LOCK = threading.Lock()


def close_all() -> list[int]:
    """Close every lab namespace this process has open (stopping all that
    was started inside); return the PIDs that are still alive after."""
    with _OPEN_LOCK:
        spaces = list(_OPEN)
    left: list[int] = []
    for ns in spaces:
        pids = ns.pids()
        ns.close(wait=False)
        left += [p for p in pids if pid_alive(p)]
    return left


def resolv_conf_text(nameserver: str, trust_ad: bool = True) -> str:
    opts = "options edns0 trust-ad" if trust_ad else "options edns0"
    return f"# danelab lab resolver\nnameserver {nameserver}\n{opts}\n"


def netns_id(pid: int) -> str | None:
    """The network namespace id (e.g. 'net:[4026532]') of PID, or None."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def pids_in_netns(ns: str) -> list[int]:
    """Every live PID whose network namespace is NS."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and netns_id(int(d)) == ns and pid_alive(int(d)):
            found.append(int(d))
    return found


def _holder_ready(pid: int, own: str | None) -> bool:
    """The namespace holder PID is in namespaces of its own and done
    making them: it has become `sleep`, which unshare(1) execs only after
    the user namespace's uid and gid maps are written (nsenter into a user
    namespace without them gets "Operation not permitted")."""
    if netns_id(pid) in (None, own):
        return False
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "sleep"
    except OSError:
        return False


class LabNamespace:
    """An isolated lab namespace.  Use as a context manager."""

    def __init__(self, run_dir: Path, nameserver: str = "127.53.0.53",
                 trust_ad: bool = True, mode: str | None = None) -> None:
        # absolute: processes inside the namespace do not share our cwd
        self.run_dir = Path(run_dir).resolve()
        self.nameserver = nameserver
        self.trust_ad = trust_ad
        self.mode = mode or ("root" if os.geteuid() == 0 else "user")
        if self.mode not in ("root", "user"):
            raise LabError("namespace mode must be root or user, "
                           f"not {mode!r}")
        self.sup = Supervisor()
        self.holder: Tracked | None = None
        self.ns_id: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # commands of run() still going, as pidfds: close() ends them (a
        # run() in another thread outlives an interrupt of the main thread;
        # a pidfd cannot hit a reused PID once the owner has reaped it)
        self._running: set[int] = set()

    # -- life cycle ---------------------------------------------------------
    def __enter__(self) -> "LabNamespace":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with _OPEN_LOCK:
            _OPEN.add(self)
        flags = ["--net", "--mount", "--propagation", "private"]
        if self.mode == "user":
            flags = ["--user", "--map-root-user"] + flags
        own = netns_id(os.getpid())
        self.holder = self.sup.spawn(
            "ns-holder", ["unshare", *flags, "--", "sleep", "infinity"],
            log=self.run_dir / "ns-holder.log")
        hp = self.holder.pid
        if not wait_until(lambda: _holder_ready(hp, own), 5):
            self.close()
            raise LabError("could not create the lab namespace "
                           f"({self.mode} mode); see {self.holder.log}")
        self.ns_id = netns_id(hp)
        try:
            self.run(["ip", "link", "set", "lo", "up"], check=True)
            rc = self.run_dir / "resolv.conf"
            rc.write_text(resolv_conf_text(self.nameserver, self.trust_ad))
            self.run(["mount", "--bind", str(rc), "/etc/resolv.conf"],
                     check=True)
        except BaseException:
            self.close()
            raise

    def close(self, wait: bool = True) -> None:
        """Stop every process started inside, then the holder; a Ctrl-C
        meanwhile waits until this is done (proc.shielded).  WAIT=False
        (an interrupt from another thread) does not wait for in-namespace
        calls still running: their daemons are stopped under them."""
        with shielded():
            if self._pool:
                self._pool.shutdown(wait=wait, cancel_futures=not wait)
                self._pool = None
            with self._lock:
                self.sup.closed = True
            self._kill_running()
            self.sup.stop_all()
            self.holder = None
            with _OPEN_LOCK:
                _OPEN.discard(self)

    # -- running things inside ----------------------------------------------
    def enter_argv(self) -> list[str]:
        """The argv prefix that runs a command inside the namespace."""
        if not self.holder:
            raise LabError("the lab namespace is not open")
        argv = ["nsenter", "-t", str(self.holder.pid)]
        if self.mode == "user":
            argv += ["-U", "--preserve-credentials"]
        return argv + ["-n", "-m", "--"]

    def spawn(self, name: str, argv: Sequence[str], log: Path | None = None,
              env: dict[str, str] | None = None) -> Tracked:
        """Start a long-running process inside (in the foreground mode of the
        daemon: nsenter execs it, so the tracked PID is the daemon's)."""
        return self.sup.spawn(name, self.enter_argv() + list(argv), log=log,
                              env=env)

    def run(self, argv: Sequence[str], timeout: float = 60,
            check: bool = False, input: bytes | None = None,
            env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[bytes]:
        """Run a command inside to completion; its output is captured."""
        full = self.enter_argv() + list(argv)
        with self._lock:
            # close() takes the lock too: a command either starts before
            # it (and is ended by it) or not at all
            if self.sup.closed:
                raise LabError(f"{argv[0]}: not run, the lab namespace is "
                               "being stopped")
            p = subprocess.Popen(full, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env,
                                 stdin=subprocess.PIPE if input is not None
                                 else subprocess.DEVNULL)
            fd = os.pidfd_open(p.pid)
            self._running.add(fd)
        try:
            out, err = p.communicate(input, timeout=timeout)
        except BaseException as e:
            p.kill()
            p.wait()
            if isinstance(e, subprocess.TimeoutExpired):
                raise LabError(f"{argv[0]} did not finish within {timeout} "
                               "s inside the lab namespace") from e
            raise
        finally:
            with self._lock:
                self._running.discard(fd)
            os.close(fd)
        cp = subprocess.CompletedProcess(full, p.returncode, out, err)
        if check and cp.returncode != 0:
            raise LabError(f"{' '.join(argv)} failed inside the lab namespace "
                           f"(exit {cp.returncode}): "
                           f"{cp.stderr.decode(errors='replace').strip()}")
        return cp

    def _kill_running(self) -> None:
        """SIGKILL every command of run() still going (its thread reaps
        it and raises)."""
        with self._lock:
            for fd in self._running:
                try:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                except OSError:
                    pass

    def call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run FN in a harness thread that has joined the lab's network
        namespace (root mode only): its sockets live inside the lab."""
        if self.mode != "root":
            raise LabError("in-process calls need root mode; "
                           "use run() in user mode")
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=CALL_THREADS, thread_name_prefix="labns",
                    initializer=self._join_netns)
        return self._pool.submit(fn, *args, **kw).result()

    def _join_netns(self) -> None:
        assert self.holder is not None
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/proc/{self.holder.pid}/ns/net", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise LabError(f"setns into the lab: {os.strerror(err)}")
        finally:
            os.close(fd)

    def set_resolv_conf(self, text: str) -> None:
        """Rewrite the private resolv.conf in place (the bind mount keeps
        the inode, so a new file would not be seen inside)."""
        with open(self.run_dir / "resolv.conf", "r+", encoding="ascii") as f:
            f.seek(0)
            f.write(text)
            f.truncate()

    def pids(self) -> list[int]:
        return self.sup.pids()
