"""`make bench`: every benchmark of the project, one after the other.

Figures are printed, never asserted: the machines are shared and noisy.
Compare ratios measured within one run.
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
    ("catalog wall time per sender", [PY, "bench/catalog.py"]),
    ("catalog wall time, senders side by side", [PY, "bench/senders.py"]),
]


def main() -> int:
    only = sys.argv[1:]
    rc = 0
    for title, argv in BENCHES:
        script = ROOT / argv[1]
        if only and not any(o in argv[1] for o in only):
            continue
        print(f"\n=== {title} ({argv[1]})", flush=True)
        if not script.exists():
            print("    (not present)")
            continue
        t = time.monotonic()
        cp = subprocess.run(argv, cwd=ROOT)
        print(f"    [{time.monotonic() - t:.1f} s, exit {cp.returncode}]")
        rc = rc or cp.returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
