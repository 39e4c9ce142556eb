"""results.json: what a run found, as the reports read it.

`documents` counts, per RFC (and for the lab's own rules), the cases with
a failed MUST and those with a warned SHOULD resting on it, so that
"conforms to RFC 7672" means no failed MUST whose ground is RFC 7672.

The runner hands its RunResult over; write_results() writes one group's
file (per grade: the scenario, the verdict and its checks, the DNS records
the lab built, the SMTP/TLS transcript, where the logs are).  write_merged()
writes the one file of a whole `danelab run` over its groups.  report.py
reads these files back into junit.xml and report.html.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import LabError
from .grader import session_host
from .grounds import documents
from .labplan import LabPlan
from .observe import Session
from .runner import RunResult
from .scenario import Expect, Scenario
from .suite import suite_version
from .summary import sender_summary


def _records(plan: LabPlan, sc: Scenario) -> list[str]:
    out = []
    for z in plan.zones:
        if z.name == sc.domain or z.name.endswith("." + sc.domain):
            state = ("signed" if z.signed else "unsigned") + \
                (", DS in parent" if z.signed and z.ds_in_parent else "")
            faults = ", ".join(f.kind + (f" on {f.owner} {f.rtype}"
                                         if f.owner else "")
                               for f in z.faults)
            out.append(f"; zone {z.name} ({state}"
                       f"{'; faults: ' + faults if faults else ''})")
            out += [f"{r.owner} {r.rtype} {r.rdata}" for r in z.records]
    return out


def _events(s: Session) -> list[dict[str, Any]]:
    """Every event of S with every field fake-mx logged but the session
    and listener, which the transcript entry names once."""
    return [{k: v for k, v in e.items() if k not in ("session", "listener")}
            for e in s.events]


def role(s: Session) -> str:
    """What the listener of S was to the sender: `relay` (an on-path
    attacker's leg from the sender), `relayed` (that attacker's own leg to
    the real server), `impostor` (an attacker's server), `catch-all` (no
    listener at the address dialled) or `server`."""
    if s.relay:
        return "relay"
    if s.via:
        return "relayed"
    if s.impostor:
        return "impostor"
    return "catch-all" if s.catch_all else "server"


def transcript_entry(plan: LabPlan, s: Session) -> dict[str, Any]:
    """One session as results.json keeps it for the reports."""
    own = plan.by_listener.get(s.listener)
    front = session_host(plan, s)
    return {"session": s.id, "listener": s.listener,
            "host": own.name if own else None,
            "dialled": front.name if front else None,
            "role": role(s), "via": s.via, "upstream": s.upstream,
            "events": _events(s)}


def _phase_expect(sc: Scenario, phase: str) -> Expect:
    """The expectation a phase of SC is graded against."""
    later = {"after-fix": sc.expect_after_fix,
             "after-limit": sc.expect_after_limit}.get(phase)
    return later or sc.expect


def run_record(result: RunResult, command: str = "") -> dict[str, Any]:
    """What the report's header needs of one run: the sender's name,
    version and configuration digest, the suite's version (suite.py, over
    the folder the scenarios came from), when the run began, the command
    that reproduces it ("" when not run from the command line) and how
    many scenarios it ran."""
    folders = sorted({sc.path.parent for sc in result.scenarios.values()})
    return {"sender": result.sender_info or {"name": result.sender},
            "suite": suite_version(folders[0]) if folders else {},
            "started": result.started, "command": command,
            "scenarios": len(result.scenarios)}


def write_results(result: RunResult, path: Path, command: str = ""
                  ) -> None:
    """One run's results.json: per grade, the case, its checks and its
    evidence; the run's timings, counts and problems; the run record
    (run_record(): COMMAND is the command line that ran it)."""
    cases = []
    for g in result.grades:
        sc = result.scenarios[g.scenario]
        d = {"id": g.scenario, "sender": result.sender, "section": sc.section,
             "case": sc.case, "title": sc.title, "rfc": sc.rfc,
             "refs": sc.refs,
             "explain": sc.explain, "file": str(sc.path),
             "level": _phase_expect(sc, g.phase).level,
             **g.as_dict(),
             "dns_records": _records(result.plan, sc),
             "transcript": [transcript_entry(result.plan,
                                             result.sessions[sid])
                            for sid in g.sessions if sid in result.sessions],
             "evidence": {"run_dir": str(result.run_dir),
                          "fakemx_events": str(result.run_dir /
                                               "fakemx-events.jsonl"),
                          "sender_dir": str(result.run_dir / "sender"),
                          "dns": result.dns.get(sc.id)}}
        cases.append(d)
    counts: dict[str, int] = {}
    for g in result.grades:
        counts[g.verdict] = counts.get(g.verdict, 0) + 1
    path.write_text(dump({"sender": result.sender,
                          "run": run_record(result, command),
                          "timings": result.timings,
                          "counts": counts,
                          "documents": documents(cases),
                          "problems": result.problems}, cases))


def dump(head: dict[str, Any], cases: list[dict[str, Any]]) -> str:
    """HEAD's members indented, then "cases", one case a line: json's
    indenting encoder is the pure-Python one, seconds for a catalog's
    results; one line a case keeps the C encoder (and grep finds a case
    by its id)."""
    inner = json.dumps(head, indent=1)[1:-1].rstrip()
    rows = ",\n".join(json.dumps(c) for c in cases)
    return ("{" + inner + ("," if inner else "") + '\n "cases": ['
            + (f"\n{rows}\n ]" if cases else "]") + "\n}\n")


def write_merged(path: Path, sender: str, cases: list[dict[str, Any]],
                 problems: list[dict[str, Any]],
                 runs: list[dict[str, Any]] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
    """The results.json of a whole run: the sender's summary (summary.py),
    the findings per document (grounds.documents(): failed MUSTs and warned
    SHOULDs per RFC, and per the lab's own rules), every group's cases and
    the run's problems, as report.load_results() gave them; RUNS, the
    groups' run records, become one (the earliest start, the scenarios of
    every group).  EXTRA's members go into the head (`serve`: how far a
    `danelab serve` got)."""
    run: dict[str, Any] = {}
    if runs:
        run = {**runs[0], "started": min(r.get("started", "")
                                         for r in runs),
               "scenarios": sum(r.get("scenarios", 0) for r in runs)}
    path.write_text(dump({"sender": sender, "run": run, **(extra or {}),
                          "summary": sender_summary(cases),
                          "documents": documents(cases),
                          "problems": problems}, cases))


def write_run(results: list[tuple[RunResult, Path]], out: Path,
              sender: str, command: str = "",
              extra: dict[str, Any] | None = None
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every file of a run: each group's results.json (RESULTS: each
    group's result and where its file goes), then OUT's junit.xml,
    report.html and merged results.json (write_merged(), with EXTRA).
    Returns the cases (by id, then phase) and the run's problems."""
    from .report import load_runs, write_reports
    for r, f in results:
        write_results(r, f, command)
    files = [f for _, f in results]
    cases, problems = write_reports(files, out)
    cases.sort(key=lambda c: (c["id"], c.get("phase", "first")))
    write_merged(out / "results.json", sender, cases, problems,
                 load_runs(files).get(sender), extra)
    return cases, problems


def error_text(e: BaseException) -> str:
    """What a set-up error says, for people and for CI."""
    if isinstance(e, KeyboardInterrupt):
        return "interrupted before the run could be graded"
    if isinstance(e, LabError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def write_setup_error(out: Path, sender: str, e: BaseException) -> None:
    """A run that could not be set up or finished still leaves results:
    results.json, junit.xml and report.html in OUT with one problem (kind
    `setup-error`) naming what went wrong, so CI has something to show."""
    from .report import write_html, write_junit
    out.mkdir(parents=True, exist_ok=True)
    problems = [{"sender": sender, "kind": "setup-error",
                 "text": error_text(e)}]
    write_merged(out / "results.json", sender, [], problems)
    write_junit([], out / "junit.xml", problems)
    write_html([], out / "report.html", problems=problems)
