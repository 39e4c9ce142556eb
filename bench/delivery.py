"""Messages per second delivered to one DANE domain (TLSA 3 1 1, fake-mx
accepting), at 1, 10 and 100 messages in flight: the reference sender, and
Postfix (level dane) on the same universe when its adapter is available.
Printed as figures and as the reference/Postfix ratio; never asserted."""
from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

from danelab import fakemx  # noqa: E402
from danelab.adapters import LabContext, Submission, get_adapter  # noqa: E402
from danelab.catalog import load_catalog, select  # noqa: E402
from danelab.dns.universe import Universe  # noqa: E402
from danelab.errors import LabError  # noqa: E402
from danelab.labplan import make_plan  # noqa: E402
from danelab.netns import LabNamespace  # noqa: E402
from danelab.pki import LAB_ROOT, cert_file  # noqa: E402

MESSAGES = int((sys.argv[1:2] or ["300"])[0])
FLIGHT = (1, 10, 100)


def tune(adapter: object, conf_dir: Path, n: int) -> None:
    """Set the number of deliveries in flight for the adapters we know."""
    ref = conf_dir / "refsend.conf"
    if ref.exists():
        ref.write_text(re.sub(r"max_parallel = \d+", f"max_parallel = {n}",
                              ref.read_text()))
    setter = getattr(adapter, "set_concurrency", None)
    if setter:
        setter(n)


def bench(sender: str, ns: LabNamespace, u: Universe, run: Path,
          domain: str) -> dict[int, float]:
    out = {}
    for n in FLIGHT:
        a = get_adapter(sender)
        d = run / f"{sender}-{n}"
        ctx = LabContext(ns, d, "127.53.0.53", u.trust_anchor,
                         cert_file(run / "pki", LAB_ROOT))
        a.start(ctx)
        try:
            tune(a, d, n)
            body = ("Subject: bench\r\nMessage-ID: <{}@bench>\r\n\r\n"
                    + ("x" * 76 + "\r\n") * 26)
            subs = [Submission("bench", f"{sender}.{n}.{i}@bench",
                               "tester@sender.test", f"user@{domain}",
                               body.format(f"{sender}.{n}.{i}").encode())
                    for i in range(MESSAGES)]
            a.submit(subs)
            t = time.monotonic()
            a.run_queue()
            wall = time.monotonic() - t
            got = sum(1 for o in a.outcomes().values()
                      if o.state == "delivered")
        finally:
            a.stop()
        out[n] = got / wall if wall else 0.0
        print(f"{sender:>10} in-flight {n:>4}: {got}/{MESSAGES} delivered "
              f"in {wall:6.2f} s = {out[n]:8.1f} msg/s", flush=True)
    return out


def main() -> None:
    sc = select(load_catalog(), ["a01-secure-dane-ee"])
    plan = make_plan(sc)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(os.environ.get("BENCH_KEEP") or tmp)
        plan.pki.write(run / "pki")
        with LabNamespace(run / "ns") as ns:
            u = Universe(plan.zones, run, ns)
            u.start()
            fakemx.start(ns, plan, run)
            domain = sc[0].domain.rstrip(".")
            res = {"reference": bench("reference", ns, u, run, domain)}
            try:
                res["postfix"] = bench("postfix", ns, u, run, domain)
            except LabError as e:
                print(f"   postfix: not measured ({e})")
    if "postfix" in res:
        ratios = []
        for n in FLIGHT:
            p = res["postfix"][n]
            r = res["reference"][n]
            ratios.append(f"{r / p if p else float('inf'):.2f} at {n}")
            print(f"in-flight {n:>4}: reference/postfix = "
                  f"{r / p if p else float('inf'):.2f}")
        print("summary: reference / Postfix, messages/s delivered: "
              + ", ".join(ratios) + " in flight (goal: at least 2)")


if __name__ == "__main__":
    main()
