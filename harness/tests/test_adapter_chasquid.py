"""The chasquid adapter: its mail log lines, a small run (submission, the
restart that makes a queue pass, a bounce with its DSN), nothing left
behind, and the published catalog."""
from __future__ import annotations

from pathlib import Path

import pytest

from test_adapter_util import check_published, run_clean
from danelab.adapters import get_adapter
from danelab.adapters.chasquid import CHASQUID, ChasquidAdapter, parse_line

needs_chasquid = pytest.mark.skipif(not CHASQUID.exists(),
                                    reason="chasquid not installed (ci/deps)")

# (mail log line, queue id, recipient, state, reason)
LINES = [
    ("2026-11-30 06:18:32.730967 NFO9vGAGN14 from=t@sender.test "
     "to=user@a.test sent", "NFO9vGAGN14", "user@a.test", "delivered",
     "sent"),
    ("2026-11-30 06:18:32.711929 dtBKndX_ma0 from=t@sender.test "
     "to=user@b.test failed (temporary): all MXs returned transient "
     "failures (last: <nil>)", "dtBKndX_ma0", "user@b.test", "deferred",
     "all MXs returned transient failures (last: <nil>)"),
    ("2026-11-30 06:20:52.613850 Ncrns33-ppg from=t@sender.test "
     "to=user@c.test failed (permanent): Could not find mail server",
     "Ncrns33-ppg", "user@c.test", "bounced", "Could not find mail server"),
]


@pytest.mark.parametrize("line,qid,rcpt,state,why", LINES)
def test_parse_line(line: str, qid: str, rcpt: str, state: str,
                    why: str) -> None:
    got = parse_line(line)
    assert got is not None
    assert (got[0], got[1], got[2].state, got[2].reason) == \
        (qid, rcpt, state, why)


@pytest.mark.parametrize("line", [
    "2026-11-30 06:18:32.423721 daemon listening on 127.0.0.1:2525",
    "2026-11-30 06:18:32.707658 dtBKndX_ma0 from=t@sender.test queued "
    "ip=127.0.0.1:32964 to=[user@b.test]",
    "2026-11-30 06:18:32.712068 dtBKndX_ma0 from=t@sender.test completed "
    "loop, next in 1m30s"])
def test_other_lines_are_no_attempt(line: str) -> None:
    assert parse_line(line) is None


def test_named_and_declared() -> None:
    a = get_adapter("chasquid")
    assert isinstance(a, ChasquidAdapter) and a.features == ("mta-sts",)


@needs_chasquid
def test_small_run(tmp_path: Path) -> None:
    """Enforce without the MX listed: deferred; a new policy before pass 2
    is in force at the restart's retry; a target that is no host name:
    bounced, with the Status of chasquid's own DSN; two STS records: the
    known deviation (it takes the policy anyway)."""
    r = run_clean(ChasquidAdapter(), [
        "i39-enforce-mx-not-listed", "i39-cache-id-changed",
        "a07c-mx-target-is-ip-literal", "i39-txt-two-records"], tmp_path)
    by = {(g.scenario, g.phase): g for g in r.grades}
    g = by[("i39-enforce-mx-not-listed", "first")]
    assert (g.verdict, g.observed) == ("pass", "deferred")
    g = by[("i39-cache-id-changed", "first")]
    assert (g.verdict, g.observed) == ("pass", "deferred")
    g = by[("i39-cache-id-changed", "after-fix")]
    assert (g.verdict, g.observed) == ("pass", "delivered-tls")
    g = by[("a07c-mx-target-is-ip-literal", "first")]
    assert g.observed == "bounced" and g.sender is not None
    assert g.sender.dsn == "5.0.0"
    g = by[("i39-txt-two-records", "first")]
    assert (g.verdict, g.observed) == ("fail", "deferred")
    log = (tmp_path / "sender" / "mail.log").read_text()
    assert log.count("daemon listening on 127.0.0.1:2525") == 3


# Cases whose verdict chasquid leaves to chance (docs/results/README.md).
CHANCE = {
    "f32c-host-two-addresses-cert-differs":
        "mx has two addresses, one server with the TLSA key and one with "
        "another; chasquid dials the first address the resolver lists (the "
        "lab's Unbound rotates them) and, doing no DANE, delivers there",
}


@needs_chasquid
@pytest.mark.parametrize("sender", ["chasquid"])
def test_catalog_matches_published(sender: str,
                                   request: pytest.FixtureRequest) -> None:
    check_published(sender, request, CHANCE)
