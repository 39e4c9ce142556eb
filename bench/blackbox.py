"""A black-box run against an in-namespace run of the same MTA, same
scenarios, measured one after the other in this run: the wall time of
`danelab run --sender MTA` and of the MTA as an appliance in its own
namespace, reached through `--expose netns:` and graded through
`--sender smtp://` (harness/danelab/blackbox.py), and their ratio.

    /usr/bin/python3 bench/blackbox.py [--pass-seconds N] [MTA ...]

MTA: postfix, exim (default: both; Exim only when ci/exim-install has set
it up).  A black box cannot say when it has finished trying: a pass ends
when every message is delivered or bounced, or after --pass-seconds
(default 15, as the tests), so any deferral costs a whole pass; the
scenarios are a fixed mix of the two, with a second phase.  Figures only:
never asserted."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "harness"))

from danelab.adapters.exim import EXIM_ROOT  # noqa: E402
from danelab.blackbox import run_blackbox  # noqa: E402

# delivered, bounced (null MX), deferred, and a retry after a [fix] and
# after the retry limit (flush, expire and reload hooks)
SCENARIOS = ["a01-secure-dane-ee", "a07-null-mx", "a02-mx-rrsig-expired",
             "g35-retry-tlsa-fixed", "g35d-retry-limit-tlsa-mismatch"]


def in_namespace(mta: str, run: Path) -> float:
    argv = ["/usr/bin/python3", "-m", "danelab", "run", "--sender", mta,
            "--run-dir", str(run)]
    for s in SCENARIOS:
        argv += ["-s", s]
    t = time.monotonic()
    cp = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True,
                        env={**os.environ,
                             "PYTHONPATH": str(ROOT / "harness")})
    wall = time.monotonic() - t
    if cp.returncode not in (0, 1):
        raise RuntimeError(f"danelab run --sender {mta} exited "
                           f"{cp.returncode}: {cp.stderr[-800:]}")
    return wall


def black_box(mta: str, run: Path, pass_seconds: float
              ) -> tuple[float, Counter[str]]:
    t = time.monotonic()
    res, _ = run_blackbox(mta, run, pass_seconds, SCENARIOS)
    return time.monotonic() - t, Counter(c["verdict"] for c in res["cases"])


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/blackbox.py")
    ap.add_argument("mta", nargs="*")
    ap.add_argument("--pass-seconds", type=float, default=15.0)
    a = ap.parse_args()
    mtas = a.mta or ["postfix"] + (
        ["exim"] if (EXIM_ROOT / "usr/sbin/exim4").exists() else [])
    if os.geteuid() != 0:
        print("black box: not measured (needs root: veth pairs)")
        return 0
    print(f"{len(SCENARIOS)} scenarios, pass length of the black box "
          f"{a.pass_seconds:g} s", flush=True)
    for mta in mtas:
        with tempfile.TemporaryDirectory(prefix=f"bench-bb-{mta}-") as d:
            inside = in_namespace(mta, Path(d) / "inside")
            outside, verdicts = black_box(mta, Path(d) / "bb",
                                          a.pass_seconds)
        ratio = outside / inside if inside else float("inf")
        print(f"  {mta}: in-namespace {inside:.1f} s, black box "
              f"{outside:.1f} s ({dict(sorted(verdicts.items()))})",
              flush=True)
        print(f"summary: black box {mta}, {len(SCENARIOS)} scenarios: "
              f"{outside:.1f} s, {ratio:.1f}x its in-namespace run "
              f"({inside:.1f} s; pass length {a.pass_seconds:g} s)",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
