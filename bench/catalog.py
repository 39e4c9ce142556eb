"""Wall time of the full catalog against a sender (default: reference).
Target: the whole catalog in under 60 s on 2 cores."""
from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

from danelab.adapters import get_adapter  # noqa: E402
from danelab.catalog import load_catalog  # noqa: E402
from danelab.runner import LabRun  # noqa: E402


def main() -> None:
    senders = sys.argv[1:] or ["reference"]
    scs = load_catalog()
    print(f"{'sender':>28} {'scenarios':>9} {'wall s':>7} {'universe s':>10}"
          f" {'pass1 s':>8} {'pass2 s':>8}  verdicts")
    for s in senders:
        with tempfile.TemporaryDirectory() as d:
            t = time.monotonic()
            r = LabRun(scs, get_adapter(s), Path(d)).execute()
            wall = time.monotonic() - t
        v = Counter(g.verdict for g in r.grades)
        print(f"{s:>28} {len(scs):>9} {wall:>7.1f} "
              f"{r.timings.get('universe', 0):>10.2f} "
              f"{r.timings.get('pass1', 0):>8.1f} "
              f"{r.timings.get('pass2', 0):>8.1f}  {dict(v)}", flush=True)


if __name__ == "__main__":
    main()
