"""fake-mx STARTTLS and TLS: SNI choice, digests, versions, replies, faults."""
from __future__ import annotations

import ssl
import subprocess

import pytest

from fmx_util import Raw, by_kind, one_session, replies


def tls_listener(pki, name="tls", **kw):
    spec = {"name": name, "hostname": "mx1.a01.test",
            "tls": {"certs": [
                {"chain": str(pki["ec"].chain_path),
                 "key": str(pki["ec"].key_path)},
                {"chain": str(pki["rsa"].chain_path),
                 "key": str(pki["rsa"].key_path), "sni": ["mx1.a01.test"]},
                {"chain": str(pki["other"].chain_path),
                 "key": str(pki["other"].key_path),
                 "sni": ["other.a01.test", "alias.a01.test"]},
            ]}}
    tls_extra = kw.pop("tls", {})
    spec["tls"].update(tls_extra)
    spec.update(kw)
    return spec


def starttls_session(addr, sni, **ctxkw):
    c = Raw(addr)
    assert c.reply()[0] == 220
    code, lines = c.cmd("EHLO c.test")
    assert "STARTTLS" in lines
    assert c.cmd("STARTTLS")[0] == 220
    c.starttls(sni, **ctxkw)
    return c


@pytest.mark.parametrize("sni,which", [
    ("mx1.a01.test", "rsa"),
    ("MX1.A01.Test", "rsa"),
    ("alias.a01.test", "other"),
    ("unknown.a01.test", "ec"),
    (None, "ec"),
])
def test_sni_chooses_certificate(fakemx, pki, sni, which):
    fm = fakemx([tls_listener(pki)])
    c = starttls_session(fm.addr("tls"), sni)
    der = c.sock.getpeercert(binary_form=True)
    c.cmd("EHLO c.test")
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("tls"), "tls")
    tls = by_kind(evs, "tls")[0]
    assert tls["cert_sha256"] == pki[which].sha256
    import hashlib
    assert hashlib.sha256(der).hexdigest() == pki[which].sha256
    assert tls["chain_sha256"] == [pki[which].sha256]
    assert tls["sni"] == sni
    assert tls["version"] == "TLSv1.3"
    assert tls["cipher"].startswith("TLS_")


def test_chain_digests(fakemx, pki):
    fm = fakemx([{"name": "chain", "tls": {"certs": [
        {"chain": str(pki["chained"].chain_path),
         "key": str(pki["chained"].key_path)}]}}])
    c = starttls_session(fm.addr("chain"), "mx2.a01.test")
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("chain"), "chain")
    tls = by_kind(evs, "tls")[0]
    assert tls["chain_sha256"] == [pki["chained"].sha256, pki["ca"].sha256]


def test_full_tls_session_resets_state(fakemx, pki):
    fm = fakemx([tls_listener(pki)])
    c = starttls_session(fm.addr("tls"), "mx1.a01.test")
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 503     # EHLO again first
    code, lines = c.cmd("EHLO c.test")
    assert code == 250 and "STARTTLS" not in lines
    assert c.cmd("STARTTLS")[0] == 502                 # not twice
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<b@a01.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Message-ID: <tls-1@x.test>\r\n\r\nsecret\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.cmd("QUIT")[0] == 221
    evs = one_session(fm.wait_closed("tls"), "tls")
    msg = by_kind(evs, "message")[0]
    assert msg["tls"] is True and msg["message_id"] == "tls-1@x.test"
    ehlos = by_kind(evs, "ehlo")
    assert [e["starttls_offered"] for e in ehlos] == [True, False]
    assert by_kind(evs, "starttls")[0]["reply"] == 220
    states = [e["to"] for e in by_kind(evs, "state")]
    assert states[:4] == ["greet", "helo", "tls", "greet"]
    assert evs[-1]["reason"] == "quit"


def test_openssl_s_client(fakemx, pki):
    fm = fakemx([tls_listener(pki)])
    host, port = fm.addr("tls")
    out = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         f"{host}:{port}", "-servername", "mx1.a01.test", "-crlf",
         "-ign_eof"],
        input=b"EHLO c.test\nQUIT\n", capture_output=True, timeout=30)
    assert b"221" in out.stdout, out.stdout + out.stderr
    evs = one_session(fm.wait_closed("tls"), "tls")
    tls = by_kind(evs, "tls")[0]
    assert tls["sni"] == "mx1.a01.test"
    assert tls["cert_sha256"] == pki["rsa"].sha256
    assert evs[-1]["reason"] == "quit"


def test_tls12_only_and_version_mismatch(fakemx, pki):
    fm = fakemx([tls_listener(pki, name="t12",
                              tls={"max_version": "TLSv1.2"}),
                 tls_listener(pki, name="t13",
                              tls={"min_version": "TLSv1.3"})])
    c = starttls_session(fm.addr("t12"), "mx1.a01.test")
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("t12"), "t12")
    assert by_kind(evs, "tls")[0]["version"] == "TLSv1.2"

    with pytest.raises(ssl.SSLError):
        starttls_session(fm.addr("t13"), "mx1.a01.test",
                         maximum_version=ssl.TLSVersion.TLSv1_2)
    evs = one_session(fm.wait_closed("t13"), "t13")
    failed = by_kind(evs, "tls-failed")[0]
    assert failed["reason"] == "unsupported protocol"
    assert failed["sni"] == "mx1.a01.test"
    assert evs[-1]["reason"] == "tls-failed"


def test_starttls_454(fakemx):
    fm = fakemx([{"name": "s454", "starttls_reply": "454"}])
    c = Raw(fm.addr("s454"))
    c.reply()
    assert "STARTTLS" in c.cmd("EHLO c.test")[1]
    assert c.cmd("STARTTLS")[0] == 454
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250     # still plaintext
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("s454"), "s454")
    assert by_kind(evs, "starttls")[0]["reply"] == 454
    assert replies(evs, "starttls") == [454]


def test_starttls_drop(fakemx):
    fm = fakemx([{"name": "drop", "starttls_reply": "drop"}])
    c = Raw(fm.addr("drop"))
    c.reply()
    c.cmd("EHLO c.test")
    c.send(b"STARTTLS\r\n")
    assert c.closed_by_peer()
    assert c.buf == b""                       # no reply at all
    evs = one_session(fm.wait_closed("drop"), "drop")
    assert by_kind(evs, "starttls")[0]["reply"] == "drop"
    assert replies(evs, "starttls") == []
    assert evs[-1]["reason"] == "protocol"


def test_starttls_withheld(fakemx):
    fm = fakemx([{"name": "nostls", "starttls": "withhold"}])
    c = Raw(fm.addr("nostls"))
    c.reply()
    assert "STARTTLS" not in c.cmd("EHLO c.test")[1]
    assert c.cmd("STARTTLS")[0] == 502
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("nostls"), "nostls")
    assert by_kind(evs, "ehlo")[0]["starttls_offered"] is False
    assert not by_kind(evs, "starttls")


@pytest.mark.parametrize("fault", ["alert", "abort"])
def test_fault_alert_abort(fakemx, pki, fault):
    fm = fakemx([tls_listener(pki, tls={"fault": fault})])
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)) as ex:
        starttls_session(fm.addr("tls"), "mx1.a01.test")
    if fault == "alert":
        assert "HANDSHAKE_FAILURE" in str(ex.value).upper()
    evs = one_session(fm.wait_closed("tls"), "tls")
    failed = by_kind(evs, "tls-failed")[0]
    assert failed["reason"] == f"fault:{fault}"
    assert failed["sni"] == "mx1.a01.test"
    assert evs[-1]["reason"] == "tls-failed"
    assert evs[-1]["state"] == "tls"
    assert not by_kind(evs, "tls")


def test_fault_stall(fakemx, pki):
    fm = fakemx([tls_listener(pki, tls={"fault": "stall"})],
                timeouts={"tls_ms": 500})
    c = Raw(fm.addr("tls"), timeout=10)
    c.reply()
    c.cmd("EHLO c.test")
    assert c.cmd("STARTTLS")[0] == 220
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        c.starttls("alias.a01.test")
    evs = one_session(fm.wait_closed("tls"), "tls")
    failed = by_kind(evs, "tls-failed")[0]
    assert failed["reason"] == "fault:stall"
    assert failed["sni"] == "alias.a01.test"
    assert evs[-1]["reason"] == "timeout"


def test_handshake_timeout_and_garbage(fakemx, pki):
    fm = fakemx([tls_listener(pki)], timeouts={"tls_ms": 300})
    c = Raw(fm.addr("tls"))
    c.reply()
    c.cmd("EHLO c.test")
    c.cmd("STARTTLS")
    assert c.closed_by_peer()                 # silent client: timeout
    g = Raw(fm.addr("tls"))
    g.reply()
    g.cmd("EHLO c.test")
    g.cmd("STARTTLS")
    g.send(b"\x00\xffthis is not TLS at all\r\n" * 50)
    assert g.closed_by_peer()
    fm.wait_closed("tls", 2)
    evs = fm.events()
    failed = by_kind(evs, "tls-failed")
    assert failed[0]["reason"] == "timeout"
    assert failed[1]["reason"] not in ("timeout", "")
    closes = by_kind(evs, "close")
    assert [e["reason"] for e in closes] == ["timeout", "tls-failed"]


def test_garbage_on_abort_fault_listener(fakemx, pki):
    fm = fakemx([tls_listener(pki, tls={"fault": "abort"})])
    g = Raw(fm.addr("tls"))
    g.reply()
    g.cmd("EHLO c.test")
    g.cmd("STARTTLS")
    g.send(b"GET / HTTP/1.0\r\n\r\n")
    assert g.closed_by_peer()
    evs = one_session(fm.wait_closed("tls"), "tls")
    assert by_kind(evs, "tls-failed")[0]["reason"] == "not a TLS ClientHello"


def test_pipelined_after_starttls_is_discarded(fakemx, pki):
    """RFC 3207 section 5: no command injection across STARTTLS."""
    fm = fakemx([tls_listener(pki)])
    c = Raw(fm.addr("tls"))
    c.reply()
    c.cmd("EHLO c.test")
    c.send(b"STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
    assert c.reply()[0] == 220
    c.starttls("mx1.a01.test")
    code, lines = c.cmd("EHLO c.test")
    assert code == 250
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("tls"), "tls")
    assert not by_kind(evs, "mail")


def test_client_vanishes_during_handshake(fakemx, pki):
    fm = fakemx([tls_listener(pki)])
    c = Raw(fm.addr("tls"))
    c.reply()
    c.cmd("EHLO c.test")
    c.cmd("STARTTLS")
    c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    c.close()
    evs = one_session(fm.wait_closed("tls"), "tls")
    assert by_kind(evs, "tls-failed")
    assert evs[-1]["reason"] == "tls-failed"


def test_rsa_only_listener_tls12(fakemx, pki):
    fm = fakemx([{"name": "rsa", "tls": {
        "certs": [{"chain": str(pki["rsa"].chain_path),
                   "key": str(pki["rsa"].key_path)}],
        "max_version": "TLSv1.2"}}])
    c = starttls_session(fm.addr("rsa"), None)
    c.cmd("QUIT")
    evs = one_session(fm.wait_closed("rsa"), "rsa")
    tls = by_kind(evs, "tls")[0]
    assert tls["cert_sha256"] == pki["rsa"].sha256
    assert "RSA" in tls["cipher"]


def test_pipelined_ehlo_starttls_uses_filter_path(fakemx, pki):
    """EHLO and STARTTLS in one packet: the EHLO reply is still queued when
    STARTTLS is answered, so TLS is stacked on the plain connection."""
    fm = fakemx([tls_listener(pki)])
    c = Raw(fm.addr("tls"))
    c.reply()
    c.send(b"EHLO c.test\r\nSTARTTLS\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 220
    c.starttls("alias.a01.test")
    assert c.cmd("EHLO c.test")[0] == 250
    assert c.cmd("MAIL FROM:<a@x.test>")[0] == 250
    assert c.cmd("RCPT TO:<b@a01.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(b"Subject: filter\r\n\r\nbody\r\n.\r\n")
    assert c.reply()[0] == 250
    assert c.cmd("QUIT")[0] == 221
    evs = one_session(fm.wait_closed("tls"), "tls")
    tls = by_kind(evs, "tls")[0]
    assert tls["cert_sha256"] == pki["other"].sha256
    assert by_kind(evs, "message")[0]["tls"] is True
    assert evs[-1]["reason"] == "quit"


def test_tls_client_vanishes_after_handshake(fakemx, pki):
    fm = fakemx([tls_listener(pki)])
    c = starttls_session(fm.addr("tls"), "mx1.a01.test")
    assert c.cmd("EHLO c.test")[0] == 250
    c.sock.close()                  # no close_notify, no QUIT
    evs = one_session(fm.wait_closed("tls"), "tls")
    assert evs[-1]["reason"] == "client-eof"
    assert evs[-1]["state"] == "helo"


@pytest.mark.parametrize("version,flag", [("TLSv1", "-tls1"),
                                          ("TLSv1.1", "-tls1_1")])
def test_obsolete_versions(fakemx, pki, version, flag):
    fm = fakemx([tls_listener(pki, tls={"min_version": version,
                                        "max_version": version})])
    host, port = fm.addr("tls")
    out = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         f"{host}:{port}", flag, "-cipher", "DEFAULT:@SECLEVEL=0",
         "-crlf", "-ign_eof"],
        input=b"QUIT\n", capture_output=True, timeout=30)
    assert b"221" in out.stdout, out.stdout + out.stderr
    evs = one_session(fm.wait_closed("tls"), "tls")
    assert by_kind(evs, "tls")[0]["version"] == version


@pytest.mark.parametrize("path", ["socket", "filter"])
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
@pytest.mark.parametrize("end", ["recv", "unwrap"])
def test_close_notify_after_quit(fakemx, pki, path, version, end):
    """After QUIT the TLS connection ends with close_notify, not a bare TCP
    close: a strict client sees a clean end of stream (no "EOF occurred in
    violation of protocol") and its own unwrap() completes.  Both ways TLS
    is set up (socket-mode and filter bufferevent) are covered."""
    fm = fakemx([tls_listener(pki)])
    c = Raw(fm.addr("tls"))
    assert c.reply()[0] == 220
    if path == "socket":
        assert c.cmd("EHLO c.test")[0] == 250
        assert c.cmd("STARTTLS")[0] == 220
    else:
        c.send(b"EHLO c.test\r\nSTARTTLS\r\n")
        assert c.reply()[0] == 250
        assert c.reply()[0] == 220
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # Python sets OP_IGNORE_UNEXPECTED_EOF by default: a bare TCP close
    # would then look clean too
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    ctx.minimum_version = ctx.maximum_version = getattr(
        ssl.TLSVersion, version.replace(".", "_"))
    c.sock = ctx.wrap_socket(c.sock, server_hostname="mx1.a01.test",
                             suppress_ragged_eofs=False)
    assert c.sock.version() == version
    assert c.cmd("EHLO c.test")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    if end == "recv":
        assert c.sock.recv(100) == b""      # close_notify, then EOF
    else:
        plain = c.sock.unwrap()             # both close_notify exchanged
        plain.close()
    evs = one_session(fm.wait_closed("tls"), "tls")
    assert evs[-1]["reason"] == "quit" and evs[-1]["state"] == "quit"
