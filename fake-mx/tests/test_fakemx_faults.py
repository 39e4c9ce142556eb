"""fake-mx faults at every stage: a close after a reply (close_after), a
close instead of a reply ("drop"), 421 closes, STARTTLS refusals of any
code, TLS alerts by name, and profiles for a listener's first connections
("connections")."""
from __future__ import annotations

import ssl

import pytest

from fmx_util import Raw, by_kind, one_session, replies

PLAIN = {"name": "plain", "starttls": "withhold", "hostname": "mx1.a01.test"}

# Commands up to each stage of a plain session, and the reply ending it.
UP_TO = {
    "ehlo": (["EHLO c.test"], 250),
    "mail": (["EHLO c.test", "MAIL FROM:<a@x.test>"], 250),
    "rcpt": (["EHLO c.test", "MAIL FROM:<a@x.test>", "RCPT TO:<b@a.test>"],
             250),
    "data": (["EHLO c.test", "MAIL FROM:<a@x.test>", "RCPT TO:<b@a.test>",
              "DATA"], 354),
}


def tls_listener(pki, name="tls", **kw):
    spec = {"name": name, "hostname": "mx1.a01.test",
            "tls": {"certs": [{"chain": str(pki["ec"].chain_path),
                               "key": str(pki["ec"].key_path)}]}}
    spec["tls"].update(kw.pop("tls", {}))
    spec.update(kw)
    return spec


@pytest.mark.parametrize("stage", ["ehlo", "mail", "rcpt", "data"])
def test_close_after_stage(fakemx, stage):
    """The reply is sent as configured, then the server closes."""
    fm = fakemx([dict(PLAIN, close_after=stage)])
    c = Raw(fm.addr("plain"))
    assert c.reply()[0] == 220
    cmds, code = UP_TO[stage]
    for cmd in cmds:
        got = c.cmd(cmd)[0]
    assert got == code
    assert c.closed_by_peer()
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert evs[-1]["event"] == "close" and evs[-1]["reason"] == "fault"
    assert replies(evs, stage) == [code]


def test_close_after_banner_and_eom(fakemx):
    fm = fakemx([dict(PLAIN, name="b", close_after="banner"),
                 dict(PLAIN, name="e", close_after="eom")])
    c = Raw(fm.addr("b"))
    assert c.reply()[0] == 220
    assert c.closed_by_peer()
    c = Raw(fm.addr("e"))
    c.reply()
    for cmd in UP_TO["data"][0]:
        c.cmd(cmd)
    c.send(b"Message-ID: <x1@x.test>\r\n\r\nhi\r\n.\r\n")
    assert c.reply()[0] == 250                 # accepted, then closed
    assert c.closed_by_peer()
    evs = one_session(fm.wait_closed("e"), "e")
    assert by_kind(evs, "message")[0]["message_id"] == "x1@x.test"
    assert evs[-1]["reason"] == "fault"
    assert one_session(fm.wait_closed("b"), "b")[-1]["reason"] == "fault"


@pytest.mark.parametrize("stage", ["ehlo", "mail", "rcpt", "data"])
def test_drop_instead_of_reply(fakemx, stage):
    """"drop": the command is logged, no reply at all, the socket closed."""
    fm = fakemx([dict(PLAIN, replies={stage: "drop"})])
    c = Raw(fm.addr("plain"))
    c.reply()
    cmds, _ = UP_TO[stage]
    for cmd in cmds[:-1]:
        c.cmd(cmd)
    c.send(cmds[-1].encode() + b"\r\n")
    assert c.closed_by_peer()
    assert c.buf == b""
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert replies(evs, stage) == []
    assert evs[-1]["reason"] == "fault"
    if stage in ("mail", "rcpt"):
        assert by_kind(evs, stage)             # the command was seen


def test_drop_banner_and_eom(fakemx):
    fm = fakemx([dict(PLAIN, name="b", banner="drop"),
                 dict(PLAIN, name="e", replies={"eom": "drop"})])
    c = Raw(fm.addr("b"))
    assert c.closed_by_peer() and c.buf == b""
    c = Raw(fm.addr("e"))
    c.reply()
    for cmd in UP_TO["data"][0]:
        c.cmd(cmd)
    c.send(b"Message-ID: <x2@x.test>\r\n\r\nhi\r\n.\r\n")
    assert c.closed_by_peer() and c.buf == b""
    evs = one_session(fm.wait_closed("e"), "e")
    assert not by_kind(evs, "message")         # never accepted
    assert not list(fm.spool.iterdir())
    assert one_session(fm.wait_closed("b"), "b")[-1]["reason"] == "fault"


@pytest.mark.parametrize("stage", ["ehlo", "mail", "rcpt", "data"])
def test_421_closes_at_every_stage(fakemx, stage):
    """RFC 5321 section 3.8: 421 means the server closes the channel."""
    line = "421 4.3.2 shutting down"
    fm = fakemx([dict(PLAIN, replies={stage: line})])
    c = Raw(fm.addr("plain"))
    c.reply()
    cmds, _ = UP_TO[stage]
    for cmd in cmds:
        code = c.cmd(cmd)[0]
    assert code == 421
    assert c.closed_by_peer()
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert evs[-1]["reason"] == "protocol"


def test_5xx_at_ehlo_keeps_session(fakemx):
    fm = fakemx([dict(PLAIN, replies={"ehlo": "554 5.7.1 not you"})])
    c = Raw(fm.addr("plain"))
    c.reply()
    assert c.cmd("EHLO c.test")[0] == 554
    assert c.cmd("HELO c.test")[0] == 554
    assert c.cmd("QUIT")[0] == 221
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert evs[-1]["reason"] == "quit"


@pytest.mark.parametrize("line", ["554 5.7.0 no TLS for you",
                                  "421 4.7.0 going down"])
def test_starttls_refused_with_any_line(fakemx, line):
    fm = fakemx([{"name": "s", "starttls_reply": line}])
    c = Raw(fm.addr("s"))
    c.reply()
    c.cmd("EHLO c.test")
    code, text = c.cmd("STARTTLS")
    assert (code, text[0]) == (int(line[:3]), line[4:])
    evs_end = "protocol" if code == 421 else "quit"
    if code == 421:
        assert c.closed_by_peer()
    else:
        assert c.cmd("QUIT")[0] == 221
    evs = one_session(fm.wait_closed("s"), "s")
    assert by_kind(evs, "starttls")[0]["reply"] == int(line[:3])
    assert evs[-1]["reason"] == evs_end


def test_close_after_starttls_and_tls(fakemx, pki):
    fm = fakemx([tls_listener(pki, name="s", close_after="starttls"),
                 tls_listener(pki, name="t", close_after="tls")])
    c = Raw(fm.addr("s"))
    c.reply()
    c.cmd("EHLO c.test")
    assert c.cmd("STARTTLS")[0] == 220
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        c.starttls("mx1.a01.test")
    evs = one_session(fm.wait_closed("s"), "s")
    assert evs[-1]["reason"] == "fault" and not by_kind(evs, "tls")

    c = Raw(fm.addr("t"))
    c.reply()
    c.cmd("EHLO c.test")
    assert c.cmd("STARTTLS")[0] == 220
    c.starttls("mx1.a01.test")                 # the handshake completes
    assert c.closed_by_peer()                  # then close_notify
    evs = one_session(fm.wait_closed("t"), "t")
    assert by_kind(evs, "tls")
    assert evs[-1]["reason"] == "fault"


@pytest.mark.parametrize("alert,text", [
    ("internal_error", "INTERNAL_ERROR"),
    ("protocol_version", "PROTOCOL_VERSION"),
    ("unrecognized_name", "UNRECOGNIZED_NAME"),
    ("access_denied", "ACCESS_DENIED"),
])
def test_alert_kinds(fakemx, pki, alert, text):
    """The client receives the alert the profile names."""
    fm = fakemx([tls_listener(pki, tls={"fault": "alert", "alert": alert})])
    c = Raw(fm.addr("tls"))
    c.reply()
    c.cmd("EHLO c.test")
    assert c.cmd("STARTTLS")[0] == 220
    with pytest.raises(ssl.SSLError) as ex:
        c.starttls("mx1.a01.test")
    assert text in str(ex.value).upper().replace(" ", "_")
    evs = one_session(fm.wait_closed("tls"), "tls")
    failed = by_kind(evs, "tls-failed")[0]
    assert failed["reason"] == "fault:alert"
    assert failed["alert"] == alert


def test_first_connections_profiles(fakemx, pki):
    """Connections 1-2 get 454, connection 3 an alert, then the listener's
    own profile: a full TLS session."""
    fm = fakemx([tls_listener(pki, connections=[
        {"count": 2, "starttls_reply": "454"},
        {"tls": {"fault": "alert", "alert": "internal_error"}}])])
    got = []
    for _ in range(2):
        c = Raw(fm.addr("tls"))
        c.reply()
        c.cmd("EHLO c.test")
        got.append(c.cmd("STARTTLS")[0])
        c.cmd("QUIT")
    c = Raw(fm.addr("tls"))
    c.reply()
    c.cmd("EHLO c.test")
    got.append(c.cmd("STARTTLS")[0])
    with pytest.raises(ssl.SSLError):
        c.starttls("mx1.a01.test")
    for _ in range(2):
        c = Raw(fm.addr("tls"))
        c.reply()
        c.cmd("EHLO c.test")
        got.append(c.cmd("STARTTLS")[0])
        c.starttls("mx1.a01.test")
        assert c.cmd("EHLO c.test")[0] == 250
        c.cmd("QUIT")
    assert got == [454, 454, 220, 220, 220]
    evs = fm.wait_closed("tls", 5)
    profiles = [e["profile"] for e in by_kind(evs, "connect")]
    assert profiles == ["connections[0]", "connections[0]",
                        "connections[1]", "default", "default"]
    assert len(by_kind(evs, "tls")) == 2


def test_no_profile_field_without_connections(fakemx):
    fm = fakemx([PLAIN])
    c = Raw(fm.addr("plain"))
    c.reply()
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("plain"), "plain")
    assert "profile" not in by_kind(evs, "connect")[0]
