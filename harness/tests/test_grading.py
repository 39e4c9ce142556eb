"""docs/grading.md cannot go stale: its list of grounds and its table of
every expectation that is not a plain MUST of RFC 7672 are what grounds.py
and the scenario files say today."""
from __future__ import annotations

from danelab import catalog, grading
from danelab import grounds as gr

TEXT = grading.DOC.read_text(encoding="utf-8")
CATALOG = catalog.load_catalog()


def test_generated_parts_are_current() -> None:
    """Fails after a ground or an expectation changes until
    `PYTHONPATH=harness /usr/bin/python3 -m danelab.grading` is run."""
    assert grading.render(TEXT, CATALOG) == TEXT


def test_every_non_plain_expectation_is_listed() -> None:
    for sc in CATALOG:
        for phase, exp in grading.expectations(sc):
            name = sc.id + (f" [{phase}]" if phase else "")
            listed = f"| `{name}` |" in TEXT
            assert listed != grading.is_plain(exp), name


def test_plain_means_rfc_7672_musts_only() -> None:
    sc = next(s for s in CATALOG if s.id.startswith("a01-"))
    assert grading.is_plain(sc.expect)
    e28d = next(s for s in CATALOG if s.id.startswith("e28d-"))
    assert not grading.is_plain(e28d.expect)
    assert all(f'<a id="{n}"></a>' in TEXT for n in gr.GROUNDS)
