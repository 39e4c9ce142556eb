"""docs/cases.md, the index of the catalog's cases, keeps one generated line
per case: "Scenarios: ..." names the scenario files whose `section` and
`case` are that case.  render() recomputes those lines from the catalog;
`python3 -m danelab.casedoc` rewrites the file (`--check`: exit 1 if it is
out of date, write nothing).
"""
from __future__ import annotations

import re
import sys

from .catalog import DEFAULT_DIR, ROOT, load_catalog
from .gendoc import refresh
from .scenario import Scenario

DOC = ROOT / "docs" / "cases.md"
HEADING_RE = re.compile(r"^### ([A-K])(\d+) ")
LINE = "Scenarios: "


def described(text: str) -> dict[int, str]:
    """The cases the page describes: case number -> section letter."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        m = HEADING_RE.match(line)
        if m:
            out[int(m[2])] = m[1]
    return out


def by_case(scenarios: list[Scenario]) -> dict[tuple[str, int], list[str]]:
    """Scenario ids grouped by (section, case), each list in id order."""
    out: dict[tuple[str, int], list[str]] = {}
    for sc in sorted(scenarios, key=lambda s: s.id):
        out.setdefault((sc.section, sc.case), []).append(sc.id)
    return out


def render(text: str, scenarios: list[Scenario]) -> str:
    """TEXT with every case's "Scenarios:" line recomputed."""
    groups = by_case(scenarios)
    lines = text.splitlines()
    out: list[str] = []
    case: tuple[str, int] | None = None
    for line in lines:
        m = HEADING_RE.match(line)
        if m:
            case = (m[1], int(m[2]))
        elif line.startswith("#"):
            case = None
        elif line.startswith(LINE) and case is not None:
            ids = groups.get(case, [])
            line = LINE + (", ".join(f"`{i}`" for i in ids) if ids
                           else "none yet")
        out.append(line)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    return refresh(DOC, lambda text: render(text, load_catalog(DEFAULT_DIR)),
                   "danelab.casedoc", argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
