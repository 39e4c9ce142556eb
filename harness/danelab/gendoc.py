"""The `python3 -m danelab.<module>` command of a docs page with generated
parts (casedoc: docs/cases.md, grading: docs/grading.md): recompute the
page, rewrite it when it changed, or with `--check` only say that it is out
of date (exit 1) and write nothing."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable


def refresh(doc: Path, render: Callable[[str], str], module: str,
            argv: list[str]) -> int:
    """Rewrite DOC as RENDER makes it from its current text; MODULE is the
    command that does it (named in the --check message)."""
    text = doc.read_text(encoding="utf-8")
    new = render(text)
    if new == text:
        return 0
    if "--check" in argv:
        print(f"{doc} is out of date: run "
              f"`PYTHONPATH=harness /usr/bin/python3 -m {module}`",
              file=sys.stderr)
        return 1
    doc.write_text(new, encoding="utf-8")
    print(f"rewrote {doc}")
    return 0
