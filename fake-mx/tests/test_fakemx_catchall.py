"""fake-mx's catch-all listener: 0.0.0.0:P and [::]:P beside listeners on
specific addresses of the same port.  The kernel must hand every connection
to the listener bound to its exact destination, so the catch-all sees only
addresses nobody else serves: checked here, not assumed."""
from __future__ import annotations

import errno
import json
import os
import socket
import subprocess

import pytest

from fmx_daemon import BINARY
from fmx_util import Raw, by_kind

PLAIN = {"starttls": "withhold", "hostname": "mx1.a01.test"}
CATCH4 = {"name": "catch-all", "address": "0.0.0.0", "mode": "catch-all"}
CATCH6 = {"name": "catch-all~v6", "address": "::", "mode": "catch-all"}


def wildcard_port() -> int:
    """A port free on 0.0.0.0 and on [::] (IPv6 only)."""
    for _ in range(50):
        s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s4.bind(("0.0.0.0", 0))
        port = s4.getsockname()[1]
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s6.bind(("::", port))
            return int(port)
        except OSError:
            continue
        finally:
            s4.close()
            s6.close()
    raise AssertionError("no port free on both 0.0.0.0 and [::]")


def our_net() -> str:
    """127.25.N (this process's own /24, as fmx_daemon.free_addr uses)."""
    return f"127.25.{(os.getpid() % 200) + 1}"


def reset_at_once(addr: tuple[str, int]) -> bool:
    """Connect; True when the server resets the connection before any
    byte (what the catch-all does), False when a banner arrives.  The
    reset may beat connect() itself: it completes the handshake, and a
    refused connection would be ConnectionRefusedError instead."""
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        try:
            s.connect(addr)
            data = s.recv(100)
        except ConnectionResetError:
            return True
        assert data.startswith(b"220 "), data
        s.sendall(b"QUIT\r\n")
        return False


def test_catch_all_gets_only_unserved_addresses(fakemx):
    port = wildcard_port()
    served = f"{our_net()}.201"
    fm = fakemx([dict(PLAIN, name="mx", address=served, port=port),
                 dict(CATCH4, port=port), dict(CATCH6, port=port)])
    # the specific listener wins every time, never the wildcard one
    for _ in range(20):
        assert not reset_at_once((served, port))
    # an address nobody serves, in 127/8 and on ::1
    unserved = [f"{our_net()}.202", "127.99.1.1", "::1"]
    for a in unserved:
        assert reset_at_once((a, port)), a
    fm.wait_closed("mx", 20)
    fm.wait_closed("catch-all", 2)
    fm.wait_closed("catch-all~v6", 1)
    evs = fm.events()
    mx = [e for e in evs if e["listener"] == "mx"]
    assert len(by_kind(mx, "connect")) == 20
    assert {e["local"] for e in by_kind(mx, "connect")} == \
        {f"{served}:{port}"}
    caught = [e for e in evs if e["listener"].startswith("catch-all")]
    conns = by_kind(caught, "connect")
    assert [e["local"] for e in conns] == [
        f"{unserved[0]}:{port}", f"127.99.1.1:{port}", f"[::1]:{port}"]
    assert [e["session"] for e in conns] == [
        "catch-all#1", "catch-all#2", "catch-all~v6#1"]
    assert conns[0]["peer"].startswith("127.")
    assert conns[2]["peer"].startswith("[::1]:")
    assert all(e.get("catch_all") is True for e in caught)
    assert all("catch_all" not in e for e in mx)
    # connect then close (reason reset), nothing else
    for c in conns:
        mine = [e for e in caught if e["session"] == c["session"]]
        assert [e["event"] for e in mine] == ["connect", "close"]
        assert mine[1]["reason"] == "reset"
        assert mine[1]["state"] == "init"


def test_catch_all_beside_ipv6_listener(fakemx):
    port = wildcard_port()
    fm = fakemx([dict(PLAIN, name="mx6", address="::1", port=port),
                 dict(CATCH6, port=port)])
    for _ in range(10):
        assert not reset_at_once(("::1", port))
    fm.wait_closed("mx6", 10)
    assert all(e["listener"] == "mx6" for e in fm.events())


def test_no_reuseport_without_catch_all(fakemx):
    """SO_REUSEPORT only where a catch-all shares the port: elsewhere a
    second socket on the same address and port is still refused."""
    fm = fakemx([dict(PLAIN, name="mx")])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        with pytest.raises(OSError) as e:
            s.bind(fm.addr("mx"))
        assert e.value.errno == errno.EADDRINUSE
    finally:
        s.close()
    c = Raw(fm.addr("mx"))
    assert c.reply()[0] == 220
    c.cmd("QUIT")
    fm.wait_closed("mx")


def test_config_check_refuses_a_specific_catch_all(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"events": str(tmp_path / "e"),
                             "spool": str(tmp_path / "s"),
                             "listeners": [dict(CATCH4),
                                           dict(CATCH4, name="x",
                                                address="127.0.0.1")]}))
    cp = subprocess.run([str(BINARY), "-c", str(p), "-t"],
                        capture_output=True, text=True)
    assert cp.returncode == 1
    assert "listeners[1].address: a catch-all listens on 0.0.0.0 or ::" \
        in cp.stderr
