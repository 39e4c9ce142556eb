"""Grounds: every check rests on a named requirement whose keyword fits its
level, the linter refuses a scenario whose grounds do not, and the counts
per document come from the grounds of the failed checks."""
from __future__ import annotations

from pathlib import Path

import pytest

from scenario_text import head
from danelab import grounds as gr
from danelab.grader import Check
from danelab.scenario import check_scenario

G = gr.GROUNDS


@pytest.mark.parametrize("level,name,fits", [
    ("MUST", "7672-no-unauthenticated", True),     # MUST NOT
    ("MUST", "7672-opportunistic", False),         # SHOULD
    ("MUST", "7672-half-dane", False),             # MAY
    ("MUST", "lab-once", True),                    # the lab's own MUST
    ("SHOULD", "7672-opportunistic", True),
    ("SHOULD", "5321-5yz-no-repeat", True),        # SHOULD NOT
    ("SHOULD", "7672-fallback-or-delay", True),    # MUST, tension stated
    ("SHOULD", "7672-dns-delay", False),           # MUST, no tension
    ("SHOULD", "7672-half-dane", False),           # MAY
    ("MAY", "7672-half-dane", True),
    ("MAY", "8996-old-tls", True),                 # MUST NOT, tension
    ("MAY", "7672-opportunistic", False),          # SHOULD, no tension
])
def test_level_fits_keyword(level: str, name: str, fits: bool) -> None:
    assert (gr.fits(level, G[name]) is None) == fits


def test_a_check_cannot_rest_on_a_weaker_ground() -> None:
    with pytest.raises(ValueError, match="MUST check needs a MUST"):
        Check("MUST", False, "x", "outcome", G["7672-opportunistic"])
    c = Check("SHOULD", False, "x", "prefer", G["7672-opportunistic"])
    assert c.as_dict()["ground"]["cite"] == "RFC 7672 §2.2 SHOULD"


def test_every_ground_is_well_formed_and_every_table_names_one() -> None:
    for name, g in G.items():
        assert g.name == name and g.keyword in gr.KEYWORDS
        assert g.rfc == gr.LAB or gr.RFC_RE.match(g.rfc), name
        assert g.says and "  " not in g.says, name
    for table in (gr.KIND_GROUNDS, gr.TLSRPT_GROUNDS):
        assert set(table.values()) <= set(G)


def test_parse_a_written_out_ground() -> None:
    g, errs = gr.parse({"rfc": "RFC 7505", "section": "3", "keyword":
                        "MUST NOT", "says": "no other MX beside a null MX"})
    assert not errs and g is not None and g.cite() == "RFC 7505 §3 MUST NOT"
    g, errs = gr.parse({"rfc": "7672", "section": "§2.2", "keyword":
                        "must", "colour": "red"})
    assert g is None and len(errs) == 5, errs
    g, errs = gr.parse("no-such-ground")
    assert g is None and "not a ground the lab knows" in errs[0]


HEAD = head("D", 16, "RFC 7672") + """[[host]]
name = "mx1"
mx = 10
tlsa = ["3 1 1!"]
[expect]
outcome = ["deferred", "bounced"]
prefer = ["deferred"]
hosts = []
"""


@pytest.mark.parametrize("ground,errors", [
    ('outcome = "7672-no-unauthenticated"\n'
     'prefer = "7672-fallback-or-delay"\n', []),
    ('prefer = "7672-fallback-or-delay"\n',
     ["expect.ground.outcome: is required"]),
    ('outcome = "7672-opportunistic"\nprefer = "7672-fallback-or-delay"\n',
     ["expect.ground.outcome: a MUST check needs a MUST"]),
    ('outcome = "7672-no-unauthenticated"\nprefer = "7672-dns-delay"\n',
     ["expect.ground.prefer: a SHOULD check needs a SHOULD"]),
    ('outcome = "7672-no-unauthenticated"\n'
     'prefer = "7672-fallback-or-delay"\nchoice = "7672-half-dane"\n',
     ["expect.ground.choice: only with choice = true"]),
    ('outcome = { rfc = "RFC 7672", section = "3.2", keyword = "SHOULD", '
     'says = "x" }\nprefer = "7672-fallback-or-delay"\n',
     ["expect.ground.outcome: a MUST check needs a MUST"]),
    ('outcome = "7672-no-unauthenticated"\n'
     'prefer = "7672-fallback-or-delay"\nsni = "7672-sni"\n',
     ["expect.ground.sni: not a check kind that takes a ground"]),
])
def test_lint_refuses_grounds_that_do_not_fit(tmp_path: Path, ground: str,
                                              errors: list[str]) -> None:
    p = tmp_path / "d16-ground-test.toml"
    p.write_text(HEAD + "[expect.ground]\n" + ground)
    _sc, errs = check_scenario(p)
    got = [f"{e.field}: {e.why}" for e in errs]
    assert len(got) == len(errors), got
    for want in errors:
        assert any(g.startswith(want) for g in got), (want, got)


def test_an_unbounded_outcome_needs_a_ground_for_its_hosts(
        tmp_path: Path) -> None:
    """No MUST bounds `outcome` (every outcome listed), yet `hosts` leaves
    a host out: that MUST needs its own ground."""
    every = '["delivered-dane", "delivered-tls", "delivered-plain", ' \
        '"deferred", "bounced"]'
    text = HEAD.replace('outcome = ["deferred", "bounced"]',
                        f"outcome = {every}") \
        .replace("hosts = []", 'hosts = ["mx2"]') + \
        '[[host]]\nname = "mx2"\nmx = 20\n'
    p = tmp_path / "f29-ground-test.toml"
    p.write_text(text.replace('section = "D"\ncase = 16',
                              'section = "F"\ncase = 29') +
                 '[expect.ground]\nprefer = "7672-opportunistic"\n')
    _sc, errs = check_scenario(p)
    assert [e.field for e in errs] == ["expect.ground.hosts"], errs
    p.write_text(p.read_text() + 'hosts = "7672-no-unauthenticated"\n')
    assert check_scenario(p)[1] == []


def case(cid: str, *checks: tuple[str, bool, str]) -> dict:
    return {"id": cid, "checks": [{"level": lv, "ok": ok, "text": "",
                                   "ground": G[name].as_dict()}
                                  for lv, ok, name in checks]}


def test_documents_count_cases_per_rfc() -> None:
    cases = [
        case("a", ("MUST", False, "7672-no-unauthenticated"),
             ("MUST", False, "7672-tls-required"),
             ("SHOULD", False, "7671-agility")),
        case("b", ("MUST", True, "7672-no-unauthenticated"),
             ("SHOULD", False, "7672-fallback-or-delay")),
        case("c", ("MUST", False, "lab-once")),
        case("d", ("MUST", False, "8461-enforce"),      # not graded
             ("MAY", False, "lab-not-graded")),
        case("e", ("MUST", True, "8996-old-tls")),
    ]
    cases[3]["checks"][1]["kind"] = "not-graded"
    cases[1]["tlsrpt"] = {"checks": [{"level": "MUST", "ok": False,
                                      "text": "", "ground":
                                      G["8460-one-record"].as_dict()}]}
    docs = gr.documents(cases)
    assert docs["RFC 7672"] == {"must": 2, "fail": 1, "warn": 1,
                                "fail_cases": ["a"], "warn_cases": ["b"],
                                "not_graded": 0}
    assert docs["RFC 7671"]["warn_cases"] == ["a"]
    assert docs["RFC 8460"]["fail_cases"] == ["b"]
    assert docs["danelab"]["fail_cases"] == ["c"]
    # a case not graded counts for nothing but its own tally
    assert docs["RFC 8461"] == {"must": 0, "fail": 0, "warn": 0,
                                "fail_cases": [], "warn_cases": [],
                                "not_graded": 1}
    rows = {r["document"]: r for r in gr.headline(docs)}
    assert not rows["RFC 7672"]["conforms"] and rows["RFC 8996"]["conforms"]
    # nothing graded on a MUST is no conformance: a warned SHOULD alone,
    # a case not graded, a document no case rests on
    assert not rows["RFC 7671"]["conforms"]
    assert not rows["RFC 8461"]["conforms"]
    assert not rows["RFC 5321"]["conforms"] and rows["RFC 5321"]["must"] == 0
    assert list(rows)[:6] == list(gr.HEADLINE_DOCUMENTS)


def test_published_cells_tell_not_graded_from_conforming() -> None:
    from danelab.published import per_document
    cases = [case("a", ("MUST", False, "7672-no-unauthenticated")),
             case("b", ("MUST", True, "8996-old-tls"),
                  ("SHOULD", False, "7671-agility"))]
    lines = per_document(["s"], {"s": {"documents": gr.documents(cases)}})
    head = [x.strip() for x in lines[-3].strip("|").split("|")]
    row = [x.strip() for x in lines[-1].strip("|").split("|")]
    cells = dict(zip(head, row))
    assert cells["RFC 7672"] == "1 / 0 (of 1)"
    assert cells["RFC 8996"] == "0 / 0 (of 1)"
    assert cells["RFC 7671"] == "not graded, 1 warned"
    assert cells["RFC 8461"] == "not graded"
