"""Small helpers shared by the adapters that drive a real MTA (Postfix,
Exim): reading a growing log file, waiting with a deadline, and the
Message-ID / queue-id book-keeping.

Nothing here starts a process; the adapters do that through the lab
namespace (ns.spawn / ns.run) so that every process is tracked.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import LabError
from ..netns import LabNamespace
from .base import SenderOutcome


class LogTail:
    """Read the lines appended to PATH since the last call.  A partial
    last line is kept back until its newline arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0

    def mark(self) -> int:
        """The offset up to which the file has been read."""
        return self.pos

    def new_lines(self) -> list[str]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.pos)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self.pos += end
        return chunk[:end].decode(errors="replace").splitlines()


@dataclass
class Ledger:
    """Per-message state as an MTA's log tells it, keyed by queue id."""

    mid_of: dict[str, str] = field(default_factory=dict)   # qid -> mid
    last: dict[str, SenderOutcome] = field(default_factory=dict)
    pass_done: set[str] = field(default_factory=set)       # qids this pass

    def qid_of(self, mid: str) -> str | None:
        for q, m in self.mid_of.items():
            if m == mid:
                return q
        return None

    def record(self, qid: str, out: SenderOutcome) -> None:
        self.last[qid] = out
        self.pass_done.add(qid)

    def by_message_id(self) -> dict[str, SenderOutcome]:
        return {self.mid_of.get(q, q): o for q, o in self.last.items()}

    def outcomes(self) -> dict[str, SenderOutcome]:
        """By Message-ID; a queued message without a log line yet is
        deferred ("not attempted")."""
        res = self.by_message_id()
        for mid in self.mid_of.values():
            res.setdefault(mid, SenderOutcome("deferred", "not attempted"))
        return res


def wait_for(pred: Callable[[], bool], timeout: float, what: str,
             interval: float = 0.05) -> None:
    """Poll PRED until true; raise LabError naming WHAT after TIMEOUT s."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise LabError(f"{what}: not done within {timeout:.0f} s")
        time.sleep(interval)
        interval = min(interval * 1.3, 0.5)


def world_traversable(p: Path) -> bool:
    """True when every folder above P can be entered by any user."""
    for d in Path(p).resolve().parents:
        if not os.stat(d).st_mode & 0o001:
            return False
    return True


class MtaHome:
    """Where an MTA that drops root (Postfix, Exim) sees its run folder.

    Usually the run folder itself.  When a folder above it is closed to
    other users (pytest's /tmp/pytest-of-root is 0700), the run folder is
    bind-mounted, inside the lab namespace only, onto an empty folder under
    /var/tmp/danelab-mta; the harness keeps reading the run folder, the MTA
    uses `path`.  close() undoes the mount and removes the empty folder."""

    BASE = Path("/var/tmp/danelab-mta")

    def __init__(self, ns: LabNamespace, run: Path) -> None:
        self.ns = ns
        self.run = run
        self.path = run
        self.alias: Path | None = None
        if world_traversable(run):
            return
        self.BASE.mkdir(mode=0o755, exist_ok=True)
        self.alias = Path(tempfile.mkdtemp(prefix="run-", dir=self.BASE))
        self.alias.chmod(0o755)
        ns.run(["mount", "--bind", str(run), str(self.alias)], check=True)
        self.path = self.alias

    def close(self) -> None:
        if self.alias is None:
            return
        alias, self.alias = self.alias, None
        try:
            self.ns.run(["umount", str(alias)])
        finally:
            # empty outside the lab's mount namespace, mounted or not
            try:
                alias.rmdir()
            except OSError:
                pass
