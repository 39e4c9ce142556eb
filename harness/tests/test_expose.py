"""The exposed lab (--expose) and the smtp:// black-box adapter.

Every namespace here is made by the lab or the test; no address of the
range is ever put on the host's namespace and no packet is sent outside
the lab's namespaces (the "outside" checks ask the routing table, they do
not send)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from danelab import catalog, dsn
from danelab.adapters.exim import EXIM_ROOT
from danelab.errors import LabError
from danelab.expose import Exposure, range_on_host
from danelab.labnet import LabNet
from danelab.labplan import make_plan
from danelab.netns import LabNamespace

ROOT = Path(__file__).resolve().parents[2]
NET = LabNet.parse()
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


# -- the address plan --------------------------------------------------------

def test_labnet_addresses():
    assert NET.host(7, 1) == "10.25.7.1"
    assert NET.host6(7, 1) == "fd25::7:1"
    assert NET.scenario_index("10.25.7.200") == 7
    assert NET.scenario_index("fd25::7:9") == 7
    assert NET.scenario_index("10.25.0.53") is None      # the lab's own
    assert NET.scenario_index("10.25.255.2") is None     # the SUT link
    assert NET.scenario_index("127.25.7.1") is None
    assert NET.infra.resolver == "10.25.0.53"
    assert NET.sut(0) == ("10.25.255.2", "fd25:0:0:ffff::2")
    other = LabNet.parse("172.20.0.0/16,fd99:1::/48")
    assert other.host(3, 2) == "172.20.3.2"
    assert other.host6(3, 2) == "fd99:1::3:2"


@pytest.mark.parametrize("bad", ["10.25.0.0/24,fd25::/48",
                                 "8.8.0.0/16,fd25::/48",
                                 "10.25.0.0/16,2001:db8::/48",
                                 "10.25.0.0/16"])
def test_labnet_refuses(bad):
    with pytest.raises(LabError):
        LabNet.parse(bad)


def test_exposed_plan_points_dns_at_routable_addresses():
    scs = catalog.select(catalog.load_catalog(catalog.DEFAULT_DIR),
                         ["a01-secure-dane-ee"], None, None)
    plan = make_plan(scs, net=NET)
    records = [(r.owner, r.rtype, r.rdata) for z in plan.zones
               for r in z.records if r.rtype in ("A", "AAAA")]
    assert ("mx1.a01-secure-dane-ee.test.", "A", "10.25.1.1") in records
    assert ("mx.sender.test.", "A", "10.25.0.26") in records
    assert not [r for r in records if r[2].startswith("127.25.")]
    assert plan.scenario_of_address("10.25.1.77") == "a01-secure-dane-ee"


# -- DSNs --------------------------------------------------------------------

DSN_MAIL = b"""\
From: MAILER-DAEMON@mta.example
To: tester@sender.test
Message-ID: <dsn-1@mta.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
 boundary="B"

--B
Content-Type: text/plain

undeliverable
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mta.example

Final-Recipient: rfc822; user@x.test
Action: failed
Status: 5.7.5
Diagnostic-Code: smtp; 550 TLSA
  records do not match

--B
Content-Type: text/rfc822-headers

Message-ID: <orig-1@danelab.test>
Subject: danelab x

--B--
"""


def test_dsn_parse():
    d = dsn.parse(DSN_MAIL)
    assert d is not None
    assert (d.message_id, d.action, d.status, d.diagnostic, d.problems) == \
        ("orig-1@danelab.test", "failed", "5.7.5",
         "smtp; 550 TLSA records do not match", [])
    assert dsn.parse(b"Subject: hello\r\n\r\nnot a report\r\n") is None
    bad = DSN_MAIL.replace(b"Status: 5.7.5", b"Status: broken")
    assert dsn.parse(bad).problems == ["Status 'broken' is no RFC 3463 code"]


# -- the routed lab ----------------------------------------------------------

def _routes(ns_path: str, fam: str) -> str:
    return subprocess.run(["nsenter", f"--net={ns_path}", "ip", fam,
                           "route", "show", "table", "all"],
                          capture_output=True, text=True, check=True).stdout


def _connect(addr: str, port: int) -> bool:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam) as s:
        s.settimeout(3)
        try:
            s.connect((addr, port))
            return True
        except OSError:
            return False


def _listen(addr: str, port: int) -> socket.socket:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen()
    return s


@root_only
def test_veth_exposure_routes_the_range_and_nothing_else(tmp_path):
    assert range_on_host(NET) == []
    with LabNamespace(tmp_path / "lab") as lab:
        ex = Exposure.parse("veth", NET)
        ex.setup(lab, tmp_path)
        try:
            assert ex.sut_ns and lab.holder
            sut = ex.target
            lab_path = f"/proc/{lab.holder.pid}/ns/net"
            facts = json.loads((tmp_path / "exposure.json").read_text())
            assert facts["sut"]["ipv4"] == "10.25.255.2"
            assert facts["namespace"] == sut
            # a host's own address, and a wildcard (as fake-mx's
            # catch-all) that gets every other address of the range
            lst = [lab.call(_listen, a, p) for a, p in
                   (("10.25.3.1", 25), ("fd25::3:1", 25), ("0.0.0.0", 26))]
            for a, p in (("10.25.3.1", 25), ("fd25::3:1", 25),
                         ("10.25.9.9", 26), ("10.25.0.53", 26)):
                assert ex.sut_ns.call(_connect, a, p), a
            for s in lst:
                lab.call(s.close)
            # no default route, no forwarding, in either namespace
            for p in (lab_path, sut):
                for fam in ("-4", "-6"):
                    assert "default" not in _routes(p, fam), (p, fam)
            fwd = lab.run(["sysctl", "-n", "net.ipv4.ip_forward",
                           "net.ipv6.conf.all.forwarding"], check=True)
            assert fwd.stdout.split() == [b"0", b"0"]
            # outside the range is unreachable from the SUT (asked of the
            # routing table: nothing is sent)
            for dst in ("192.0.2.1", "10.26.0.1", "2001:db8::1"):
                cp = ex.sut_ns.run(["ip", "route", "get", dst])
                assert cp.returncode != 0, dst
            # and the host namespace holds nothing of the range
            assert range_on_host(NET) == []
        finally:
            ex.close()
    assert range_on_host(NET) == []


@root_only
def test_expose_refuses_the_host_namespace(tmp_path):
    with LabNamespace(tmp_path / "lab") as lab:
        ex = Exposure.parse(f"netns:/proc/{os.getpid()}/ns/net", NET)
        with pytest.raises(LabError, match="host"):
            ex.setup(lab, tmp_path)
    assert range_on_host(NET) == []


@root_only
def test_bridge_exposure(tmp_path):
    """A bridge inside a lab-made namespace (where a VM's tap would be),
    a SUT namespace on it that takes the address handed out."""
    with LabNamespace(tmp_path / "lab") as lab, \
            LabNamespace(tmp_path / "br") as br, \
            LabNamespace(tmp_path / "sut") as sut:
        assert br.holder and sut.holder
        br.run(["ip", "link", "add", "brlab", "type", "bridge"], check=True)
        br.run(["ip", "link", "set", "brlab", "up"], check=True)
        br.run(["ip", "link", "add", "tap0", "type", "veth", "peer", "name",
                "eth0", "netns", f"/proc/{sut.holder.pid}/ns/net"],
               check=True)
        br.run(["ip", "link", "set", "tap0", "master", "brlab", "up"],
               check=True)
        ex = Exposure.parse(f"bridge:brlab@/proc/{br.holder.pid}/ns/net",
                            NET)
        ex.setup(lab, tmp_path)
        try:
            f = ex.facts
            assert f["sut"]["configured"] is False
            s4, s6 = f["sut"]["ipv4"], f["sut"]["ipv6"]
            gw4, gw6 = f["link"]["lab"]
            for argv in (["ip", "addr", "add", f"{s4}/24", "dev", "eth0"],
                         ["ip", "addr", "add", f"{s6}/64", "dev", "eth0",
                          "nodad"],
                         ["ip", "link", "set", "eth0", "up"],
                         ["ip", "route", "add", str(NET.v4), "via", gw4],
                         ["ip", "-6", "route", "add", str(NET.v6), "via",
                          gw6]):
                sut.run(argv, check=True)
            lst = lab.call(_listen, "0.0.0.0", 25)
            assert sut.call(_connect, "10.25.4.2", 25)
            lab.call(lst.close)
            # the bridge namespace holds no address of the range
            addrs = br.run(["ip", "-o", "addr"], check=True).stdout
            assert b"10.25." not in addrs and b"fd25:" not in addrs
        finally:
            ex.close()
    assert range_on_host(NET) == []


# -- a sender as a black box -------------------------------------------------

needs_postfix = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("postconf"),
    reason="needs root and Postfix (ci/deps)")

# first-pass delivery, bounce (null MX: the DSN) and deferral; a retry
# after a [fix] and one after the retry limit (the flush, expire and
# reload hooks between the passes)
CASES = ["a01-secure-dane-ee", "a07-null-mx", "a02-mx-rrsig-expired",
         "g35-retry-tlsa-fixed", "g35d-retry-limit-tlsa-mismatch"]


def test_appliance_sets_no_postfix_parameter_twice():
    """A parameter set twice makes every Postfix process warn at start-up,
    which once hung the appliance's logging after a reload (appliance.py):
    its main.cf sets each parameter once, the appliance's values win."""
    from danelab.adapters.postfix import MAIN_CF
    from danelab.appliance import APPLIANCE_CF, override
    extra = APPLIANCE_CF.format(v4=NET.v4, v6net="fd25::", v6len=48)
    text = override(MAIN_CF, extra)
    keys = [ln.split("=", 1)[0].strip() for ln in text.splitlines()
            if "=" in ln and not ln.startswith(("#", " ", "\t"))]
    assert len(keys) == len(set(keys)), sorted(keys)
    assert "inet_interfaces = all" in text.splitlines()
    assert "defer_transports =" in text.splitlines()
    assert "inet_interfaces = loopback-only" not in text
    assert "smtp_tls_security_level = {level}" in text


def _blackbox_against_published(mta: str, run: Path, cases: list[str]
                                ) -> dict[tuple[str, str], dict[str, str]]:
    """Run CASES through MTA's appliance (--expose netns:, smtp://); assert
    every result (each phase) has the verdict and observed outcome
    published for the in-namespace MTA; return the black box's sender
    outcomes by (case, phase)."""
    from danelab.blackbox import run_blackbox
    from danelab.published import summarize
    res, _ = run_blackbox(mta, run, pass_seconds=15, ids=cases)
    got = summarize(res)
    pub = json.loads((ROOT / f"docs/results/{mta}.json").read_text())
    keys = [k for k in pub["cases"] if k.split("[")[0] in cases]
    assert "g35-retry-tlsa-fixed[after-fix]" in keys
    assert "g35d-retry-limit-tlsa-mismatch[after-limit]" in keys
    assert sorted(got) == sorted(keys)
    for k in keys:
        assert got[k]["verdict"] == pub["cases"][k]["verdict"], (k, got[k])
        assert got[k]["observed"] == pub["cases"][k]["observed"], (k, got[k])
    assert res.get("problems") == []
    assert range_on_host(NET) == []
    return {(c["id"], c["phase"]): c["sender_outcome"]
            for c in res["cases"]}


def test_blackbox_runs_a_large_selection_in_parts(tmp_path, monkeypatch):
    """An exposed run holds at most 254 scenarios: a larger selection runs
    in parts of at most that many, every scenario in exactly one; the
    results are merged."""
    from danelab import blackbox
    calls: list[list[str]] = []

    def part(mta, run, pass_seconds, ids, scs):
        calls.append(list(ids))
        return ({"cases": [{"id": i} for i in ids],
                 "problems": [f"p{len(calls)}"]}, "v")
    monkeypatch.setattr(blackbox, "_run_part", part)
    ids = [f"s{i:03d}" for i in range(300)]
    res, _ = blackbox.run_blackbox("postfix", tmp_path, 1, ids)
    assert len(calls) == 2 and all(len(c) <= 254 for c in calls)
    assert sorted(i for c in calls for i in c) == ids
    assert sorted(c["id"] for c in res["cases"]) == ids
    assert res["problems"] == ["p1", "p2"]
    calls.clear()
    blackbox.run_blackbox("postfix", tmp_path, 1, ids[:254])
    assert len(calls) == 1


def test_blackbox_outcome_notes():
    """Where verdicts agree but the sender outcomes do not, each group of
    differences gets its reason; one no rule explains says so."""
    from danelab.blackbox import outcome_notes
    inside = {"a": {"sender_state": "deferred", "dsn": "4.7.5"},
              "b": {"sender_state": "bounced", "dsn": "5.1.1"},
              "c": {"sender_state": "delivered", "dsn": "2.0.0"},
              "d": {"sender_state": "deferred", "dsn": "4.4.3"},
              "e": {"sender_state": "bounced", "dsn": "5.0.0"}}
    outside = {"a": {"sender_state": "deferred", "dsn": ""},
               "b": {"sender_state": "bounced", "dsn": "5.0.0"},
               "c": {"sender_state": "delivered", "dsn": "2.0.0"},
               "d": {"sender_state": "deferred", "dsn": ""},
               "e": {"sender_state": "deferred", "dsn": ""}}
    notes = outcome_notes(inside, outside)
    assert len(notes) == 3
    assert notes[0].startswith("2 result(s), deferred: ") and \
        notes[0].endswith(": a, d")
    assert "'5.1.1' there, '5.0.0' here" in notes[1]
    assert "unexplained" in notes[2] and notes[2].endswith(": e")


@needs_postfix
def test_postfix_blackbox_matches_its_in_namespace_verdicts(tmp_path):
    """Postfix in its own namespace, reached through --expose netns: and
    graded through smtp:// only (the CLI end to end): delivered, bounced
    (the DSN's status), deferred, and the second-phase results (after a
    [fix], after the retry limit) as published for in-namespace
    Postfix."""
    out = _blackbox_against_published("postfix", tmp_path, CASES)
    # the reload hook runs before the first submission (a SUT must not
    # keep an earlier run's TLSA records), and between the passes
    logs = sorted(tmp_path.rglob("hooks.log"))
    assert logs
    hooks = [ln.split(":")[0] for ln in logs[0].read_text().splitlines()
             if ln.startswith("$ ")]
    assert hooks[0] == "$ reload" and hooks.count("$ reload") >= 2, hooks
    assert out[("a07-null-mx", "first")]["dsn"].startswith("5.")
    assert "nullMX" in out[("a07-null-mx", "first")]["reason"]
    # the retry limit: a DSN after the expire hook; the fix: a delivery
    limit = out[("g35d-retry-limit-tlsa-mismatch", "after-limit")]
    assert limit["state"] == "bounced" and limit["dsn"].startswith("4.7.")
    assert out[("g35-retry-tlsa-fixed", "after-fix")]["state"] == \
        "delivered"


needs_exim = pytest.mark.skipif(
    os.geteuid() != 0 or not (EXIM_ROOT / "usr/sbin/exim4").exists(),
    reason="needs root and Exim (ci/exim-install)")

# as CASES, and a per-domain policy (dane-only, no TLSA: Exim bounces)
EXIM_CASES = CASES + ["g33b-dane-only-no-tlsa"]


@needs_exim
def test_exim_blackbox_matches_its_in_namespace_verdicts(tmp_path):
    """Exim as a daemon in its own namespace (appliance_exim.py), driven
    only over SMTP: the same verdicts as the in-namespace exim sender,
    which runs one `exim -M` per message; bounces are Exim's own DSNs
    (Status 5.0.0, the cause in the text part only)."""
    out = _blackbox_against_published("exim", tmp_path, EXIM_CASES)
    null = out[("a07-null-mx", "first")]
    assert null["state"] == "bounced" and null["dsn"] == "5.0.0"
    limit = out[("g35d-retry-limit-tlsa-mismatch", "after-limit")]
    assert limit["state"] == "bounced"
    assert out[("g35-retry-tlsa-fixed", "after-fix")]["state"] == \
        "delivered"
    assert out[("a01-secure-dane-ee", "first")]["state"] == "delivered"
