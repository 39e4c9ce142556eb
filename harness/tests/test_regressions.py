"""docs/regressions.md and the scenario files' `refs` cannot drift apart:
every scenario with refs is listed under exactly one bug class, every id
the page names exists, and each class lists exactly the references its
scenarios carry."""
from __future__ import annotations

import re
from pathlib import Path

from danelab import catalog
from danelab.scenario import ref_problem

DOC = Path(__file__).resolve().parents[2] / "docs" / "regressions.md"
CATALOG = {sc.id: sc for sc in catalog.load_catalog()}
# "- <https://...>: why" or "- `SOURCE, DATE, ENTRY`: why"
REF_LINE = re.compile(r"^- (?:<(https://[^>\s]+)>|`([^`]+)`)")


def classes(text: str) -> dict[str, tuple[list[str], list[str]]]:
    """Per "## " section with a "Scenarios:" line: its ids and refs."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    title = ""
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:]
        elif line.startswith("Scenarios: ") and title:
            out[title] = (re.findall(r"`([^`]+)`", line), [])
        elif title in out:
            m = REF_LINE.match(line)
            if m:
                out[title][1].append(m[1] or m[2])
    return out


TEXT = DOC.read_text(encoding="utf-8")
CLASSES = classes(TEXT)


def test_page_has_classes_with_references() -> None:
    assert len(CLASSES) >= 7
    for title, (ids, refs) in CLASSES.items():
        assert ids and refs, title
        for r in refs:
            assert ref_problem(r) is None, (title, r)
        assert len(set(refs)) == len(refs), f"{title}: a reference twice"


def test_every_named_scenario_exists() -> None:
    named = [i for ids, _ in CLASSES.values() for i in ids]
    assert not [i for i in named if i not in CATALOG]
    assert len(set(named)) == len(named), "a scenario under two classes"


def test_every_scenario_with_refs_is_listed() -> None:
    named = {i for ids, _ in CLASSES.values() for i in ids}
    missing = sorted(sid for sid, sc in CATALOG.items()
                     if sc.refs and sid not in named)
    assert not missing, f"scenarios with refs not in {DOC.name}: {missing}"


def test_each_class_lists_its_scenarios_refs() -> None:
    for title, (ids, refs) in CLASSES.items():
        carried = {r for i in ids if i in CATALOG for r in CATALOG[i].refs}
        assert set(refs) == carried, (
            f"{title}: only on the page: {sorted(set(refs) - carried)}; "
            f"only in the files: {sorted(carried - set(refs))}")
