"""The whole catalog's wall time for each sender, side by side (default:
reference, postfix, exim; name others as arguments, e.g. exim-require-dane
or command:docs/examples/refsend-command.sh).  One universe per sender, one
group, as `danelab run` does by default.  Figures only: never asserted."""
from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

from danelab.adapters import get_adapter  # noqa: E402
from danelab.catalog import load_catalog  # noqa: E402
from danelab.errors import LabError  # noqa: E402
from danelab.runner import LabRun  # noqa: E402

COLS = ("wall s", "universe s", "pass 1 s", "pass 2 s", "pass", "fail",
        "warn", "info")


def measure(sender: str, scs: list) -> dict[str, str]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{sender}-") as d:
        t = time.monotonic()
        r = LabRun(scs, get_adapter(sender), Path(d)).execute()
        wall = time.monotonic() - t
    v = Counter(g.verdict for g in r.grades)
    return {"wall s": f"{wall:.1f}",
            "universe s": f"{r.timings.get('universe', 0):.2f}",
            "pass 1 s": f"{r.timings.get('pass1', 0):.1f}",
            "pass 2 s": f"{r.timings.get('pass2', 0):.1f}",
            **{k: str(v.get(k, 0))
               for k in ("pass", "fail", "warn", "info")}}


def main() -> None:
    senders = sys.argv[1:] or ["reference", "postfix", "exim"]
    scs = load_catalog()
    print(f"catalog: {len(scs)} scenarios; one run per sender", flush=True)
    rows: dict[str, dict[str, str]] = {}
    for s in senders:
        try:
            rows[s] = measure(s, scs)
        except LabError as e:
            print(f"{s}: not measured ({e})", flush=True)
            continue
        print(f"  {s}: {rows[s]['wall s']} s", flush=True)
    w = max([len(s) for s in rows] + [12])
    print(f"\n{'':{w}} " + " ".join(f"{s:>{max(len(s), 9)}}" for s in rows))
    for c in COLS:
        print(f"{c:>{w}} " + " ".join(f"{rows[s][c]:>{max(len(s), 9)}}"
                                      for s in rows))


if __name__ == "__main__":
    main()
