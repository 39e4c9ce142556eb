"""The lab under a simulated parent (--zone-parent, dns/internet.py): the
zones above the lab apex served from another namespace, the Internet's
validating resolver, the parent-DS check, and senders resolving through
it.  Every namespace is made by the lab or the test; the range's addresses
live only in them."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from danelab import catalog
from danelab.apex import apex_set, check_parent, lab_apex
from danelab.dns import dnsd
from danelab.dns.dnsq import Answer, query
from danelab.dns.internet import Internet, check_parent_ds, parent_ds
from danelab.dns.universe import Universe
from danelab.dns.zonebuild import Top, build_universe
from danelab.dns.zonespec import Fault
from danelab.errors import LabError
from danelab.expose import Exposure, range_on_host
from danelab.labnet import LabNet
from danelab.labplan import make_plan
from danelab.netns import LabNamespace, netns_id, pids_in_netns

ROOT = Path(__file__).resolve().parents[2]
APEX = "lab.example.net."
NET = LabNet.parse()
SECURE = "a01-secure-dane-ee"
BOGUS = "a02-mx-rrsig-expired"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


# -- the name and the zones, no daemons ---------------------------------------

@pytest.mark.parametrize("name", ["lab.example.net.", "LAB.Example.NET.",
                                  "x.org.", "a-b.c-d.example."])
def test_zone_parent_accepted(name: str) -> None:
    assert check_parent(name) == name.lower()


@pytest.mark.parametrize("name,why", [
    ("lab.example.net", "absolute"), ("net.", "two labels"),
    ("test.", "two labels"), ("lab.test.", "under test."),
    ("a_b.example.net.", "letters, digits"), ("-a.example.net.", "letters"),
    ("sim-ns.net.", "name server"), ("x.sim-ns.net.", "name server"),
    ("lab.home.arpa.", "special"), ("x.onion.", "special"),
    ("a." * 70 + "net.", "at most 128")])
def test_zone_parent_refused(name: str, why: str) -> None:
    with pytest.raises(LabError, match=why):
        check_parent(name)


def test_default_apex_is_test() -> None:
    assert lab_apex() == "test."
    sc = next(s for s in catalog.load_catalog(catalog.DEFAULT_DIR)
              if s.id == SECURE)
    assert sc.domain == f"{SECURE}.test."
    with apex_set(APEX):
        assert sc.domain == f"{SECURE}.{APEX}"
    assert sc.domain == f"{SECURE}.test."


def test_default_zones_keep_the_lab_root(tmp_path: Path) -> None:
    """Without a parent: the lab's own root delegates test. to ns.test.
    at 127.53.0.1, as before the option existed."""
    u = build_universe([], tmp_path)
    assert u.internet_zones() == [] and u.lab_zones() == [".", "test."]
    assert u.root_hints.read_text().splitlines() == [
        ". 3600000 IN NS ns.test.", "ns.test. 3600000 IN A 127.53.0.1"]
    root = (tmp_path / "root.zone").read_text().splitlines()
    assert root[1:4] == ["$TTL 300", f"@ 300 IN SOA ns.test. hostmaster."
                         f"test. {u.serial} 3600 600 86400 30",
                         "@ 300 IN NS ns.test."]
    assert root[5:] == ["test. 300 IN NS ns.test.",
                        f"test. 300 IN DS {u.apex_key.ds_text()}",
                        "ns.test. 300 IN A 127.53.0.1"]


def test_zones_above_the_apex(tmp_path: Path) -> None:
    """The root, net. and example.net. are the Internet's, named by its
    name server; example.net. delegates the apex with glue at the lab NSD
    and the DS of the apex's key; the hints name the simulated root."""
    with apex_set(APEX):
        u = build_universe([], tmp_path,
                           top=Top("10.25.0.1", "10.25.255.253"))
        assert u.internet_zones() == [".", "net.", "example.net."]
        assert u.lab_zones() == [APEX]
        parent = (tmp_path / "example.net.zone").read_text()
        assert f"{APEX} 300 IN NS ns.{APEX}" in parent
        assert f"ns.{APEX} 300 IN A 10.25.0.1" in parent
        assert f"{APEX} 300 IN DS {u.apex_key.ds_text()}" in parent
        root = (tmp_path / "root.zone").read_text()
        assert "net. 300 IN NS sim-ns.net." in root
        assert "sim-ns.net. 300 IN A 10.25.255.253" in root
        assert u.root_hints.read_text().splitlines() == [
            ". 3600000 IN NS sim-ns.net.",
            "sim-ns.net. 3600000 IN A 10.25.255.253"]
        wrong = build_universe([], tmp_path / "w", top=Top(
            "10.25.0.1", "10.25.255.253", (Fault("ds-mismatch"),)))
        assert f"{APEX} 300 IN DS {wrong.apex_key.ds_text()}" not in \
            (tmp_path / "w" / "example.net.zone").read_text()


# -- a lab under lab.example.net., the Internet in the veth's namespace -------

@contextmanager
def parent_lab(run: Path, ids: list[str],
               faults: tuple[Fault, ...] = ()
               ) -> Iterator[tuple[Universe, Exposure, Internet]]:
    """A universe (not started) of IDS under APEX, exposed by veth, the
    Internet at the far end; everything stopped on leaving."""
    with apex_set(APEX):
        scs = [s for s in catalog.load_catalog(catalog.DEFAULT_DIR)
               if s.id in ids]
        plan = make_plan(scs, net=NET)
        exp = Exposure("veth", NET)
        ns = LabNamespace(run / "ns")
        ns.open()
        try:
            exp.setup(ns, run)
            inet = Internet.attach(exp, faults)
            assert inet is not None
            yield (Universe(plan.zones, run, ns,
                            (plan.addrs.resolver, str(NET.v4)), inet),
                   exp, inet)
        finally:
            exp.close()
            ns.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[Universe, Exposure, Internet]]:
    with parent_lab(tmp_path_factory.mktemp("inet"), [SECURE, BOGUS]) as t:
        t[0].start()
        yield t


def _internet_asks(exp: Exposure, inet: Internet, name: str, rtype: str
                   ) -> Answer:
    """NAME RTYPE asked from the Internet namespace, of its resolver."""
    assert exp.sut_ns
    return exp.sut_ns.call(query, name, rtype, inet.resolver, 10.0)


@root_only
def test_internet_resolver_validates_the_lab(lab) -> None:
    """From the Internet namespace, through the Internet's resolver: the
    secure scenario's MX and TLSA come back with AD, the expired MX
    signature SERVFAILs; the Internet and the lab run in two namespaces."""
    u, exp, inet = lab
    assert exp.sut_ns and inet.nsd and inet.unbound and u.nsd
    assert netns_id(inet.nsd.pid) == netns_id(inet.unbound.pid) == \
        exp.sut_ns.ns_id != u.ns.ns_id == netns_id(u.nsd.pid)
    dom = f"{SECURE}.{APEX}"
    mx = _internet_asks(exp, inet, dom, "MX")
    assert mx.rcode == "NOERROR" and mx.ad
    assert any(f"MX 10 mx1.{dom}" in a for a in mx.answer)
    tlsa = _internet_asks(exp, inet, f"_25._tcp.mx1.{dom}", "TLSA")
    assert tlsa.rcode == "NOERROR" and tlsa.ad
    assert any(" TLSA 3 1 1 " in a for a in tlsa.answer)
    bogus = _internet_asks(exp, inet, f"{BOGUS}.{APEX}", "MX")
    assert bogus.rcode == "SERVFAIL" and not bogus.ad
    # a sender in the Internet namespace asks the Internet's resolver
    assert f"nameserver {inet.resolver}\n" in \
        (exp.sut_ns.run_dir / "resolv.conf").read_text()
    # the Internet's NSD serves only what is above the apex, the lab's
    # only the apex and below
    conf = (u.run / "inet-nsd.conf").read_text()
    assert 'name: "example.net."' in conf and APEX not in conf
    assert 'name: "example.net."' not in (u.run / "nsd.conf").read_text()
    assert range_on_host(NET) == []


@root_only
def test_parent_ds_matches_the_apex_key(lab) -> None:
    u, exp, inet = lab
    assert u.built
    found, ad = parent_ds(u.ns, inet.resolver)
    assert ad and found == [u.built.apex_key.ds_text().lower()]
    check_parent_ds(u.ns, inet.resolver, u.built.apex_key)   # no raise


def _forget(u: Universe) -> None:
    """Both resolvers forget everything they cached and learnt."""
    for name in ("unbound", "inet-unbound"):
        dnsd.unbound_flush(u.ns, u.run, None, u.nsd_addrs, name=name)
        dnsd.unbound_control(u.run, "flush_infra", "all", name=name)


@root_only
def test_lab_trust_comes_from_the_internet_namespace(lab) -> None:
    """With the Internet's NSD stopped, a name under the apex no longer
    resolves (SERVFAIL or no answer) at the lab's own resolver (once it
    forgets the delegation it had), though the lab's NSD still serves it;
    started again, it does."""
    u, exp, inet = lab
    assert u.built
    name = f"mx1.{SECURE}.{APEX}"
    inet.stop_nsd(u.ns)
    try:
        _forget(u)
        # Unbound retries the silent root for longer than this: no
        # answer in 5 s, or SERVFAIL, is "does not resolve"
        a = u.ns.call(query, name, "A", dnsd.UNBOUND_ADDR, 5.0)
        assert a.rcode in ("SERVFAIL", "TIMEOUT") and not a.answer, a
        direct = u.ns.call(query, name, "A", NET.lab_nsd, 3.0)
        assert direct.rcode == "NOERROR" and direct.answer
    finally:
        inet.nsd = dnsd.start_nsd(u.ns, u.built, u.run,
                                  u.built.internet_zones(),
                                  (inet.nsd_addr,), "inet-nsd", inet.netns)
    _forget(u)
    a = u.ns.call(query, name, "A", dnsd.UNBOUND_ADDR, 10.0)
    assert a.rcode == "NOERROR" and a.ad


@root_only
def test_wrong_parent_ds_refuses_to_start(tmp_path: Path) -> None:
    """A parent publishing a DS of no key of the apex: the start stops at
    the check, naming both DS, before the lab's resolver runs."""
    with parent_lab(tmp_path, [SECURE], (Fault("ds-mismatch"),)) as \
            (u, exp, inet):
        with pytest.raises(LabError) as e:
            u.start()
        assert u.built and u.unbound is None
        want = u.built.apex_key.ds_text()
        tag = want.split()[0]
        msg = str(e.value)
        assert f"the parent example.net. publishes for {APEX} {tag} 13 2 " \
            in msg and want.split()[3].lower() in msg
        published = msg.split(" publishes for ")[1].split(", but")[0]
        assert want.split()[3].lower() not in published


# -- the command line ---------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/usr/bin/python3", "-m", "danelab", *args],
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=300,
                          env={**os.environ,
                               "PYTHONPATH": str(ROOT / "harness")})


def test_cli_refuses_a_bad_parent(tmp_path: Path) -> None:
    cp = _cli("universe", "up", "-s", SECURE, "--zone-parent", "lab.test.",
              "--run-dir", str(tmp_path / "u"))
    assert cp.returncode == 2 and "under test." in cp.stderr
    assert not (tmp_path / "u").exists()
    cp = _cli("run", "-s", SECURE, "--zone-parent", APEX, "--expose",
              "bridge:br0", "--run-dir", str(tmp_path / "r"))
    assert cp.returncode == 2 and "--expose veth or netns" in cp.stderr
    cp = _cli("explain", SECURE, "--zone-parent", APEX)
    assert cp.returncode == 0
    assert f"_25._tcp.mx1.{SECURE}.{APEX}" in cp.stdout
    assert ".test." not in cp.stdout


@root_only
def test_universe_env_under_a_parent(tmp_path: Path) -> None:
    """universe up --zone-parent: env names the apex, its parent, the DS
    to publish there (the one the Internet's resolver then serves), the
    Internet's resolver, trust anchor and namespace; down stops the
    Internet's daemons too."""
    run = tmp_path / "u"
    cp = _cli("universe", "up", "-s", SECURE, "--zone-parent", APEX,
              "--run-dir", str(run))
    try:
        assert cp.returncode == 0, cp.stderr
        env = json.loads(_cli("universe", "env", "--json", "--run-dir",
                              str(run)).stdout)
        zp = env["zone_parent"]
        assert zp["apex"] == APEX and zp["parent"] == "example.net."
        assert zp["resolver"] == NET.inet_resolver
        assert zp["trust_anchor_file"] == env["trust_anchor_file"]
        assert env["envelope_sender"] == f"tester@sender.{APEX[:-1]}"
        ds = zp["ds"].split(" IN DS ")[1].split()
        dig = subprocess.run(
            ["nsenter", f"--net={zp['namespace']}", "--", "dig", "+short",
             f"@{zp['resolver']}", "DS", APEX], capture_output=True,
            text=True, timeout=30).stdout.split()
        assert dig[:3] == ds[:3] and "".join(dig[3:]).lower() == ds[3]
        text = _cli("universe", "env", "--run-dir", str(run)).stdout
        assert f"publish at parent {zp['ds']}" in text
        state = json.loads((run / "universe.json").read_text())
        inet = [p for p in state["procs"] if p["name"].startswith("inet-")]
        assert len(inet) == 2 and all(p["ns_id"] != state["ns_id"]
                                      for p in inet)
    finally:
        down = _cli("universe", "down", "--run-dir", str(run))
    assert down.returncode == 0
    for p in inet:
        assert not pids_in_netns(p["ns_id"])


def _run_under_parent(sender: str, ids: list[str], tmp_path: Path
                      ) -> dict[str, Any]:
    """`danelab run --sender SENDER --zone-parent APEX` on IDS (exit 0);
    its cases by id, exactly IDS."""
    argv = ["run", "--sender", sender, "--zone-parent", APEX,
            "--run-dir", str(tmp_path / "r")]
    for i in ids:
        argv += ["-s", i]
    cp = _cli(*argv)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    res = json.loads((tmp_path / "r" / "report" / "results.json")
                     .read_text())
    cases = {c["id"]: c for c in res["cases"]}
    assert sorted(cases) == sorted(ids)
    return cases


@root_only
def test_reference_sender_under_a_parent(tmp_path: Path) -> None:
    """The reference sender, in the lab namespace, trusting the simulated
    root: the secure scenario delivered, the bogus one not, the TLSRPT
    reports (to reports.<apex>, a scenario's record written for
    reports.test) received and graded."""
    ids = [SECURE, BOGUS, "h37b-mailto-only"]
    cases = _run_under_parent("reference", ids, tmp_path)
    assert all(c["verdict"] == "pass" for c in cases.values())
    assert cases[SECURE]["observed"] == "delivered-dane"
    assert not cases[BOGUS]["observed"].startswith("delivered")
    assert all(c["tlsrpt"]["verdict"] == "pass" for c in cases.values())


needs_postfix = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("postconf"),
    reason="needs root and Postfix (ci/deps)")


@needs_postfix
def test_postfix_in_the_lab_namespace_under_a_parent(tmp_path: Path
                                                     ) -> None:
    """A sender inside the lab namespace that resolves through resolv.conf
    (Postfix) runs under a parent too: the lab is exposed there, and
    resolv.conf names the resolver the plan gives out (it named the
    loopback one, and the set-up check refused the run).  Its verdicts
    are those published for Postfix under test."""
    ids = [SECURE, BOGUS, "a07-null-mx"]
    cases = _run_under_parent("postfix", ids, tmp_path)
    pub = json.loads((ROOT / "docs/results/postfix.json").read_text())
    for i in ids:
        assert (cases[i]["verdict"], cases[i]["observed"]) == \
            (pub["cases"][i]["verdict"], pub["cases"][i]["observed"]), i
    assert cases[SECURE]["observed"] == "delivered-dane"


@needs_postfix
def test_blackbox_postfix_under_a_parent(tmp_path: Path) -> None:
    """The smtp:// black-box path under a parent: Postfix in its own
    namespace (--expose netns:, where the Internet's daemons run too)
    delivers to the secure scenario and bounces the null MX, its DSN to
    tester@sender.<apex> at the lab's sender mailbox."""
    from danelab.appliance import PostfixAppliance
    with apex_set(APEX), \
            PostfixAppliance(tmp_path / "appliance", NET) as app:
        argv = ["run", "--sender", app.url, "--expose",
                f"netns:{app.netns_path}", "--zone-parent", APEX,
                "--pass-seconds", "20", "--run-dir", str(tmp_path / "lab"),
                "-s", SECURE, "-s", "a07-null-mx"]
        for k, v in app.hooks().items():
            argv += ["--hook", f"{k}={v}"]
        cp = _cli(*argv)
        main_cf = (tmp_path / "appliance" / "postfix" / "conf" /
                   "main.cf").read_text()
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert f"myorigin = sender.{APEX[:-1]}" in main_cf
    res = json.loads((tmp_path / "lab" / "report" / "results.json")
                     .read_text())
    cases = {c["id"]: c for c in res["cases"]}
    assert cases[SECURE]["verdict"] == "pass"
    assert cases[SECURE]["sender_outcome"]["state"] == "delivered"
    null = cases["a07-null-mx"]["sender_outcome"]
    assert null["state"] == "bounced" and null["dsn"].startswith("5.")
    assert res.get("problems") == []
