"""Ctrl-C, once or twice, at every phase of a run: the lab stops everything
it started, says so truthfully, and never ends in a traceback.  A second
interrupt that arrives while the first one's teardown runs must not cut the
teardown short (it once left fake-mx, NSD, Unbound and the namespace holder
running)."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Progress lines to interrupt at (the phases of a run), then the end.
PHASES = ["planning", "universe up", "pass 1", "report"]


def _lab_processes(run: Path) -> list[int]:
    """PIDs of processes that hold a file of RUN open or name it on their
    command line: what the lab started for that run."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if str(run) in (d / "cmdline").read_bytes().decode(
                    errors="replace"):
                out.append(int(d.name))
                continue
            for fd in (d / "fd").iterdir():
                if os.readlink(fd).startswith(str(run)):
                    out.append(int(d.name))
                    break
        except OSError:
            continue
    return out


def _interrupt_at(tmp_path: Path, phase: str, twice: bool,
                  jobs: int = 1, sig: int = signal.SIGINT
                  ) -> tuple[int, str, Path]:
    run = tmp_path / f"run-{phase.replace(' ', '-')}-{int(twice)}"
    p = subprocess.Popen(
        [str(ROOT / "bin" / "danelab"), "run", "-s", "a0", "--sender",
         "reference", "--run-dir", str(run), "-j", str(jobs)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        start_new_session=True)
    assert p.stderr
    seen = []
    for line in p.stderr:
        seen.append(line)
        if phase in line:
            p.send_signal(sig)
            if twice:
                p.send_signal(sig)
            break
    rest = p.stderr.read()
    rc = p.wait(timeout=60)
    return rc, "".join(seen) + rest, run


@pytest.mark.parametrize("twice", [False, True], ids=["once", "twice"])
@pytest.mark.parametrize("phase", PHASES)
def test_interrupt_stops_everything(tmp_path: Path, phase: str,
                                    twice: bool) -> None:
    rc, err, run = _interrupt_at(tmp_path, phase, twice)
    assert "Traceback" not in err, err
    left = _lab_processes(run)
    for pid in left:                    # the test's own leak: end it
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"still running after Ctrl-C at {phase!r}: {left}"
    if rc == 130:
        assert "everything the lab started is stopped" in err, err
    else:
        # the run ended before the signal landed: a normal exit
        assert rc in (0, 1), err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM],
                         ids=["SIGINT", "SIGTERM"])
def test_interrupt_with_groups_in_threads(tmp_path: Path, sig: int) -> None:
    """With -j 2 the groups run in threads that no signal reaches: the
    main thread stops every group's namespace (netns.close_all) and says
    truthfully what is left (nothing)."""
    rc, err, run = _interrupt_at(tmp_path, "universe up", False, jobs=2,
                                 sig=sig)
    assert "Traceback" not in err, err
    left = _lab_processes(run)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"still running: {left}"
    assert rc == 130 and "everything the lab started is stopped" in err, err
