"""The Postfix adapter: its config pieces, a small run that leaves nothing
behind, a reload, and the whole published catalog again."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from test_adapter_util import check_published, run_clean
from danelab.adapters import postfix
from danelab.adapters.mtalog import LogTail, MtaHome
from danelab.adapters.postfix import (SBIN, PostfixAdapter, parse_status,
                                      tls_policy)
from danelab.errors import LabError
from danelab.published import compare

needs_postfix = pytest.mark.skipif(not (SBIN / "master").exists(),
                                   reason="Postfix not installed (ci/deps)")

# (maillog tail after "QID: ", state, dsn, reason)
STATUS = [
    ("to=<u@a.test>, relay=mx1.a.test[127.25.1.1]:25, delay=0.1, "
     "delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 queued)",
     "delivered", "2.0.0", "250 2.0.0 queued"),
    ("to=<u@b.test>, relay=mx1.b.test[127.25.2.1]:25, delay=0.09, "
     "delays=0.06/0.02/0.01/0, dsn=4.7.5, status=deferred (Server "
     "certificate not verified)", "deferred", "4.7.5",
     "Server certificate not verified"),
    ("to=<u@c.test>, relay=none, delay=0.2, delays=0/0/0.2/0, dsn=5.1.0, "
     "status=bounced (Domain c.test does not accept mail (nullMX))",
     "bounced", "5.1.0", "Domain c.test does not accept mail (nullMX)"),
    ("to=<u@d.test>, orig_to=<x@d.test>, relay=none, delay=1, "
     "delays=1/0/0/0, dsn=4.4.3, status=deferred (Host or domain name not "
     "found. Name service error for name=d.test type=MX: Host not found, "
     "try again)", "deferred", "4.4.3", None),
]


@pytest.mark.parametrize("rest,state,dsn,why", STATUS)
def test_parse_status(rest: str, state: str, dsn: str,
                      why: str | None) -> None:
    o = parse_status(rest)
    assert o and (o.state, o.dsn) == (state, dsn)
    if why:
        assert o.reason == why


def test_deferred_transport_is_no_attempt() -> None:
    assert parse_status("to=<u@a.test>, relay=none, delay=0.03, "
                        "delays=0/0/0/0, dsn=4.3.2, status=deferred "
                        "(deferred transport)") is None


# What Postfix 3.7.11 logged for c14d (a TLSA record of three bytes)
QUEUED = [
    "Nov 30 06:02:12 postfix postfix/cleanup[2399]: 7260EABA8AD: "
    "message-id=<c14d.1@danelab.test>",
    "Nov 30 06:02:12 postfix postfix/error[2409]: 7260EABA8AD: "
    "to=<user@c14d.test>, relay=none, delay=0.22, delays=0.08/0.01/0/0.14, "
    "dsn=4.3.2, status=deferred (deferred transport)"]
CRASHED = [
    "Nov 30 06:02:12 postfix postfix/smtp[2439]: panic: mymalloc: "
    "requested length 0",
    "Nov 30 06:02:13 postfix postfix/master[2368]: warning: process "
    "/usr/lib/postfix/sbin/smtp pid 2439 killed by signal 6",
    "Nov 30 06:02:13 postfix postfix/master[2368]: warning: "
    "/usr/lib/postfix/sbin/smtp: bad command startup -- throttling"]


def test_smtp_crash_ends_the_pass(tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """smtp(8) dies on the message and never logs a status for it: the
    pass still ends, and the message is deferred with the crash as its
    reason (not a set-up error after PASS_TIMEOUT)."""
    monkeypatch.setattr(postfix, "CRASH_QUIET", 0.3)
    log = tmp_path / "maillog"
    log.write_text("\n".join(QUEUED) + "\n")

    def run(argv: list[str], timeout: float = 0) -> SimpleNamespace:
        assert argv == ["/usr/sbin/postqueue", "-f"]
        with log.open("a") as f:
            f.write("\n".join(CRASHED) + "\n")
        return SimpleNamespace(returncode=0, stderr=b"")
    a = PostfixAdapter()
    a.ctx = SimpleNamespace(run=tmp_path,  # type: ignore[assignment]
                            ns=SimpleNamespace(run=run))
    a.tail = LogTail(log)
    a.run_queue()
    o = a.outcomes()["c14d.1@danelab.test"]
    assert o.state == "deferred"
    assert o.reason == ("still queued: smtp(8) crashed in this pass "
                        "(postfix/smtp[2439]: panic: mymalloc: requested "
                        "length 0)")
    assert len(a.crashes) == 2


def test_no_crash_no_early_end(tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a crash, a message with no status line keeps the pass
    going until PASS_TIMEOUT (here shortened) and then fails it."""
    monkeypatch.setattr(postfix, "CRASH_QUIET", 0.0)
    monkeypatch.setattr(postfix, "PASS_TIMEOUT", 0.5)
    log = tmp_path / "maillog"
    log.write_text("\n".join(QUEUED) + "\n")
    a = PostfixAdapter()
    a.ctx = SimpleNamespace(  # type: ignore[assignment]
        run=tmp_path, ns=SimpleNamespace(
            run=lambda argv, timeout=0: subprocess.CompletedProcess(
                argv, 0, b"", b"")))
    a.tail = LogTail(log)
    with pytest.raises(LabError, match="not done within"):
        a.run_queue()


def test_tls_policy_levels() -> None:
    t = tls_policy({"a.test.": "dane-only", "b.test.": "exclude",
                    "c.test.": "may", "d.test.": "dane"})
    assert t.splitlines() == ["a.test dane-only", "b.test may",
                              "c.test may", "d.test dane"]
    with pytest.raises(LabError):
        tls_policy({"x.test.": "mandatory"})


@needs_postfix
def test_small_run_and_reload(tmp_path: Path) -> None:
    """Verified DANE delivery, a deferral kept for the second pass, a
    reload in between (the smtp(8) TLSA cache), nothing left running."""
    a = PostfixAdapter()
    reloads = []
    real_reload = a.reload

    def spy() -> None:
        reloads.append(a.home.alias if a.home else None)
        real_reload()
    a.reload = spy  # type: ignore[method-assign]
    from danelab.catalog import load_catalog
    fix = [s.id for s in load_catalog() if s.fix_zones is not None][:1]
    r = run_clean(a, ["a01-secure-dane-ee", "d16-dane-ee-wrong-digest",
                      *fix], tmp_path)
    by = {(g.scenario, g.phase): g for g in r.grades}
    assert by[("a01-secure-dane-ee", "first")].verdict == "pass"
    assert by[("d16-dane-ee-wrong-digest", "first")].verdict == "pass"
    log = (tmp_path / "sender" / "maillog").read_text()
    assert "Verified TLS connection established" in log
    assert "num=65:no matching DANE TLSA records" in log
    if fix:
        assert reloads and "reload" in log
    # pytest's tmp_path is closed to other users, so Postfix saw the run
    # folder through an alias under MtaHome.BASE: gone now (other runs'
    # aliases come and go there meanwhile)
    assert fix and reloads[0] is not None
    assert reloads[0].parent == MtaHome.BASE and not reloads[0].exists()


@needs_postfix
@pytest.mark.parametrize("sender", ["postfix", "postfix-dane-only"])
def test_catalog_matches_published(sender: str,
                                   request: pytest.FixtureRequest) -> None:
    check_published(sender, request)


@needs_postfix
def test_postfix_may_fails_the_attacks_as_published(tmp_path: Path) -> None:
    """Postfix at `may` against section J (the attacks of the teaching
    demos) does what docs/results/postfix-may.json says: it falls for the
    stripped and refused STARTTLS and for both impostors (the whole
    catalog is not compared: at `may` the outcome of f32c depends on the
    order the resolver returns a host's two addresses in)."""
    from danelab.catalog import load_catalog, select
    from danelab.published import load, summarize
    from danelab.results import write_results
    pub = load("postfix-may")
    assert pub is not None
    ids = [s.id for s in select(load_catalog(), None, "J")]
    r = run_clean(PostfixAdapter("postfix-may", "may"), ids, tmp_path)
    write_results(r, tmp_path / "results.json")
    now = summarize(json.loads((tmp_path / "results.json").read_text()))
    published = {k: v for k, v in pub["cases"].items() if k in now}
    assert sorted(published) == sorted(now), "section J not published"
    assert compare(published, now) == []
    failed = sorted(k for k, v in now.items() if v["verdict"] == "fail")
    assert failed == ["j41-starttls-stripped",
                      "j41b-starttls-refused-by-attacker",
                      "j42-impostor-pkix-valid-cert",
                      "j42b-impostor-self-signed-real-name"]


def test_compare_shows_the_change() -> None:
    pub = {"a01": {"verdict": "pass", "observed": "delivered-dane"},
           "d16": {"verdict": "pass", "observed": "deferred"}}
    now = {"a01": {"verdict": "pass", "observed": "delivered-dane"},
           "d16": {"verdict": "fail", "observed": "delivered-tls",
                   "why": "message reached forbidden host(s) mx1"}}
    diffs = compare(pub, now)
    assert diffs == [
        "d16: verdict was 'pass', now 'fail' (message reached forbidden "
        "host(s) mx1)",
        "d16: observed was 'deferred', now 'delivered-tls' (message reached "
        "forbidden host(s) mx1)"]
    assert compare(pub, {}) == ["a01: published but not run",
                                "d16: published but not run"]
