"""The scenario catalog is the lab's own test suite: the reference sender
must pass every MUST of it (one scenario = one test id), and every scenario
must be able to fail: deliberately broken senders are failed where they
should be, and every kind of MUST check the grader has is failed by one of
them somewhere."""
from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from danelab import grader
from danelab.adapters import Adapter, BROKEN_DANE, BROKEN_STS, get_adapter
from danelab.adapters.danebroken import BrokenDaneAdapter
from danelab.adapters.stsbroken import BrokenStsAdapter
from danelab.catalog import load_catalog
from danelab.grader import CHECK_KINDS, Grade
from danelab.runner import LabRun, RunResult
from danelab.scenario import OUTCOMES

CATALOG = load_catalog()
# the MTA-STS cases (section I, and the attacks on MTA-STS of section J):
# the broken MTA-STS senders run on them only (their DANE code is the
# control's, which runs everywhere)
STS_SECTION = [s for s in CATALOG if s.section == "I" or
               "mta-sts" in s.requires]
# broken-stray is left out: its fallback relay fails every run as a whole
# (test_stray.py runs it on three scenarios)
BROKEN = ("broken-no-dane", "broken-plaintext-fallback", "broken-no-tls",
          "broken-require-tls") + BROKEN_DANE
# the broken DANE senders' code without a flaw
CONTROL = "dane-control"
# the same with MTA-STS (stsbroken.py), without a flaw
STS_CONTROL = "sts-control"

# Scenarios none of the broken senders can be failed on, and why.
_STS_ALLOWS = ("MTA-STS allows the delivery; only a sender that refuses "
               "it could fail here, and no broken MTA-STS sender is too "
               "strict")
CANNOT_FAIL_BROKEN: dict[str, str] = {
    "i39-enforce-valid": _STS_ALLOWS,
    "i39-mx-case-differs": _STS_ALLOWS,
    "i39-mx-idn-u-label": _STS_ALLOWS + " (and either outcome is allowed)",
    "i39-mx-trailing-dot": _STS_ALLOWS,
    "i39-mx-wildcard": _STS_ALLOWS,
    "i39-testing-cert-untrusted": _STS_ALLOWS + " (testing mode)",
    "i39-testing-mx-not-listed": _STS_ALLOWS + " (testing mode)",
    "i40-insecure-domain-sts-enforce": _STS_ALLOWS,
    "j41e-strip-sts-testing": _STS_ALLOWS + " (testing mode)",
}
# No usable policy (the TXT record invalid or absent, no policy fetched, a
# policy that is no policy): the domain gets its mail as without MTA-STS.
# Delivering is only preferred (SHOULD: the lab cannot tell a policy applied
# wrongly from a sender's own refusal, docs/grading.md), and no broken
# MTA-STS sender refuses such a domain, so none even warns.  The redirect
# case is not among them: broken-sts-follows-redirect fails its
# sts-redirect MUST.
_NO_POLICY = ("no usable MTA-STS policy: delivery is only preferred "
              "(SHOULD), and no broken MTA-STS sender refuses a domain "
              "without a policy")
CANNOT_FAIL_BROKEN.update({
    s.id: _NO_POLICY for s in STS_SECTION
    if s.expect.policy == "none" and set(s.expect.outcome) == set(OUTCOMES)
    and s.id != "i39-fetch-redirect"})

# Kinds of check (grader.CHECK_KINDS) that no broken sender of BROKEN is
# failed on as a MUST anywhere in the catalog, and why.
NOT_FAILED_BY_BROKEN: dict[str, str] = {
    "prefer": "a SHOULD only: it warns, never fails",
    "flood": "a SHOULD only: fake-mx's log budget ran out in a session "
             "(fake-mx/tests test_flood_is_counted_not_logged)",
    "not-graded": "a MAY record of a phase the lab could not set up",
    "provisional": "a MAY record of `danelab serve` while it waits "
                   "(test_serve.py)",
    "dsn-cause": "a SHOULD only: it warns, never fails",
    "sender-word-arrived": "a SHOULD only: it warns, never fails",
    "stray": "broken-stray is failed on it (test_stray.py); it is not in "
             "BROKEN (see there)",
    "foreign-host": "needs a sender that hands one domain's message to "
                    "another scenario's MX; no broken sender mixes domains",
    "duplicate": "needs a sender that sends a message again after a 250 at "
                 "the end of DATA; every broken sender stops there",
    "dsn": "the MUST part needs a bounce without a valid RFC 3463 status; "
           "every broken sender that bounces gives one",
    "sender-word": "the MUST part needs a sender that claims a delivery "
                   "no server accepted; the broken senders report what "
                   "their SMTP session saw",
}


def _run(sender: str, folder: Path) -> RunResult:
    ad: Adapter = BrokenDaneAdapter(sender) if sender == CONTROL else \
        BrokenStsAdapter(sender) if sender == STS_CONTROL else \
        get_adapter(sender)
    sts = sender in BROKEN_STS or sender == STS_CONTROL
    return LabRun(STS_SECTION if sts else CATALOG, ad, folder).execute()


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return _run("reference", tmp_path_factory.mktemp("catalog-reference"))


@pytest.fixture(scope="session")
def python_runs(tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[dict[str, RunResult]]:
    """The broken senders and the controls: those over the whole catalog
    all at once, the MTA-STS ones (section I only) as they finish, so that
    no more labs run at the same time than there are whole-catalog runs."""
    names = BROKEN + (CONTROL,) + BROKEN_STS + (STS_CONTROL,)
    folders = {s: tmp_path_factory.mktemp(f"catalog-{s}") for s in names}
    with ThreadPoolExecutor(len(BROKEN) + 1) as ex:
        futs = {s: ex.submit(_run, s, f) for s, f in folders.items()}
        yield {s: f.result() for s, f in futs.items()}


@pytest.fixture(scope="session")
def broken_runs(python_runs: dict[str, RunResult]) -> dict[str, RunResult]:
    return {s: python_runs[s] for s in BROKEN + BROKEN_STS}


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
    included; where a scenario needs a feature the reference does not
    declare (MTA-STS, until it implements it), they are `info`, never a
    pass."""
    t = _grades(reference_run, sid)[-1].tlsrpt
    assert t is not None, "the reference sender's reports were not graded"
    bad = [c["text"] for c in t["checks"] if not c["ok"]]
    sc = next(s for s in CATALOG if s.id == sid)
    missing = set(sc.requires) - set(get_adapter("reference").features)
    assert t["verdict"] == ("info" if missing else "pass"), f"{sid}: {bad}"
    # every TLSRPT check names its ground (grounds.TLSRPT_GROUNDS)
    assert all("ground" in c for c in t["checks"]), t["checks"]


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
        assert not failed, f"{sid} is failed after all (drop it from " \
            f"CANNOT_FAIL_BROKEN): {failed}"
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


def test_new_broken_senders_fail_for_their_flaw(
        broken_runs: dict[str, RunResult]) -> None:
    """Spot checks: each broken DANE sender is failed where its one flaw
    shows, for that reason, and passes the neighbouring case where the
    flaw does not matter."""
    def grade_of(sender: str, sid: str) -> Grade:
        return _grades(broken_runs[sender], sid)[0]

    def failed_kinds(g: Grade) -> set[str]:
        return {c.kind for c in g.checks if not c.ok and c.level == "MUST"}

    # MAIL FROM and RCPT TO reach mx1 (whose key does not match) before
    # the sender judges the chain; it then delivers to mx2 with DANE
    g = grade_of("broken-envelope-leak", "f30-mx1-mismatch-mx2-match")
    assert (g.verdict, g.observed) == ("fail", "delivered-dane")
    assert failed_kinds(g) == {"envelope"}
    assert "mx1 got MAIL FROM and RCPT TO over TLS" in _why(g)
    g = grade_of("broken-envelope-leak", "c12-tlsa-bogus-corrupted")
    assert (g.verdict, g.observed) == ("fail", "deferred")
    assert failed_kinds(g) == {"envelope"} and "bogus" in _why(g)
    # the named CA sent along after a rogue chain fools it; a chain that
    # merely leads elsewhere does not
    g = grade_of("broken-any-ca", "d20d-dane-ta-ca-sent-along")
    assert (g.verdict, g.observed) == ("fail", "delivered-tls")
    assert {"outcome", "hosts", "envelope"} <= failed_kinds(g)
    assert grade_of("broken-any-ca",
                    "d20b-dane-ta-ca-not-in-chain").verdict == "pass"
    # DANE-EE with an expired / not yet valid leaf: refused; a wrong name
    # (also to be ignored) is not
    for sid in ("d17-dane-ee-expired-leaf", "d17b-dane-ee-not-yet-valid"):
        g = grade_of("broken-ee-dates", sid)
        assert (g.verdict, g.observed) == ("fail", "deferred"), sid
        assert failed_kinds(g) == {"outcome"}, sid
    assert grade_of("broken-ee-dates",
                    "d17c-dane-ee-wrong-name").verdict == "pass"
    # a TLSA lookup that failed (SERVFAIL, timeout) taken for "no TLSA";
    # a real, secure "no TLSA" is handled right
    for sid in ("c12-tlsa-bogus-corrupted", "c12h-tlsa-lookup-timeout"):
        g = grade_of("broken-servfail-no-tlsa", sid)
        assert (g.verdict, g.observed) == ("fail", "delivered-tls"), sid
        assert {"outcome", "hosts", "envelope"} <= failed_kinds(g), sid
        assert "its TLSA RRset is bogus" in _why(g), sid
    assert grade_of("broken-servfail-no-tlsa",
                    "c10-tlsa-nxdomain-nsec").verdict == "pass"
    # 2 0 0 with the CA only in DNS: a MUST; 2 1 0 without the root: a
    # SHOULD; the same record with the anchor sent passes
    g = grade_of("broken-ta-needs-sent-anchor",
                 "d18l-dane-ta-2-0-0-anchor-not-sent")
    assert (g.verdict, g.observed) == ("fail", "deferred")
    assert failed_kinds(g) == {"outcome"}
    g = grade_of("broken-ta-needs-sent-anchor",
                 "d18m-dane-ta-2-1-0-root-not-sent")
    assert (g.verdict, g.observed) == ("warn", "deferred")
    assert grade_of("broken-ta-needs-sent-anchor",
                    "d18f-dane-ta-depth2-key-full").verdict == "pass"
    # a matching DANE-EE record beside a DANE-TA record that matches
    # nothing, and the other way round: any one match is enough; an RRset
    # of one usage is judged right
    for sid in ("d21h-tlsa-ee-right-ta-wrong", "d21c-tlsa-ee-wrong-ta-right"):
        g = grade_of("broken-every-usage", sid)
        assert (g.verdict, g.observed) == ("fail", "deferred"), sid
        assert failed_kinds(g) == {"outcome"}, sid
    assert grade_of("broken-every-usage",
                    "d21-tlsa-rollover-current-and-next").verdict == "pass"


def test_dane_control_passes(python_runs: dict[str, RunResult]) -> None:
    """The broken DANE senders' code without its flaw passes every case
    (and every SHOULD): each of them is failed for its flaw alone."""
    r = python_runs[CONTROL]
    assert {g.scenario for g in r.grades} == {s.id for s in CATALOG}
    bad = [f"{g.scenario} [{g.phase}] {g.verdict} {g.observed}: {_why(g)}"
           for g in r.grades if g.verdict in ("fail", "warn")]
    assert not bad, f"{bad}; logs in {r.run_dir}"


def test_broken_sts_senders_fail_for_their_flaw(
        broken_runs: dict[str, RunResult]) -> None:
    """Each broken MTA-STS sender is failed where its one flaw shows, for
    that reason, and nowhere else among the MTA-STS cases."""
    def failed(sender: str) -> dict[str, Grade]:
        return {g.scenario: g for g in broken_runs[sender].grades
                if g.verdict == "fail"}

    def kinds(g: Grade) -> set[str]:
        return {c.kind for c in g.checks if not c.ok and c.level == "MUST"}

    # DANE fails at mx1, the enforce policy lists it and its chain is
    # WebPKI-valid: the policy wins, mx1 gets the message
    f = failed("broken-sts-overrides-dane")
    assert set(f) == {"i40-dane-mismatch-sts-valid",
                      "i40-dane-mismatch-mx2-sts"}, sorted(f)
    for g in f.values():
        assert g.observed == "delivered-tls" and "envelope" in kinds(g)
    # enforce applied as testing: every enforce case that must stop a
    # delivery lets it through (and only those)
    f = failed("broken-sts-enforce-as-testing")
    assert {"i39-enforce-mx-not-listed", "i39-enforce-cert-self-signed",
            "j41d-strip-sts-enforce"} <= set(f), sorted(f)
    for sid, g in f.items():
        assert "sts-policy" in kinds(g), (sid, _why(g))
        sc = next(s for s in STS_SECTION if s.id == sid)
        phases = [sc.expect, sc.expect_after_fix]
        assert phases[g.phase != "first"].policy == "sts-enforce", sid
    # the 301 followed: the lab saw the moved policy fetched (and the
    # policy found there, another MX only, held the message back)
    f = failed("broken-sts-follows-redirect")
    assert set(f) == {"i39-fetch-redirect"}, sorted(f)
    # (without a usable policy, delivery is only a SHOULD: the outcome
    # warns, the redirect followed fails)
    g = f["i39-fetch-redirect"]
    assert g.observed == "deferred" and "sts-redirect" in kinds(g)
    # `*.mail.<domain>` taken to fit mail.<domain>; one label still fits
    f = failed("broken-sts-wildcard-base")
    assert set(f) == {"i39-mx-wildcard-not-base"}, sorted(f)
    assert "sts-policy" in kinds(f["i39-mx-wildcard-not-base"])


def test_sts_control_passes(python_runs: dict[str, RunResult]) -> None:
    """The broken MTA-STS senders' code without a flaw passes every
    MTA-STS case, graded (its feature is declared: nothing is `info` but
    the cases that allow a choice)."""
    r = python_runs[STS_CONTROL]
    assert {g.scenario for g in r.grades} == {s.id for s in STS_SECTION}
    bad = [f"{g.scenario} [{g.phase}] {g.verdict} {g.observed}: {_why(g)}"
           for g in r.grades if g.verdict in ("fail", "warn") or
           any(c.kind == "not-graded" for c in g.checks)]
    assert not bad, f"{bad}; logs in {r.run_dir}"


def _kinds_built_in_grader() -> list[str]:
    """The kind of every Check(...) grader.py builds, read from its
    source: its fourth argument or kind=, always a string literal."""
    tree = ast.parse(Path(grader.__file__).read_text())
    kinds = []
    for n in ast.walk(tree):
        if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                and n.func.id == "Check"):
            continue
        arg = n.args[3] if len(n.args) > 3 else next(
            (k.value for k in n.keywords if k.arg == "kind"), None)
        assert isinstance(arg, ast.Constant) and \
            isinstance(arg.value, str), \
            f"grader.py line {n.lineno}: a Check without a literal kind"
        kinds.append(arg.value)
    return kinds


def test_check_kinds_listed() -> None:
    """grader.CHECK_KINDS names exactly the kinds the grader builds."""
    assert sorted(set(_kinds_built_in_grader())) == sorted(CHECK_KINDS)


def test_every_must_kind_is_failed_by_a_broken_sender(
        broken_runs: dict[str, RunResult]) -> None:
    """Each kind of check is failed, as a MUST, by some broken sender on
    some scenario, unless NOT_FAILED_BY_BROKEN says why none can be; and
    no kind listed there is in fact failed (the list stays true)."""
    failed: dict[str, set[str]] = {}
    for sender, r in broken_runs.items():
        for g in r.grades:
            for c in g.checks:
                if not c.ok and c.level == "MUST":
                    assert c.kind in CHECK_KINDS, c
                    failed.setdefault(c.kind, set()).add(sender)
    assert set(NOT_FAILED_BY_BROKEN) <= set(CHECK_KINDS)
    missing = [k for k in CHECK_KINDS
               if k not in failed and k not in NOT_FAILED_BY_BROKEN]
    assert not missing, f"no broken sender is failed on check kind(s) " \
        f"{missing}: add a broken sender or a scenario, or say why not"
    stale = {k: sorted(failed[k]) for k in NOT_FAILED_BY_BROKEN
             if k in failed}
    assert not stale, f"failed after all (drop them from " \
        f"NOT_FAILED_BY_BROKEN): {stale}"


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


def _summary(r: RunResult) -> dict[str, object]:
    from danelab.summary import sender_summary
    return sender_summary([{"id": g.scenario, "sender": r.sender,
                            **g.as_dict()} for g in r.grades])


def test_sender_summary_tells_who_authenticates(
        reference_run: RunResult,
        broken_runs: dict[str, RunResult]) -> None:
    """The reference authenticates and leaks nothing; a sender that does
    no DANE is named as such although it passes a01 with a DANE label."""
    ref = _summary(reference_run)
    assert ref["authenticates"] == "yes"
    assert ref["envelope_to_unauthenticated"] == {"answer": "no",
                                                  "cases": []}
    assert ref["cleartext_fallback"]["answer"] == "no"
    nodane = _summary(broken_runs["broken-no-dane"])
    assert nodane["authenticates"] == "no"
    assert "d16-dane-ee-wrong-digest" in \
        nodane["delivered_where_forbidden"]                 # type: ignore
    assert _grades(broken_runs["broken-no-dane"],
                   "a01-secure-dane-ee")[0].observed == "delivered-dane"
    plain = _summary(broken_runs["broken-plaintext-fallback"])
    assert plain["cleartext_fallback"]["answer"] == "yes"   # type: ignore
