"""refsend without the lab: submit / run / status through a static route
to a local SMTP sink, per docs/interfaces.md."""
import re
import subprocess

import pytest


def test_submit_run_delivers_once(sink_factory, refsend_factory):
    sink = sink_factory()
    rs = refsend_factory(sink.port)
    qid = rs.submit(["a@sink.test", "b@sink.test"], msgid="m1@t")
    st = rs.status()
    assert [s["queue_id"] for s in st] == [qid]
    assert st[0]["to"] == ["a@sink.test", "b@sink.test"]
    assert st[0]["message_id"] == "m1@t"
    cp = rs.cmd("run")
    assert cp.returncode == 0, cp.stderr
    got = sink.received()
    assert len(got) == 1 and got[0]["message_id"] == "m1@t"
    assert sorted(got[0]["to"]) == ["a@sink.test", "b@sink.test"]
    assert rs.status() == []
    queued = rs.events_of("queued")
    assert queued[0]["queue_id"] == qid and queued[0]["from"] == \
        "sender@refsend.test"
    done = rs.events_of("delivered")
    assert {e["rcpt"] for e in done} == {"a@sink.test", "b@sink.test"}
    assert all(e["tls"] is False and e["dane"] is False for e in done)
    assert all({"ts", "event"} <= set(e) for e in rs.events_of())
    # a second pass has nothing to do
    assert rs.cmd("run").returncode == 0
    assert len(sink.received()) == 1


def test_message_id_added_and_dot_stuffing(sink_factory, refsend_factory):
    sink = sink_factory()
    rs = refsend_factory(sink.port)
    qid = rs.submit(["a@sink.test"], data="Subject: x\n\n.\n..\nend\n")
    rs.cmd("run")
    got = sink.received()
    assert got[0]["message_id"].startswith(qid + "@")
    # ".", "..", "end" lines + CRLF, plus the added header
    spool_size = got[0]["size"]
    assert spool_size > 0


def test_permanent_rcpt_reject_bounces_with_dsn(sink_factory,
                                                refsend_factory):
    sink = sink_factory(rcpt_reply=550)
    rs = refsend_factory(sink.port)
    qid = rs.submit(["nobody@sink.test"])
    rs.cmd("run")
    b = rs.events_of("bounced")
    assert len(b) == 1 and b[0]["queue_id"] == qid
    assert b[0]["dsn"] == "5.1.1"
    text = open(b[0]["dsn_file"]).read()
    assert "report-type=delivery-status" in text
    assert "Status: 5.1.1" in text
    assert "Final-Recipient: rfc822; nobody@sink.test" in text
    assert rs.status() == []
    assert sink.received() == []


def test_temporary_failure_defers_then_bounces(refsend_factory,
                                               sink_factory):
    sink = sink_factory()
    port = sink.port
    sink.stop()                     # nothing listens: connection refused
    rs = refsend_factory(port, ["max_attempts = 2"])
    qid = rs.submit(["a@sink.test"])
    rs.cmd("run", "--all")
    d = rs.events_of("deferred")
    assert len(d) == 1 and d[0]["reason"] == "connect-failed"
    assert d[0]["dsn"] == "4.4.1"
    # the session that failed, in the state it failed in
    (s,) = rs.events_of("session")
    assert d[0]["session"] == s["session"] and s["state"] == "connect"
    st = rs.status()
    assert st[0]["attempts"] == 1
    assert st[0]["rcpts"][0]["state"] == "pending"
    rs.cmd("run", "--all")
    b = rs.events_of("bounced")
    assert len(b) == 1 and b[0]["dsn"] == "5.4.1" and b[0]["queue_id"] == qid
    assert "Status: 5.4.1" in open(b[0]["dsn_file"]).read()
    assert rs.status() == []


def test_two_sessions_to_one_mx_have_their_own_ids(sink_factory,
                                                   refsend_factory):
    """Two domains routed to one sink: two sessions to one address at once.
    Each has its own id, in its events and on every -v diagnostic line."""
    sink = sink_factory()
    rs = refsend_factory(sink.port,
                         [f"static_route = sink2.test 127.0.0.1:{sink.port}"])
    rs.submit(["a@sink.test", "b@sink2.test"])
    cp = rs.cmd("-v", "run")
    assert cp.returncode == 0, cp.stderr
    sessions = rs.events_of("session")
    ids = {s["session"] for s in sessions}
    assert len(sessions) == 2 and len(ids) == 2
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    by_domain = {s["domain"]: s["session"] for s in sessions}
    for d in rs.events_of("delivered"):
        assert d["session"] == by_domain[d["rcpt"].split("@")[1]]
    # stderr: the events' copies (JSON), and diagnostic lines that all
    # start with the id of their session
    lines = [x for x in cp.stderr.decode().splitlines()
             if not x.startswith("{")]
    assert lines
    seen: dict[str, list[str]] = {}
    for x in lines:
        m = re.fullmatch(r"refsend: ([0-9a-f]{16}) mta (\w+) .*", x)
        assert m, x
        seen.setdefault(m.group(1), []).append(m.group(2))
    assert set(seen) == ids
    for words in seen.values():
        assert words[0] == "start" and words[-1] == "done"
        assert words.count("state") >= 8


def test_null_sender_gets_no_dsn(sink_factory, refsend_factory):
    sink = sink_factory(rcpt_reply=550)
    rs = refsend_factory(sink.port)
    rs.submit(["nobody@sink.test"], sender="<>")
    rs.cmd("run")
    b = rs.events_of("bounced")
    assert len(b) == 1 and b[0]["dsn_file"] is None


def test_retry_schedule_respected(sink_factory, refsend_factory):
    sink = sink_factory()
    port = sink.port
    sink.stop()
    rs = refsend_factory(port, ["retry_schedule = 3600"])
    rs.submit(["a@sink.test"])
    rs.cmd("run")
    assert len(rs.events_of("deferred")) == 1
    rs.cmd("run")                   # not due yet: nothing happens
    assert len(rs.events_of("deferred")) == 1
    rs.cmd("run", "--all")          # --all ignores the schedule
    assert len(rs.events_of("deferred")) == 2


def test_usage_and_config_errors(refsend_bin, tmp_path):
    bad = tmp_path / "bad.conf"
    bad.write_text("queue_dir = /x\nevents = /y\ntrust_anchor = /z\n"
                   "nonsense_key = 1\n")
    cp = subprocess.run([str(refsend_bin), "-c", str(bad), "status"],
                        capture_output=True)
    assert cp.returncode == 1
    assert b"unknown key 'nonsense_key'" in cp.stderr
    cp = subprocess.run([str(refsend_bin), "status"], capture_output=True)
    assert cp.returncode == 1
    good = tmp_path / "good.conf"
    good.write_text(f"queue_dir = {tmp_path}/q\nevents = {tmp_path}/e\n"
                    "trust_anchor = /z\n")
    cp = subprocess.run([str(refsend_bin), "-c", str(good), "frobnicate"],
                        capture_output=True)
    assert cp.returncode == 1
    cp = subprocess.run([str(refsend_bin), "-c", str(good), "submit", "-f",
                         "a@b", "no-at-sign"], capture_output=True,
                        input=b"x\n")
    assert cp.returncode == 1


def test_daemon_delivers_and_stops_on_sigterm(sink_factory, refsend_factory,
                                              procs):
    import signal
    import time
    sink = sink_factory()
    rs = refsend_factory(sink.port, ["daemon_interval = 1"])
    proc = subprocess.Popen([str(rs.bin), "-c", str(rs.conf), "daemon"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    procs.append(proc)
    try:
        rs.submit(["a@sink.test"], msgid="d1@t")
        deadline = time.time() + 15
        while time.time() < deadline and not rs.events_of("delivered"):
            time.sleep(0.05)
        assert rs.events_of("delivered"), "daemon did not deliver"
        # a second runner is refused while the daemon holds the queue
        cp = rs.cmd("run")
        assert cp.returncode == 0 and b"lock" in cp.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [r["message_id"] for r in sink.received()] == ["d1@t"]


def test_opportunistic_starttls(sink_factory, refsend_factory, tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=sink.test", "-days", "2",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    sink = sink_factory(tls_cert=cert, tls_key=key)
    rs = refsend_factory(sink.port)
    rs.submit(["a@sink.test"], msgid="tls1@t")
    rs.cmd("run")
    got = sink.received()
    assert len(got) == 1 and got[0]["tls"] is True
    s = rs.events_of("session")[0]
    assert s["tls"] is True and s["authenticated"] is False
    assert s["mode"] == "may" and s["sni"] == "sink.test"
    assert s["tls_version"] in ("TLSv1.2", "TLSv1.3")
    d = rs.events_of("delivered")[0]
    assert d["tls"] is True and d["dane"] is False


def test_silent_resolver_defers_within_dns_timeout(refsend_factory,
                                                   sink_factory):
    """A resolver that never answers: refsend's own dns_timeout ends the
    query (the dns event says so), and the message is deferred."""
    import socket
    sink = sink_factory()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))      # receives queries, never answers
        port = udp.getsockname()[1]
        rs = refsend_factory(sink.port, [f"resolver = 127.0.0.1@{port}",
                                         "dns_timeout = 2"])
        rs.submit(["user@nodns.test"])
        cp = rs.cmd("run", timeout=30)
    assert cp.returncode == 0, cp.stderr
    # the MX question, and the MTA-STS TXT one asked beside it
    (q,) = [e for e in rs.events_of("dns") if e["qtype"] == "MX"]
    assert (q["qname"], q["status"]) == ("nodns.test", "error")
    assert q["why_bogus"] == "timeout after 2 s"
    (sts,) = rs.events_of("sts")
    assert sts["txt"] == "error" and sts["policy"] is None
    d = rs.events_of("deferred")
    assert len(d) == 1 and d[0]["reason"] == "dns-error"
    assert d[0]["dsn"] == "4.4.3"
    assert sink.received() == []


def test_crash_leftovers_are_cleaned(sink_factory, refsend_factory):
    import os
    import time
    sink = sink_factory()
    rs = refsend_factory(sink.port)
    qid = rs.submit(["a@sink.test"], msgid="keep@t")
    old = time.time() - 7200
    orphan = rs.queue / "msg" / "orphan-from-a-killed-submit"
    orphan.write_text("x")
    half = rs.queue / "tmp" / "half.123.tmp"
    half.write_text("x")
    fresh = rs.queue / "tmp" / "fresh.456.tmp"
    fresh.write_text("x")
    for p in (orphan, half):
        os.utime(p, (old, old))
    os.utime(rs.queue / "msg" / qid, (old, old))   # queued: must stay
    rs.cmd("run", "--all")
    assert not orphan.exists() and not half.exists()
    assert fresh.exists()
    assert [r["message_id"] for r in sink.received()] == ["keep@t"]


@pytest.mark.parametrize("opts,kind,dsn", [
    ({"eom_reply": "554 5.7.1 rejected content"}, "bounced", "5.7.1"),
    ({"mail_reply": "553 5.1.8 bad sender"}, "bounced", "5.1.8"),
    ({"mail_reply": "451 4.3.0 try later"}, "deferred", "4.3.0"),
    ({"eom_reply": "452 4.3.1 full"}, "deferred", "4.3.1"),
], ids=["eom-5xx", "mail-5xx", "mail-4xx", "eom-4xx"])
def test_smtp_reply_drives_the_outcome(sink_factory, refsend_factory, opts,
                                       kind, dsn):
    """A permanent 5xx bounces at once, a 4xx defers; the reply's enhanced
    status code is the outcome's."""
    sink = sink_factory(**opts)
    rs = refsend_factory(sink.port)
    rs.submit(["a@sink.test"])
    rs.cmd("run", "--all")
    ev = rs.events_of(kind)
    assert len(ev) == 1 and ev[0]["dsn"] == dsn, rs.events_of()
    assert sink.received() == []


def test_ehlo_refused_falls_back_to_helo(sink_factory, refsend_factory):
    sink = sink_factory(ehlo_reply="502 5.5.2 no EHLO here")
    rs = refsend_factory(sink.port)
    rs.submit(["a@sink.test"], msgid="helo@t")
    rs.cmd("run")
    assert [r["message_id"] for r in sink.received()] == ["helo@t"]


def test_submit_list_queues_each_line(sink_factory, refsend_factory,
                                      tmp_path):
    """submit -l: one message a line (FILE, SENDER, RCPT... by tabs), each
    queued as submit -f would; the ids come out in order; a bad line stops
    the list with its status, the lines before it staying queued."""
    sink = sink_factory()
    rs = refsend_factory(sink.port)
    one, two = tmp_path / "one.eml", tmp_path / "two two.eml"
    one.write_text("Message-ID: <l1@t>\nSubject: one\n\nfirst\n")
    two.write_text("Message-ID: <l2@t>\nSubject: two\n\nsecond\n")
    lst = tmp_path / "list"
    lst.write_text(f"{one}\ta@refsend.test\tx@sink.test\n\n"
                   f"{two}\t<>\ty@sink.test\tz@sink.test\n")
    cp = rs.cmd("submit", "-l", str(lst))
    assert cp.returncode == 0, cp.stderr
    ids = cp.stdout.decode().split()
    st = {s["queue_id"]: s for s in rs.status()}
    assert list(st) == sorted(ids) and len(ids) == 2
    assert (st[ids[0]]["from"], st[ids[0]]["to"], st[ids[0]]["message_id"]) \
        == ("a@refsend.test", ["x@sink.test"], "l1@t")
    assert (st[ids[1]]["from"], st[ids[1]]["to"], st[ids[1]]["message_id"]) \
        == ("", ["y@sink.test", "z@sink.test"], "l2@t")
    assert [e["queue_id"] for e in rs.events_of("queued")] == ids
    assert rs.cmd("run").returncode == 0
    assert sorted(m["message_id"] for m in sink.received()) == \
        ["l1@t", "l2@t"]
    # a line without recipients: exit 1 at that line, the first one queued
    lst.write_text(f"{one}\ta@refsend.test\tx@sink.test\n"
                   f"{two}\ta@refsend.test\n{one}\ta@x.test\tq@sink.test\n")
    cp = rs.cmd("submit", "-l", str(lst))
    assert cp.returncode == 1 and b"line 2" in cp.stderr
    assert len(cp.stdout.split()) == 1 and len(rs.status()) == 1
    # a file that cannot be read: 75, as a message submit cannot read
    lst.write_text(f"{tmp_path / 'absent.eml'}\ta@refsend.test\tx@sink.test\n")
    cp = rs.cmd("submit", "-l", str(lst))
    assert cp.returncode == 75 and b"absent.eml" in cp.stderr
    # -l takes no -f and no recipients
    assert rs.cmd("submit", "-l", str(lst), "-f", "a@b.test").returncode == 1
    assert rs.cmd("submit", "-l", str(lst), "x@sink.test").returncode == 1
