"""The command adapter: the shipped example really runs, and a broken
script (non-zero exit, a hang, garbage, a stray daemon) gets a clear error
within its time limit while the lab still tears everything down."""
from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path

import pytest

from test_adapter_util import run_clean
from danelab.adapters import get_adapter
from danelab.adapters.command import CommandAdapter, parse_status
from danelab.errors import LabError
from danelab.fakemx import binary
from danelab.proc import pid_alive
from danelab.runner import SetupError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "refsend-command.sh"
# The build this session tests (DANELAB_BUILD: build-asan under `make
# sanitize`), handed to the example as $REFSEND by every wrapper below.
REFSEND = binary("reference-impl", "refsend", required=False)
REPORTER = binary("reference-impl/tlsrpt", "refsend-tlsrpt", required=False)
IDS = ["a01-secure-dane-ee", "d16-dane-ee-wrong-digest"]


def wrapper(tmp_path: Path, broken_action: str = "", body: str = "") -> Path:
    """A script that runs the example on the refsend under test, except
    for one action (none when broken_action is empty)."""
    if REFSEND is None:
        pytest.fail("reference-impl/$DANELAB_BUILD/refsend is missing: "
                    "run `make` first")
    p = tmp_path / "vendor.sh"
    broken = (f'if [ "$1" = {broken_action} ]; then\n{body}\nfi\n'
              if broken_action else "")
    p.write_text("#!/bin/sh\n"
                 f"export REFSEND={REFSEND} REPORTER={REPORTER}\n{broken}"
                 f'exec {EXAMPLE} "$@"\n')
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return p


STATUS_OK = [
    ("a@b delivered", {"a@b": ("delivered", "")}),
    ("<a@b> deferred 4.7.5 validation-failure now",
     {"a@b": ("deferred", "4.7.5")}),
    ('{"message_id": "x@y", "state": "bounced", "dsn": "5.7.5"}\n# note\n',
     {"x@y": ("bounced", "5.7.5")}),
]
STATUS_BAD = ["hello", "a@b sent 2.0.0", "{not json", '{"state": "x"}',
              "queue-id-123 delivered"]


@pytest.mark.parametrize("text,want", STATUS_OK)
def test_status_formats(text: str, want: dict[str, tuple[str, str]]) -> None:
    got = {k: (o.state, o.dsn) for k, o in parse_status(text).items()}
    assert got == want


@pytest.mark.parametrize("text", STATUS_BAD)
def test_status_garbage_is_an_error(text: str) -> None:
    with pytest.raises(LabError, match="status line 1"):
        parse_status(text)


def test_registered_by_name() -> None:
    a = get_adapter(f"command:{EXAMPLE}")
    assert isinstance(a, CommandAdapter) and a.script == EXAMPLE


def test_example_script_runs(tmp_path: Path) -> None:
    r = run_clean(CommandAdapter(wrapper(tmp_path)),
                  IDS + ["a03-mx-insecure"], tmp_path / "run")
    assert [g.verdict for g in r.grades] == ["pass"] * 3
    assert {g.scenario: g.sender.state for g in r.grades if g.sender} == {
        "a01-secure-dane-ee": "delivered", "a03-mx-insecure": "delivered",
        "d16-dane-ee-wrong-digest": "deferred"}
    # `describe`: the report's version and configuration digest
    info = r.sender_info
    assert info["version"].startswith("refsend ") and \
        info["version"].endswith(" (example script)")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", info["config_digest"])


def test_describe_absent_or_failing_keeps_defaults(tmp_path: Path) -> None:
    """A script without `describe` (or whose describe fails) still runs;
    the report shows the script's path and no configuration digest."""
    for body in ("exit 3", "echo 'version: x'; exit 1"):
        s = wrapper(tmp_path, "describe", body)
        r = run_clean(CommandAdapter(s), IDS[:1], tmp_path / "run")
        assert [g.verdict for g in r.grades] == ["pass"]
        assert r.sender_info["version"] == f"command adapter {s}"
        assert r.sender_info["config_digest"] == ""
        shutil.rmtree(tmp_path / "run")


def test_start_exits_nonzero(tmp_path: Path) -> None:
    s = wrapper(tmp_path, "start", "echo 'no licence key' >&2; exit 7")
    with pytest.raises(LabError, match=r"'start' exited 7.*no licence key"):
        run_clean(CommandAdapter(s), IDS, tmp_path / "run")


def test_run_queue_hangs(tmp_path: Path) -> None:
    s = wrapper(tmp_path, "run-queue", "sleep 600 & sleep 600")
    a = CommandAdapter(s, timeouts={"run-queue": 2})
    with pytest.raises(LabError, match="'run-queue' did not finish within "
                       "2 s"):
        run_clean(a, IDS, tmp_path / "run")


def test_status_prints_garbage(tmp_path: Path) -> None:
    s = wrapper(tmp_path, "status", "echo 'All good!'; exit 0")
    with pytest.raises(LabError, match="status line 1"):
        run_clean(CommandAdapter(s), IDS, tmp_path / "run")


def test_preflight_problem_is_setup_error(tmp_path: Path) -> None:
    s = wrapper(tmp_path, "preflight", "echo 'resolver strips AD'; exit 0")
    with pytest.raises(SetupError, match="resolver strips AD"):
        run_clean(CommandAdapter(s), IDS, tmp_path / "run")


def test_stray_daemon_is_stopped(tmp_path: Path) -> None:
    """start leaves a daemon in its own session, not in the PID file, and
    stop fails: teardown still ends it (run_clean asserts nothing left)."""
    # The daemon writes its PID only once it is in its own session, and
    # start waits for that: otherwise the end-of-action kill of start's
    # process group could take it before it had left (a race seen under
    # load), and there would be no stray to sweep.
    pidf = tmp_path / "stray.pid"
    s = wrapper(tmp_path, "start",
                f"setsid sh -c 'echo $$ >{pidf}.tmp; mv {pidf}.tmp {pidf}; "
                "exec sleep 600' </dev/null >/dev/null 2>&1 &\n"
                f"while [ ! -s {pidf} ]; do sleep 0.05; done\n"
                f'{EXAMPLE} start; exit $?')
    s2 = tmp_path / "vendor2.sh"
    s2.write_text(s.read_text().replace(
        f'exec {EXAMPLE} "$@"',
        f'[ "$1" = stop ] && exit 9\nexec {EXAMPLE} "$@"'))
    s2.chmod(0o755)
    r = run_clean(CommandAdapter(s2), IDS, tmp_path / "run")
    assert [g.verdict for g in r.grades] == ["pass", "pass"]
    td = (tmp_path / "run" / "sender" / "teardown.log").read_text()
    assert "'stop' exited 9" in td and "stopping PIDs" in td
    stray = int(pidf.read_text())
    assert str(stray) in td and not pid_alive(stray)


def test_optional_reload_may_be_absent(tmp_path: Path) -> None:
    """reload answering 3 (not supported) is fine: a [fix] scenario still
    gets its second pass."""
    from danelab.catalog import load_catalog
    fix = [sc.id for sc in load_catalog() if sc.fix_zones is not None][:1]
    assert fix, "no [fix] scenario in the catalog"
    s = wrapper(tmp_path, "reload", "exit 3")
    r = run_clean(CommandAdapter(s), fix, tmp_path / "run")
    assert [g.phase for g in r.grades] == ["first", "after-fix"]
    log = (tmp_path / "run" / "sender" / "command.log").read_text()
    assert log.count(" run-queue") == 2 and " reload" in log


LIMIT = "g35d-retry-limit-tlsa-mismatch"


def test_expire_through_the_example(tmp_path: Path) -> None:
    """The example's `expire` drives refsend to its retry limit: the
    after-limit phase is graded, the message bounced with a 5.7.x DSN."""
    r = run_clean(CommandAdapter(wrapper(tmp_path)), [LIMIT],
                  tmp_path / "run")
    g = {x.phase: x for x in r.grades}
    assert set(g) == {"first", "after-limit"}
    assert g["first"].observed == "deferred"
    assert g["after-limit"].verdict == "pass"
    assert g["after-limit"].observed == "bounced"
    assert g["after-limit"].sender and \
        g["after-limit"].sender.dsn.startswith("5.7.")


def test_expire_unsupported_is_not_graded(tmp_path: Path) -> None:
    """expire answering 3: the after-limit phase is `info`, never a pass,
    and says why."""
    s = wrapper(tmp_path, "expire", "exit 3")
    r = run_clean(CommandAdapter(s), [LIMIT], tmp_path / "run")
    g = {x.phase: x for x in r.grades}
    assert g["first"].verdict == "pass"
    assert g["after-limit"].verdict == "info"
    assert g["after-limit"].observed == "not-graded"
    assert "retry limit" in g["after-limit"].checks[0].text


def test_expire_failing_is_an_error(tmp_path: Path) -> None:
    s = wrapper(tmp_path, "expire", "exit 5")
    with pytest.raises(LabError, match="'expire' exited 5"):
        run_clean(CommandAdapter(s), [LIMIT], tmp_path / "run")


def test_example_reports_are_graded(tmp_path: Path) -> None:
    """flush-reports: the example's reports (refsend-tlsrpt) reach the
    lab's receivers and get the same checks as the reference adapter's;
    they pass them all, SHOULDs included."""
    ids = ["h36b-report-validation-failure", "c13-tlsa-only-pkix-usages"]
    r = run_clean(CommandAdapter(wrapper(tmp_path)), ids, tmp_path / "run")
    got = {g.scenario: g.tlsrpt for g in r.grades}
    assert set(got) == set(ids)
    for sid, t in got.items():
        assert t is not None, f"{sid}: TLSRPT not graded"
        assert t["verdict"] == "pass", [c for c in t["checks"]
                                        if not c["ok"]]
        assert any(c["kind"] == "sent" and "by mailto" in c["text"]
                   for c in t["checks"])


def test_flush_reports_unsupported_is_not_graded(tmp_path: Path) -> None:
    s = wrapper(tmp_path, "flush-reports", "exit 3")
    r = run_clean(CommandAdapter(s), IDS, tmp_path / "run")
    assert [g.verdict for g in r.grades] == ["pass", "pass"]
    assert [g.tlsrpt for g in r.grades] == [None, None]
