"""The lab namespace: isolation, private resolv.conf, and a teardown that
leaves nothing behind (also after Ctrl-C)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from danelab.netns import LabNamespace, netns_id, pids_in_netns
from danelab.proc import pid_alive, wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_only_loopback_inside(labns: LabNamespace) -> None:
    out = labns.run(["ip", "-o", "link"], check=True).stdout.decode()
    assert [ln.split(":")[1].strip() for ln in out.splitlines()] == ["lo"]
    assert labns.ns_id != netns_id(os.getpid())


def test_private_resolv_conf(labns: LabNamespace) -> None:
    host_before = Path("/etc/resolv.conf").read_bytes()
    inside = labns.run(["cat", "/etc/resolv.conf"], check=True).stdout
    assert b"nameserver 127.53.0.53" in inside
    assert b"trust-ad" in inside
    labns.set_resolv_conf("nameserver 127.53.0.53\n")
    inside = labns.run(["cat", "/etc/resolv.conf"], check=True).stdout
    assert inside == b"nameserver 127.53.0.53\n"
    assert Path("/etc/resolv.conf").read_bytes() == host_before


def test_ports_25_and_53_are_ours(labns: LabNamespace) -> None:
    cp = labns.run([sys.executable, "-c",
                    "import socket\n"
                    "for a, p in (('127.25.9.9', 25), ('127.53.0.1', 53)):\n"
                    "    s = socket.socket(); s.bind((a, p))\n"
                    "print('ok')"], check=True)
    assert cp.stdout.strip() == b"ok"


def test_teardown_leaves_nothing(tmp_path: Path) -> None:
    ns = LabNamespace(tmp_path)
    ns.open()
    ns.spawn("sleeper", ["sleep", "600"])
    # A process that forks a child into its own group, as NSD does.
    ns.spawn("forker", ["sh", "-c", "sleep 600 & sleep 600"])
    nsid = ns.ns_id
    assert nsid
    assert wait_until(lambda: len(pids_in_netns(nsid)) >= 4, 5)
    pids = ns.pids()
    ns.close()
    assert not [p for p in pids if pid_alive(p)]
    assert pids_in_netns(nsid) == [], "the namespace is gone"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to compare modes")
def test_user_mode(tmp_path: Path) -> None:
    """The unprivileged mode (a user namespace) where the kernel allows it."""
    with LabNamespace(tmp_path, mode="user") as ns:
        out = ns.run(["id", "-u"], check=True).stdout.strip()
        assert out == b"0"
        assert b"127.53.0.53" in ns.run(["cat", "/etc/resolv.conf"]).stdout


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    """SIGINT to a running `danelab universe up`-like process tears down."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from danelab.netns import LabNamespace\n"
        f"ns = LabNamespace(Path({str(tmp_path)!r}))\n"
        "try:\n"
        "    ns.open()\n"
        "    t = ns.spawn('sleeper', ['sleep', '600'])\n"
        "    print(ns.ns_id, t.pid, flush=True)\n"
        "    time.sleep(600)\n"
        "except KeyboardInterrupt:\n"
        "    pass\n"
        "finally:\n"
        "    ns.close()\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "harness"))
    p = subprocess.Popen(["/usr/bin/python3", "-c", script],
                         stdout=subprocess.PIPE, env=env, text=True)
    assert p.stdout
    nsid, pid = p.stdout.readline().split()
    assert pid_alive(int(pid))
    p.send_signal(signal.SIGINT)
    assert p.wait(10) == 0
    assert not pid_alive(int(pid))
    assert wait_until(lambda: pids_in_netns(nsid) == [], 3)
    time.sleep(0)
