"""The supervisor's stop(): the whole process group is gone when it
returns, children that ignore SIGTERM included (as NSD's server processes
are still exiting after their parent)."""
from __future__ import annotations

import os
from pathlib import Path

from danelab.proc import Supervisor, pid_alive, wait_until
from danelab.proc import group_alive  # noqa


def test_stop_returns_once_the_group_is_gone(tmp_path: Path) -> None:
    child = tmp_path / "child.pid"
    sup = Supervisor()
    # The leader dies on SIGTERM; its child ignores it (and so does the
    # sleep it execs), so only the group SIGKILL ends it.
    t = sup.spawn("group", [
        "sh", "-c",
        f"(trap '' TERM; exec sleep 600) & "
        f"echo $! >{child}.tmp; mv {child}.tmp {child}; exec sleep 600"])
    assert wait_until(lambda: child.exists(), 10)
    kid = int(child.read_text())
    assert pid_alive(kid) and group_alive(t.pid)
    assert os.getpgid(kid) == t.pid
    sup.stop(t, grace=0.5)
    assert not group_alive(t.pid)
    assert not pid_alive(kid)
    assert sup.procs == []


def test_group_alive_ignores_other_groups() -> None:
    assert group_alive(os.getpgid(0))
    assert not group_alive(2 ** 22 + 1)     # above pid_max: no such group
