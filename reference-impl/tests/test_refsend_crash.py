"""kill -9 in the middle of a delivery run: nothing is lost, nothing is
delivered twice.

The sink holds its final replies behind a gate while the runner is killed,
so the kill lands while sessions are in flight (connected, message sent,
waiting for the end-of-data reply) and never inside SMTP's own unavoidable
window between the server's final 250 and the client's record of it
(RFC 1047; docs/refsend.md): the test waits until the sink says no final
reply is on its way (smtpsink.py --gate) and refsend's events show every
accepted message delivered (refsend records a delivery before it logs
it).  A second test kills at random points of progress, window included,
and checks the weaker at-least-once property.
"""
import collections
import os
import random
import signal
import subprocess
import time


N = 40


def _start_run(rs, procs):
    p = subprocess.Popen([str(rs.bin), "-c", str(rs.conf), "run", "--all"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    return p


def _kill9(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _queued_pending(rs):
    pending = set()
    for s in rs.status():
        if any(r["state"] == "pending" for r in s["rcpts"]):
            pending.add(s["message_id"])
    return pending


def _close_gate(sink, token):
    """Hold the sink's final replies; True once none is on its way."""
    held = sink.gate.with_name(sink.gate.name + ".held")
    sink.gate.write_text(token)

    def acknowledged():
        try:
            return held.read_text() == token
        except FileNotFoundError:
            return False
    return _wait_for(acknowledged)


def _recorded(rs, sink):
    """Every message the sink accepted has refsend's delivered event."""
    mid = {e["queue_id"]: e["message_id"] for e in rs.events_of("queued")}
    done = {mid.get(e["queue_id"]) for e in rs.events_of("delivered")}
    return {r["message_id"] for r in sink.received()} <= done


def _wait_for(pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_kill9_mid_run_exactly_once(sink_factory, refsend_factory, procs):
    sink = sink_factory(eom_delay=0.02)
    rs = refsend_factory(sink.port, ["max_parallel = 4"])
    ids = [f"crash-{i}@refsend.test" for i in range(N)]
    for m in ids:
        rs.submit(["user@sink.test"], msgid=m)
    for rnd in range(3):
        proc = _start_run(rs, procs)
        target = (rnd + 1) * N // 5
        assert _wait_for(lambda: len(sink.received()) >= target or
                         proc.poll() is not None)
        assert _close_gate(sink, f"round-{rnd}")   # no more final replies
        assert _wait_for(lambda: _recorded(rs, sink) or
                         proc.poll() is not None)
        _kill9(proc)
        sink.gate.unlink()
        # every message: delivered exactly once, or still queued, never
        # both, never lost
        counts = collections.Counter(r["message_id"]
                                     for r in sink.received())
        pending = _queued_pending(rs)
        for m in ids:
            assert counts[m] <= 1, f"{m} delivered twice"
            assert (counts[m] == 1) != (m in pending), \
                f"round {rnd}: {m} received {counts[m]}, queued " \
                f"{m in pending}"
    proc = _start_run(rs, procs)
    assert proc.wait(60) == 0
    counts = collections.Counter(r["message_id"] for r in sink.received())
    assert all(counts[m] == 1 for m in ids), counts
    assert rs.status() == []


def test_kill9_at_random_instants_loses_nothing(sink_factory,
                                                refsend_factory, procs):
    sink = sink_factory(eom_delay=0.01)
    rs = refsend_factory(sink.port, ["max_parallel = 8"])
    ids = [f"rand-{i}@refsend.test" for i in range(N)]
    for m in ids:
        rs.submit(["user@sink.test"], msgid=m)
    rng = random.Random(7672)
    kills = 0
    for _ in range(4):
        proc = _start_run(rs, procs)
        # Killed as soon as the sink has accepted a few more messages:
        # often before refsend has recorded the last of them.
        target = len(sink.received()) + rng.randint(1, 8)
        assert _wait_for(lambda: len(sink.received()) >= target or
                         proc.poll() is not None)
        if proc.poll() is None:
            kills += 1
        _kill9(proc)
    proc = _start_run(rs, procs)
    assert proc.wait(60) == 0
    counts = collections.Counter(r["message_id"] for r in sink.received())
    assert all(counts[m] >= 1 for m in ids), "a message was lost"
    # Duplicates can only come from SMTP's own window, at most one
    # session per message in flight at each kill.
    dups = sum(c - 1 for c in counts.values())
    assert dups <= kills * 8
    assert rs.status() == []


def test_kill9_while_waiting_for_quit_reply_sends_nothing_twice(
        hostile, refsend_factory, procs):
    """The delivery is on disk from the final 250 on: a runner killed
    while the server sits on its QUIT reply has nothing to send again."""
    srv = hostile(quit="hang")
    rs = refsend_factory(srv.port, ["command_timeout = 2"])
    rs.submit(["user@sink.test"], msgid="quit@refsend.test")
    proc = _start_run(rs, procs)
    assert srv.seen("QUIT").wait(20)
    _kill9(proc)
    assert _queued_pending(rs) == set()
    proc = _start_run(rs, procs)
    assert proc.wait(60) == 0
    assert [m["message_id"] for m in srv.messages] == ["quit@refsend.test"]
    assert rs.status() == []
