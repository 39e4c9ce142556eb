"""`make bench`: every benchmark of the project, one after the other.

Figures are printed, never asserted: the machines are shared and noisy.
Compare ratios measured within one run.  The benchmarks' `summary:` lines
(the catalog's total, the goals' ratios) are printed again at the end.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = "/usr/bin/python3"

BENCHES = [
    ("DNS universe: build and serve N domains", [PY, "bench/universe.py"]),
    ("fake-mx: TLS sessions per second, idle connections",
     [PY, "fake-mx/bench/bench.py"]),
    ("reference sender: messages per second (vs Postfix)",
     [PY, "bench/delivery.py"]),
    ("MTA-STS policy server: policy fetches per second",
     [PY, "bench/sts_policy.py"]),
    ("the catalog against the reference sender, phase by phase",
     [PY, "bench/catalog.py"]),
    ("catalog wall time, senders side by side", [PY, "bench/senders.py"]),
    ("black box (--expose, smtp://) vs in-namespace, same scenarios",
     [PY, "bench/blackbox.py"]),
]


def run(argv: list[str]) -> tuple[int, list[str]]:
    """Run one benchmark, its output shown as it comes; return its exit
    status and its `summary:` lines."""
    summary = []
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE,
                          text=True, bufsize=1) as p:
        assert p.stdout
        for line in p.stdout:
            print(line, end="", flush=True)
            if line.startswith("summary: "):
                summary.append(line.removeprefix("summary: ").rstrip())
    return p.returncode, summary


def main() -> int:
    only = sys.argv[1:]
    rc = 0
    summary: list[str] = []
    for title, argv in BENCHES:
        script = ROOT / argv[1]
        if only and not any(o in argv[1] for o in only):
            continue
        print(f"\n=== {title} ({argv[1]})", flush=True)
        if not script.exists():
            print("    (not present)")
            continue
        t = time.monotonic()
        code, lines = run(argv)
        summary += lines
        print(f"    [{time.monotonic() - t:.1f} s, exit {code}]")
        rc = rc or code
    if summary:
        print("\n=== summary (this run; compare figures of one run only)")
        for line in summary:
            print(f"  {line}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
