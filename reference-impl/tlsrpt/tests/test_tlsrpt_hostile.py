"""refsend-tlsrpt delivering a report to a hostile report MX (refsend's
tests/hostile.py): a server that drips its replies or never ends one
cannot hold a flush beyond its timeout, and its bytes never cost the
delivery event its fields.  The time bounds are behaviour bounds with
wide margins, not speed targets.
"""
import time

import pytest

from test_tlsrpt import dane_events

from hostile import Drip, Endless

BOUND = 10          # seconds: timeout 2 plus a generous margin


def _configure(reporter, port, timeout=2, **kv):
    reporter.configure(
        static_txt="_smtp._tls.a.test v=TLSRPTv1; "
                   "rua=mailto:tls-reports@reports.test",
        static_route="reports.test 127.0.0.1", smtp_port=port,
        timeout=timeout, **kv)
    reporter.add_events(dane_events("a.test"))


@pytest.mark.parametrize("script,state", [
    ({"banner": Drip("220-" + "s" * 50 + "\r\n220 slow\r\n")}, "banner"),
    ({"ehlo": Endless("250-still talking")}, "ehlo"),
    ({"eom": Drip("250 2.0.0 " + "a" * 60)}, "body"),
], ids=["drip-banner", "endless-ehlo", "drip-eom"])
def test_flush_gives_up_on_a_slow_report_mx(reporter, hostile, script,
                                            state):
    srv = hostile(**script)
    _configure(reporter, srv.port)
    t0 = time.monotonic()
    reporter.run("flush")
    took = time.monotonic() - t0
    assert took < BOUND, f"flush took {took:.1f} s"
    (d,) = reporter.log("delivery")
    assert d["status"] == "pending"
    assert f"state={state}" in d["detail"] and "timeout" in d["detail"]


def test_session_deadline(reporter, hostile):
    """Each reply within the timeout, the whole session not: every reply
    is dripped over about 2 s, under the 5 s timeout; the session, over 5
    commands, cannot end within 3 s."""
    drip = {k: Drip(v, every=0.1) for k, v in (
        ("banner", "220 slow but steady"), ("ehlo", "250 slow.test"),
        ("mail", "250 2.1.0 ok, slowly"), ("rcpt", "250 2.1.5 ok, slowly"),
        ("data", "354 go ahead, slowly"))}
    srv = hostile(**drip)
    _configure(reporter, srv.port, timeout=5, session_timeout=3)

    t0 = time.monotonic()
    reporter.run("flush")
    assert time.monotonic() - t0 < BOUND
    assert srv.messages == []
    (d,) = reporter.log("delivery")
    assert d["status"] == "pending" and "session" in d["detail"]


def test_peer_bytes_keep_every_delivery_field(reporter, hostile):
    srv = hostile(rcpt=b"550 5.1.1 \xff\xfe no\r such \x01mailbox")
    _configure(reporter, srv.port)
    reporter.run("flush")
    (d,) = reporter.log("delivery")
    assert d["status"] == "failed" and d["code"] == 550
    assert d["transport"] == "mailto" and "mailbox" in d["detail"]
    assert "\r" not in d["detail"] and "\x01" not in d["detail"]


def test_8bit_txt_record_keeps_every_record_field(reporter, smtp_sink):
    """The _smtp._tls record comes from the recipient domain's DNS: a
    record that does not parse because of an 8-bit byte is reported in a
    record event that keeps all its fields."""
    reporter.configure(static_route="reports.test 127.0.0.1",
                       smtp_port=smtp_sink.port)
    with open(reporter.conf, "ab") as f:
        f.write(b"static_txt = _smtp._tls.a.test v=TLSRPTv1; "
                b"rua=mailto:r\xc3@reports.test\n")
    reporter.add_events(dane_events("a.test"))
    reporter.run("flush")
    (rec,) = reporter.log("record")
    assert rec["policy_domain"] == "a.test"
    assert rec["decision"] == "malformed"
    assert "\\xc3" in rec["detail"]
    assert smtp_sink.messages == []
