"""The TLSRPT mutation corpus (harness/tests/data/tlsrpt-mutations/): a real
report of the reference reporter passes every check, and each mutation of
it, wrong in exactly one way, is failed by the check it breaks, at the
level RFC 8460 words it, with the expected explanation, and by no other.

"doc" mutations are failed by the document checks (tlsrpt_doc); "lab"
mutations are well-formed documents that only the comparison with the
fake-mx sessions of the report's scenario (sessions.jsonl) can fail."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from danelab.observe import sessions
from danelab.tlsrpt_count import count_checks, published_check
from danelab.tlsrpt_doc import check_json, parse_json

DATA = Path(__file__).parent / "data" / "tlsrpt-mutations"
INDEX: dict[str, Any] = json.loads((DATA / "index.json").read_text())
SESSIONS = list(sessions(
    json.loads(line) for line in
    (DATA / INDEX["sessions"]).read_text().splitlines()).values())

Finding = tuple[str, str]


def doc_findings(raw: bytes) -> tuple[dict[str, Any] | None, list[Finding]]:
    doc, probs = parse_json(raw)
    if doc is not None and not probs:
        probs = check_json(doc)
    return doc, [(p.level, p.text) for p in probs]


def lab_findings(doc: dict[str, Any] | None) -> list[Finding]:
    dom = INDEX["domain"]
    checks = count_checks([doc], SESSIONS, dom) + \
        [published_check([doc], dom, set(INDEX["published"]))]
    return [(lv, t) for lv, ok, t in checks if not ok]


def test_original_passes() -> None:
    doc, found = doc_findings((DATA / INDEX["original"]).read_bytes())
    assert found == []
    assert lab_findings(doc) == []
    # The scenario's sessions: one failed over IPv4, one went on over IPv6.
    assert len(SESSIONS) == 2


@pytest.mark.parametrize("m", INDEX["mutations"],
                         ids=[m["file"] for m in INDEX["mutations"]])
def test_mutation_caught(m: dict[str, Any]) -> None:
    doc, found = doc_findings((DATA / m["file"]).read_bytes())
    if m["kind"] == "lab":
        assert found == [], "a lab mutation must be a well-formed report"
        found = lab_findings(doc)
    assert found, "not caught"
    for want in m["expect"]:
        assert any(want in t and lv == m["level"] for lv, t in found), \
            (want, found)
    for lv, t in found:
        assert any(want in t for want in m["expect"]), \
            f"an unexpected finding: {lv} {t}"


def test_corpus_is_what_generate_makes() -> None:
    """The files are exactly what generate.py makes of original.json: the
    index cannot drift from the mutations it describes."""
    spec = importlib.util.spec_from_file_location("tlsrpt_mutations_gen",
                                                  DATA / "generate.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = gen           # its dataclass needs it
    try:
        spec.loader.exec_module(gen)
    finally:
        del sys.modules[spec.name]
    made = gen.build((DATA / INDEX["original"]).read_bytes())
    on_disk = {p.name for p in DATA.glob("*.json")} - {INDEX["original"]}
    assert set(made) == on_disk
    for name, data in made.items():
        assert (DATA / name).read_bytes() == data, name


def test_both_levels_and_kinds_are_covered() -> None:
    ms = INDEX["mutations"]
    assert {m["level"] for m in ms} == {"MUST", "SHOULD"}
    assert {m["kind"] for m in ms} == {"doc", "lab"}
    assert len({m["file"] for m in ms}) == len(ms)
