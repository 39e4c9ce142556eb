"""refsend-tlsrpt's own files, damaged: an unusable state.json is no state
(the events are read from their start), never a flush that fails for
ever; a pending entry out of range is left alone with a warning."""
import json

from test_tlsrpt import dane_events


def _configure(reporter, smtp_sink):
    reporter.configure(
        static_txt="_smtp._tls.a.test v=TLSRPTv1; "
                   "rua=mailto:tls-reports@reports.test",
        static_route="reports.test 127.0.0.1", smtp_port=smtp_sink.port)
    reporter.add_events(dane_events("a.test"))


def test_negative_offset_in_state_is_no_state(reporter, smtp_sink):
    _configure(reporter, smtp_sink)
    reporter.state.mkdir()
    (reporter.state / "state.json").write_text(json.dumps(
        {"offset": -5, "inode": reporter.events.stat().st_ino,
         "last_flush": 0}))
    r = reporter.run("flush")
    assert len(smtp_sink.messages) == 1
    st = json.loads((reporter.state / "state.json").read_text())
    assert st["offset"] == reporter.events.stat().st_size
    assert "unusable" in r.stderr


def test_pending_entry_out_of_range_is_left_alone(reporter, smtp_sink):
    """attempts at INT_MAX: counting one more try would overflow."""
    _configure(reporter, smtp_sink)
    pending = reporter.state / "pending"
    pending.mkdir(parents=True)
    (pending / "x-0.json").write_text(json.dumps(
        {"report_id": "x", "policy_domain": "a.test",
         "rua": "mailto:tls-reports@reports.test", "first_try": 0,
         "next_try": 0, "attempts": 2147483647}))
    (pending / "x-0.body").write_text("Subject: x\r\n\r\nx\r\n")
    r = reporter.run("retry", "--all")
    assert smtp_sink.messages == []
    assert (pending / "x-0.json").exists()
    assert "x-0: unreadable" in r.stderr
