"""Published conformance results of the real MTAs (docs/results/).

    /usr/bin/python3 -m danelab.published [SENDER ...]

runs the whole catalog against each sender (default: SENDERS below, the
real MTAs and reference for comparison) with `danelab run`, and writes
docs/results/<sender>.json (per case: verdict, observed outcome, the
sender's own state and status code) and docs/results/summary.md (the counts
and a matrix of the cases where the senders differ, over every sender of
SENDERS that has a published file, whether run now or not; each row says
which catalog it covers).
docs/results/regenerate.sh is the one command.

The adapter tests run the published cases again and compare with
compare(): a change in an MTA's verdict or outcome fails and shows the
difference.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .adapters import get_adapter
from .grounds import documents, headline
from .suite import catalog_digest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
SENDERS = ["reference", "postfix", "postfix-dane-only", "postfix-may",
           "exim", "exim-require-dane", "postfix-mta-sts", "chasquid"]
KEYS = ("verdict", "observed")


def catalog_commit() -> str:
    """The last commit that touched scenarios/, its date, the number of
    scenario files and a digest of their contents; files not committed
    yet are counted, so a result never claims a commit it did not use."""
    cp = subprocess.run(["git", "-C", str(ROOT), "log", "-1",
                         "--format=%H %cI", "--", "scenarios/"],
                        capture_output=True, text=True)
    st = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                         "--", "scenarios/"], capture_output=True, text=True)
    digest, n = catalog_digest(ROOT / "scenarios")
    dirty = len(st.stdout.splitlines())
    return (f"{cp.stdout.strip() or 'unknown'}, {n} files, "
            f"sha256 {digest[:16]}"
            + (f", {dirty} not committed" if dirty else ""))


def run_catalog(sender: str, run_dir: Path, ids: list[str] | None = None,
                jobs: int = 2) -> dict[str, Any]:
    """`danelab run` over the catalog (or IDS); the merged results.json."""
    return finish_catalog(start_catalog(sender, run_dir, ids, jobs), run_dir)


def start_catalog(sender: str, run_dir: Path, ids: list[str] | None = None,
                  jobs: int = 2) -> "subprocess.Popen[str]":
    """Start `danelab run` over the catalog (or IDS) in the background;
    finish_catalog() waits for it.  SIGINT stops it the way Ctrl-C does
    (its lab torn down, nothing left running)."""
    argv = ["/usr/bin/python3", "-m", "danelab", "run", "--sender",
            sender, "--jobs", str(jobs), "--run-dir", str(run_dir)]
    for i in ids or []:
        argv += ["-s", i]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, env={**os.environ, "PYTHONPATH":
                                            str(ROOT / "harness")})


def finish_catalog(p: "subprocess.Popen[str]", run_dir: Path
                   ) -> dict[str, Any]:
    """Wait for a run of start_catalog(); its merged results.json."""
    _, err = p.communicate()
    res = run_dir / "report" / "results.json"
    if p.returncode not in (0, 1) or not res.exists():
        raise RuntimeError(f"danelab run ({run_dir}) exited "
                           f"{p.returncode}: {err[-1500:]}")
    return dict(json.loads(res.read_text()))


def case_key(c: dict[str, Any]) -> str:
    ph = c.get("phase", "first")
    return c["id"] if ph == "first" else f"{c['id']}[{ph}]"


def summarize(results: dict[str, Any]) -> dict[str, dict[str, str]]:
    out = {}
    for c in results["cases"]:
        so = c.get("sender_outcome") or {}
        out[case_key(c)] = {"verdict": c["verdict"],
                            "observed": c.get("observed") or "",
                            "sender_state": so.get("state", ""),
                            "dsn": so.get("dsn", ""),
                            "why": "; ".join(_why(ch) for ch in
                                             c.get("checks", [])
                                             if not ch["ok"])}
    return out


def _why(ch: dict[str, Any]) -> str:
    g = ch.get("ground")
    return f"{ch['text']} [{g['cite']}]" if g else ch["text"]


def problem_keys(results: dict[str, Any]) -> list[str]:
    """The run's own problems (stray traffic), as "KIND ADDRESS" lines:
    stable from run to run, unlike the counts and ports in their text."""
    return sorted({f"{p.get('kind')} {p.get('address', '')}".strip()
                   for p in results.get("problems") or []})


def counts(cases: dict[str, dict[str, str]]) -> dict[str, int]:
    n: dict[str, int] = {}
    for c in cases.values():
        n[c["verdict"]] = n.get(c["verdict"], 0) + 1
    return n


def compare(published: dict[str, dict[str, str]],
            now: dict[str, dict[str, str]]) -> list[str]:
    """Differences in verdict or observed outcome, one line each."""
    diffs = []
    for k in sorted(published):
        if k not in now:
            diffs.append(f"{k}: published but not run")
            continue
        for f in KEYS:
            if published[k][f] != now[k][f]:
                diffs.append(f"{k}: {f} was {published[k][f]!r}, now "
                             f"{now[k][f]!r} ({now[k].get('why', '')})")
    return diffs


def load(sender: str) -> dict[str, Any] | None:
    p = RESULTS / f"{sender}.json"
    return json.loads(p.read_text()) if p.exists() else None


def publish(senders: list[str]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    commit = catalog_commit()
    table: dict[str, dict[str, dict[str, str]]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for s in senders:
        t = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"results-{s}-") as d:
            res = run_catalog(s, Path(d) / "run")
        cases = summarize(res)
        doc = {"sender": s, "version": get_adapter(s).version(),
               "catalog_commit": commit,
               "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                          time.gmtime()),
               "wall_seconds": round(time.monotonic() - t, 1),
               "counts": counts(cases), "problems": problem_keys(res),
               "documents": documents(res["cases"]),
               "cases": cases}
        (RESULTS / f"{s}.json").write_text(json.dumps(doc, indent=1,
                                                      sort_keys=True) + "\n")
        table[s], meta[s] = cases, doc
        print(f"{s:>20}: {doc['counts']} in {doc['wall_seconds']} s",
              flush=True)
    for s in SENDERS:               # the others, as last published
        old = load(s) if s not in table else None
        if old is not None:
            table[s], meta[s] = old["cases"], old
    order = [s for s in SENDERS if s in table] + \
        [s for s in table if s not in SENDERS]
    (RESULTS / "summary.md").write_text(matrix(
        {s: table[s] for s in order}, meta, commit))


def short_commit(text: str) -> str:
    """A catalog_commit line shortened: commit prefix and file count."""
    parts = text.split()
    files = next((parts[i - 1] for i, w in enumerate(parts)
                  if w.startswith("files")), "?")
    return f"{parts[0][:7] if parts else '?'}, {files} files"


def matrix(table: dict[str, dict[str, dict[str, str]]],
           meta: dict[str, dict[str, Any]], commit: str) -> str:
    senders = list(table)
    commits = {meta[s].get("catalog_commit", commit) for s in senders}
    same = commits == {commit}
    lines = ["# Published results: summary (generated)", "",
             f"Catalog: commit {commit} of `scenarios/`." if same else
             "Catalogs differ by sender (the last column says which "
             "catalog each covers; a case one sender's catalog did not have "
             "shows —).", "",
             "| sender | version | pass | fail | warn | info | wall s |"
             + ("" if same else " catalog |"),
             "| --- | --- | --- | --- | --- | --- | --- |"
             + ("" if same else " --- |")]
    for s in senders:
        c = meta[s]["counts"]
        lines.append(f"| `{s}` | {meta[s]['version']} | {c.get('pass', 0)} "
                     f"| {c.get('fail', 0)} | {c.get('warn', 0)} | "
                     f"{c.get('info', 0)} | {meta[s]['wall_seconds']} |"
                     + ("" if same else
                        f" {short_commit(meta[s].get('catalog_commit', ''))}"
                        " |"))
    lines += per_document(senders, meta)
    keys = sorted(set().union(*[set(t) for t in table.values()]))
    lines += ["", "## Cases where the senders differ", "",
              "Each cell: verdict, observed outcome.", "",
              "| case | " + " | ".join(f"`{s}`" for s in senders) + " |",
              "| --- |" + " --- |" * len(senders)]
    for k in keys:
        cells = [table[s].get(k) for s in senders]
        shown = {(c or {}).get("verdict", "") + (c or {}).get("observed", "")
                 for c in cells}
        if len(shown) == 1:
            continue
        lines.append(f"| {k} | " + " | ".join(
            f"{c['verdict']} {c['observed']}" if c else "—"
            for c in cells) + " |")
    return "\n".join(lines) + "\n"


def per_document(senders: list[str], meta: dict[str, dict[str, Any]]
                 ) -> list[str]:
    """The findings per document: for each sender and RFC (and the lab's
    own rules), the cases with a failed MUST and a warned SHOULD resting
    on it (docs/grading.md)."""
    every = sorted({d for s in senders
                    for d in meta[s].get("documents", {})})
    rows = {s: headline(meta[s].get("documents", {}), every)
            for s in senders}
    names = [r["document"] for r in rows[senders[0]]] if senders else []
    out = ["", "## Findings per document", "",
           "Each cell: cases with a failed MUST / with a warned SHOULD whose "
           "ground is that document, of the cases graded on a MUST resting "
           "on it (`danelab`: the lab's own evidence rules). 0 failed means "
           "the sender conforms to it, as far as the catalog reaches; "
           "\"not graded\": no MUST of it was graded (the sender lacks the "
           "feature, or no case was run).", "",
           "| sender | " + " | ".join(names) + " |",
           "| --- |" + " --- |" * len(names)]
    for s in senders:
        out.append(f"| `{s}` | " + " | ".join(
            _cell(r) for r in rows[s]) + " |")
    return out


def _cell(r: dict[str, Any]) -> str:
    # (results published before the counts had "must" say "?" there)
    if not r.get("must") and not r.get("fail"):
        return "not graded" + (f", {r['warn']} warned" if r.get("warn")
                               else "")
    return f"{r.get('fail', 0)} / {r.get('warn', 0)} (of " \
        f"{r.get('must', '?')})"


if __name__ == "__main__":
    publish(sys.argv[1:] or SENDERS)
