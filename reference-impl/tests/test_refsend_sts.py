"""refsend and MTA-STS (RFC 8461), end to end in a lab namespace.

One small lab for the module: a signed DNS universe (the harness's NSD and
Unbound), fake-mx listening as every MX host, policyhost.py serving the
policy hosts on port 443, certificates from the harness's PKI (its root
is refsend's sts_ca_file).  Each test submits to its own domain with a
fresh queue (so a fresh policy cache), runs `refsend run` inside the
namespace, and reads refsend's events, fake-mx's events and the policy
hosts' request log.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from danelab.dns.universe import Universe
from danelab.dns.zonespec import Record, ZoneSpec
from danelab.netns import LabNamespace
from danelab.pki import LAB_INT, ROGUE_ROOT, CertSpec, LabPKI, tlsa_rdata
from danelab.proc import READY_LIMIT, wait_until
from danelab.tlsrpt_check import check_json

HERE = Path(__file__).resolve().parent
IMPL = HERE.parent
ROOT = IMPL.parent
PY = "/usr/bin/python3"


def policy(mode: str, *mx: str, max_age: int = 86400) -> str:
    return "".join([f"version: STSv1\r\nmode: {mode}\r\n"] +
                   [f"mx: {m}\r\n" for m in mx] +
                   [f"max_age: {max_age}\r\n"])


# domain -> (MX hosts as (name, pref, address, certificate names or
# "rogue"), policy host behaviour, policy text)
BLOCK = policy("enforce", "elsewhere.invalid")
DOMAINS: dict[str, dict[str, Any]] = {
    "enf": {"mx": [("mx1", 10, "127.25.1.1", None)], "site": "ok",
            "policy": policy("enforce", "mx1.enf.test")},
    "badname": {"mx": [("mx1", 10, "127.25.2.1", ["wrong.invalid"])],
                "site": "ok", "policy": policy("enforce", "mx1.badname.test")},
    "notlisted": {"mx": [("mx1", 10, "127.25.3.1", None)], "site": "ok",
                  "policy": policy("enforce", "mx9.notlisted.test")},
    "testing": {"mx": [("mx1", 10, "127.25.4.1", ["wrong.invalid"])],
                "site": "ok", "policy": policy("testing", "*.testing.test")},
    # mx1: DANE (its certificate is from a CA no one trusts: PKIX would
    # refuse it), not in the policy; mx2: in the policy
    "dane": {"mx": [("mx1", 10, "127.25.5.1", "rogue"),
                    ("mx2", 20, "127.25.5.2", None)], "site": "ok",
             "policy": policy("enforce", "mx2.dane.test"), "tlsa": "mx1"},
    # the redirect leads to a policy that would block delivery
    "redirect": {"mx": [("mx1", 10, "127.25.6.1", None)],
                 "site": "redirect", "policy": "", "target": BLOCK},
    "big": {"mx": [("mx1", 10, "127.25.7.1", None)], "site": "oversize",
            "policy": BLOCK},
    "chunk": {"mx": [("mx1", 10, "127.25.8.1", None)], "site": "chunked",
              "policy": BLOCK},
    # the policy host takes the connection and never says a word
    "slow": {"mx": [("mx1", 10, "127.25.9.1", None)], "site": "blackhole",
             "policy": BLOCK},
}

# How soon refsend must be gone after SIGTERM (it promises a second; the
# margin is for a busy machine).  Far below the fetch's own timeout.
STOP_BOUND = 3.0


def _jsonl(p: Path) -> list[dict[str, Any]]:
    if not p.exists():
        return []
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


class Lab:
    def __init__(self, run: Path, ns: LabNamespace, u: Universe,
                 ca: Path) -> None:
        self.run, self.ns, self.u, self.ca = run, ns, u, ca

    def fakemx(self, listener: str) -> list[dict[str, Any]]:
        return [e for e in _jsonl(self.run / "fakemx-events.jsonl")
                if e.get("listener") == listener]

    def requests(self, site: str) -> list[dict[str, Any]]:
        return [e for e in _jsonl(self.run / "policyhost.jsonl")
                if e["site"] == site]


def _build(run: Path, ns: LabNamespace) -> Lab:
    pki = LabPKI()
    zones, listeners, sites = [], [], []
    for i, (d, spec) in enumerate(DOMAINS.items(), 1):
        dom = f"{d}.test"
        recs = [Record("_mta-sts", "TXT", '"v=STSv1; id=1;"'),
                Record("mta-sts", "A", f"127.26.{i}.1")]
        for name, pref, addr, names in spec["mx"]:
            fq = f"{name}.{dom}"
            issuer = ROGUE_ROOT if names == "rogue" else LAB_INT
            cert = pki.issue(CertSpec(f"{d}-{name}", [fq] if names in
                                      (None, "rogue") else names,
                                      issuer=issuer))
            recs += [Record("@", "MX", f"{pref} {name}"),
                     Record(name, "A", addr)]
            if spec.get("tlsa") == name:
                recs.append(Record(f"_25._tcp.{name}", "TLSA",
                                   tlsa_rdata(cert.cert, 3, 1, 1)))
            listeners.append({"name": f"{d}-{name}", "address": addr,
                              "port": 25, "hostname": fq, "mode": "server",
                              "starttls": "offer",
                              "tls": {"certs": [{"chain": f"{d}-{name}",
                                                 "key": f"{d}-{name}"}]}})
        pki.issue(CertSpec(f"{d}-sts", [f"mta-sts.{dom}"]))
        sites.append({"name": f"mta-sts.{dom}", "address": f"127.26.{i}.1",
                      "chain": f"{d}-sts", "key": f"{d}-sts",
                      "behaviour": spec["site"], "policy": spec["policy"],
                      "target": spec.get("target", "")})
        zones.append(ZoneSpec(f"{dom}.", recs))
    pki.write(run / "pki")
    for item in listeners:
        c = item["tls"]["certs"][0]
        it = pki.issued[c["chain"]]
        c["chain"], c["key"] = str(it.chain_file), str(it.key_file)
    for s in sites:
        it = pki.issued[s["chain"]]
        s["chain"], s["key"] = str(it.chain_file), str(it.key_file)
    u = Universe(zones, run / "dns", ns)
    u.start()
    (run / "spool").mkdir()
    conf = run / "fakemx.json"
    conf.write_text(json.dumps({
        "events": str(run / "fakemx-events.jsonl"),
        "spool": str(run / "spool"),
        "timeouts": {"command_ms": 10000, "data_ms": 10000,
                     "tls_ms": 5000},
        "listeners": listeners}))
    fmx = ROOT / "fake-mx" / os.environ.get("DANELAB_BUILD", "build") / \
        "fake-mx"
    if not fmx.exists():
        pytest.skip(f"{fmx} not built (make -C fake-mx)")
    t = ns.spawn("fake-mx", [str(fmx), "-c", str(conf), "-p",
                             str(run / "fakemx.pid")], log=run / "fmx.log")
    ns.sup.wait_ready(t, (run / "fakemx.pid").exists)
    (run / "policyhost.json").write_text(json.dumps({"sites": sites}))
    t = ns.spawn("policyhost", [PY, str(HERE / "policyhost.py"), "--config",
                                str(run / "policyhost.json"), "--log",
                                str(run / "policyhost.jsonl"), "--ready",
                                str(run / "policyhost.ready")],
                 log=run / "policyhost.log")
    ns.sup.wait_ready(t, (run / "policyhost.ready").exists)
    return Lab(run, ns, u, pki.issued["lab-root"].cert_file or Path())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory,
        refsend_bin: Path) -> Iterator[Lab]:
    run = tmp_path_factory.mktemp("stslab")
    with LabNamespace(run / "ns") as ns:
        yield _build(run, ns)


class Sender:
    """refsend with a fresh queue (and policy cache) in the lab."""

    def __init__(self, lab: Lab, binary: Path, tmp: Path,
                 extra: tuple[str, ...] = ()) -> None:
        self.lab, self.bin, self.tmp = lab, binary, tmp
        self.conf = tmp / "refsend.conf"
        self.events = tmp / "events.jsonl"
        self.write(extra)

    def write(self, extra: tuple[str, ...] = ()) -> None:
        self.conf.write_text("\n".join([
            f"queue_dir = {self.tmp / 'queue'}",
            f"events = {self.events}",
            "resolver = 127.53.0.53",
            f"trust_anchor = {self.lab.u.trust_anchor}",
            "helo_name = refsend.sender.test",
            f"sts_ca_file = {self.lab.ca}", "sts_timeout = 10",
            "connect_timeout = 3", "command_timeout = 10",
            "tls_timeout = 5", "retry_schedule = 1", *extra]) + "\n")

    def submit(self, rcpt: str) -> str:
        cp = subprocess.run([str(self.bin), "-c", str(self.conf), "submit",
                             "-f", "s@sender.test", rcpt],
                            input=b"Subject: sts\n\nhello\n",
                            capture_output=True, timeout=30)
        assert cp.returncode == 0, cp.stderr
        return cp.stdout.decode().strip()

    def run(self) -> None:
        """One queue pass, inside the lab."""
        cp = self.lab.ns.run([str(self.bin), "-c", str(self.conf), "run",
                              "--all"], timeout=120)
        assert cp.returncode == 0, cp.stderr

    def send(self, rcpt: str) -> str:
        qid = self.submit(rcpt)
        self.run()
        return qid

    def ev(self, kind: str, qid: str | None = None) -> list[dict[str, Any]]:
        return [e for e in _jsonl(self.events) if e["event"] == kind and
                (qid is None or e.get("queue_id") == qid)]


@pytest.fixture
def sender(lab: Lab, refsend_bin: Path, tmp_path: Path) -> Sender:
    return Sender(lab, refsend_bin, tmp_path)


def test_enforce_matching_mx_valid_cert_delivers(lab: Lab, sender: Sender
                                                 ) -> None:
    qid = sender.send("a@enf.test")
    (d,) = sender.ev("delivered", qid)
    assert d["host"] == "mx1.enf.test" and d["tls"] is True
    (s,) = sender.ev("session", qid)
    assert s["mode"] == "sts" and s["authenticated"] is True
    assert s["governed"] == "sts-enforce"
    assert s["sts"] == {"mode": "enforce", "id": "1"}
    assert s["sni"] == "mx1.enf.test"
    (st,) = sender.ev("sts", qid)
    assert st["txt"] == "ok" and st["txt_id"] == "1"
    assert st["fetch"]["ok"] is True and st["policy"]["source"] == "fetch"
    assert st["policy"]["mx"] == ["mx1.enf.test"]
    assert st["policy"]["lines"][:2] == ["version: STSv1", "mode: enforce"]
    msgs = [e for e in lab.fakemx("enf-mx1") if e["event"] == "message"]
    assert len(msgs) >= 1 and all(m["tls"] for m in msgs)
    # A second message: the policy comes from the cache (same id), the
    # policy host is not asked again.
    asked = len(lab.requests("mta-sts.enf.test"))
    qid2 = sender.send("b@enf.test")
    assert len(sender.ev("delivered", qid2)) == 1
    (st2,) = sender.ev("sts", qid2)
    assert st2["cache"] == "fresh" and st2["fetch"] is None
    assert st2["policy"]["source"] == "cache"
    assert len(lab.requests("mta-sts.enf.test")) == asked
    # Past max_age (the sender's clock moved on): fetched again.
    sender.write(("clock_offset = 86401",))
    qid3 = sender.send("c@enf.test")
    (st3,) = sender.ev("sts", qid3)
    assert st3["cache"] == "expired" and st3["policy"]["source"] == "fetch"
    assert len(lab.requests("mta-sts.enf.test")) == asked + 1


def test_enforce_wrong_certificate_name_defers_nothing_in_clear(
        lab: Lab, sender: Sender) -> None:
    qid = sender.send("a@badname.test")
    assert sender.ev("delivered", qid) == []
    (d,) = sender.ev("deferred", qid)
    assert d["reason"] == "certificate-host-mismatch" and d["dsn"] == "4.7.5"
    (s,) = sender.ev("session", qid)
    assert s["mode"] == "sts" and s["state"] == "handshake"
    assert s["tls"] is True and s["authenticated"] is False
    ev = lab.fakemx("badname-mx1")
    kinds = [e["event"] for e in ev]
    assert "tls" in kinds
    # no transaction at all: no MAIL, RCPT or message, in clear or not
    assert not {"mail", "rcpt", "message"} & set(kinds)


def test_enforce_mx_not_in_policy_gets_no_mail(lab: Lab, sender: Sender
                                               ) -> None:
    """Dialled and judged (for the report), then left after the
    handshake: no MAIL, no RCPT, nothing in the clear."""
    qid = sender.send("a@notlisted.test")
    (d,) = sender.ev("deferred", qid)
    assert d["reason"] == "validation-failure" and d["dsn"] == "4.7.5"
    (p,) = sender.ev("policy", qid)
    assert p["mode"] == "sts" and p["governed"] == "sts-enforce"
    assert p["sts_failure"] == "validation-failure"
    assert "matches no mx pattern" in p["detail"]
    (s,) = sender.ev("session", qid)
    assert s["state"] == "handshake" and s["tls"] is True
    assert s["result_type"] == "validation-failure"
    kinds = [e["event"] for e in lab.fakemx("notlisted-mx1")]
    assert "tls" in kinds
    assert not {"mail", "rcpt", "message"} & set(kinds)


def test_testing_mode_delivers_and_logs_the_failure(lab: Lab, sender: Sender
                                                    ) -> None:
    qid = sender.send("a@testing.test")
    (d,) = sender.ev("delivered", qid)
    assert d["tls"] is True
    (s,) = sender.ev("session", qid)
    assert s["mode"] == "may" and s["governed"] == "sts-testing"
    assert s["outcome"] == "ok"
    assert s["result_type"] == "certificate-host-mismatch"
    assert s["sts_check"]["ok"] is False
    assert "hostname mismatch" in s["detail"]
    msgs = [e for e in lab.fakemx("testing-mx1") if e["event"] == "message"]
    assert len(msgs) == 1 and msgs[0]["tls"] is True


def test_dane_takes_precedence_over_the_policy(lab: Lab, sender: Sender
                                               ) -> None:
    qid = sender.send("a@dane.test")
    (d,) = sender.ev("delivered", qid)
    assert d["host"] == "mx1.dane.test" and d["dane"] is True
    pol = {p["host"]: p for p in sender.ev("policy", qid)}
    assert pol["mx1.dane.test"]["governed"] == "dane"
    assert pol["mx1.dane.test"]["mode"] == "dane"
    assert pol["mx2.dane.test"]["governed"] == "sts-enforce"
    (s,) = sender.ev("session", qid)
    assert s["mode"] == "dane" and s["governed"] == "dane"
    assert lab.fakemx("dane-mx2") == []


def test_redirect_is_not_followed(lab: Lab, sender: Sender) -> None:
    qid = sender.send("a@redirect.test")
    (st,) = sender.ev("sts", qid)
    assert st["policy"] is None
    assert st["result_type"] == "sts-policy-fetch-error"
    assert st["fetch"]["http_code"] == 301
    assert [r["path"] for r in lab.requests("mta-sts.redirect.test")] == \
        ["/.well-known/mta-sts.txt"]
    # no policy: delivered as without one (the redirect's target would
    # have refused mx1)
    (d,) = sender.ev("delivered", qid)
    (s,) = sender.ev("session", qid)
    assert s["governed"] == "none" and s["mode"] == "may"


@pytest.mark.parametrize("domain", ["big", "chunk"])
def test_oversize_policy_is_no_policy(lab: Lab, sender: Sender,
                                      domain: str) -> None:
    qid = sender.send(f"a@{domain}.test")
    (st,) = sender.ev("sts", qid)
    assert st["policy"] is None
    assert st["result_type"] == "sts-policy-fetch-error"
    assert "larger than 65536" in st["detail"]
    assert len(sender.ev("delivered", qid)) == 1
    assert not (sender.tmp / "queue" / "sts" / f"{domain}.test.json"
                ).exists()


@pytest.mark.parametrize("command", ["run", "daemon"])
def test_sigterm_cancels_a_policy_fetch_in_flight(
        lab: Lab, sender: Sender, procs: list[subprocess.Popen[bytes]],
        command: str) -> None:
    """The policy host accepts the connection and never answers: SIGTERM
    ends refsend at once all the same (the fetch is dropped, not waited
    for), the message stays queued with its attempt not counted, and the
    interrupted fetch is no sts-* failure for TLSRPT."""
    sender.write(("sts_timeout = 120",))   # only the signal ends it soon
    qid = sender.submit("a@slow.test")
    held = len(lab.requests("mta-sts.slow.test"))
    argv = [str(sender.bin), "-c", str(sender.conf), command]
    if command == "run":
        argv.append("--all")
    p = subprocess.Popen(lab.ns.enter_argv() + argv,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    procs.append(p)
    # the fetch is in flight: the policy host holds its connection
    assert wait_until(lambda: len(lab.requests("mta-sts.slow.test")) >
                      held, READY_LIMIT), "refsend never reached the host"
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(STOP_BOUND)
    except subprocess.TimeoutExpired:
        pytest.fail(f"refsend {command} still running {STOP_BOUND} s "
                    "after SIGTERM, a policy fetch in flight")
    took = time.monotonic() - t0
    err = p.stderr.read().decode() if p.stderr else ""
    assert rc == 0, err
    assert took < STOP_BOUND
    cp = subprocess.run(argv[:3] + ["status"], capture_output=True,
                        timeout=30)
    (st,) = [json.loads(x) for x in cp.stdout.decode().splitlines()]
    assert st["queue_id"] == qid and st["attempts"] == 0
    assert st["rcpts"][0]["state"] == "pending"
    (d,) = sender.ev("deferred", qid)
    assert d["reason"] == "interrupted" and d["attempts"] == 0
    (ev,) = sender.ev("sts", qid)
    assert ev["result_type"] is None and ev["policy"] is None
    assert ev["fetch"]["ok"] is False
    assert "interrupted" in ev["fetch"]["detail"]
    # no connection to any MX host was made
    assert sender.ev("session", qid) == []


def test_tlsrpt_reports_sts_policies(lab: Lab, sender: Sender,
                                     tmp_path: Path) -> None:
    """refsend-tlsrpt on these events: policy-type sts with the policy's
    lines and patterns, the sts-* failure of a policy that could not be
    had.  The reports are read from the reporter's own copies (the rua
    goes nowhere)."""
    rep = IMPL / "tlsrpt" / os.environ.get("DANELAB_BUILD", "build") / \
        "refsend-tlsrpt"
    if not rep.exists():
        pytest.skip(f"{rep} not built (make -C reference-impl/tlsrpt)")
    doms = ["enf", "badname", "testing", "redirect", "dane"]
    for d in doms:
        sender.submit(f"a@{d}.test")
    sender.run()            # one attempt each
    conf = tmp_path / "tlsrpt.conf"
    conf.write_text("\n".join(
        [f"events = {sender.events}", f"state_dir = {tmp_path / 'state'}",
         "reporting_domain = sender.test", "organization_name = refsend",
         "contact_info = r@sender.test", "timeout = 2",
         "sending_mta_ip = 127.0.0.1", "period = flush",
         "static_route = reports.test 127.0.0.1:9"] +
        [f"static_txt = _smtp._tls.{d}.test v=TLSRPTv1; "
         "rua=https://reports.test/r" for d in doms]) + "\n")
    cp = subprocess.run([str(rep), "-c", str(conf), "flush"],
                        capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    reports = {}
    for f in (tmp_path / "state" / "reports").glob("*.json"):
        doc = json.loads(f.read_text())
        # every MUST of RFC 8460 section 4 (period = flush: not a day)
        assert [p for p in check_json(doc) if p.level == "MUST"] == []
        dom = doc["policies"][0]["policy"]["policy-domain"]
        reports[dom] = {(p["policy"]["policy-type"],
                         tuple(p["policy"].get("mx-host", []))): p
                        for p in doc["policies"]}
    assert set(reports) == {f"{d}.test" for d in doms}
    enf = reports["enf.test"][("sts", ("mx1.enf.test",))]
    assert enf["policy"]["policy-string"] == [
        "version: STSv1", "mode: enforce", "mx: mx1.enf.test",
        "max_age: 86400"]
    assert enf["summary"]["total-successful-session-count"] == 1
    bad = reports["badname.test"][("sts", ("mx1.badname.test",))]
    assert bad["summary"]["total-failure-session-count"] == 1
    assert bad["failure-details"][0]["result-type"] == \
        "certificate-host-mismatch"
    assert bad["failure-details"][0]["receiving-ip"] == "127.25.2.1"
    tst = reports["testing.test"][("sts", ("*.testing.test",))]
    assert tst["summary"] == {"total-successful-session-count": 0,
                              "total-failure-session-count": 1}
    assert tst["failure-details"][0]["result-type"] == \
        "certificate-host-mismatch"
    red = reports["redirect.test"]
    assert red[("sts", ())]["failure-details"][0]["result-type"] == \
        "sts-policy-fetch-error"
    assert red[("sts", ())]["policy"]["policy-string"] == []
    assert red[("no-policy-found", ("mx1.redirect.test",))]["summary"][
        "total-successful-session-count"] == 1
    (dane,) = reports["dane.test"].values()
    assert dane["policy"]["policy-type"] == "tlsa"
    assert dane["summary"]["total-successful-session-count"] == 1
