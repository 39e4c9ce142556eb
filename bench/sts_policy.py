"""MTA-STS policy fetches per second from the lab's policy server.

One policy server (harness/danelab/sts_server.py) with 20 policy hosts on
127.44.S.1 and a free port, in this process's network namespace (loopback
only); C client threads each make complete fetches (TCP, TLS 1.3 handshake
with SNI and certificate check, GET, body) for T seconds.  Printed, never
asserted.  Usage: bench/sts_policy.py [SECONDS] [CLIENTS...]
"""
from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

from danelab.labplan import LabPlan, make_plan  # noqa: E402
from danelab.sts_fetch import fetch  # noqa: E402
from danelab.sts_loopback import policy_server, scenarios, \
    webpki_ca  # noqa: E402

SCEN = """title = "bench"
section = "I"
case = 39
rfc = "RFC 8461"
explain = "bench"
requires = ["mta-sts"]
[[host]]
name = "mx1"
mx = 10
[sts]
mode = "enforce"
[expect]
outcome = ["delivered-tls"]
policy = "sts-enforce"
[expect.ground]
outcome = "8461-enforce"
"""


def main() -> None:
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    clients = [int(x) for x in sys.argv[2:]] or [1, 4, 16]
    with tempfile.TemporaryDirectory(prefix="sts-bench-") as tmp:
        d = Path(tmp)
        plan = make_plan(scenarios(d, {f"i39-bench{i}": SCEN
                                       for i in range(20)}))
        with policy_server(plan, d) as srv:
            measure(plan, webpki_ca(d), srv.port, secs, clients)


def measure(plan: LabPlan, ca: str, port: int, secs: float,
            clients: list[int]) -> None:
    """Fetches per second from the server on PORT, for each number of
    client threads in CLIENTS, SECS seconds each."""
    sites = list(plan.sts.values())
    for n in clients:
        done, failed = [0] * n, [0] * n
        end = time.monotonic() + secs

        def worker(k: int) -> None:
            i = k
            while time.monotonic() < end:
                sp = sites[i % len(sites)]
                i += 1
                if fetch(sp.address, sp.fqdn, ca, port).ok:
                    done[k] += 1
                else:
                    failed[k] += 1
        ths = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
        t0 = time.monotonic()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        el = time.monotonic() - t0
        print(f"    {n:3d} client(s): {sum(done) / el:7.1f} policy fetches/s"
              f" ({sum(done)} ok, {sum(failed)} failed in {el:.1f} s)",
              flush=True)


if __name__ == "__main__":
    main()
