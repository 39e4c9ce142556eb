"""fake-mx survives hostile input: random bytes, TLS junk, half-open
sessions, many parallel clients; every session is closed and logged."""
from __future__ import annotations

import os
import random
import smtplib
import socket
import threading

import pytest

from fmx_util import Raw, by_kind, wait_until


def profiles(pki):
    from fmx_daemon import free_addr
    up_host, up_port = free_addr()
    tls = {"certs": [{"chain": str(pki["ec"].chain_path),
                      "key": str(pki["ec"].key_path)}]}
    return [
        {"name": "real", "address": up_host, "port": up_port, "tls": tls},
        {"name": "nostls", "starttls": "withhold"},
        {"name": "stall", "tls": dict(tls, fault="stall")},
        {"name": "abort", "tls": dict(tls, fault="abort")},
        {"name": "alert", "tls": dict(tls, fault="alert")},
        {"name": "mitm", "mode": "strip-relay",
         "relay_to": {"address": up_host, "port": up_port}},
    ]


def hostile(addr, rnd: random.Random) -> None:
    try:
        c = Raw(addr, timeout=2)
        kind = rnd.randrange(6)
        if kind == 0:
            c.send(rnd.randbytes(rnd.randrange(1, 200000)))
        elif kind == 1:
            c.send(b"EHLO x\r\nSTARTTLS\r\n" + rnd.randbytes(5000))
        elif kind == 2:
            lines = [rnd.choice([b"EHLO a", b"MAIL FROM:<a@b>",
                                 b"RCPT TO:<c@d>", b"DATA", b".", b"RSET",
                                 b"STARTTLS", b"\x00", b"QUIT", b"x" * 600,
                                 rnd.randbytes(30)]) for _ in range(200)]
            c.send(b"\r\n".join(lines) + b"\r\n")
        elif kind == 3:
            c.send(b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
            c.send(b"Subject: x\r\n\r\n" + rnd.randbytes(100000))
        elif kind == 4:
            c.send(b"EHLO x\nSTARTTLS\n")
            c.send(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")
        else:
            pass                    # connect and vanish
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
    except OSError:
        pass


def test_hostile_clients(fakemx, pki):
    fm = fakemx(profiles(pki), timeouts={"command_ms": 1500,
                                         "data_ms": 1500, "tls_ms": 1000})
    names = list(fm.listeners)
    rnd = random.Random(7672)
    jobs = []
    for i in range(120):
        addr = fm.addr(names[i % len(names)])
        seed = rnd.randrange(1 << 30)
        jobs.append(threading.Thread(target=hostile,
                                     args=(addr, random.Random(seed))))
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(30)
    # still serving, and normally
    s = smtplib.SMTP(*fm.addr("nostls"), timeout=5)
    s.sendmail("a@x.test", ["b@a01.test"], b"Subject: after\r\n\r\nok\r\n")
    s.quit()

    def all_closed():
        evs = fm.events()
        return len(by_kind(evs, "connect")) == len(by_kind(evs, "close"))
    wait_until(all_closed, 15)
    evs = fm.events()
    assert len(by_kind(evs, "connect")) == len(by_kind(evs, "close"))
    assert len(by_kind(evs, "connect")) >= 121
    assert any(m["spool"] for m in by_kind(evs, "message"))
    # no temporary spool files left behind
    assert not [p for p in fm.spool.iterdir() if p.name.endswith(".tmp")]


def test_out_of_file_descriptors(fakemx):
    """EMFILE on accept: the daemon pauses accepting, never dies, and
    serves again once descriptors are free."""
    if os.environ.get("FAKEMX_WRAPPER"):
        pytest.skip("the wrapper needs descriptors of its own")
    fm = fakemx([{"name": "a", "starttls": "withhold"}], nofile=40)
    held = []
    for _ in range(60):
        try:
            held.append(socket.create_connection(fm.addr("a"), timeout=2))
        except OSError:
            break
    # the daemon ran out of descriptors (it says so), and lives on
    assert wait_until(lambda: "accept" in fm.stderr(), 10), fm.stderr()
    assert fm.proc.poll() is None
    for c in held:
        c.close()
    # queued behind the held connections: served once they are gone
    s = smtplib.SMTP(*fm.addr("a"), timeout=10)
    assert s.noop()[0] == 250
    s.quit()
    assert fm.proc.poll() is None
