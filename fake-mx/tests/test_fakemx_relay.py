"""fake-mx strip-relay: STARTTLS removed on the way, mail relayed upstream."""
from __future__ import annotations

import smtplib

from fmx_util import Raw, by_kind, one_session, wait_read_by_peer


def relay_pair(fakemx, pki, upstream_extra=None, relay_extra=None):
    # bind the upstream first so the relay knows where it is
    from fmx_daemon import free_addr
    up_host, up_port = free_addr()
    upstream = {"name": "real", "address": up_host, "port": up_port,
                "hostname": "mx1.a01.test",
                "tls": {"certs": [{"chain": str(pki["ec"].chain_path),
                                   "key": str(pki["ec"].key_path)}]}}
    upstream.update(upstream_extra or {})
    relay = {"name": "mitm", "mode": "strip-relay",
             "relay_to": {"address": up_host, "port": up_port}}
    relay.update(relay_extra or {})
    return fakemx([upstream, relay])


def test_strip_relay_removes_starttls_and_delivers(fakemx, pki):
    fm = relay_pair(fakemx, pki)
    s = smtplib.SMTP(*fm.addr("mitm"), local_hostname="sender.test",
                     timeout=5)
    s.ehlo()
    assert not s.has_extn("starttls")
    assert s.has_extn("pipelining")
    s.sendmail("a@sender.test", ["b@a01.test"],
               b"Message-ID: <relayed@sender.test>\r\n\r\nin clear\r\n")
    s.quit()
    fm.wait_closed("real")
    evs = fm.wait_closed("mitm")
    real = one_session(fm.events(), "real")
    mitm = one_session(evs, "mitm")
    # the real server offered STARTTLS and got the message, in clear
    assert by_kind(real, "ehlo")[0]["starttls_offered"] is True
    msg = by_kind(real, "message")[0]
    assert msg["tls"] is False and msg["message_id"] == "relayed@sender.test"
    with open(msg["spool"], "rb") as f:
        assert b"in clear" in f.read()
    # the relay logged every line and the one it removed
    lines = by_kind(mitm, "relay")
    stripped = [e for e in lines if e.get("stripped")]
    assert len(stripped) == 1 and stripped[0]["line"].endswith("STARTTLS")
    c2s = [e["line"] for e in lines if e["direction"] == "c2s"]
    assert "ehlo sender.test" in c2s and "in clear" in c2s
    assert "mail FROM:<a@sender.test> size=47" in c2s
    assert [e["to"] for e in by_kind(mitm, "state")] == [
        "relay-connect", "relay"]
    assert mitm[-1]["event"] == "close"
    assert mitm[-1]["reason"] in ("quit", "client-eof")


def test_strip_relay_refuses_starttls_itself(fakemx, pki):
    fm = relay_pair(fakemx, pki)
    c = Raw(fm.addr("mitm"))
    assert c.reply()[0] == 220
    code, lines = c.cmd("EHLO c.test")
    assert code == 250 and "STARTTLS" not in lines
    assert lines[-1] == "ENHANCEDSTATUSCODES"
    assert c.cmd("STARTTLS")[0] == 454
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    fm.wait_closed("mitm")
    mitm = one_session(fm.events(), "mitm")
    assert by_kind(mitm, "starttls")[0]["reply"] == 454
    real = one_session(fm.events(), "real")
    assert not by_kind(real, "starttls")      # never reached the server


def test_strip_relay_strips_after_long_pipelining(fakemx, pki):
    """More commands in flight than the relay's verb FIFO holds (128):
    the relay waits for replies instead of losing verbs, so the EHLO reply
    is still known as one and STARTTLS is still removed from it."""
    fm = relay_pair(fakemx, pki)
    c = Raw(fm.addr("mitm"))
    assert c.reply()[0] == 220
    c.send(b"NOOP\r\n" * 200 + b"EHLO c.test\r\n")
    assert [c.reply()[0] for _ in range(200)] == [250] * 200
    code, lines = c.reply()
    assert code == 250 and "STARTTLS" not in lines
    assert lines[-1] == "ENHANCEDSTATUSCODES"
    assert c.cmd("QUIT")[0] == 221
    mitm = one_session(fm.wait_closed("mitm"), "mitm")
    assert len([e for e in by_kind(mitm, "relay") if e.get("stripped")]) == 1


def test_strip_relay_upstream_down(fakemx):
    from fmx_daemon import free_addr
    host, port = free_addr()                  # nothing listens there
    fm = fakemx([{"name": "mitm", "mode": "strip-relay",
                  "relay_to": {"address": host, "port": port}}])
    c = Raw(fm.addr("mitm"))
    assert c.reply()[0] == 421
    assert c.closed_by_peer()
    evs = one_session(fm.wait_closed("mitm"), "mitm")
    assert evs[-1]["reason"] == "error"


def test_strip_relay_client_eof_and_timeout(fakemx, pki):
    fm = relay_pair(fakemx, pki)
    c = Raw(fm.addr("mitm"))
    c.reply()
    c.close()
    evs = one_session(fm.wait_closed("mitm"), "mitm")
    assert evs[-1]["reason"] == "client-eof"


def test_strip_relay_long_and_split_lines(fakemx, pki):
    """Client lines longer than the relay's 4096-octet chunk pass through
    in pieces (a command and a message line); a line that arrives in two
    sends waits for its end."""
    fm = relay_pair(fakemx, pki)
    c = Raw(fm.addr("mitm"))
    assert c.reply()[0] == 220
    c.send(b"NO")
    assert wait_read_by_peer(c.sock)    # the relay holds half a line
    c.send(b"OP\r\n")
    assert c.reply()[0] == 250
    assert c.cmd("NOOP " + "x" * 9000)[0] == 500       # upstream: too long
    assert c.cmd("EHLO c.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<b@a01.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: long\r\n\r\n" + b"y" * 10000 + b"\r\n.\r\n")
    assert c.reply()[0] == 500          # the whole line arrived upstream
    assert c.cmd("QUIT")[0] == 221
    fm.wait_closed("mitm")
    mitm = one_session(fm.events(), "mitm")
    c2s = [e["line"] for e in by_kind(mitm, "relay")
           if e["direction"] == "c2s"]
    assert "NOOP" in c2s
    assert [len(x) for x in c2s if set(x) == {"y"}] == [4096, 4096, 1808]
    real = one_session(fm.events(), "real")
    assert [e["code"] for e in by_kind(real, "reply")
            if e["stage"] == "eom"] == [500]


def test_relay_dials_from_its_own_address(fakemx, pki):
    """The upstream sees the attacker's address as its peer, and the
    relay's `upstream` event names that same address and port: the
    harness joins the two legs of a relayed session by it."""
    fm = relay_pair(fakemx, pki)
    c = Raw(fm.addr("mitm"))
    assert c.reply()[0] == 220
    assert c.cmd("QUIT")[0] == 221
    fm.wait_closed("mitm")
    fm.wait_closed("real")
    mitm = one_session(fm.events(), "mitm")
    real = one_session(fm.events(), "real")
    up = by_kind(mitm, "upstream")
    assert len(up) == 1
    relay_host = fm.addr("mitm")[0]
    assert up[0]["local"].rsplit(":", 1)[0] == relay_host
    assert up[0]["peer"] == "%s:%d" % fm.addr("real")
    assert by_kind(real, "connect")[0]["peer"] == up[0]["local"]


def test_relay_keeps_starttls_and_refuses_it(fakemx, pki):
    """relay_strip false: STARTTLS stays in the EHLO reply; the relay
    answers the client's STARTTLS with 454 itself and the session goes on
    in cleartext, upstream never asked."""
    fm = relay_pair(fakemx, pki, relay_extra={"relay_strip": False})
    c = Raw(fm.addr("mitm"))
    assert c.reply()[0] == 220
    code, lines = c.cmd("EHLO c.test")
    assert code == 250 and "STARTTLS" in lines
    assert c.cmd("STARTTLS")[0] == 454
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    fm.wait_closed("mitm")
    mitm = one_session(fm.events(), "mitm")
    assert not [e for e in by_kind(mitm, "relay") if e.get("stripped")]
    assert by_kind(mitm, "starttls")[0]["reply"] == 454
    real = one_session(fm.events(), "real")
    assert not by_kind(real, "starttls")
    assert by_kind(real, "mail")[0]["from"] == "a@x.test"


def test_relay_passes_tls_and_injects(fakemx, pki):
    """relay_starttls "pass": the STARTTLS goes upstream; after its 220
    the relay sends the injected text in plaintext, then passes the TLS
    bytes through.  A client that discards what followed the 220 talks
    TLS to the real server, which sees its SNI."""
    inject = "250-injected\r\n250 PIPELINING\r\n"
    fm = relay_pair(fakemx, pki, relay_extra={
        "relay_strip": False, "relay_starttls": "pass",
        "relay_inject": inject})
    c = Raw(fm.addr("mitm"))
    assert c.reply()[0] == 220
    assert "STARTTLS" in c.cmd("EHLO c.test")[1]
    assert c.cmd("STARTTLS")[0] == 220
    assert c.reply() == (250, ["injected", "PIPELINING"])
    c.buf = b""                       # what a careful client does
    c.starttls(sni="mx1.a01.test")
    assert c.cmd("EHLO c.test")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    assert c.closed_by_peer()         # the real server ended, then the relay
    c.close()
    fm.wait_closed("real")
    fm.wait_closed("mitm")
    mitm = one_session(fm.events(), "mitm")
    real = one_session(fm.events(), "real")
    st = by_kind(mitm, "starttls")[0]
    assert st["reply"] == 220 and st["forwarded"] is True
    inj = [e["line"] for e in by_kind(mitm, "relay") if e.get("injected")]
    assert inj == ["250-injected", "250 PIPELINING"]
    assert by_kind(mitm, "tunnel")[0]["injected"] == len(inject)
    # nothing after the tunnel began was read as a line
    c2s = [e["line"] for e in by_kind(mitm, "relay")
           if e["direction"] == "c2s"]
    assert c2s == ["EHLO c.test", "STARTTLS"]
    tls = by_kind(real, "tls")[0]
    assert tls["sni"] == "mx1.a01.test"
    names = [e["name"] for e in by_kind(real, "ehlo")]
    assert names == ["c.test", "c.test"]
    assert mitm[-1]["reason"] == "upstream-eof"


def test_relay_pass_refused_upstream(fakemx, pki):
    """relay_starttls "pass" and the upstream answers 454: the client gets
    that 454 and the relay goes on reading lines."""
    fm = relay_pair(fakemx, pki, {"starttls_reply": "454"},
                    {"relay_strip": False, "relay_starttls": "pass"})
    c = Raw(fm.addr("mitm"))
    c.reply()
    c.cmd("EHLO c.test")
    assert c.cmd("STARTTLS")[0] == 454
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    fm.wait_closed("mitm")
    mitm = one_session(fm.events(), "mitm")
    st = by_kind(mitm, "starttls")[0]
    assert (st["reply"], st["forwarded"]) == (454, True)
    assert not by_kind(mitm, "tunnel")
