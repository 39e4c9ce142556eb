#!/usr/bin/python3
"""bench.py -- messages per second delivered by refsend at 1, 10 and 100
messages in flight (max_parallel).

Without --config, refsend sends through the test-only static_route knob to
a local SMTP sink (tests/smtpsink.py) on 127.0.0.1: this measures the
sender's own cost (queue, SMTP, event loop), not DNS or TLS.

With --config CONF and --rcpt ADDRESS (e.g. inside the lab, a DANE domain
whose MX is fake-mx), the given configuration is used as is, except that
queue_dir, events and max_parallel are overridden for each measurement.

Usage:
  bench.py [--build BUILD] [--count N] [--inflight 1,10,100]
           [--config CONF --rcpt user@domain] [--keep DIR]
Prints one line per level: inflight, messages, seconds, messages/second.
Figures are printed, never asserted.
"""
import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from localsink import IMPL, route_to_sink, scratch, sink


def submit_all(refsend, conf, rcpt, count):
    body = b"Subject: bench\n\n" + (b"x" * 76 + b"\n") * 13
    for i in range(count):
        cp = subprocess.run([refsend, "-c", str(conf), "submit", "-f",
                             "bench@refsend.test", rcpt], input=body,
                            capture_output=True)
        if cp.returncode != 0:
            sys.exit("bench: submit failed: " + cp.stderr.decode())


def measure(refsend, base_conf, rcpt, count, inflight, work):
    run = work / f"p{inflight}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    conf = run / "refsend.conf"
    conf.write_text(base_conf + f"\nqueue_dir = {run / 'queue'}\n"
                    f"events = {run / 'events.jsonl'}\n"
                    f"max_parallel = {inflight}\n")
    submit_all(refsend, conf, rcpt, count)
    t = time.monotonic()
    cp = subprocess.run([refsend, "-c", str(conf), "run", "--all"],
                        capture_output=True)
    dt = time.monotonic() - t
    if cp.returncode != 0:
        sys.exit("bench: run failed: " + cp.stderr.decode())
    delivered = sum(1 for line in open(run / "events.jsonl")
                    if json.loads(line)["event"] == "delivered")
    return delivered, dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build",
                    default=os.environ.get("DANELAB_BUILD", "build"))
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--inflight", default="1,10,100")
    ap.add_argument("--config")
    ap.add_argument("--rcpt")
    ap.add_argument("--keep")
    a = ap.parse_args()
    refsend = str(IMPL / a.build / "refsend")
    if not os.path.exists(refsend):
        sys.exit(f"bench: {refsend} not built")
    with scratch(a.keep, "refsend-bench-") as work, \
            contextlib.ExitStack() as stack:
        if a.config:
            if not a.rcpt:
                sys.exit("bench: --config needs --rcpt")
            base_conf, rcpt = Path(a.config).read_text(), a.rcpt
        else:
            port = stack.enter_context(sink(work, "bench"))
            base_conf = route_to_sink(work, port) + "retry_schedule = 60\n"
            rcpt = "bench@sink.test"
        print(f"refsend bench: {a.count} messages per level, "
              f"{'config ' + a.config if a.config else 'local sink'}")
        print(f"{'inflight':>8} {'delivered':>9} {'seconds':>8} "
              f"{'msg/s':>8}")
        for level in [int(x) for x in a.inflight.split(",")]:
            n, dt = measure(refsend, base_conf, rcpt, a.count, level, work)
            print(f"{level:>8} {n:>9} {dt:>8.2f} {n / dt:>8.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
