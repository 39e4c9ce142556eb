"""docs/cases.md, the catalog's own index, cannot go stale: every case a
scenario names is described there under the right letter, and each case's
"Scenarios:" line is what the scenario files say today."""
from __future__ import annotations

from danelab import catalog, casedoc

TEXT = casedoc.DOC.read_text(encoding="utf-8")
CATALOG = catalog.load_catalog()


def test_every_case_of_a_scenario_is_described() -> None:
    cases = casedoc.described(TEXT)
    missing = sorted({f"{sc.id} ({sc.section}{sc.case})" for sc in CATALOG
                      if cases.get(sc.case) != sc.section})
    assert not missing, "docs/cases.md lacks the case of: " + \
        ", ".join(missing)


def test_sections_and_numbers_are_complete() -> None:
    cases = casedoc.described(TEXT)
    assert sorted(cases) == list(range(1, max(cases) + 1))
    assert "".join(sorted(set(cases.values()))) == "ABCDEFGHIJK"
    for letter in "ABCDEFGHIJK":
        assert f"\n## {letter} — " in TEXT


def test_scenario_lines_are_current() -> None:
    """Fails after a scenario is added, renamed or moved until
    `PYTHONPATH=harness /usr/bin/python3 -m danelab.casedoc` is run."""
    assert casedoc.render(TEXT, CATALOG) == TEXT


def test_render_lists_and_marks_empty_cases() -> None:
    text = ("## A — x\n\n### A1 — one\nprose\n\nScenarios: old\n\n"
            "### A2 — two\n\nScenarios: `zzz`\n")
    one = [sc for sc in CATALOG if sc.id.startswith("a01")]
    out = casedoc.render(text, one)
    assert "Scenarios: `a01-secure-dane-ee`, `a01b-secure-dane-ee-nsec3`" \
        in out
    assert "### A2 — two\n\nScenarios: none yet\n" in out
