"""The certification header (certify.py), the suite version (suite.py) and
the adapters' version and configuration digests, on synthetic case records
and without a lab: which document a check counts under, what the headline
says, the order of the section tallies."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from danelab.adapters.exim import EximAdapter
from danelab.adapters.postfix import PostfixAdapter
from danelab.adapters.reference import ReferenceAdapter
from danelab.certify import SECTION_TITLES, certificate, documents, \
    section_tallies, worst
from danelab.suite import catalog_digest, danelab_commit, suite_version

ROOT = Path(__file__).resolve().parents[2]


def check(level: str, ok: bool, kind: str = "outcome",
          ground: dict[str, str] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"level": level, "ok": ok, "text": "t",
                         "kind": kind}
    if ground:
        d["ground"] = ground
    return d


def case(cid: str, rfc: str, checks: list[dict[str, Any]], verdict: str,
         tlsrpt: dict[str, Any] | None = None, sender: str = "s",
         phase: str = "first") -> dict[str, Any]:
    return {"id": cid, "sender": sender, "section": cid[0].upper(),
            "rfc": rfc, "phase": phase, "checks": checks,
            "verdict": verdict, "tlsrpt": tlsrpt}


RUN = {"sender": {"name": "s", "version": "S 1.0",
                  "config_digest": "sha256:ab"},
       "suite": {"label": "catalog sha256:00 (3 files), danelab x",
                 "catalog_files": 3},
       "started": "2026-01-01T00:00:00Z", "command": "bin/danelab run"}


def test_documents_from_the_rfc_field() -> None:
    cs = [case("d1", "RFC 7672 §2.2; RFC 3207 §4",
               [check("MUST", False), check("MUST", True, "hosts")],
               "fail"),
          case("h1", "RFC 8460 §3", [check("MUST", True)], "pass",
               {"verdict": "fail", "checks": [check("MUST", False, ""),
                                              check("SHOULD", False, "")]}),
          case("a1", "RFC 7672 §2.1", [check("MAY", True),
                                       check("SHOULD", False, "prefer")],
               "warn")]
    d = documents(cs)
    # a failed MUST counts under every document the case names...
    assert d["RFC 7672"]["fail"] == {"d1"} and d["RFC 3207"]["fail"] == {"d1"}
    # ...RFC 8460 only through TLSRPT checks; a case naming only RFC 8460
    # has its delivery checks under RFC 7672
    assert d["RFC 8460"]["must"] == {"h1"} and d["RFC 8460"]["fail"] == {"h1"}
    assert d["RFC 8460"]["warn"] == {"h1"}
    assert d["RFC 7672"]["must"] == {"d1", "h1"}
    assert d["RFC 7672"]["warn"] == {"a1"} and d["RFC 7672"]["may"] == {"a1"}


def test_a_ground_overrides_the_rfc_field() -> None:
    g = {"rfc": "RFC 5321", "section": "4.5.4.1", "keyword": "MUST"}
    d = documents([case("g1", "RFC 7672 §2.2",
                        [check("MUST", False, "dsn", g),
                         check("MUST", True, "hosts")], "fail")])
    assert d["RFC 5321"]["fail"] == {"g1"}
    assert d["RFC 7672"]["must"] == {"g1"} and not d["RFC 7672"]["fail"]


def test_not_graded_is_neither_pass_nor_fail() -> None:
    cs = [case("i1", "RFC 8461 §4.2", [check("MUST", False),
                                       check("MAY", False, "not-graded")],
               "info"),
          case("i2", "RFC 8461 §4.2", [check("MUST", True)], "pass",
               tlsrpt={"verdict": "info",
                       "checks": [check("MUST", False, "")]})]
    d = documents(cs)
    assert d["RFC 8461"]["not_graded"] == {"i1"}
    assert d["RFC 8461"]["must"] == {"i2"} and not d["RFC 8461"]["fail"]
    assert d["RFC 8460"]["not_graded"] == {"i2"}
    assert not d["RFC 8460"]["must"]


def test_phases_count_apart() -> None:
    cs = [case("g35", "RFC 7672 §2.2", [check("MUST", True)], "pass"),
          case("g35", "RFC 7672 §2.2", [check("MUST", False)], "fail",
               phase="after-fix")]
    assert documents(cs)["RFC 7672"]["fail"] == {"g35[after-fix]"}


def test_certificate_passes_only_a_clean_complete_run() -> None:
    ok = [case(f"a{i}", "RFC 7672 §2.2", [check("MUST", True)], "pass",
               {"verdict": "pass", "checks": [check("MUST", True, "")]})
          for i in range(3)]
    c = certificate("s", ok, [RUN], [])
    assert c["passed"]
    assert c["verdict"] == ("passes every MUST of RFC 7672 and RFC 8460 in "
                            "catalog sha256:00 (3 files), danelab x")
    assert [ln["state"] for ln in c["lines"]] == ["pass", "pass"]
    part = certificate("s", ok[:2], [RUN], [])
    assert part["passed"] and "2 of the 3 scenarios" in part["verdict"] \
        and "partial run" in part["verdict"]
    # a problem of the run fails it, whatever the cases say
    bad = certificate("s", ok, [RUN], [{"sender": "s", "kind": "stray",
                                        "text": "x"}])
    assert not bad["passed"] and "1 problem(s) of the run" in bad["verdict"]
    # another sender's problem does not
    assert certificate("s", ok, [RUN], [{"sender": "t", "kind": "stray",
                                         "text": "x"}])["passed"]


def test_certificate_counts_and_no_tlsrpt() -> None:
    cs = [case("d1", "RFC 7672 §3.1", [check("MUST", False)], "fail"),
          case("d2", "RFC 7672 §3.1", [check("MUST", True),
                                       check("SHOULD", False, "prefer")],
               "warn"),
          case("a5", "RFC 7672 §2.2", [check("MAY", True)], "info")]
    c = certificate("s", cs, [RUN], [])
    assert not c["passed"]
    assert c["must_failed"] == ["d1"] and c["should_warned"] == ["d2"]
    assert c["may_choices"] == ["a5"]
    lines = {ln["document"]: ln for ln in c["lines"]}
    assert lines["RFC 7672"]["state"] == "fail"
    # a5 has no MUST check: a recorded choice, not a case graded on a MUST
    assert lines["RFC 7672"]["text"].startswith(
        "fails 1 of 2 cases on a MUST of RFC 7672; 1 SHOULD warned; "
        "1 MAY choice(s) recorded")
    assert lines["RFC 8460"]["state"] == "not-graded"
    assert "sent no TLSRPT reports" in lines["RFC 8460"]["text"]


def test_certificate_of_merged_runs_shows_what_differs() -> None:
    other = {**RUN, "sender": {**RUN["sender"], "version": "S 1.1"},
             "started": "2026-01-02T00:00:00Z", "command": "bin/danelab x"}
    c = certificate("s", [case("a1", "RFC 7672", [check("MUST", True)],
                               "pass")], [RUN, other], [])
    assert c["run"]["versions"] == ["S 1.0", "S 1.1"]
    assert c["run"]["config_digests"] == ["sha256:ab"]
    assert c["run"]["first_start"] < c["run"]["last_start"]
    assert c["run"]["commands"] == ["bin/danelab run", "bin/danelab x"]


def test_sections_failures_first() -> None:
    cs = [case("a1", "RFC 7672", [], "pass"),
          case("c1", "RFC 7672", [], "warn"),
          case("d1", "RFC 7672", [], "pass",
               {"verdict": "fail", "checks": []}),
          case("b1", "RFC 7672", [], "pass"),
          case("b1", "RFC 7672", [], "fail", sender="t")]
    t = section_tallies(cs, ["s", "t"])
    assert [x["section"] for x in t] == ["B", "D", "C", "A"]
    assert t[0]["per"]["t"]["fail"] == 1 and t[0]["per"]["s"]["pass"] == 1
    assert t[1]["per"]["s"]["fail"] == 1     # a failed TLSRPT grade
    assert worst(cs[:3]) == "fail" and worst(cs[:2]) == "warn"


def test_section_titles_match_cases_md() -> None:
    text = (ROOT / "docs" / "cases.md").read_text()
    heads = dict(re.findall(r"^## ([A-K]) — (.+)$", text, re.M))
    assert heads == SECTION_TITLES


def test_suite_version(tmp_path: Path) -> None:
    (tmp_path / "a01-x.toml").write_text("a")
    (tmp_path / "b08-y.toml").write_text("b")
    d1, n = catalog_digest(tmp_path)
    assert n == 2
    (tmp_path / "b08-y.toml").write_text("c")
    assert catalog_digest(tmp_path)[0] != d1
    v = suite_version(tmp_path)
    assert v["catalog_files"] == 2 and v["label"].startswith(
        f"catalog sha256:{v['catalog_sha256'][:16]} (2 files), danelab ")
    # outside a git checkout the commit is "unknown", never an error
    assert danelab_commit(tmp_path) == "unknown"
    if shutil.which("git") and (ROOT / ".git").exists():
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse",
                               "--short=7", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        assert danelab_commit().startswith(head[:7]) or \
            head[:7] in danelab_commit()


class _Ctx:
    resolver = "127.53.0.53"
    webpki_ca = "/run/pki/webpki-root.crt"


def test_config_digests_are_stable_and_tell_configs_apart() -> None:
    r1, r2 = ReferenceAdapter(), ReferenceAdapter()
    r1.ctx = r2.ctx = _Ctx()            # type: ignore[assignment]
    assert r1.config_digest() == r2.config_digest()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", r1.config_digest())
    pf, pd = PostfixAdapter("postfix", "dane"), \
        PostfixAdapter("postfix-dane-only", "dane-only")
    assert pf.config_digest() == PostfixAdapter().config_digest()
    assert pf.config_digest() != pd.config_digest()
    ex, er = EximAdapter("exim", False), EximAdapter("exim-r", True)
    assert ex.config_digest() != er.config_digest()
    assert len({r1.config_digest(), pf.config_digest(),
                ex.config_digest()}) == 3
