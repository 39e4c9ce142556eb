#!/usr/bin/python3
"""crash.py -- duplicates left by kill -9: N messages, K kills of `refsend
run` at random instants, then a run to the end; how many messages the sink
received more than once, and how many copies arrived after the queue had
recorded the message as delivered (its "delivered" event written by an
earlier run): those are duplicates outside SMTP's own window (RFC 1047,
between the server's final 250 and the queue's write), and should be none.

The sink (tests/smtpsink.py) may wait before its reply to QUIT
(--quit-delay), as slow servers do: a sender that records a delivery only
after QUIT has that much more time to be killed in.

Usage: crash.py [--build BUILD] [--count 200] [--kills 20] [--seed 7672]
                [--quit-delay S] [--inflight 8] [--keep DIR]
Prints the figures, never asserts.
"""
import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import time

from localsink import IMPL, route_to_sink, scratch, sink


def sink_counts(work):
    got = collections.Counter()
    log = work / "sink.jsonl"
    if log.exists():
        for line in log.read_text().splitlines():
            got[json.loads(line)["message_id"]] += 1
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build",
                    default=os.environ.get("DANELAB_BUILD", "build"))
    ap.add_argument("--refsend", help="this binary instead of BUILD's")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7672)
    ap.add_argument("--quit-delay", type=float, default=0.0)
    ap.add_argument("--inflight", type=int, default=4)
    ap.add_argument("--eom-delay", type=float, default=0.05)
    ap.add_argument("--keep")
    a = ap.parse_args()
    refsend = a.refsend or str(IMPL / a.build / "refsend")
    with scratch(a.keep, "refsend-crash-") as work, \
            sink(work, "crash", "--eom-delay", str(a.eom_delay),
                 "--quit-delay", str(a.quit_delay)) as port:
        conf = work / "refsend.conf"
        events = work / "events.jsonl"
        conf.write_text(f"queue_dir = {work / 'queue'}\n"
                        f"events = {events}\n" + route_to_sink(work, port)
                        + "retry_schedule = 0\nmax_attempts = 1000\n"
                        f"max_parallel = {a.inflight}\n")
        for i in range(a.count):
            cp = subprocess.run([refsend, "-c", str(conf), "submit", "-f",
                                 "s@refsend.test", "u@sink.test"],
                                input=f"Message-ID: <c{i}@refsend.test>\n"
                                "Subject: crash\n\nx\n".encode(),
                                capture_output=True)
            if cp.returncode != 0:
                sys.exit("crash: submit failed: " + cp.stderr.decode())
        rng = random.Random(a.seed)
        kills = 0
        # per message: copies the sink had when the queue first said
        # "delivered" (read after the run that wrote it)
        at_record = {}
        while kills < a.kills:
            p = subprocess.Popen([refsend, "-c", str(conf), "run", "--all"],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.05, 0.25))
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
                kills += 1
            p.wait()
            time.sleep(0.1)         # the sink's last log lines
            now = sink_counts(work)
            if events.exists():
                for line in events.read_text().splitlines():
                    e = json.loads(line)
                    if e["event"] == "delivered" and \
                            e["queue_id"] not in at_record:
                        at_record[e["queue_id"]] = now
            if p.returncode == 0 and kills < a.kills:
                print(f"crash: the queue emptied after {kills} kills")
                break
        cp = subprocess.run([refsend, "-c", str(conf), "run", "--all"],
                            capture_output=True, timeout=300)
        time.sleep(0.5)             # the sink's last log lines
        got = sink_counts(work)
        qid_of = {}
        for line in events.read_text().splitlines():
            e = json.loads(line)
            if e["event"] == "queued":
                qid_of[e["message_id"]] = e["queue_id"]
        dups = {m: c - 1 for m, c in got.items() if c > 1}
        lost = [f"c{i}@refsend.test" for i in range(a.count)
                if got[f"c{i}@refsend.test"] == 0]
        outside = [m for m in dups if qid_of.get(m) in at_record and
                   got[m] > at_record[qid_of[m]][m]]
        print(f"refsend crash: {a.count} messages, {kills} kills, "
              f"quit delay {a.quit_delay} s, {a.inflight} in flight")
        print(f"received {sum(got.values())}, duplicates "
              f"{sum(dups.values())} (messages {len(dups)}), outside the "
              f"250-to-write window {len(outside)}, lost {len(lost)}")


if __name__ == "__main__":
    main()
