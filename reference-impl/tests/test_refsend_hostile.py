"""refsend against a hostile SMTP server (hostile.py): what a peer does
after its final 250 never undoes a delivery, every reply has a deadline
that a server cannot stretch by talking slowly or without end, a signal
ends a runner promptly, and text from the peer never breaks an event or
a DSN.

The time bounds asserted here are behaviour bounds with wide margins (a
2 s timeout must end a session in well under 10 s), not speed targets.
"""
import signal
import subprocess
import time

import pytest

from hostile import CLOSE, HANG, Drip, Endless, Raw

BOUND = 10          # seconds: command_timeout 2 plus a generous margin


def _run_timed(rs, *args, timeout=30):
    t0 = time.monotonic()
    cp = rs.cmd(*args, timeout=timeout)
    return cp, time.monotonic() - t0


@pytest.mark.parametrize("script", [
    # an extra empty line after the final 250
    {"eom": "250 2.0.0 accepted\r\n"},
    # garbage after the final 250, before QUIT is even read
    {"eom": "250 2.0.0 accepted\r\nthis is no reply"},
    # garbage, an over-long line, no line end at all, a hang-up, silence
    {"quit": "bye bye"},
    {"quit": "221 " + "x" * 6000},
    {"quit": Raw(b"221 " + b"y" * 6000)},
    {"quit": CLOSE},
    {"quit": b"\xff\xfe\r"},
], ids=["empty-line", "garbage-after-250", "garbage-quit", "long-quit",
        "endless-quit-line", "close-at-quit", "binary-quit"])
def test_nothing_after_the_final_250_undoes_delivery(
        hostile, refsend_factory, script):
    srv = hostile(**script)
    rs = refsend_factory(srv.port, ["command_timeout = 2"])
    rs.submit(["user@sink.test"], msgid="once@refsend.test")
    cp = rs.cmd("run")
    assert cp.returncode == 0, cp.stderr
    assert [m["message_id"] for m in srv.messages] == ["once@refsend.test"]
    (d,) = rs.events_of("delivered")
    assert d["rcpt"] == "user@sink.test"
    assert rs.events_of("deferred") == [] and rs.events_of("bounced") == []
    (s,) = rs.events_of("session")
    assert s["outcome"] == "ok" and "state" not in s
    assert rs.status() == []
    # nothing left to send again
    assert rs.cmd("run", "--all").returncode == 0
    assert len(srv.messages) == 1


@pytest.mark.parametrize("script,state", [
    # a banner dripped one byte a second: 60 s to arrive in full
    ({"banner": Drip("220-" + "s" * 50 + "\r\n220 slow\r\n")}, "banner"),
    # a reply to EHLO that goes on for ever, a line every 50 ms
    ({"ehlo": Endless("250-still talking")}, "ehlo"),
    # the final reply, dripped
    ({"eom": Drip("250 2.0.0 " + "a" * 60)}, "body"),
], ids=["drip-banner", "endless-ehlo", "drip-eom"])
def test_reply_deadline_is_not_restarted_by_each_byte(
        hostile, refsend_factory, script, state):
    srv = hostile(**script)
    rs = refsend_factory(srv.port, ["command_timeout = 2"])
    rs.submit(["user@sink.test"])
    cp, took = _run_timed(rs, "run")
    assert cp.returncode == 0, cp.stderr
    assert took < BOUND, f"refsend run took {took:.1f} s"
    (d,) = rs.events_of("deferred")
    assert "timeout" in d["detail"], d
    (s,) = rs.events_of("session")
    assert s["state"] == state and s["outcome"] == "host-failed"
    st = rs.status()
    assert st[0]["rcpts"][0]["state"] == "pending"


def test_session_deadline(hostile, refsend_factory):
    """Each reply in time, the whole session not: session_timeout ends it.
    Every reply is dripped over about 1.5 s, under the 5 s command
    timeout; the session, over 5 commands, cannot finish in 3 s."""
    drip = {k: Drip(v, every=0.1) for k, v in (
        ("banner", "220 slow but steady"), ("ehlo", "250 slow.test"),
        ("mail", "250 2.1.0 ok, slowly"), ("rcpt", "250 2.1.5 ok, slowly"),
        ("data", "354 go ahead, slowly"))}
    srv = hostile(**drip)
    rs = refsend_factory(srv.port, ["command_timeout = 5",
                                    "session_timeout = 3"])
    rs.submit(["user@sink.test"])
    cp, took = _run_timed(rs, "run")
    assert cp.returncode == 0, cp.stderr
    assert took < BOUND, f"refsend run took {took:.1f} s"
    assert srv.messages == []
    (d,) = rs.events_of("deferred")
    assert "session" in d["detail"] and "timeout" in d["detail"], d


@pytest.mark.parametrize("command", ["daemon", "run"])
@pytest.mark.parametrize("script", [
    {"ehlo": Endless("250-still talking")},
    {"eom": HANG},
], ids=["endless-ehlo", "silent-eom"])
def test_sigterm_ends_the_runner_promptly(hostile, refsend_factory, procs,
                                          command, script):
    srv = hostile(**script)
    # a long command timeout: only the signal can end this soon
    rs = refsend_factory(srv.port, ["command_timeout = 300"])
    rs.submit(["user@sink.test"], msgid="kept@refsend.test")
    p = subprocess.Popen([str(rs.bin), "-c", str(rs.conf), command],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    procs.append(p)
    assert srv.seen("EHLO").wait(20)
    if "eom" in script:
        assert srv.seen("DATA").wait(20)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(5)
    except subprocess.TimeoutExpired:
        pytest.fail(f"refsend {command} still running 5 s after SIGTERM")
    took = time.monotonic() - t0
    assert rc == 0, p.stderr.read() if p.stderr else ""
    assert took < 5
    # the message is still queued, its attempt not counted
    (st,) = rs.status()
    assert st["message_id"] == "kept@refsend.test"
    assert st["rcpts"][0]["state"] == "pending" and st["attempts"] == 0


def test_peer_bytes_keep_every_event_field(hostile, refsend_factory):
    """Invalid UTF-8 and controls in a refusal: the deferred and session
    events keep all their fields."""
    srv = hostile(mail=b"451 4.3.0 \xc3\x28 busy \xff\x01now")
    rs = refsend_factory(srv.port)
    qid = rs.submit(["user@sink.test"])
    assert rs.cmd("run").returncode == 0
    (d,) = rs.events_of("deferred")
    assert d["queue_id"] == qid and d["dsn"] == "4.3.0"
    assert d["reason"] == "smtp" and "busy" in d["detail"]
    (s,) = rs.events_of("session")
    assert s["queue_id"] == qid and s["state"] == "mail"
    assert "busy" in s["detail"] and "now" in s["detail"]


def test_peer_bytes_never_reach_a_dsn_raw(hostile, refsend_factory):
    """A 5xx with a bare CR, a control character and 8-bit bytes: the
    bounce event keeps its fields and the DSN holds none of those."""
    srv = hostile(
        rcpt=b"550 5.1.1 no such user\rX-Injected: yes\x07 \xe9t\xe9")
    rs = refsend_factory(srv.port)
    qid = rs.submit(["nobody@sink.test"])
    assert rs.cmd("run").returncode == 0
    (b,) = rs.events_of("bounced")
    assert b["queue_id"] == qid and b["dsn"] == "5.1.1"
    assert "no such user" in b["detail"]
    raw = open(b["dsn_file"], "rb").read()
    assert b"no such user" in raw
    for i, c in enumerate(raw):
        if c == 0x0d:
            assert raw[i + 1:i + 2] == b"\n", "bare CR in the DSN"
        elif c == 0x0a:
            assert raw[i - 1:i] == b"\r", "bare LF in the DSN"
        else:
            assert c == 0x09 or 0x20 <= c < 0x7f, \
                f"byte {c:#x} in the DSN"
    assert b"\r\nX-Injected" not in raw
