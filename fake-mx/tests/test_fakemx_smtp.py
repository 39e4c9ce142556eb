"""fake-mx plain SMTP behaviour: profiles, events, spool, robustness."""
from __future__ import annotations

import select
import smtplib
import subprocess
import threading
import time

import pytest

from fmx_util import Raw, by_kind, one_session, replies, wait_until

PLAIN = {"name": "plain", "starttls": "withhold", "hostname": "mx1.a01.test"}

MESSAGE = (b"From: a@sender.test\r\nTo: b@a01.test\r\n"
           b"Subject: hello\r\nMessage-ID: <m1@sender.test>\r\n\r\n"
           b"body line\r\n..leading dot\r\nlast\r\n")


def in_data(fm, timeout: float = 5.0) -> Raw:
    """A session with listener "plain" that has reached DATA (354)."""
    c = Raw(fm.addr("plain"), timeout=timeout)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO c.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<b@a01.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    return c


def test_swaks_plain_session(fakemx):
    fm = fakemx([dict(PLAIN)])
    host, port = fm.addr("plain")
    out = subprocess.run(
        ["swaks", "--server", f"{host}:{port}", "--from", "a@sender.test",
         "--to", "b@a01.test", "--helo", "client.test",
         "--header", "Message-Id: <swaks-1@sender.test>"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    evs = one_session(fm.wait_closed("plain"), "plain")
    kinds = [e["event"] for e in evs if e["event"] not in ("state", "reply")]
    assert kinds == ["connect", "ehlo", "mail", "rcpt", "message", "close"]
    connect = evs[0]
    assert connect["local"] == f"{host}:{port}"
    assert connect["peer"].startswith("127.")
    assert connect["session"] == "plain#1"
    ehlo = by_kind(evs, "ehlo")[0]
    assert ehlo == {**ehlo, "name": "client.test", "esmtp": True,
                    "starttls_offered": False}
    msg = by_kind(evs, "message")[0]
    assert msg["message_id"] == "swaks-1@sender.test"
    assert msg["from"] == "a@sender.test" and msg["to"] == ["b@a01.test"]
    assert msg["tls"] is False
    assert msg["spool"].endswith("/plain#1-1.eml")
    with open(msg["spool"], "rb") as f:
        assert len(f.read()) == msg["size"]
    assert evs[-1]["reason"] == "quit" and evs[-1]["state"] == "quit"
    assert replies(evs, "banner") == [220]
    assert replies(evs, "eom") == [250]
    for e in evs:
        assert isinstance(e["ts"], float)
    states = [(e["from"], e["to"]) for e in by_kind(evs, "state")]
    assert states[:4] == [("init", "greet"), ("greet", "helo"),
                          ("helo", "mail"), ("mail", "rcpt")]
    assert ("rcpt", "data") in states and ("data", "helo") in states


def test_spool_exact_and_dot_unstuffed(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = Raw(fm.addr("plain"))
    assert c.reply()[0] == 220
    assert c.cmd("EHLO c.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@sender.test>")[0] == 250
    assert c.cmd("RCPT TO:<b@a01.test>")[0] == 250
    assert c.cmd("RCPT TO:<c@a01.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(MESSAGE + b".\r\n")
    assert c.reply()[0] == 250
    assert c.cmd("QUIT")[0] == 221
    evs = one_session(fm.wait_closed("plain"), "plain")
    msg = by_kind(evs, "message")[0]
    assert msg["message_id"] == "m1@sender.test"
    assert msg["to"] == ["b@a01.test", "c@a01.test"]
    want = MESSAGE.replace(b"..leading", b".leading")
    with open(msg["spool"], "rb") as f:
        assert f.read() == want
    assert msg["size"] == len(want)


def test_smtplib_two_messages_one_session(fakemx):
    fm = fakemx([dict(PLAIN)])
    s = smtplib.SMTP(*fm.addr("plain"), local_hostname="c.test", timeout=5)
    s.sendmail("a@x.test", ["b@a01.test"], b"Subject: 1\r\n\r\none\r\n")
    s.sendmail("a@x.test", ["c@a01.test"], b"Subject: 2\r\n\r\ntwo\r\n")
    s.quit()
    evs = one_session(fm.wait_closed("plain"), "plain")
    msgs = by_kind(evs, "message")
    assert [m["spool"].rsplit("/", 1)[1] for m in msgs] == [
        "plain#1-1.eml", "plain#1-2.eml"]
    assert msgs[0]["message_id"] is None
    assert sorted(p.name for p in fm.spool.iterdir()) == [
        "plain#1-1.eml", "plain#1-2.eml"]


@pytest.mark.parametrize("stage,line,cmds", [
    ("mail", "451 4.7.1 try later", ["MAIL FROM:<a@x.test>"]),
    ("mail", "550 5.7.1 go away", ["MAIL FROM:<a@x.test>"]),
    ("rcpt", "550 5.1.1 no such user",
     ["MAIL FROM:<a@x.test>", "RCPT TO:<b@a01.test>"]),
    ("rcpt", "450 4.2.0 busy",
     ["MAIL FROM:<a@x.test>", "RCPT TO:<b@a01.test>"]),
    ("data", "554 5.5.1 no data for you",
     ["MAIL FROM:<a@x.test>", "RCPT TO:<b@a01.test>", "DATA"]),
    ("data", "451 4.3.0 later",
     ["MAIL FROM:<a@x.test>", "RCPT TO:<b@a01.test>", "DATA"]),
])
def test_configured_rejections(fakemx, stage, line, cmds):
    fm = fakemx([dict(PLAIN, replies={stage: line})])
    c = Raw(fm.addr("plain"))
    c.reply()
    c.cmd("EHLO c.test")
    for cmd in cmds:
        code, text = c.cmd(cmd)
    assert code == int(line[:3])
    assert text[0] == line[4:]
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert replies(evs, stage) == [int(line[:3])]
    assert not by_kind(evs, "message")
    assert not list(fm.spool.iterdir())


@pytest.mark.parametrize("line", ["452 4.3.1 full", "554 5.7.1 spam"])
def test_eom_rejection_keeps_no_spool(fakemx, line):
    fm = fakemx([dict(PLAIN, replies={"eom": line})])
    s = smtplib.SMTP(*fm.addr("plain"), timeout=5)
    with pytest.raises(smtplib.SMTPDataError) as ex:
        s.sendmail("a@x.test", ["b@a01.test"], b"Subject: x\r\n\r\nx\r\n")
    assert ex.value.smtp_code == int(line[:3])
    s.quit()
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert replies(evs, "eom") == [int(line[:3])]
    assert not by_kind(evs, "message")
    assert not list(fm.spool.iterdir())


def test_custom_banner_and_ehlo(fakemx):
    fm = fakemx([dict(PLAIN, banner="220 custom.banner.test hi",
                      replies={"ehlo": "250 custom.ehlo.test"})])
    c = Raw(fm.addr("plain"))
    assert c.reply() == (220, ["custom.banner.test hi"])
    code, lines = c.cmd("EHLO c.test")
    assert code == 250 and lines[0] == "custom.ehlo.test"
    assert "PIPELINING" in lines and "STARTTLS" not in lines
    assert c.cmd("HELO c.test") == (250, ["custom.ehlo.test"])
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert [e["esmtp"] for e in by_kind(evs, "ehlo")] == [True, False]


def test_banner_554_refuses_everything_but_quit(fakemx):
    fm = fakemx([dict(PLAIN, banner="554 5.3.2 no service")])
    c = Raw(fm.addr("plain"))
    assert c.reply()[0] == 554
    assert c.cmd("EHLO c.test")[0] == 503
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 503
    assert c.cmd("QUIT")[0] == 221
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert by_kind(evs, "state")[0]["to"] == "refused"


def test_banner_421_closes(fakemx):
    fm = fakemx([dict(PLAIN, banner="421 4.3.2 busy")])
    c = Raw(fm.addr("plain"))
    assert c.reply()[0] == 421
    assert c.closed_by_peer()
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert evs[-1]["reason"] == "protocol"


def test_sequence_errors(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = Raw(fm.addr("plain"))
    c.reply()
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 503      # before EHLO
    assert c.cmd("EHLO c.test")[0] == 250
    assert c.cmd("RCPT TO:<b@a01.test>")[0] == 503      # before MAIL
    assert c.cmd("DATA")[0] == 503
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 503      # nested
    assert c.cmd("DATA")[0] == 503                      # no recipient
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("RCPT TO:<b@a01.test>")[0] == 503      # RSET cleared it
    assert c.cmd("STARTTLS")[0] == 502                  # withheld
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("VRFY root")[0] == 252
    assert c.cmd("BDAT 10 LAST")[0] == 500
    assert c.cmd("MAIL FROM:a@x.test")[0] == 501
    assert c.cmd("QUIT")[0] == 221
    fm.wait_closed("plain")


def test_too_many_recipients(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = Raw(fm.addr("plain"))
    c.reply()
    c.cmd("EHLO c.test")
    c.cmd("MAIL FROM:<a@x.test>")
    codes = [c.cmd(f"RCPT TO:<u{i}@a01.test>")[0] for i in range(101)]
    assert codes[:100] == [250] * 100 and codes[100] == 452
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: many\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert len(by_kind(evs, "message")[0]["to"]) == 100


def test_size_parameter_too_big(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = Raw(fm.addr("plain"))
    c.reply()
    c.cmd("EHLO c.test")
    assert c.cmd("MAIL FROM:<a@x.test> SIZE=99999999")[0] == 552
    assert c.cmd("MAIL FROM:<a@x.test> SIZE=1000")[0] == 250
    c.cmd("QUIT")
    fm.wait_closed("plain")


def test_pipelining_bare_lf(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = Raw(fm.addr("plain"))
    c.reply()
    c.send(b"EHLO c.test\nMAIL FROM:<a@x.test>\nRCPT TO:<b@a01.test>\n"
           b"RCPT TO:<c@a01.test>\r\nDATA\n")
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 250, 250, 354]
    c.send(b"Subject: lf\n\nbare lf body\n.\nQUIT\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    evs = one_session(fm.wait_closed("plain"), "plain")
    msg = by_kind(evs, "message")[0]
    with open(msg["spool"], "rb") as f:
        assert f.read() == b"Subject: lf\n\nbare lf body\n"


def test_overlong_command_line_keeps_session(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = Raw(fm.addr("plain"))
    c.reply()
    c.send(b"EHLO " + b"x" * 100000 + b"\r\n")
    assert c.reply()[0] == 500
    c.send(b"NOOP " + b"y" * 506 + b"\r\n")       # 513 octets
    assert c.reply()[0] == 500
    assert c.cmd("NOOP " + "z" * 505)[0] == 250    # 512 octets: fine
    assert c.cmd("EHLO c.test")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert evs[-1]["reason"] == "quit"


def test_nul_bytes_and_garbage(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = Raw(fm.addr("plain"))
    c.reply()
    assert c.cmd(b"EH\x00LO c.test")[0] == 500
    assert c.cmd(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")[0] == 500
    assert c.cmd(b"\xff\xfe\xfd garbage \x80")[0] == 500
    assert c.cmd(b"")[0] == 500
    assert c.cmd("EHLO c.test")[0] == 250
    c.cmd("MAIL FROM:<a@x.test>")
    c.cmd("RCPT TO:<b@a01.test>")
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: nul\r\n\r\nhas \x00 nul\r\n.\r\n")
    assert c.reply()[0] == 554
    assert c.cmd("QUIT")[0] == 221
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert not by_kind(evs, "message")
    assert not list(fm.spool.iterdir())


def test_long_text_line_refused_at_eom(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = in_data(fm)
    c.send(b"Subject: long\r\n\r\n" + b"a" * 50000 + b"\r\nok\r\n.\r\n")
    assert c.reply()[0] == 500
    assert c.cmd("NOOP")[0] == 250
    c.cmd("QUIT")
    fm.wait_closed("plain")
    assert not list(fm.spool.iterdir())


def test_message_too_big(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = in_data(fm, timeout=30)
    line = b"x" * 998 + b"\r\n"
    c.send(line * (11 * 1024))            # 11 MiB
    c.send(b".\r\n")
    assert c.reply()[0] == 552
    c.cmd("QUIT")
    fm.wait_closed("plain")
    assert not list(fm.spool.iterdir())


def test_client_vanishes_mid_data(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = in_data(fm)
    c.send(b"Subject: half\r\n\r\nhalf a mess")
    c.close()
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert evs[-1]["reason"] == "client-eof"
    assert evs[-1]["state"] == "data"
    assert not list(fm.spool.iterdir())       # no .tmp left behind


def test_command_timeout(fakemx):
    fm = fakemx([dict(PLAIN)], timeouts={"command_ms": 300})
    c = Raw(fm.addr("plain"))
    c.reply()
    c.cmd("EHLO c.test")
    assert c.reply()[0] == 421
    assert c.closed_by_peer()
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert evs[-1]["reason"] == "timeout"
    assert replies(evs, "timeout") == [421]


def test_data_timeout(fakemx):
    fm = fakemx([dict(PLAIN)], timeouts={"data_ms": 300,
                                         "command_ms": 5000})
    c = in_data(fm)
    c.send(b"Subject: slow\r\n")
    t0 = time.time()
    assert c.reply()[0] == 421
    assert time.time() - t0 < 3
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert evs[-1]["reason"] == "timeout" and evs[-1]["state"] == "data"


def test_client_never_reads(fakemx):
    """A client that pipelines forever and never reads is throttled."""
    fm = fakemx([dict(PLAIN)], timeouts={"command_ms": 1000})
    c = Raw(fm.addr("plain"))
    c.sock.settimeout(0.5)
    sent = 0
    try:
        while sent < 50 * 1024 * 1024:
            c.sock.send(b"NOOP\r\n" * 10000)
            sent += 60000
    except (TimeoutError, OSError):
        pass
    assert sent < 50 * 1024 * 1024      # the server stopped reading
    c.close()
    fm.wait_closed("plain", timeout=10)


def test_throttled_client_is_served_once_it_reads(fakemx):
    """A client that pipelines without reading is throttled (the replies
    the socket does not take are left to libevent); once it reads again,
    every command has its reply, in order, and QUIT closes cleanly."""
    fm = fakemx([dict(PLAIN)], timeouts={"command_ms": 20000})
    c = Raw(fm.addr("plain"))
    assert c.reply()[0] == 220
    c.sock.setblocking(False)
    chunk = b"NOOP\r\n" * 1000
    sent = 0
    # pipeline until the server stops reading: the socket stays full 1 s
    while select.select([], [c.sock], [], 1.0)[1]:
        try:
            sent += c.sock.send(chunk[sent % len(chunk):])
        except BlockingIOError:
            pass
    assert sent > 200000        # far more replies than the server buffers
    c.sock.setblocking(True)
    c.sock.settimeout(10)
    rest = b"NOOP\r\n"[sent % 6:] if sent % 6 else b""
    nnoop = (sent + len(rest)) // 6
    t = threading.Thread(target=c.sock.sendall, args=(rest + b"QUIT\r\n",))
    t.start()
    codes = []
    while True:
        try:
            codes.append(c.reply()[0])
        except EOFError:
            break
    t.join()
    assert codes == [250] * nnoop + [221]
    c.close()
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert evs[-1]["reason"] == "quit"


def test_many_sessions_and_ids(fakemx):
    fm = fakemx([dict(PLAIN), dict(PLAIN, name="plain2")])
    for name in ("plain", "plain2", "plain"):
        s = smtplib.SMTP(*fm.addr(name), timeout=5)
        s.noop()
        s.quit()
    fm.wait_closed("plain", 2)
    fm.wait_closed("plain2", 1)
    evs = fm.events()
    ids = sorted({e["session"] for e in evs})
    assert ids == ["plain#1", "plain#2", "plain2#1"]


def test_sink_and_impostor_marks(fakemx):
    fm = fakemx([dict(PLAIN, name="sink", mode="sink"),
                 dict(PLAIN, name="imp", mode="impostor")])
    for name in ("sink", "imp"):
        s = smtplib.SMTP(*fm.addr(name), timeout=5)
        s.sendmail("noreply@sender.test", ["tlsrpt@a01.test"],
                   b"Subject: Report\r\n\r\nreport\r\n")
        s.quit()
    fm.wait_closed("sink")
    fm.wait_closed("imp")
    evs = fm.events()
    assert all(e.get("sink") is True for e in evs if e["listener"] == "sink")
    assert all(e.get("impostor") is True
               for e in evs if e["listener"] == "imp")
    assert all("impostor" not in e for e in evs if e["listener"] == "sink")
    assert len([e for e in by_kind(evs, "message")]) == 2


def test_ipv6_listener(fakemx):
    import socket
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        port = s.getsockname()[1]
        s.close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    fm = fakemx([dict(PLAIN, address="::1", port=port)])
    c = Raw(("::1", port))
    assert c.reply()[0] == 220
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert evs[0]["local"] == f"[::1]:{port}"
    assert evs[0]["peer"].startswith("[::1]:")


def test_shutdown_closes_open_sessions(fakemx):
    fm = fakemx([dict(PLAIN)])
    clients = []
    for _ in range(3):
        c = Raw(fm.addr("plain"))
        c.reply()
        clients.append(c)
    clients[0].cmd("EHLO c.test")
    clients[1].cmd("EHLO c.test")
    clients[1].cmd("MAIL FROM:<a@x.test>")
    assert wait_until(lambda: len(by_kind(fm.events(), "mail")) == 1)
    assert fm.stop() == 0
    evs = fm.events()
    closes = by_kind(evs, "close")
    assert len(closes) == 3
    assert {e["reason"] for e in closes} == {"shutdown"}
    assert sorted(e["state"] for e in closes) == ["greet", "helo", "mail"]
    assert not fm.pidfile.exists()
    for c in clients:
        assert c.closed_by_peer()


def test_shutdown_during_data_leaves_no_spool(fakemx):
    fm = fakemx([dict(PLAIN)])
    c = in_data(fm)
    c.send(b"Subject: cut\r\n\r\nhalf")
    assert wait_until(lambda: any(fm.spool.iterdir()))    # the .tmp
    assert fm.stop() == 0
    closes = by_kind(fm.events(), "close")
    assert [(e["reason"], e["state"]) for e in closes] == [
        ("shutdown", "data")]
    assert not list(fm.spool.iterdir())


def test_flood_is_counted_not_logged(fakemx):
    """A client that pipelines thousands of NOOPs cannot flood the event
    log: past the budget (2000 events) fake-mx drops chatter, says so once,
    still logs the envelope, and the close event carries the count."""
    fm = fakemx([dict(PLAIN)])
    c = Raw(fm.addr("plain"), timeout=30)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO c.test")[0] == 250
    n = 3000
    c.send(b"NOOP\r\n" * n)
    for _ in range(n):
        assert c.reply()[0] == 250
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<b@a01.test>")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert len(evs) <= 2000 + 10
    trunc = by_kind(evs, "events-truncated")
    assert len(trunc) == 1 and trunc[0]["after"] == 2000
    assert by_kind(evs, "mail") and by_kind(evs, "rcpt")   # kept: evidence
    close = evs[-1]
    assert close["event"] == "close"
    assert close["events_suppressed"] >= n - 2000
