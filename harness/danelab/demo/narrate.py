"""Telling a demo on the terminal, stage by stage.  With --step each
stage waits for Enter (the pause is a parameter, so tests feed it);
without, the story runs straight through."""
from __future__ import annotations

import textwrap
from typing import Callable, TextIO

from .demos import Demo, Stage
from .facts import DemoResult

WIDTH = 76


def _block(out: TextIO, head: str, text: str) -> None:
    if not text:
        return
    lines = textwrap.wrap(text, WIDTH - 12)
    for i, ln in enumerate(lines):
        out.write(f"  {head if i == 0 else '':<9} {ln}\n")


def tell_stage(out: TextIO, demo: Demo, n: int, stage: Stage,
               result: DemoResult | None) -> None:
    total = len(demo.stages)
    head = f"\n== {demo.name} {n}/{total}: {stage.title} "
    out.write(head.ljust(WIDTH, "=") + "\n")
    _block(out, "Attacker:", stage.attacker)
    _block(out, "Senders:", stage.sender)
    _block(out, "RFC:", stage.rfc)
    if stage.facts and result is not None and not result.errors:
        out.write("  In this run:\n")
        for ln in stage.facts(result):
            if ln.lstrip().startswith("|"):       # a pane: its own margin
                for w in textwrap.wrap(ln, WIDTH - 4, subsequent_indent=(
                        "  |   "), break_on_hyphens=False) or [ln]:
                    out.write("    " + w + "\n")
                continue
            for i, w in enumerate(textwrap.wrap(
                    ln, WIDTH - 6, break_long_words=False,
                    break_on_hyphens=False) or [""]):
                out.write(("    " if i == 0 else "      ") + w + "\n")
    out.flush()


def tell(out: TextIO, demo: Demo, result: DemoResult | None, before: bool,
         pause: Callable[[], None] | None) -> None:
    """Tell the stages told before the run (BEFORE) or after it, pausing
    after each when PAUSE is given."""
    for n, st in enumerate(demo.stages, 1):
        if st.before != before:
            continue
        tell_stage(out, demo, n, st, result)
        if pause:
            pause()


def checkpoint(out: TextIO, demo: Demo) -> None:
    out.write("\n== Checkpoint questions (answers in the handout) "
              .ljust(WIDTH, "=") + "\n")
    for i, (q, _a) in enumerate(demo.questions, 1):
        for j, ln in enumerate(textwrap.wrap(q, WIDTH - 6)):
            out.write(f"  {str(i) + '.' if j == 0 else '':<3} {ln}\n")
    out.flush()
