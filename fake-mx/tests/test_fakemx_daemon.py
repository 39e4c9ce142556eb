"""fake-mx as a process: -t, config errors naming the field, signals."""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from fmx_daemon import BINARY, free_addr
from fmx_util import Raw, by_kind


def write(tmp_path, conf) -> str:
    p = tmp_path / "c.json"
    p.write_text(json.dumps(conf) if not isinstance(conf, str) else conf)
    return str(p)


def base(tmp_path, listeners):
    return {"events": str(tmp_path / "ev.jsonl"),
            "spool": str(tmp_path / "spool"), "listeners": listeners}


def run_t(path):
    return subprocess.run([str(BINARY), "-c", path, "-t"],
                          capture_output=True, text=True, timeout=10)


def test_check_mode_ok(tmp_path, pki):
    p = write(tmp_path, base(tmp_path, [{
        "name": "a", "address": "127.25.1.1",
        "tls": {"certs": [{"chain": str(pki["ec"].chain_path),
                           "key": str(pki["ec"].key_path)}]}}]))
    r = run_t(p)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "ev.jsonl").exists()     # -t starts nothing


@pytest.mark.parametrize("listener,err", [
    ({"name": "a", "address": "127.25.1.1", "tls": {"certs": [
        {"chain": "/nonexistent.pem", "key": "/nonexistent.key"}]}},
     "listeners[0].tls.certs[0].chain: cannot read file"),
    ({"name": "a", "address": "127.25.1.1", "tls": {"certs": [
        {"chain": "@EC", "key": "/nonexistent.key"}]}},
     "listeners[0].tls.certs[0].key: cannot read file"),
    ({"name": "a", "address": "127.25.1.1", "tls": {"certs": [
        {"chain": "@EC", "key": "@RSAKEY"}]}},
     "listeners[0].tls.certs[0].key: does not match the certificate"),
    ({"name": "a", "address": "127.25.1.1", "mode": "x"},
     "listeners[0].mode: unknown value"),
])
def test_check_mode_errors(tmp_path, pki, listener, err):
    s = json.dumps(base(tmp_path, [listener]))
    s = s.replace("@EC", str(pki["ec"].chain_path))
    s = s.replace("@RSAKEY", str(pki["rsa"].key_path))
    p = write(tmp_path, s)
    r = run_t(p)
    assert r.returncode == 1
    assert r.stderr.startswith(f"fake-mx: {p}: {err}"), r.stderr


def test_missing_config_and_usage(tmp_path):
    r = run_t(str(tmp_path / "none.json"))
    assert r.returncode == 1 and "cannot open" in r.stderr
    r = subprocess.run([str(BINARY)], capture_output=True, text=True)
    assert r.returncode == 1 and "usage" in r.stderr


def test_bind_failure_no_pidfile(tmp_path):
    import socket
    host, port = free_addr()
    s = socket.socket()
    s.bind((host, port))
    s.listen()
    try:
        p = write(tmp_path, base(tmp_path, [{
            "name": "a", "address": host, "port": port,
            "starttls": "withhold"}]))
        r = subprocess.run([str(BINARY), "-c", p, "-p",
                            str(tmp_path / "pid")],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1 and "bind" in r.stderr
        assert not (tmp_path / "pid").exists()
    finally:
        s.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_flushes_and_exits_zero(fakemx, sig):
    fm = fakemx([{"name": "a", "starttls": "withhold"}])
    c = Raw(fm.addr("a"))
    c.reply()
    c.cmd("EHLO c.test")
    assert fm.stop(sig) == 0
    evs = fm.events()
    assert evs[-1]["event"] == "close" and evs[-1]["reason"] == "shutdown"
    assert evs[-1]["state"] == "helo"
    assert not fm.pidfile.exists()


def test_many_listeners_all_serve(fakemx):
    """50 listeners from one config: the first and the last answer (how
    fast they start is bench material, not a test's)."""
    fm = fakemx([{"name": f"l{i}", "starttls": "withhold"}
                 for i in range(50)])
    for name in ("l0", "l49"):
        c = Raw(fm.addr(name))
        assert c.reply()[0] == 220
        c.cmd("QUIT")
    fm.wait_closed("l49")
    assert by_kind(fm.events(), "connect")[0]["listener"] == "l0"


def test_events_appended_not_truncated(fakemx, tmp_path):
    fm = fakemx([{"name": "a", "starttls": "withhold"}])
    c = Raw(fm.addr("a"))
    c.reply()
    c.cmd("QUIT")
    fm.wait_closed("a")
    n = len(fm.events())
    assert fm.stop() == 0
    fm.start()                      # same config, same log: appends
    c = Raw(fm.addr("a"))
    c.reply()
    c.cmd("QUIT")
    fm.wait_closed("a", 2)
    assert len(fm.events()) == 2 * n
    assert os.path.getsize(fm.events_path) > 0
