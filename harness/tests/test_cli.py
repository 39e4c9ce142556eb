"""The command line, as a user runs it: lint errors name file, field and
reason; universe up/shell/down leaves nothing behind; shards merge; the
exit status tells whether a MUST failed."""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

from danelab.netns import pids_in_netns
from danelab.proc import pid_alive
from danelab.scenario import Expect, load_scenario

ROOT = Path(__file__).resolve().parents[2]
A01 = (ROOT / "scenarios" / "a01-secure-dane-ee.toml").read_text()


# The ground a test scenario that expects no delivery names (lint asks it).
GROUND = '[expect.ground]\noutcome = "7672-tlsa-failure"\n'


def danelab(*args: str, timeout: float = 300, cwd: Path | None = None,
            env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "bin" / "danelab"), *args],
                          capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env)


def test_list_and_explain() -> None:
    cp = danelab("list", "-s", "a01-secure-dane-ee")
    assert cp.returncode == 0
    head, row = cp.stdout.splitlines()
    assert head.split() == ["ID", "CASE", "LEVEL", "EXPECTED", "TITLE"]
    assert row.split()[:4] == ["a01-secure-dane-ee", "A1", "MUST",
                               "delivered-dane"]
    cp = danelab("explain", "a01-secure-dane-ee")
    assert cp.returncode == 0
    assert "_25._tcp.mx1.a01-secure-dane-ee.test. TLSA 3 1 1" in cp.stdout
    assert "127.25.1.1:25" in cp.stdout
    assert "case A1 in docs/cases.md" in cp.stdout


def test_explain_shows_refs() -> None:
    cp = danelab("explain", "c14d-tlsa-three-byte-record")
    assert cp.returncode == 0
    head = cp.stdout.split("\n\n", 1)[0].splitlines()
    sc = load_scenario(ROOT / "scenarios" /
                       "c14d-tlsa-three-byte-record.toml")
    assert len(sc.refs) == 2
    assert head[2] == "  Reproduces a bug seen in real senders (refs):"
    assert head[3:] == [f"    {r}" for r in sc.refs]


def test_lint_names_file_field_reason(tmp_path: Path) -> None:
    (tmp_path / "a01-good.toml").write_text(
        (ROOT / "scenarios" / "a01-secure-dane-ee.toml").read_text())
    (tmp_path / "d16-typo.toml").write_text(
        'title = "t"\nsection = "D"\ncase = 16\nrfc = "x"\nexplain = "x"\n'
        '[[host]]\nname = "mx1"\nmx = 10\nstarttls = "sometimes"\n'
        '[expect]\noutcome = ["deferred"]\n' + GROUND)
    (tmp_path / "c12-badfault.toml").write_text(
        'title = "t"\nsection = "C"\ncase = 12\nrfc = "x"\nexplain = "x"\n'
        '[[zone]]\nfaults = [{kind = "rrsig-expired", owner = "nope", '
        'rtype = "TLSA"}]\n[expect]\noutcome = ["deferred"]\n' + GROUND)
    (tmp_path / "e24-syntax.toml").write_text('title = "unterminated\n')
    (tmp_path / "d20x-bad-chain.toml").write_text(
        'title = "t"\nsection = "D"\ncase = 20\nrfc = "x"\nexplain = "x"\n'
        '[[cert]]\nname = "leaf"\nchain = ["lab-int", "later"]\n'
        '[[cert]]\nname = "later"\nca = true\n'
        '[expect]\noutcome = ["deferred"]\n' + GROUND)
    head = ('title = "t"\nsection = "G"\ncase = 35\nrfc = "x"\n'
            'explain = "x"\n[[host]]\nname = "mx1"\nmx = 10\n')
    limit = '[expect.after_limit]\noutcome = ["bounced"]\n'
    limit_g = '[expect.after_limit.ground]\noutcome = "5321-dsn"\n'
    (tmp_path / "g35x-limit-not-deferred.toml").write_text(
        head + '[expect]\noutcome = ["deferred", "bounced"]\n' + GROUND +
        limit + limit_g)
    (tmp_path / "g35y-limit-bad-dsn.toml").write_text(
        head + '[expect]\noutcome = ["deferred"]\n' + GROUND + limit +
        'dsn = ["5.7"]\n' + limit_g)
    (tmp_path / "g35z-limit-and-fix.toml").write_text(
        head + '[fix]\nzones = [{ name = "@" }]\n'
        '[expect]\noutcome = ["deferred"]\n' + GROUND +
        '[expect.after_fix]\noutcome = ["delivered-dane"]\n'
        '[expect.after_fix.ground]\noutcome = "7672-dane-ee"\n' +
        limit + limit_g)
    cp = danelab("--catalog", str(tmp_path), "lint")
    assert cp.returncode == 2
    err = cp.stderr
    assert "d16-typo.toml: host[0].starttls: 'sometimes' is not one of" \
        in err
    assert "c12-badfault.toml" in err and "faults[0].owner" in err and \
        "no TLSA RRset at nope.c12-badfault.test." in err
    assert "e24-syntax.toml: (syntax)" in err
    assert "g35x-limit-not-deferred.toml: expect.prefer: with " \
        "[expect.after_limit] the first attempt must be expected not to " \
        "deliver and preferred to defer" in err
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


def test_universe_down_spares_a_reused_pid(tmp_path: Path) -> None:
    """A universe that ended without `down` (a reboot, a kill) leaves its
    state file; its recorded PIDs may belong to other processes by now.
    `down` signals only processes still in the lab's network namespace."""
    run = tmp_path / "u"
    run.mkdir()
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (run / "universe.json").write_text(json.dumps({
            "run": str(run), "holder": other.pid, "mode": "root",
            "ns_id": "net:[1]",
            "procs": [{"name": "ns-holder", "pid": other.pid},
                      {"name": "nsd", "pid": other.pid}]}))
        cp = danelab("universe", "down", "--run-dir", str(run))
        assert cp.returncode == 0, cp.stderr
        assert other.poll() is None, "down signalled a process not its own"
        assert not (run / "universe.json").exists()
    finally:
        other.kill()
        other.wait()


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
    # the certification header of the merged shards: one suite version,
    # both commands, the cases of both
    runs = [json.loads(Path(f).read_text())["run"] for f in files]
    assert runs[0]["suite"] == runs[1]["suite"]
    assert [r["scenarios"] for r in runs] == [2, 1]
    assert runs[0]["suite"]["label"] in html
    assert 'class="differs"' not in html     # nothing differs between them
    for r in runs:
        assert f"--shard {r['command'].split('--shard ')[1][:3]}" in html
    assert "3 scenario(s) of the catalog's" in html
    props = [p.get("value") for p in ET.parse(
        tmp_path / "merged" / "junit.xml").iter("property")
        if p.get("name") == "danelab.command"]
    assert props == [r["command"] for r in runs]
    cp = danelab("run", "--sender", "reference", "-s", "a01-secure-dane-ee",
                 "--run-dir", str(tmp_path / "ok"))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "1 pass" in cp.stdout
    assert os.path.exists(tmp_path / "ok" / "report" / "junit.xml")


def ci_commands(text: str) -> list[list[str]]:
    """The danelab command lines of a CI example (YAML), each with its
    folded continuation lines, as argv lists after the CI's variables are
    given shard 2 of 4 and the reference sender."""
    lines = text.splitlines()
    out = []
    for i, ln in enumerate(lines):
        if "bin/danelab" not in ln or ln.lstrip().startswith("#"):
            continue
        ind = len(ln) - len(ln.lstrip())
        words = [ln.strip().removeprefix("- ").removeprefix("run: ")]
        for nxt in lines[i + 1:]:
            lead = len(nxt) - len(nxt.lstrip())
            if not nxt.strip() or lead < ind or (
                    lead == ind and nxt.lstrip().startswith("- ")):
                break
            words.append(nxt.strip())
        cmd = " ".join(words)
        for var, val in (("${{ matrix.shard }}", "2"), ("$SHARDS", "4"),
                         ("$CI_NODE_INDEX", "2"), ("$CI_NODE_TOTAL", "4"),
                         ("$SENDER", "reference")):
            cmd = cmd.replace(var, val)
        out.append(shlex.split(cmd))
    return out


def test_ci_examples_run_shards_and_merge_them() -> None:
    """docs/examples/ci/: each job runs `danelab run --shard K/N` into its
    own report folder, with options the command line has, and the merge
    job's `danelab report` reads every shard's results.json where the
    artifacts put them."""
    from danelab.cli import parser
    where = {"github-actions.yml": "shards/shard-{k}/results.json",
             "gitlab-ci.yml": "out/shard-{k}/results.json"}
    for name, merged in where.items():
        text = (ROOT / "docs" / "examples" / "ci" / name).read_text()
        cmds = ci_commands(text)
        assert [c[:2] for c in cmds] == [["bin/danelab", "run"],
                                         ["bin/danelab", "report"]], name
        run = parser().parse_args(cmds[0][1:])
        assert (run.sender, run.shard) == ("reference", "2/4"), name
        assert run.report == "out/shard-2" and run.run_dir == "out/run-2"
        rep = parser().parse_args(cmds[1][1:])
        assert rep.out == "out/report"
        assert [fnmatch.fnmatch(merged.format(k=k), rep.results[0])
                for k in (1, 4)] == [True, True], name
        assert len(rep.results) == 1


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


# -- frictions of the command line -------------------------------------------

def test_list_level_column() -> None:
    """LEVEL is the strongest level of the expectation: MUST for an outcome
    a MUST bounds (with or without a SHOULD preference), SHOULD where only
    a preferred subset is graded (f29: no MUST forbids deferring), MAY for
    a recorded choice."""
    cp = danelab("list", "-s", "a02-mx-rrsig-expired", "-s",
                 "f29-partial-mx1-down-mx2-no-tlsa")
    assert cp.returncode == 0
    levels = {ln.split()[0]: ln.split()[2] for ln in
              cp.stdout.splitlines()[1:]}
    assert levels == {"a02-mx-rrsig-expired": "MUST",
                      "f29-partial-mx1-down-mx2-no-tlsa": "SHOULD"}


def test_expect_levels() -> None:
    """A choice with a preferred subset is graded SHOULD at most; the
    strongest level over a scenario's phases is the scenario's."""
    must = Expect(["deferred", "bounced"], ["deferred"])
    both = ["delivered-tls", "deferred"]
    may = Expect(both, list(both), choice=True)
    should = Expect(["delivered-tls", "deferred"], ["deferred"],
                    choice=True)
    assert (must.level, should.level, may.level) == ("MUST", "SHOULD", "MAY")
    every = ["delivered-dane", "delivered-tls", "delivered-plain",
             "deferred", "bounced"]
    assert Expect(every, ["delivered-tls"]).level == "SHOULD"
    sc = load_scenario(ROOT / "scenarios" /
                       "f29-partial-mx1-down-mx2-no-tlsa.toml")
    assert sc.level == "SHOULD"
    sc.expect = may
    assert sc.level == "MAY"
    sc.expect_after_fix = should
    assert sc.level == "SHOULD"
    sc.expect_after_limit = must
    assert sc.level == "MUST"


def test_bad_section_names_the_valid_letters() -> None:
    for cmd in ("list", "run"):
        cp = danelab(cmd, "--section", "AZ")
        assert cp.returncode == 2
        assert "Z is not a section" in cp.stderr
        assert "A, B, C, D, E, F, G, H, I, J, K" in cp.stderr


def test_explain_ambiguous_prefix_lists_the_matches() -> None:
    cp = danelab("explain", "a01")
    assert cp.returncode == 2
    assert "'a01' is the start of 2 scenario ids" in cp.stderr
    assert "a01-secure-dane-ee\n" in cp.stderr
    assert "a01b-secure-dane-ee-nsec3" in cp.stderr
    assert cp.stdout == ""
    cp = danelab("explain", "a01b")            # one match: that one
    assert cp.returncode == 0
    assert cp.stdout.startswith("a01b-secure-dane-ee-nsec3: ")


def test_jobs_zero_is_refused(tmp_path: Path) -> None:
    for n in ("0", "-3"):
        cp = danelab("run", "-s", "a01-secure-dane-ee", "-j", n,
                     "--run-dir", str(tmp_path / "r"))
        assert cp.returncode == 2
        assert "--jobs/-j" in cp.stderr and "needs at least 1" in cp.stderr
    assert not (tmp_path / "r").exists()


def test_unknown_sender_leaves_no_run_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = {**os.environ, "DANELAB_RUNS": str(runs)}
    cp = danelab("run", "-s", "a01-secure-dane-ee", "--sender", "nosuch",
                 env=env)
    assert cp.returncode == 2
    assert "unknown sender 'nosuch'" in cp.stderr
    assert not runs.exists() or not list(runs.iterdir())
    cp = danelab("run", "-s", "a01-secure-dane-ee", "--sender", "nosuch",
                 "--run-dir", str(tmp_path / "r"))
    assert cp.returncode == 2
    assert not (tmp_path / "r").exists()


def test_missing_command_script_is_reported_first(tmp_path: Path) -> None:
    """Before any folder, key or daemon: the message names the script."""
    script = tmp_path / "nope.sh"
    cp = danelab("run", "-s", "a01-secure-dane-ee", "--sender",
                 f"command:{script}", "--run-dir", str(tmp_path / "r"))
    assert cp.returncode == 2
    assert f"no such file: {script}" in cp.stderr
    assert "planning" not in cp.stderr           # nothing was started
    assert not (tmp_path / "r").exists()
    script.write_text("#!/bin/sh\n")             # there, not executable
    cp = danelab("run", "-s", "a01-secure-dane-ee", "--sender",
                 f"command:{script}", "--run-dir", str(tmp_path / "r"))
    assert cp.returncode == 2
    assert "is not an executable file" in cp.stderr
    assert not (tmp_path / "r").exists()


def test_hints_name_bin_danelab_unless_on_path(tmp_path: Path) -> None:
    run = tmp_path / "u"
    path = "/usr/sbin:/usr/bin:/sbin:/bin"
    cp = danelab("shell", "--run-dir", str(run), cwd=ROOT,
                 env={**os.environ, "PATH": path})
    assert cp.returncode == 2
    assert "`bin/danelab universe up` first" in cp.stderr
    cp = danelab("shell", "--run-dir", str(run), cwd=tmp_path,
                 env={**os.environ, "PATH": path})
    assert f"`{ROOT}/bin/danelab universe up` first" in cp.stderr
    onpath = tmp_path / "bin"
    onpath.mkdir()
    (onpath / "danelab").symlink_to(ROOT / "bin" / "danelab")
    cp = danelab("shell", "--run-dir", str(run), cwd=ROOT,
                 env={**os.environ, "PATH": f"{onpath}:{path}"})
    assert "`danelab universe up` first" in cp.stderr
    assert "bin/danelab" not in cp.stderr


def test_lint_reports_every_error_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "d16-many.toml").write_text(
        'title = "t"\nsection = "D"\ncase = "16"\nexplain = "x"\n'
        'colour = "red"\n'
        '[[host]]\nname = "mx1"\nmx = 10\nstarttls = "sometimes"\n'
        'tlsa = ["3 1 x"]\ncert = "nope"\n'
        '[expect]\noutcome = ["delivered", "deferred"]\n'
        'dsn = ["5.7"]\nhosts = ["mx9"]\n')
    cp = danelab("--catalog", str(tmp_path), "lint")
    assert cp.returncode == 2
    errs = [ln for ln in cp.stderr.splitlines() if ln.startswith("error: ")]
    f = f"error: {tmp_path / 'd16-many.toml'}: "
    want = [f + "case: must be int, not str",
            f + "rfc: is required",
            f + "colour: unknown key (a typo?)",
            f + "host[0].starttls: 'sometimes' is not one of",
            f + "host[0].tlsa[0]: '3 1 x': expected",
            f + "host[0].cert: no [[cert]] named 'nope'",
            f + "expect.outcome: 'delivered' is not one of",
            f + "expect.dsn: '5.7' is not an enhanced status code",
            f + "expect.hosts: no host named 'mx9'",
            f + "expect.ground.outcome: is required"]
    for w in want:
        assert any(e.startswith(w) for e in errs), (w, errs)
    assert len(errs) == len(want), errs
    assert f"1 scenario file(s) checked, {len(want)} error(s)" in cp.stdout


def test_lint_bad_bytes_and_deep_nesting(tmp_path: Path) -> None:
    """Neither a UnicodeDecodeError nor a RecursionError: a lint error
    that names the file."""
    (tmp_path / "a01-latin1.toml").write_bytes(
        A01.encode() + b'\ntags = ["caf\xe9"]\n')
    (tmp_path / "a01b-deep.toml").write_text(
        A01 + "\ntags = " + "[" * 3000 + "]" * 3000 + "\n")
    (tmp_path / "a01c-deep-table.toml").write_text(
        A01 + "\n[sender]\npolicy = " + "{a = " * 3000 + "1"
        + "}" * 3000 + "\n")
    cp = danelab("--catalog", str(tmp_path), "lint")
    assert cp.returncode == 2
    assert "Traceback" not in cp.stderr
    lines = A01.count("\n") + 2
    assert f"{tmp_path / 'a01-latin1.toml'}: (file): not UTF-8 text: " \
        f"byte 0xe9 on line {lines}" in cp.stderr
    assert f"{tmp_path / 'a01b-deep.toml'}: (syntax): arrays or tables " \
        "nested too deeply" in cp.stderr
    assert f"{tmp_path / 'a01c-deep-table.toml'}: (syntax): arrays or " \
        "tables nested too deeply" in cp.stderr
    assert "3 scenario file(s) checked, 3 error(s)" in cp.stdout
    # and the commands that load the catalog say the same, also no trace
    cp = danelab("--catalog", str(tmp_path), "list")
    assert cp.returncode == 2 and "Traceback" not in cp.stderr
    assert "a01-latin1.toml: (file): not UTF-8 text" in cp.stderr


def test_explain_refuses_what_lint_rejects(tmp_path: Path) -> None:
    """A file that loads but whose universe is wrong (a fault on an RRset
    that does not exist): lint rejects it, so explain must not show it as
    if it were fine."""
    (tmp_path / "c12-badfault.toml").write_text(
        'title = "t"\nsection = "C"\ncase = 12\nrfc = "x"\nexplain = "x"\n'
        '[[zone]]\nfaults = [{kind = "rrsig-expired", owner = "nope", '
        'rtype = "TLSA"}]\n[expect]\noutcome = ["deferred"]\n' + GROUND)
    cp = danelab("--catalog", str(tmp_path), "lint")
    assert cp.returncode == 2
    cp = danelab("--catalog", str(tmp_path), "explain", "c12-badfault")
    assert cp.returncode == 2
    assert "no TLSA RRset at nope.c12-badfault.test." in cp.stderr
    assert "does not pass" in cp.stderr and "lint" in cp.stderr


def test_unsafe_run_dir_is_refused(tmp_path: Path) -> None:
    """Characters that break the generated NSD/Unbound configs (a quote),
    that Unbound takes for a glob (it crashes on them) or that end a
    value in a sender's config (#, space) are refused before anything is
    built."""
    for bad in ('a"b', "a*b", "a?b", "a b", "a#b", "a~b", "a{b"):
        run = tmp_path / bad / "run"
        cp = danelab("run", "-s", "a01-secure-dane-ee", "--run-dir",
                     str(run))
        assert cp.returncode == 2, bad
        assert "cannot be used in its path" in cp.stderr, bad
        assert repr(bad[1]) in cp.stderr, bad
        assert not (tmp_path / bad).exists(), bad
        cp = danelab("universe", "up", "-s", "a01-secure-dane-ee",
                     "--run-dir", str(run))
        assert cp.returncode == 2 and "cannot be used" in cp.stderr, bad
        assert not (tmp_path / bad).exists(), bad
    env = {**os.environ, "DANELAB_RUNS": str(tmp_path / "x*y")}
    cp = danelab("run", "-s", "a01-secure-dane-ee", env=env)
    assert cp.returncode == 2 and "cannot be used" in cp.stderr
    # too deep for Unbound's control socket (108 octets with the NUL)
    deep = tmp_path / ("d" * (107 - len(str(tmp_path)) - 10)) / "run"
    for argv in (["run", "--run-dir", str(deep)],
                 ["universe", "up", "--run-dir", str(deep)]):
        cp = danelab(*argv, "-s", "a01-secure-dane-ee")
        assert cp.returncode == 2 and "is too deep" in cp.stderr, cp.stderr
        assert not deep.exists()


def test_explain_shows_the_addresses_of_the_run(tmp_path: Path) -> None:
    """explain with a run's selection prints the addresses that run gives
    the scenario's hosts, and the run's fake-mx listens there."""
    sel = ["-s", "a01-secure-dane-ee", "-s", "d16a-dane-ee-3-0-1"]
    cp = danelab("explain", "d16a-dane-ee-3-0-1", *sel)
    assert cp.returncode == 0, cp.stderr
    m = re.search(r"^  mx1\.d16a-dane-ee-3-0-1\.test\. (\S+):25 ", cp.stdout,
                  re.M)
    assert m, cp.stdout
    addr = m[1]
    assert addr == "127.25.2.1"                 # 2nd of the selection
    assert f"mx1.d16a-dane-ee-3-0-1.test. A {addr}" in cp.stdout
    whole = danelab("explain", "d16a-dane-ee-3-0-1")
    assert "of the whole catalog" in whole.stdout
    assert f" {addr}:25 " not in whole.stdout   # numbered in the catalog
    cp = danelab("run", "--sender", "reference", *sel, "--run-dir",
                 str(tmp_path / "r"))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    conf = json.loads((tmp_path / "r" / "group1" /
                       "fakemx.json").read_text())
    where = {li["name"]: li["address"] for li in conf["listeners"]}
    assert where["d16a-dane-ee-3-0-1:mx1"] == addr


def _setup_error_reports(out: Path) -> tuple[dict, ET.Element]:
    res = json.loads((out / "results.json").read_text())
    junit = ET.parse(out / "junit.xml").getroot()
    return res, junit


def test_setup_error_writes_results_and_junit(tmp_path: Path) -> None:
    """A sender whose start fails: the exit status is unchanged (2), and
    results.json, junit.xml and report.html say what went wrong."""
    script = tmp_path / "vendor.sh"
    script.write_text("#!/bin/sh\n[ \"$1\" = start ] && "
                      "{ echo 'no licence key' >&2; exit 7; }\nexit 0\n")
    script.chmod(0o755)
    out = tmp_path / "report"
    cp = danelab("run", "-s", "a01-secure-dane-ee", "--sender",
                 f"command:{script}", "--run-dir", str(tmp_path / "r"),
                 "--report", str(out))
    assert cp.returncode == 2, cp.stderr
    res, junit = _setup_error_reports(out)
    assert res["cases"] == []
    [pr] = res["problems"]
    assert pr["kind"] == "setup-error" and "no licence key" in pr["text"]
    [tc] = junit.iter("testcase")
    assert tc.get("classname").endswith(".run")
    fail = tc.find("failure")
    assert fail is not None and "no licence key" in fail.get("message")
    assert "no licence key" in (out / "report.html").read_text()


def test_unknown_sender_with_report_folder_writes_the_error(
        tmp_path: Path) -> None:
    out = tmp_path / "report"
    cp = danelab("run", "-s", "a01-secure-dane-ee", "--sender", "nosuch",
                 "--run-dir", str(tmp_path / "r"), "--report", str(out))
    assert cp.returncode == 2
    assert not (tmp_path / "r").exists()
    res, junit = _setup_error_reports(out)
    assert "unknown sender 'nosuch'" in res["problems"][0]["text"]
    assert junit.find(".//failure") is not None
