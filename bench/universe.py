"""Benchmark: time to build and serve a universe of N scenario domains
(keys, signing, NSD and Unbound ready), for N = 10, 100, 500.

Prints one row per N; the issue's target is 100 domains ready in under 2 s.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

from danelab.dns.dnsq import query_in  # noqa: E402
from danelab.dns.universe import Universe  # noqa: E402
from danelab.dns.zonespec import Record, ZoneSpec  # noqa: E402
from danelab.labplan import host_address  # noqa: E402
from danelab.netns import LabNamespace  # noqa: E402
from danelab.pki import LabPKI, tlsa_rdata  # noqa: E402
from danelab.pki import CertSpec  # noqa: E402


def domains(n: int) -> tuple[list[ZoneSpec], float]:
    t = time.monotonic()
    pki = LabPKI()
    out = []
    for i in range(1, n + 1):
        name = f"d{i:04d}.test."
        c = pki.issue(CertSpec(f"d{i}", [f"mx1.{name}".rstrip(".")]))
        out.append(ZoneSpec(name, [
            Record("@", "MX", "10 mx1"),
            Record("mx1", "A", host_address(i, 1)),
            Record("_25._tcp.mx1", "TLSA", tlsa_rdata(c.cert, 3, 1, 1))],
            denial="nsec3" if i % 2 else "nsec"))
    return out, time.monotonic() - t


def main() -> None:
    sizes = [int(x) for x in sys.argv[1:]] or [10, 100, 500]
    print(f"{'domains':>8} {'pki+spec s':>10} {'build s':>8} {'nsd s':>6} "
          f"{'unbound s':>9} {'ready s':>8} {'last domain':>12}")
    for n in sizes:
        specs, t_pki = domains(n)
        with tempfile.TemporaryDirectory() as d:
            t0 = time.monotonic()
            with LabNamespace(Path(d) / "ns") as ns:
                u = Universe(specs, Path(d), ns)
                u.start()
                ready = time.monotonic() - t0
                a = query_in(ns, f"_25._tcp.mx1.d{n:04d}.test.", "TLSA")
                ok = "secure" if a.status == "secure" and a.answer else "BAD"
        print(f"{n:>8} {t_pki:>10.2f} {u.timings['build']:>8.2f} "
              f"{u.timings['nsd']:>6.2f} {u.timings['unbound']:>9.2f} "
              f"{ready:>8.2f} {ok:>12}")


if __name__ == "__main__":
    main()
