"""The RFC 8460 result types: the harness's list (danelab.scenario) is the
C code's one table (reference-impl/common/result_types.def), the same
types in the same order.

Same order, not just the same set: the two are copies of one list (the
RFC's section 4.3 order), so any difference, a reorder included, means
one copy was edited without the other.
"""
from __future__ import annotations

import re
from pathlib import Path

from danelab.scenario import RESULT_TYPES

DEF = (Path(__file__).resolve().parents[2] / "reference-impl" / "common" /
       "result_types.def")
LINE_RE = re.compile(r'^RESULT_TYPE\(\s*([A-Z0-9_]+)\s*,\s*"([^"]*)"\s*\)$')


def c_table() -> list[tuple[str, str]]:
    """(ID, "name") of every RESULT_TYPE line, in file order; any other
    line outside the leading comment fails the test."""
    rows: list[tuple[str, str]] = []
    text = DEF.read_text()
    body = text[text.index("*/") + 2:] if text.startswith("/*") else text
    for line in body.splitlines():
        if not line.strip():
            continue
        m = LINE_RE.match(line.strip())
        assert m, f"{DEF.name}: not a RESULT_TYPE line: {line!r}"
        rows.append((m.group(1), m.group(2)))
    return rows


def test_python_list_is_the_c_table() -> None:
    assert tuple(name for _, name in c_table()) == RESULT_TYPES


def test_c_ids_spell_their_names() -> None:
    for ident, name in c_table():
        assert ident == name.upper().replace("-", "_")


def test_names_are_distinct() -> None:
    assert len(set(RESULT_TYPES)) == len(RESULT_TYPES) == 11
