"""What refsend is handed by whoever submits a message is not trusted
either: a Message-ID with bytes that are not text is queued made safe
(before, `status` died with "out of memory" and the queued event lost its
fields), and an address refsend could not send without SMTPUTF8 is
refused at submission."""


def test_8bit_message_id_is_queued_safe(hostile, refsend_factory):
    srv = hostile()
    rs = refsend_factory(srv.port)
    cp = rs.cmd("submit", "-f", "s@refsend.test", "a@sink.test",
                input=b"Message-ID: <a\xffb\x01@x.test>\nSubject: x\n\nhi\n")
    assert cp.returncode == 0, cp.stderr
    qid = cp.stdout.decode().strip()
    (q,) = rs.events_of("queued")
    assert q["queue_id"] == qid
    assert q["message_id"] == "a\\xffb\\x01@x.test"
    (st,) = rs.status()
    assert st["message_id"] == "a\\xffb\\x01@x.test"
    assert rs.cmd("run").returncode == 0
    (m,) = srv.messages
    # the message itself goes as it was submitted
    assert m["data"].startswith(b"Message-ID: <a\xffb\x01@x.test>\r\n")
    assert rs.status() == []


def test_non_ascii_address_is_refused(sink_factory, refsend_factory):
    sink = sink_factory()
    rs = refsend_factory(sink.port)
    for argv in (["s@refsend.test", "j\xfcrg@sink.test"],
                 ["s\xe9@refsend.test", "a@sink.test"]):
        cp = rs.cmd("submit", "-f", *argv, input=b"Subject: x\n\nhi\n")
        assert cp.returncode == 1, cp.stderr
        assert b"bad address" in cp.stderr
    assert rs.status() == []
