"""MTA-STS on the lab side: policy and TXT parsing, MX patterns, the
grader's WebPKI judgement (sts_auth), and the policy server's faults seen by
a conforming fetch (sts_fetch) in the host's loopback, on a free port."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from scenario_text import head
from danelab.labplan import make_plan
from danelab.pki import LAB_INT, ROGUE_INT, WEBPKI_INT, WEBPKI_ROOT, \
    CertSpec, LabPKI
from danelab.sts_auth import webpki_valid
from danelab.sts_fetch import fetch
from danelab.sts_lab import write_config
from danelab.sts_loopback import policy_server, scenarios, webpki_ca
from danelab.sts_policy import mx_matches, parse_policy, parse_txt
from danelab.sts_server import PolicyServer

GOOD = ("version: STSv1\r\nmode: enforce\r\nmx: mx1.a.test\r\n"
        "max_age: 86400\r\n")


@pytest.mark.parametrize("records,sid", [
    (["v=STSv1; id=20240101;"], "20240101"),
    (["v=STSv1;id=abc"], "abc"),
    (["v=spf1 -all", "v=STSv1; id=7;"], "7"),
    (["v=STSv1; id=1; ext=x;"], "1"),
    ([], None),
    (["v=STSv1; id=1;", "v=STSv1; id=2;"], None),
    (["v=STSv2; id=1;"], None),
    (["v=STSv1; id=;"], None),
    (["v=STSv1; id=" + "a" * 33 + ";"], None),
    (["v=STSv1; id=a-b;"], None),
])
def test_txt(records: list[str], sid: str | None) -> None:
    assert parse_txt(records).id == sid


@pytest.mark.parametrize("text,why", [
    (GOOD, ""),
    (GOOD.replace("\r\n", "\n"), ""),
    (GOOD + "x-extension: 1\r\n", ""),
    ("version: STSv1\nmode: none\nmax_age: 0\n", ""),
    (GOOD.replace("STSv1", "STSv2"), "version"),
    (GOOD.replace("mode: enforce\r\n", ""), "no mode"),
    (GOOD.replace("enforce", "strict"), "mode"),
    (GOOD.replace("mx: mx1.a.test\r\n", ""), "without any mx"),
    (GOOD.replace("86400", "1d"), "max_age"),
    (GOOD.replace("86400", "31557601"), "exceeds"),
    (GOOD.replace("86400", "-1"), "max_age"),
    ("<html>not a policy</html>", "no key"),
])
def test_policy(text: str, why: str) -> None:
    r = parse_policy(text)
    assert (r.policy is not None) == (why == ""), r.why
    assert why in r.why


def test_policy_several_mx_and_max_age_limit() -> None:
    p = parse_policy(GOOD.replace("86400", "31557600") +
                     "mx: *.b.test\r\n").policy
    assert p is not None and p.max_age == 31557600
    assert p.mx == ["mx1.a.test", "*.b.test"]
    assert p.matches("x.b.test") and p.matches("MX1.A.TEST.")
    assert not p.matches("b.test")


@pytest.mark.parametrize("pattern,host,ok", [
    ("mx.a.test", "mx.a.test", True),
    ("mx.a.test", "MX.A.Test.", True),
    ("mx.a.test.", "mx.a.test", True),
    ("*.a.test", "mx.a.test", True),
    ("*.a.test", "a.test", False),          # never the base domain
    ("*.a.test", "x.mx.a.test", False),     # one label only
    ("*.a.test", "mx.b.test", False),
    ("mx.*.test", "mx.a.test", False),      # only a leftmost wildcard
    ("mäx.a.test", "xn--mx-via.a.test", True),    # U-label pattern
    ("xn--mx-via.a.test", "mäx.a.test", True),
    ("mx.a.test", "mx2.a.test", False),
    ("", "mx.a.test", False),
])
def test_mx_patterns(pattern: str, host: str, ok: bool) -> None:
    assert mx_matches(pattern, host) is ok


# -- sts_auth -------------------------------------------------------------

@pytest.fixture(scope="module")
def pki() -> LabPKI:
    p = LabPKI()
    for name, issuer, validity, names in (
            ("good", WEBPKI_INT, "valid", ["mx1.a.test"]),
            ("wild", WEBPKI_INT, "valid", ["*.a.test"]),
            ("expired", WEBPKI_INT, "expired", ["mx1.a.test"]),
            ("future", WEBPKI_INT, "not-yet-valid", ["mx1.a.test"]),
            ("labca", LAB_INT, "valid", ["mx1.a.test"]),
            ("rogue", ROGUE_INT, "valid", ["mx1.a.test"]),
            ("self", "self", "valid", ["mx1.a.test"])):
        p.issue(CertSpec(name, names, issuer=issuer, validity=validity))
    return p


@pytest.mark.parametrize("name,host,ok,why", [
    ("good", "mx1.a.test", True, "WebPKI-valid"),
    ("good", "MX1.a.test.", True, "WebPKI-valid"),
    ("wild", "mx1.a.test", True, "WebPKI-valid"),
    ("wild", "a.test", False, "host-mismatch"),
    ("good", "mx2.a.test", False, "host-mismatch"),
    ("expired", "mx1.a.test", False, "expired"),
    ("future", "mx1.a.test", False, "expired"),
    ("labca", "mx1.a.test", False, "not-trusted"),
    ("rogue", "mx1.a.test", False, "not-trusted"),
    ("self", "mx1.a.test", False, "not-trusted"),
])
def test_webpki_valid(pki: LabPKI, name: str, host: str, ok: bool,
                      why: str) -> None:
    root = pki.issued[WEBPKI_ROOT].cert
    v = webpki_valid(pki.issued[name].chain, root, host)
    assert v.ok is ok and why in v.why, v.why


def test_webpki_needs_the_intermediate(pki: LabPKI) -> None:
    """A leaf sent without its issuing CA does not reach the root; the
    root need not be sent."""
    root = pki.issued[WEBPKI_ROOT].cert
    chain = pki.issued["good"].chain
    assert webpki_valid(chain[:2], root, "mx1.a.test").ok
    assert not webpki_valid(chain[:1], root, "mx1.a.test").ok
    assert not webpki_valid([root], root, "mx1.a.test").ok
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=400)
    assert "expired" in webpki_valid(chain, root, "mx1.a.test", later).why


# -- the policy server ----------------------------------------------------

I39 = "\n" + head("I", 39, "RFC 8461", "t", ("mta-sts",))

SCEN = I39 + """[[cert]]
name = "wrongname"
names = ["www"]
issuer = "webpki-int"
[[cert]]
name = "expired"
names = ["mta-sts"]
issuer = "webpki-int"
validity = "expired"
[[host]]
name = "mx1"
mx = 10
[sts]
fault = "{fault}"
{extra}
[expect]
outcome = ["delivered-tls"]
policy = "sts-enforce"
[expect.ground]
outcome = "8461-no-policy"
"""

FAULTS: list[tuple[str, str, str]] = [
    # fault, extra [sts] lines, what the conforming fetch says
    ("none", "", ""),
    ("not-found", "", "HTTP 404"),
    ("redirect", "", "HTTP 301 (not followed)"),
    ("content-type", "", "media type text/html"),
    ("oversize", "", "over 64 KiB"),
    ("oversize-chunked", "", "over 64 KiB"),
    ("sni-required", "", ""),
    ("none", 'cert = "wrongname"', "certificate: Hostname mismatch"),
    ("none", 'cert = "expired"', "certificate: certificate has expired"),
    ("refused", "", "connection"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Any, PolicyServer, Path]]:
    """One policy server with one site per fault, on 127.44.S.1 and a
    free port; every scenario is a real file read by the loader."""
    d = tmp_path_factory.mktemp("sts")
    plan = make_plan(scenarios(d, {
        f"i39-fault{i}": SCEN.format(fault=fault, extra=extra)
        for i, (fault, extra, _) in enumerate(FAULTS)}))
    with policy_server(plan, d) as srv:
        yield plan, srv, d


def _events(d: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in
            (d / "events.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("i", range(len(FAULTS)))
def test_fault_seen_by_a_conforming_fetch(
        server: tuple[Any, PolicyServer, Path], i: int) -> None:
    plan, srv, d = server
    sp = plan.sts[f"i39-fault{i}"]
    ca = webpki_ca(d)
    r = fetch(sp.address, sp.fqdn, ca, srv.port, timeout=5)
    why = FAULTS[i][2]
    assert r.ok is (why == ""), r.why
    assert why in r.why
    if r.ok:
        pol = parse_policy(r.body.decode()).policy
        assert pol is not None and pol.mode == "enforce"
        assert pol.mx == [f"mx1.i39-fault{i}.test"]


def test_request_logged_with_sni(server: tuple[Any, PolicyServer, Path]
                                 ) -> None:
    plan, srv, d = server
    sp = plan.sts["i39-fault0"]
    ca = webpki_ca(d)
    assert fetch(sp.address, sp.fqdn, ca, srv.port).ok
    ev = [e for e in _events(d) if e["scenario"] == "i39-fault0"
          and e.get("event") == "request"]
    assert ev and ev[-1]["sni"] == sp.fqdn and ev[-1]["status"] == 200
    assert ev[-1]["path"] == "/.well-known/mta-sts.txt"


def test_without_sni_another_certificate(
        server: tuple[Any, PolicyServer, Path]) -> None:
    """sni-required: a fetch without SNI gets the hosting default
    certificate, not the policy host's; with SNI the right one."""
    plan, srv, d = server
    sp = plan.sts["i39-fault6"]
    ca = webpki_ca(d)
    r = fetch(sp.address, sp.fqdn, ca, srv.port, sni=False)
    assert not r.ok and "does not fit" in r.why
    assert fetch(sp.address, sp.fqdn, ca, srv.port, sni=True).ok
    plain = plan.sts["i39-fault0"]
    assert fetch(plain.address, plain.fqdn, ca, srv.port, sni=False).ok


def test_oversize_body_is_valid_policy_if_read_whole(
        server: tuple[Any, PolicyServer, Path]) -> None:
    """The padded body parses as the policy (only the size makes it
    wrong), so a sender without the cap is caught accepting it."""
    from danelab.sts_server import padded
    body = padded(GOOD.encode())
    assert len(body) > 64 * 1024
    assert parse_policy(body.decode()).policy is not None


def test_blackhole_and_slow_time_out(tmp_path: Path) -> None:
    """A black-holed host never finishes the TLS handshake; a slow one
    never finishes the body: the fetch gives up at its limit."""
    plan = make_plan(scenarios(tmp_path, {
        f"i39-{fault}": SCEN.format(fault=fault, extra="")
        for fault in ("blackhole", "slow")}))
    with policy_server(plan, tmp_path) as srv:
        ca = webpki_ca(tmp_path)
        for fault in ("blackhole", "slow"):
            sp = plan.sts[f"i39-{fault}"]
            r = fetch(sp.address, sp.fqdn, ca, srv.port, timeout=1.5)
            assert not r.ok and ("timed out" in r.why or
                                 "connection" in r.why), (fault, r.why)
    ev = {e["fault"]: e for e in _events(tmp_path)}
    assert ev["blackhole"]["event"] == "blackholed"
    assert ev["slow"]["status"] == 200 and ev["slow"]["sent"] < 10


def test_reload_changes_the_policy(tmp_path: Path) -> None:
    """A second configuration (the [fix.sts] of pass 2) replaces the
    policy and the fault of a running server."""
    [sc] = scenarios(tmp_path, {"i39-reload": SCEN.format(
        fault="not-found", extra="") +
        '[fix.sts]\nmode = "testing"\n[expect.after_fix]\n'
        'outcome = ["delivered-tls"]\npolicy = "sts-testing"\n'
        '[expect.after_fix.ground]\noutcome = "8461-no-policy"\n'})
    plan = make_plan([sc])
    plan2 = make_plan([sc], fixed=True, pki=plan.pki, infra=plan.infra)
    ready = tmp_path / "ready"
    with policy_server(plan, tmp_path, ready) as srv:
        ca = webpki_ca(tmp_path)
        sp = plan.sts["i39-reload"]
        assert "404" in fetch(sp.address, sp.fqdn, ca, srv.port).why
        write_config(plan2, tmp_path, 2)
        srv.reload_wanted.set()
        from danelab.proc import wait_until
        assert wait_until(lambda: ready.read_text() == "ready 2\n", 5)
        r = fetch(sp.address, sp.fqdn, ca, srv.port)
        assert r.ok and b"mode: testing" in r.body


def test_in_the_lab_namespace(tmp_path: Path, labns: Any) -> None:
    """The whole path a real MTA takes inside the lab: the TXT record and
    mta-sts.<domain> in the universe, the policy server in the namespace,
    and the lab's WebPKI root in the namespace's /etc/ssl/certs (curl
    with its default trust fetches the policy; the host's bundle is not
    touched)."""
    from danelab import sts_lab
    from danelab.dns.universe import Universe
    [sc] = scenarios(tmp_path, {"i39-inns": SCEN.format(fault="none",
                                                        extra="")})
    plan = make_plan([sc])
    plan.pki.write(tmp_path / "pki")
    before = Path("/etc/ssl/certs/ca-certificates.crt").stat()
    u = Universe(plan.zones, tmp_path, labns)
    u.start()
    bundle = sts_lab.write_trust(plan.pki, tmp_path / "webpki")
    sts_lab.mount_trust(labns, bundle.parent)
    sts_lab.start(labns, plan, tmp_path)
    txt = labns.run(["dig", "+short", "TXT", f"_mta-sts.{sc.domain}"])
    assert txt.stdout.decode().strip() == '"v=STSv1; id=1;"'
    cp = labns.run(["curl", "-sS", "--max-time", "10",
                    f"https://mta-sts.{sc.domain.rstrip('.')}"
                    "/.well-known/mta-sts.txt"])
    assert cp.returncode == 0, cp.stderr
    assert parse_policy(cp.stdout.decode()).policy is not None
    assert Path("/etc/ssl/certs/ca-certificates.crt").stat() == before
    ev = sts_lab.fetches(tmp_path)["i39-inns"]
    assert ev[-1]["status"] == 200 and ev[-1]["sni"] == \
        f"mta-sts.{sc.domain.rstrip('.')}"


# -- the grader's MTA-STS judgement (synthetic observations) --------------

GRADE_TOML = I39 + """[[cert]]
name = "web"
names = ["mx1"]
issuer = "webpki-int"
[[cert]]
name = "rogue"
names = ["mx2"]
issuer = "rogue-int"
[[host]]
name = "mx1"
mx = 10
cert = "web"
[[host]]
name = "mx2"
mx = 20
cert = "rogue"
[sts]
mx = {mx}
[expect]
outcome = ["delivered-tls", "deferred"]
policy = "{policy}"
[expect.ground]
outcome = "8461-enforce"
"""


def _graded(tmp_path: Path, host: str, mx: str = '["mx1", "mx2"]',
            policy: str = "sts-enforce", fetches: Any = (),
            features: tuple[str, ...] = ("mta-sts",)) -> Any:
    from danelab.adapters.base import SenderOutcome
    from danelab.grader import Observation, feature_gate, grade
    from danelab.observe import Session
    from danelab.probe import HostDns
    [sc] = scenarios(tmp_path, {"i39-grader": GRADE_TOML.format(
        mx=mx, policy=policy)})
    plan = make_plan([sc])
    hp = plan.hosts[(sc.id, host)]
    s = Session("s1", hp.listener, tls=True, mail=True,
                cert_sha256=hp.cert.sha256(),
                chain_sha256=[hp.cert.sha256()] +
                [plan.pki.issued[n].sha256() for n in
                 ("webpki-int", "rogue-int")])
    s.events.append({"ts": dt.datetime.now().timestamp()})
    s.messages.append({"message_id": "m1", "ts": 1.0})
    dns = {h: HostDns("insecure", []) for h in ("mx1", "mx2")}
    ob = Observation([s], [(s, s.messages[0])], dns,
                     SenderOutcome("delivered"), plan.sts[sc.id],
                     list(fetches))
    return feature_gate(sc, sc.expect, grade(sc, plan, sc.expect, ob),
                        features)


def _sts_check(g: Any) -> Any:
    return [c for c in g.checks if c.kind == "sts-policy"]


def test_grader_sts_enforce(tmp_path: Path) -> None:
    """Enforce: a listed MX with a WebPKI-valid certificate passes; a
    listed one whose certificate is from an unknown CA, and an unlisted
    one, fail the sts-policy check."""
    g = _graded(tmp_path, "mx1")
    assert g.verdict == "pass" and _sts_check(g)[0].ok
    g = _graded(tmp_path, "mx2")
    assert g.verdict == "fail" and "not-trusted" in _sts_check(g)[0].text
    g = _graded(tmp_path, "mx1", mx='["mx2"]')
    assert g.verdict == "fail" and "not listed" in _sts_check(g)[0].text
    g = _graded(tmp_path, "mx2", policy="sts-testing")
    assert g.verdict == "pass" and not _sts_check(g)


def test_grader_redirect_followed(tmp_path: Path) -> None:
    g = _graded(tmp_path, "mx1", fetches=[{"followed_redirect": True}])
    assert g.verdict == "fail"
    assert any(c.kind == "sts-redirect" and not c.ok for c in g.checks)


def test_feature_gate(tmp_path: Path) -> None:
    """Without mta-sts: a pass and an STS failure become info; a failure
    where DANE or no policy governs stays a failure."""
    g = _graded(tmp_path, "mx1", features=())
    assert g.verdict == "info" and "would be pass" in g.checks[-1].text
    g = _graded(tmp_path, "mx1", mx='["mx2"]', features=())
    assert g.verdict == "info" and "would be fail" in g.checks[-1].text
    g = _graded(tmp_path, "mx1", policy="none",
                fetches=[{"followed_redirect": True}], features=())
    assert g.verdict == "fail"
