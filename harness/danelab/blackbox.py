"""Published black-box results: a real MTA as an appliance in its own
network namespace, graded through `--expose netns:PATH` and `--sender
smtp://` only, next to its in-namespace results.

    /usr/bin/python3 -m danelab.blackbox [--pass-seconds N] [MTA ...]

(MTA: postfix, exim; default both)
writes docs/results/<mta>-blackbox.json (the format of <mta>.json, plus
`differences`: every case whose verdict or observed outcome differs from
the in-namespace file).  Needs root, Postfix (ci/deps) and Exim
(ci/exim-install).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .appliance import PostfixAppliance
from .appliance_exim import EximAppliance
from .catalog import DEFAULT_DIR, load_catalog
from .labnet import MAX_EXPOSED_SCENARIOS, LabNet
from .published import RESULTS, ROOT, catalog_commit, compare, counts, \
    problem_keys, summarize

APPLIANCES: dict[str, Any] = {"postfix": PostfixAppliance,
                              "exim": EximAppliance}


def run_blackbox(mta: str, run: Path, pass_seconds: float,
                 ids: list[str] | None = None) -> tuple[dict[str, Any], str]:
    """The merged results.json of one black-box run (of IDS, or of the
    whole catalog), and the appliance's version line.  An exposed run
    holds at most MAX_EXPOSED_SCENARIOS scenarios (labnet.py): a larger
    selection runs in equal parts, each with an appliance of its own (a
    fresh queue: nothing of one part is retried in the next)."""
    scs = load_catalog(DEFAULT_DIR)
    ids = ids or [sc.id for sc in scs]
    n = -(-len(ids) // MAX_EXPOSED_SCENARIOS)
    parts = [ids[i::n] for i in range(n)]
    merged: dict[str, Any] = {}
    version = ""
    for i, part in enumerate(parts):
        res, version = _run_part(mta, run / f"part{i + 1}" if n > 1 else run,
                                 pass_seconds, part, scs)
        if not merged:
            merged = res
        else:
            merged["cases"] += res["cases"]
            merged["problems"] = (merged.get("problems") or []) + \
                (res.get("problems") or [])
    return merged, version


def _run_part(mta: str, run: Path, pass_seconds: float, ids: list[str],
              scs: list[Any]) -> tuple[dict[str, Any], str]:
    net = LabNet.parse()
    policies = {sc.rcpt_domain: sc.policy for sc in scs
                if sc.policy != "dane"}
    with APPLIANCES[mta](run / "appliance", net, policies) as app:
        argv = ["/usr/bin/python3", "-m", "danelab", "run", "--sender",
                app.url, "--expose", f"netns:{app.netns_path}",
                "--pass-seconds", str(pass_seconds),
                "--run-dir", str(run / "lab")]
        for k, v in app.hooks().items():
            argv += ["--hook", f"{k}={v}"]
        for i in ids:
            argv += ["-s", i]
        cp = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ,
                                 "PYTHONPATH": str(ROOT / "harness")})
        version = app.mta.version()
    res = run / "lab" / "report" / "results.json"
    if cp.returncode not in (0, 1) or not res.exists():
        raise RuntimeError(f"black-box run of {mta} exited {cp.returncode}: "
                           f"{cp.stderr[-1500:]}")
    return dict(json.loads(res.read_text())), version


def outcome_notes(inside: dict[str, dict[str, str]],
                  outside: dict[str, dict[str, str]]) -> list[str]:
    """The sender outcomes (state, status code) that differ where verdict
    and observed outcome agree, grouped, each group with its reason; a
    difference no rule explains is listed as unexplained."""
    groups: dict[str, list[str]] = {}
    for k in sorted(set(inside) & set(outside)):
        a, b = inside[k], outside[k]
        if a.get("sender_state") != b.get("sender_state"):
            why = (f"state {a.get('sender_state')!r} in the namespace, "
                   f"{b.get('sender_state')!r} as a black box: unexplained")
        elif a.get("dsn") == b.get("dsn"):
            continue
        elif b.get("sender_state") == "deferred" and not b.get("dsn"):
            why = ("deferred: the MTA's log has a status code, but a "
                   "deferral sends no DSN, so none reaches the lab")
        elif b.get("sender_state") == "bounced":
            why = ("bounced: the in-namespace code is the one the MTA "
                   "logged, the black box's the Status of its DSN "
                   f"({a.get('dsn')!r} there, {b.get('dsn')!r} here)")
        else:
            why = (f"status code {a.get('dsn')!r} in the namespace, "
                   f"{b.get('dsn')!r} as a black box: unexplained")
        groups.setdefault(why, []).append(k)
    return [f"{len(ks)} result(s), {why}: {', '.join(ks)}"
            for why, ks in groups.items()]


def main() -> int:
    ap = argparse.ArgumentParser(prog="danelab.blackbox")
    ap.add_argument("mta", nargs="*", default=list(APPLIANCES))
    ap.add_argument("--pass-seconds", type=float, default=90.0)
    a = ap.parse_args()
    for mta in a.mta:
        t = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"blackbox-{mta}-") as d:
            res, version = run_blackbox(mta, Path(d), a.pass_seconds)
        cases = summarize(res)
        inside = json.loads((RESULTS / f"{mta}.json").read_text())
        doc = {"sender": f"{mta} (black box, smtp://, --expose netns)",
               "version": version, "catalog_commit": catalog_commit(),
               "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                          time.gmtime()),
               "wall_seconds": round(time.monotonic() - t, 1),
               "pass_seconds": a.pass_seconds,
               "exposed_runs": -(-len({c["id"] for c in res["cases"]})
                                 // MAX_EXPOSED_SCENARIOS),
               "in_namespace_wall_seconds": inside.get("wall_seconds"),
               "counts": counts(cases), "problems": problem_keys(res),
               "differences": compare(inside["cases"], cases),
               "outcome_notes": outcome_notes(inside["cases"], cases),
               "cases": cases}
        (RESULTS / f"{mta}-blackbox.json").write_text(
            json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(f"{mta}: {doc['counts']} in {doc['wall_seconds']} s; "
              f"{len(doc['differences'])} difference(s)", flush=True)
        for line in doc["differences"]:
            print("  " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
