"""Where demo runs live, and putting things back.

Every demo run gets a new folder: `<runs>/demo/<name>-<time>` for the
teacher, `<runs>/demo/student-<N>/<name>-<time>` with --student N (runs:
$DANELAB_RUNS, else the clone's runs/).  Each sender of a run has its own
network namespace, so the lab's addresses (127.53.0.1, 127.25.S.H ...)
exist once per run and never meet another student's; the folders are
what keeps runs apart on disk.

reset() stops whatever a demo left running (after a crash: a finished or
interrupted demo stops everything itself) and removes the folders.  A
leftover is found by its configuration file in a demo folder (NSD, Unbound
and fake-mx are started with one); every process in that process's
network namespace (the holder, the sender) is stopped with it, never one
in the host's own namespace.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from ..errors import LabError
from ..netns import netns_id, pids_in_netns

ROOT = Path(__file__).resolve().parents[3]


def demo_base() -> Path:
    return Path(os.environ.get("DANELAB_RUNS", ROOT / "runs")).resolve() \
        / "demo"


def student_dir(student: int | None) -> Path:
    base = demo_base()
    return base / f"student-{student}" if student else base


# The longest path below a demo run folder that must fit a unix socket
# address (108 octets with its NUL): a sender's Unbound control socket.
DEEPEST = "/postfix-dane-only/unbound.ctl"
SUN_PATH_MAX = 107


def new_folder(name: str, student: int | None) -> Path:
    """A new, empty folder for one run of demo NAME (a short name: the
    lab puts unix sockets below it)."""
    from ..cli import _safe_run_dir
    parent = _safe_run_dir(student_dir(student))
    longest = len(str(parent)) + len(f"/{name}-HHMMSS-xxxxxxxx") + \
        len(DEEPEST)
    if longest > SUN_PATH_MAX:
        raise LabError(f"{parent} is too deep for the lab's unix sockets "
                       f"({longest} octets, at most {SUN_PATH_MAX}): set "
                       "DANELAB_RUNS to a shorter folder")
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-" + time.strftime(
        "%H%M%S-"), dir=parent))


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def leftovers(folder: Path) -> list[int]:
    """PIDs of lab processes still running for runs below FOLDER: those
    whose command line names a file below it, and everything in their
    network namespaces; none in our own namespace."""
    own = netns_id(os.getpid())
    key = str(folder.resolve()) + "/"
    found: set[int] = set()
    spaces: set[str] = set()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        if key in _cmdline(int(d)):
            ns = netns_id(int(d))
            if ns and ns != own:
                spaces.add(ns)
                found.add(int(d))
    for ns in spaces:
        found.update(pids_in_netns(ns))
    return sorted(found)


def _stop(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
            os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.05)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def reset(student: int | None) -> tuple[int, Path]:
    """Stop what demo runs left running and remove their folders (one
    student's, or every demo folder).  Returns (processes stopped,
    folder removed)."""
    folder = student_dir(student)
    if not folder.exists():
        return 0, folder
    if folder.is_symlink() or not folder.is_dir():
        raise LabError(f"{folder} is not a demo folder")
    pids = leftovers(folder)
    _stop(pids)
    shutil.rmtree(folder)
    return len(pids), folder
