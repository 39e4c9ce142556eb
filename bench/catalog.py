"""The full catalog against a sender (default: reference), as `danelab run`
does it (one group, results.json, junit.xml and report.html written), with
the wall time of each phase and the CPU time every process of the run used
(on a shared machine wall times grow with the load; CPU times much less).
Target: the whole catalog in under 12 s on 2 cores.  Figures only."""
from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

from danelab.adapters import get_adapter  # noqa: E402
from danelab.catalog import load_catalog  # noqa: E402
from danelab.report import write_reports  # noqa: E402
from danelab.results import write_merged, write_results  # noqa: E402
from danelab.runner import LabRun  # noqa: E402

# RunResult.timings keys, in order, and what each phase is
PHASES = [
    ("stage", "messages queued before the lab is up (beside plan and "
     "universe)"),
    ("plan", "scenarios to zones, certificates, addresses"),
    ("universe", "zones signed; NSD, Unbound, fake-mx, HTTPS receiver up"),
    ("probe", "the lab resolver asked about every scenario (in the "
     "background from submit on, its last questions during queue1)"),
    ("submit", "sender started and checked, one message per scenario "
     "(or the staging waited for)"),
    ("queue1", "queue pass 1"),
    ("fix", "[fix] zones rebuilt and probed, messages expired, sender "
     "reloaded"),
    ("queue2", "queue pass 2"),
    ("retry_passes", "passes 3 and on, for per-connection profiles"),
    ("tlsrpt", "the sender's TLSRPT reports sent"),
    ("grade", "fake-mx's events folded, every case graded"),
]


def cpu_children() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def measure(sender: str) -> float:
    scs = load_catalog()
    with tempfile.TemporaryDirectory(prefix=f"bench-{sender}-") as d:
        t0, c0, k0 = time.monotonic(), time.process_time(), cpu_children()
        r = LabRun(scs, get_adapter(sender), Path(d) / "group1").execute()
        t = time.monotonic()
        f = Path(d) / "group1" / "results.json"
        write_results(r, f)
        cases, problems = write_reports([f], Path(d) / "report")
        write_merged(Path(d) / "report" / "results.json", sender, cases,
                     problems)
        report = time.monotonic() - t
        wall = time.monotonic() - t0
        own, kids = time.process_time() - c0, cpu_children() - k0
    v = Counter(g.verdict for g in r.grades)
    print(f"catalog, sender {sender}: {len(scs)} scenarios, "
          f"{len(r.grades)} results {dict(v)}")
    t = r.timings
    for k, what in PHASES:
        if k in t:
            print(f"  {k:<12} {t[k]:6.2f} s  {what}")
        if k == "submit" and "pass1" in t:
            wait = t["pass1"] - t.get("submit", 0) - t.get("queue1", 0)
            print(f"  {'(probe)':<12} {wait:6.2f} s  pass 1 waiting for the "
                  "probe (before and after queue1)")
    print(f"  {'report':<12} {report:6.2f} s  results.json, junit.xml, "
          "report.html")
    print(f"  {'total':<12} {wall:6.2f} s  (CPU: harness {own:.1f} s, "
          f"the processes it started {kids:.1f} s; load average "
          f"{os.getloadavg()[0]:.1f} at the end)", flush=True)
    return wall


def main() -> None:
    for s in sys.argv[1:] or ["reference"]:
        wall = measure(s)
        print(f"summary: catalog ({s}) {wall:.1f} s (target: under 12 s)",
              flush=True)


if __name__ == "__main__":
    main()
