"""The command line, as a user runs it: lint errors name file, field and
reason; universe up/shell/down leaves nothing behind; shards merge; the
exit status tells whether a MUST failed."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from danelab.netns import pids_in_netns
from danelab.proc import pid_alive

ROOT = Path(__file__).resolve().parents[2]


def danelab(*args: str, timeout: float = 300, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "bin" / "danelab"), *args],
                          capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def test_list_and_explain() -> None:
    cp = danelab("list", "-s", "a01-secure-dane-ee")
    assert cp.returncode == 0
    assert cp.stdout.split()[0] == "a01-secure-dane-ee"
    cp = danelab("explain", "a01-secure-dane-ee")
    assert cp.returncode == 0
    assert "_25._tcp.mx1.a01-secure-dane-ee.test. TLSA 3 1 1" in cp.stdout
    assert "127.25.1.1:25" in cp.stdout


def test_lint_names_file_field_reason(tmp_path: Path) -> None:
    (tmp_path / "a01-good.toml").write_text(
        (ROOT / "scenarios" / "a01-secure-dane-ee.toml").read_text())
    (tmp_path / "d16-typo.toml").write_text(
        'title = "t"\nsection = "D"\ncase = 16\nrfc = "x"\nexplain = "x"\n'
        '[[host]]\nname = "mx1"\nmx = 10\nstarttls = "sometimes"\n'
        '[expect]\noutcome = ["deferred"]\n')
    (tmp_path / "c12-badfault.toml").write_text(
        'title = "t"\nsection = "C"\ncase = 12\nrfc = "x"\nexplain = "x"\n'
        '[[zone]]\nfaults = [{kind = "rrsig-expired", owner = "nope", '
        'rtype = "TLSA"}]\n[expect]\noutcome = ["deferred"]\n')
    (tmp_path / "e24-syntax.toml").write_text('title = "unterminated\n')
    (tmp_path / "d20x-bad-chain.toml").write_text(
        'title = "t"\nsection = "D"\ncase = 20\nrfc = "x"\nexplain = "x"\n'
        '[[cert]]\nname = "leaf"\nchain = ["lab-int", "later"]\n'
        '[[cert]]\nname = "later"\nca = true\n'
        '[expect]\noutcome = ["deferred"]\n')
    head = ('title = "t"\nsection = "G"\ncase = 35\nrfc = "x"\n'
            'explain = "x"\n[[host]]\nname = "mx1"\nmx = 10\n')
    (tmp_path / "g35x-limit-not-deferred.toml").write_text(
        head + '[expect]\noutcome = ["deferred", "bounced"]\n'
        '[expect.after_limit]\noutcome = ["bounced"]\n')
    (tmp_path / "g35y-limit-bad-dsn.toml").write_text(
        head + '[expect]\noutcome = ["deferred"]\n'
        '[expect.after_limit]\noutcome = ["bounced"]\ndsn = ["5.7"]\n')
    (tmp_path / "g35z-limit-and-fix.toml").write_text(
        head + '[fix]\nzones = [{ name = "@" }]\n'
        '[expect]\noutcome = ["deferred"]\n[expect.after_fix]\n'
        'outcome = ["delivered-dane"]\n'
        '[expect.after_limit]\noutcome = ["bounced"]\n')
    cp = danelab("--catalog", str(tmp_path), "lint")
    assert cp.returncode == 2
    err = cp.stderr
    assert "d16-typo.toml: host[0].starttls: 'sometimes' is not one of" \
        in err
    assert "c12-badfault.toml" in err and "faults[0].owner" in err and \
        "no TLSA RRset at nope.c12-badfault.test." in err
    assert "e24-syntax.toml: (syntax)" in err
    assert "g35x-limit-not-deferred.toml: expect.outcome: with " \
        "[expect.after_limit] the first attempt must be expected to " \
        "defer" in err
    assert "g35y-limit-bad-dsn.toml: expect.after_limit.dsn: '5.7' is " \
        "not an enhanced status code pattern" in err
    assert "g35z-limit-and-fix.toml: expect.after_limit: a scenario has " \
        "[fix] or [expect.after_limit], not both" in err
    assert "d20x-bad-chain.toml: cert[0].chain: 'later' is not a " \
        "[[cert]] declared before this one or a built-in CA" in err
    assert "8 scenario file(s) checked, 7 error(s)" in cp.stdout


def test_run_refuses_bad_catalog(tmp_path: Path) -> None:
    (tmp_path / "x99-bad.toml").write_text("title = 1\n")
    cp = danelab("--catalog", str(tmp_path), "run", "--sender",
                 "reference")
    assert cp.returncode == 2
    assert "x99-bad.toml" in cp.stderr


def test_universe_up_shell_down(tmp_path: Path) -> None:
    run = tmp_path / "u"
    cp = danelab("universe", "up", "-s", "a01-secure-dane-ee",
                 "--run-dir", str(run))
    assert cp.returncode == 0, cp.stderr
    state = json.loads((run / "universe.json").read_text())
    try:
        assert all(pid_alive(p["pid"]) for p in state["procs"])
        cp = danelab("shell", "--run-dir", str(run), "--", "dig",
                     "+dnssec", "MX", "a01-secure-dane-ee.test")
        assert cp.returncode == 0
        assert "flags: qr rd ra ad" in cp.stdout
        assert "MX\t10 mx1.a01-secure-dane-ee.test." in cp.stdout
        cp = danelab("universe", "status", "--run-dir", str(run))
        assert cp.returncode == 0 and "running" in cp.stdout
    finally:
        cp = danelab("universe", "down", "--run-dir", str(run))
    assert cp.returncode == 0
    assert not [p for p in state["procs"] if pid_alive(p["pid"])]
    assert pids_in_netns(state["ns_id"]) == []
    assert not (run / "universe.json").exists()


def test_shards_merge_and_exit_status(tmp_path: Path) -> None:
    sel = ["-s", "a01-secure-dane-ee", "-s", "d16-dane-ee-wrong-digest",
           "-s", "e24-no-starttls"]
    files = []
    for k in (1, 2):
        cp = danelab("run", "--sender", "broken-no-dane", *sel, "--shard",
                     f"{k}/2", "--run-dir", str(tmp_path / f"s{k}"))
        assert cp.returncode == 1, cp.stderr     # a MUST failed
        files.append(str(tmp_path / f"s{k}" / "report" / "results.json"))
    cp = danelab("report", *files, "--out", str(tmp_path / "merged"))
    assert cp.returncode == 1
    data = json.loads(Path(files[0]).read_text())
    ids = {c["id"] for f in files for c in json.loads(Path(f).read_text())
           ["cases"]}
    assert ids == {"a01-secure-dane-ee", "d16-dane-ee-wrong-digest",
                   "e24-no-starttls"}
    assert data["sender"] == "broken-no-dane"
    html = (tmp_path / "merged" / "report.html").read_text()
    assert all(i in html for i in ids)
    cp = danelab("run", "--sender", "reference", "-s", "a01-secure-dane-ee",
                 "--run-dir", str(tmp_path / "ok"))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "1 pass" in cp.stdout
    assert os.path.exists(tmp_path / "ok" / "report" / "junit.xml")


def test_relative_run_and_report_folders(tmp_path: Path) -> None:
    """What `make lab` does: relative --run-dir and --report, resolved
    against the caller's folder (the namespace's processes have another
    working directory)."""
    cp = danelab("run", "--sender", "reference", "-s", "a01-secure-dane-ee",
                 "--run-dir", "out/run", "--report", "out/report",
                 cwd=tmp_path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "1 pass" in cp.stdout
    assert (tmp_path / "out" / "report" / "results.json").exists()
    assert list((tmp_path / "out" / "run").rglob("fakemx-events.jsonl"))
