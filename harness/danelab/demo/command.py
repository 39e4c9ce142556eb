"""`danelab demo list | reset | NAME`: the teaching labs (docs/teaching.md).

A demo prints its story stage by stage (waiting for Enter after each with
--step), runs its senders side by side in the lab, writes the handout
page, and exits 0 when the run showed what the demo must show (the attack
succeeds against the opportunistic sender, fails against the DANE ones),
1 otherwise, 2 when the lab could not be set up.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, TextIO

from ..errors import LabError
from .demos import DEMOS
from .facts import DEFAULT_SENDERS, OPPORTUNISTIC, kind_of
from .handout import write_handout
from .narrate import checkpoint, tell
from .place import new_folder, reset
from .run import run_demo, scenarios_of

NOT_YET: list[tuple[str, str]] = []


def cmd_list(out: TextIO) -> int:
    out.write(f"{'DEMO':10} {'SCENARIOS':52} WHAT\n")
    for d in DEMOS.values():
        out.write(f"{d.name:10} {', '.join(p.scenario for p in d.parts):52}"
                  f" {d.title}\n")
    for name, why in NOT_YET:
        out.write(f"{name:10} {'(not yet)':52} {why}\n")
    return 0


def _pause(out: TextIO, inp: TextIO) -> Callable[[], None]:
    def pause() -> None:
        out.write("  [Enter: next stage] ")
        out.flush()
        inp.readline()
        out.write("\n")
    return pause


def _check_senders(senders: list[str]) -> None:
    if not any(kind_of(s) == "opportunistic" for s in senders) or \
            not any(kind_of(s) != "opportunistic" for s in senders):
        raise LabError("a demo needs an opportunistic sender (one of "
                       f"{', '.join(OPPORTUNISTIC)}) and a DANE sender")
    if os.geteuid() != 0 and any(s != "reference" for s in senders):
        raise LabError("the demo's senders besides the reference (Postfix, "
                       "the naive opportunistic sender) need root")


def cmd_demo(a: argparse.Namespace, out: TextIO = sys.stdout,
             inp: TextIO = sys.stdin) -> int:
    from ..cli import Progress
    if a.name == "list":
        return cmd_list(out)
    if a.name == "reset":
        n, folder = reset(a.student)
        out.write(f"demo reset: {n} leftover process(es) stopped, {folder} "
                  "removed\n")
        return 0
    demo = DEMOS.get(a.name)
    if demo is None:
        raise LabError(f"no demo {a.name!r}; `danelab demo list` shows "
                       f"them ({', '.join(DEMOS)})")
    senders = list(dict.fromkeys(a.sender or DEFAULT_SENDERS))
    _check_senders(senders)
    scenarios_of(demo)                  # every file there and valid
    folder = new_folder(demo.name, a.student)
    pause = _pause(out, inp) if a.step else None
    out.write(f"{demo.title}\n{demo.summary}\n"
              + (f"(student {a.student}) " if a.student else "")
              + f"run folder: {folder}\n")
    tell(out, demo, None, True, pause)
    prog = Progress()
    prog(f"running {len(senders)} senders side by side: "
         f"{', '.join(senders)}")
    result = run_demo(demo, senders, folder, prog, a.student)
    prog.done()
    tell(out, demo, result, False, pause)
    page = write_handout(result, folder / "handout.html")
    checkpoint(out, demo)
    problems = result.problems()
    out.write(f"\nhandout: {page}\n{demo.name}: {result.seconds} s, "
              f"{len(senders)} senders\n")
    for p in problems:
        out.write(f"FAIL  {p}\n")
    return 1 if problems else 0
