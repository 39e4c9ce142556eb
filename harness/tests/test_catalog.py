"""The scenario catalog is the lab's own test suite: the reference sender
must pass every MUST of it (one scenario = one test id), and every scenario
must be able to fail: deliberately broken senders are failed where they
should be."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from danelab.adapters import get_adapter
from danelab.catalog import load_catalog
from danelab.grader import Grade
from danelab.runner import LabRun, RunResult

CATALOG = load_catalog()
BROKEN = ("broken-no-dane", "broken-plaintext-fallback", "broken-no-tls",
          "broken-require-tls")

# Scenarios none of the broken senders can be failed on, and why.
CANNOT_FAIL_BROKEN: dict[str, str] = {}


def _run(sender: str, folder: Path) -> RunResult:
    return LabRun(CATALOG, get_adapter(sender), folder).execute()


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return _run("reference", tmp_path_factory.mktemp("catalog-reference"))


@pytest.fixture(scope="session")
def broken_runs(tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[dict[str, RunResult]]:
    folders = {s: tmp_path_factory.mktemp(f"catalog-{s}") for s in BROKEN}
    with ThreadPoolExecutor(len(BROKEN)) as ex:
        futs = {s: ex.submit(_run, s, f) for s, f in folders.items()}
        yield {s: f.result() for s, f in futs.items()}


def _grades(r: RunResult, sid: str) -> list[Grade]:
    return [g for g in r.grades if g.scenario == sid]


def _why(g: Grade) -> str:
    return "; ".join(c.text for c in g.checks if not c.ok)


@pytest.mark.parametrize("sid", [s.id for s in CATALOG])
def test_reference_sender(reference_run: RunResult, sid: str) -> None:
    gs = _grades(reference_run, sid)
    assert gs, f"{sid} was not graded"
    for g in gs:
        # the reference holds every SHOULD too (it replaced the reference-
        # impl test that re-ran the whole catalog to check this)
        assert g.verdict not in ("fail", "warn"), (
            f"{sid} [{g.phase}] observed {g.observed}: {_why(g)}; "
            f"logs in {reference_run.run_dir}")


@pytest.mark.parametrize("sid", [s.id for s in CATALOG])
def test_reference_tlsrpt(reference_run: RunResult, sid: str) -> None:
    """The reference sender's TLSRPT reports pass every check, SHOULDs
    included."""
    t = _grades(reference_run, sid)[-1].tlsrpt
    assert t is not None, "the reference sender's reports were not graded"
    bad = [c["text"] for c in t["checks"] if not c["ok"]]
    assert t["verdict"] == "pass", f"{sid}: {bad}"


@pytest.mark.parametrize("sid", [s.id for s in CATALOG])
def test_scenario_can_fail(broken_runs: dict[str, RunResult],
                           sid: str) -> None:
    verdicts = {s: [g.verdict for g in _grades(r, sid)]
                for s, r in broken_runs.items()}
    failed = [s for s, v in verdicts.items() if "fail" in v]
    sc = next(s for s in CATALOG if s.id == sid)
    if not failed and sc.expect.prefer != sc.expect.outcome:
        # Every outcome but a bounce is allowed: the SHOULD must bite.
        failed = [s for s, v in verdicts.items() if "warn" in v]
    if sid in CANNOT_FAIL_BROKEN:
        pytest.xfail(CANNOT_FAIL_BROKEN[sid])
    assert failed, f"no broken sender is failed on {sid}: {verdicts}"


def test_known_failures_of_broken_senders(
        broken_runs: dict[str, RunResult]) -> None:
    """Spot checks: each broken sender is failed for the right reason."""
    def grade_of(sender: str, sid: str) -> Grade:
        return _grades(broken_runs[sender], sid)[0]
    g = grade_of("broken-no-dane", "d16-dane-ee-wrong-digest")
    assert g.verdict == "fail" and "forbidden host" in _why(g)
    g = grade_of("broken-no-dane", "a02-mx-rrsig-expired")
    assert g.verdict == "fail" and g.observed.startswith("delivered")
    g = grade_of("broken-no-tls", "e24-no-starttls")
    assert g.verdict == "fail" and "cleartext" in _why(g)
    g = grade_of("broken-no-tls", "a01-secure-dane-ee")
    assert g.observed == "delivered-plain" and g.verdict == "fail"


def test_reference_retry_limit(reference_run: RunResult) -> None:
    """Case 35's second half is really graded for the reference (not
    `info`): after the forced limit it made one last attempt, then bounced
    with a DSN file and an X.7.x status."""
    limit = [s for s in CATALOG if s.expect_after_limit is not None]
    assert limit, "the catalog has no [expect.after_limit] scenario"
    for sc in limit:
        g = {x.phase: x for x in _grades(reference_run, sc.id)}
        last = g["after-limit"]
        assert (last.verdict, last.observed) == ("pass", "bounced"), \
            _why(last)
        assert last.sender and last.sender.dsn.split(".")[1] == "7"
        if g["first"].sessions:         # it reached the server at all
            assert len(last.sessions) > len(g["first"].sessions), \
                f"{sc.id}: no last attempt after the limit"


def test_reference_run_has_no_stray_traffic(
        reference_run: RunResult) -> None:
    """Nothing the reference sender dialled was undeclared, and a host that
    does not listen (f29's mx1) is seen by fake-mx's catch-all, as the
    refused connection it is, and counted against no one."""
    assert reference_run.problems == []
    sid = "f29-partial-mx1-down-mx2-no-tlsa"
    mx1 = reference_run.plan.hosts[(sid, "mx1")]
    assert not mx1.decl.listen
    g = _grades(reference_run, sid)[0]
    caught = [reference_run.sessions[s] for s in g.sessions
              if reference_run.sessions[s].catch_all]
    assert {s.local_address for s in caught} == {mx1.address}
    assert all(s.close == "reset" for s in caught)
    assert g.verdict != "fail", _why(g)
