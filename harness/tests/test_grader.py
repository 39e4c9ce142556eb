"""The grader, table-driven over synthetic observations (no daemons)."""
from __future__ import annotations

from pathlib import Path

import pytest

from scenario_text import head
from danelab.adapters.base import SenderOutcome
from danelab.grader import Observation, grade
from danelab.labplan import make_plan
from danelab.observe import Session, sessions
from danelab.probe import HostDns
from danelab.scenario import load_scenario

TOML = "\n" + head("D", 16, "RFC 7672") + """[[host]]
name = "mx1"
mx = 10
tlsa = ["3 1 1"]
[[host]]
name = "mx2"
mx = 20
tlsa = ["3 1 1!"]
[expect]
outcome = {outcome}
prefer = {prefer}
hosts = ["mx1"]
sni = "mx1"
"""
# The grounds a test scenario names: the outcome's MUST, the SHOULD of a
# preferred subset (both as lint asks for them).
GROUND = ('[expect.ground]\noutcome = "7672-no-unauthenticated"\n',
          'prefer = "7672-fallback-or-delay"\n')


def toml(outcome: str, prefer: str, extra: str = "") -> str:
    """TOML with OUTCOME and PREFER, EXTRA [expect] keys, and the grounds
    lint asks for."""
    g = GROUND[0] + (GROUND[1] if outcome != prefer else "")
    return TOML.format(outcome=outcome, prefer=prefer) + extra + g


def scenario(tmp_path: Path, outcome: str = '["delivered-dane"]',
             prefer: str = '["delivered-dane"]'):
    p = tmp_path / "d16-grader-test.toml"
    p.write_text(toml(outcome, prefer))
    sc = load_scenario(p)
    return sc, make_plan([sc])


def session(plan, host: str, tls: bool = True, sni: str | None = "auto",
            deliver: bool = True, plain_mail: bool = False,
            mid: str = "m1") -> Session:
    hp = plan.hosts[("d16-grader-test", host)]
    s = Session(f"{host}#1", hp.listener, tls=tls,
                sni=hp.fqdn.rstrip(".") if sni == "auto" else sni,
                cert_sha256=hp.cert.sha256() if tls else None,
                chain_sha256=[hp.cert.sha256()] if tls else [],
                plain_mail=plain_mail)
    if deliver:
        s.messages.append({"message_id": mid, "tls": tls, "ts": 1.0})
    return s


def obs(plan, sess: list[Session], state: str = "delivered",
        tlsa: str = "secure") -> Observation:
    dns = {h: HostDns(tlsa, plan.hosts[("d16-grader-test", h)].tlsa)
           for h in ("mx1", "mx2")}
    return Observation(sess, [(s, m) for s in sess for m in s.messages],
                       dns, SenderOutcome(state))


# (name, sessions spec, sender state, expected observed, expected verdict)
CASES = [
    ("dane delivery", [("mx1", {})], "delivered", "delivered-dane", "pass"),
    ("to forbidden host", [("mx2", {})], "delivered", "delivered-tls",
     "fail"),
    ("cleartext", [("mx1", {"tls": False})], "delivered", "delivered-plain",
     "fail"),
    ("wrong sni", [("mx1", {"sni": "mx2.example"})], "delivered",
     "delivered-dane", "fail"),
    ("no sni", [("mx1", {"sni": None})], "delivered", "delivered-dane",
     "fail"),
    ("twice", [("mx1", {}), ("mx1", {})], "delivered", "delivered-dane",
     "fail"),
    ("not delivered", [], "deferred", "deferred", "fail"),
    ("claims delivery", [], "delivered", "not-delivered(delivered)",
     "fail"),
]


@pytest.mark.parametrize("name,spec,state,observed,verdict", CASES,
                         ids=[c[0] for c in CASES])
def test_grade_table(tmp_path: Path, name: str, spec: list, state: str,
                     observed: str, verdict: str) -> None:
    sc, plan = scenario(tmp_path)
    sess = [session(plan, h, **kw) for h, kw in spec]
    g = grade(sc, plan, sc.expect, obs(plan, sess, state))
    assert (g.observed, g.verdict) == (observed, verdict), g.checks


def test_should_warns(tmp_path: Path) -> None:
    sc, plan = scenario(tmp_path, '["deferred", "bounced"]', '["deferred"]')
    g = grade(sc, plan, sc.expect, obs(plan, [], "bounced"))
    assert g.verdict == "warn"
    g = grade(sc, plan, sc.expect, obs(plan, [], "deferred"))
    assert g.verdict == "pass"


def test_envelope_in_cleartext_fails_even_without_delivery(
        tmp_path: Path) -> None:
    sc, plan = scenario(tmp_path, '["deferred"]', '["deferred"]')
    s = session(plan, "mx1", tls=False, deliver=False, plain_mail=True)
    g = grade(sc, plan, sc.expect, obs(plan, [s], "deferred"))
    assert g.verdict == "fail"
    assert any("cleartext" in c.text for c in g.checks if not c.ok)


def test_insecure_tlsa_is_not_dane(tmp_path: Path) -> None:
    sc, plan = scenario(tmp_path, '["delivered-tls"]', '["delivered-tls"]')
    g = grade(sc, plan, sc.expect, obs(plan, [session(plan, "mx1")],
                                       tlsa="insecure"))
    assert g.observed == "delivered-tls" and g.verdict == "pass"


def obs_dane(plan, sess: list[Session], state: str = "delivered"
             ) -> Observation:
    """obs() with the MX and addresses secure: DANE binds mx1 and mx2."""
    o = obs(plan, sess, state)
    for name, hd in o.dns.items():
        hd.mx_status, hd.addr_status = "secure", "secure"
        hd.base = plan.hosts[("d16-grader-test", name)].fqdn.rstrip(".")
    return o


def test_envelope_to_unauthenticated_host_fails(tmp_path: Path) -> None:
    """mx2's TLSA does not match: MAIL FROM and RCPT TO there fail the case
    even though the message went to mx1 with DANE in the end."""
    sc, plan = scenario(tmp_path)
    leak = session(plan, "mx2", deliver=False, sni=None)
    leak.mail, leak.rcpts = True, ["rcpt@d16-grader-test.test"]
    g = grade(sc, plan, sc.expect,
              obs_dane(plan, [leak, session(plan, "mx1")]))
    bad = [c for c in g.checks if not c.ok and c.kind != "sni"]
    assert g.verdict == "fail" and [c.kind for c in bad] == ["envelope"]
    assert "mx2 got MAIL FROM and RCPT TO over TLS" in bad[0].text


def test_handshake_without_envelope_is_no_leak(tmp_path: Path) -> None:
    sc, plan = scenario(tmp_path)
    probe = session(plan, "mx2", deliver=False,     # TLS, then QUIT
                    sni="mx1.d16-grader-test.test")
    g = grade(sc, plan, sc.expect,
              obs_dane(plan, [probe, session(plan, "mx1")]))
    assert g.verdict == "pass", g.checks
    assert any(c.kind == "envelope" and c.ok for c in g.checks)


def test_envelope_not_judged_where_dane_does_not_bind(tmp_path: Path
                                                      ) -> None:
    sc, plan = scenario(tmp_path)
    leak = session(plan, "mx2", deliver=False,
                   sni="mx1.d16-grader-test.test")
    leak.mail = True
    o = obs_dane(plan, [leak, session(plan, "mx1")])
    o.dns["mx2"].mx_status = "insecure"             # no DANE for mx2
    g = grade(sc, plan, sc.expect, o)
    assert g.verdict == "pass", g.checks


def test_padded_ta_chain_is_not_dane(tmp_path: Path) -> None:
    """A DANE-TA record for lab-int, a chain that carries lab-int but whose
    leaf another CA signed: delivered over TLS, not with DANE."""
    from danelab.pki import LAB_INT, ROGUE_INT, CertSpec, tlsa_rdata
    sc, plan = scenario(tmp_path, '["delivered-dane", "delivered-tls"]',
                        '["delivered-dane", "delivered-tls"]')
    pki = plan.pki
    rogue = pki.issue(CertSpec("rogue-leaf", ["mx1.d16-grader-test.test"],
                               issuer=ROGUE_INT))
    lab_int = pki.issued[LAB_INT]
    s = session(plan, "mx1")
    s.cert_sha256 = rogue.sha256()
    s.chain_sha256 = [rogue.sha256(), pki.issued[ROGUE_INT].sha256(),
                      lab_int.sha256()]
    o = obs_dane(plan, [s])
    o.dns["mx1"].tlsa = [tlsa_rdata(lab_int.cert, 2, 1, 1)]
    assert grade(sc, plan, sc.expect, o).observed == "delivered-tls"
    s.chain_sha256 = [plan.hosts[("d16-grader-test", "mx1")].cert.sha256(),
                      lab_int.sha256()]
    s.cert_sha256 = s.chain_sha256[0]
    assert grade(sc, plan, sc.expect, o).observed == "delivered-dane"


def test_no_connection(tmp_path: Path) -> None:
    p = tmp_path / "d16-grader-test.toml"
    p.write_text(toml('["delivered-dane"]', '["delivered-dane"]',
                      'no_connection = ["mx2"]\n'))
    sc = load_scenario(p)
    plan = make_plan([sc])
    probe = session(plan, "mx2", deliver=False, tls=False)
    g = grade(sc, plan, sc.expect, obs(plan, [probe, session(plan, "mx1")]))
    bad = [c for c in g.checks if not c.ok]
    assert [c.kind for c in bad] == ["no-connection"], g.checks
    g = grade(sc, plan, sc.expect, obs(plan, [session(plan, "mx1")]))
    assert g.verdict == "pass"


def test_no_connection_names_a_host(tmp_path: Path) -> None:
    from danelab.errors import SpecError
    p = tmp_path / "d16-grader-test.toml"
    p.write_text(toml('["delivered-dane"]', '["delivered-dane"]',
                      'no_connection = ["mx7"]\n'))
    with pytest.raises(SpecError, match="no_connection.*mx7"):
        load_scenario(p)


def test_sessions_fold_events() -> None:
    ev = [{"session": "a#1", "listener": "x:mx1", "event": "connect",
           "peer": "127.0.0.1:1", "local": "127.25.1.1:25", "ts": 1},
          {"session": "a#1", "listener": "x:mx1", "event": "mail",
           "from": "a@b", "ts": 2},
          {"session": "a#1", "listener": "x:mx1", "event": "tls",
           "version": "TLSv1.3", "sni": "mx1", "cert_sha256": "ab",
           "chain_sha256": ["ab"], "ts": 3},
          {"session": "a#1", "listener": "x:mx1", "event": "message",
           "message_id": "m", "tls": True, "ts": 4},
          {"event": "unparsable", "line": 9}]
    s = sessions(ev)["a#1"]
    assert s.plain_mail and s.tls and s.sni == "mx1"
    assert s.messages[0]["message_id"] == "m"


# (sender's DSN status, expected verdict): expect bounced, dsn x.7.x
DSN_CASES = [("5.7.5", "pass"), ("4.7.4", "pass"), ("5.0.0", "warn"),
             ("5.4.3", "warn"), ("", "fail"), ("2.0.0", "fail"),
             ("5.7", "fail"), ("bounced", "fail")]


@pytest.mark.parametrize("code,verdict", DSN_CASES,
                         ids=[c[0] or "none" for c in DSN_CASES])
def test_dsn_status_of_a_bounce(tmp_path: Path, code: str,
                                verdict: str) -> None:
    """A bounce MUST carry an RFC 3463 status (class 4 or 5); it SHOULD
    fit the scenario's pattern."""
    sc, plan = scenario(tmp_path, '["bounced"]', '["bounced"]')
    sc.expect.dsn, sc.expect.hosts = ["x.7.x"], []
    o = obs(plan, [], "bounced")
    o.sender = SenderOutcome("bounced", "why", code)
    g = grade(sc, plan, sc.expect, o)
    assert (g.observed, g.verdict) == ("bounced", verdict), g.checks


def test_dsn_patterns() -> None:
    from danelab.grader import dsn_matches
    assert dsn_matches("5.7.5", "x.7.x") and dsn_matches("4.7.5", "4.7.5")
    assert not dsn_matches("5.7.5", "4.7.x")
    assert not dsn_matches("5.7.15", "x.7.1")
    assert not dsn_matches("5.7", "x.7.x")


# -- the catch-all: connections to addresses nobody listens on ------------
CAUGHT_TOML = """
title = "t"
section = "F"
case = 29
rfc = "RFC 7672"
explain = "x"
[[host]]
name = "mx1"
mx = 10
listen = false
ipv6 = true
[[host]]
name = "mx2"
mx = 20
[expect]
outcome = ["delivered-tls"]
hosts = ["mx2"]
[expect.ground]
outcome = "7672-no-unauthenticated"
"""


def caught(local: str, sid: str = "catch-all#1") -> Session:
    return sessions([{"session": sid, "listener": "catch-all",
                      "event": "connect", "catch_all": True,
                      "peer": "127.0.0.1:4000", "local": local, "ts": 1},
                     {"session": sid, "listener": "catch-all",
                      "event": "close", "catch_all": True,
                      "reason": "reset", "state": "init", "ts": 1}])[sid]


@pytest.mark.parametrize("local,verdict", [
    ("127.25.1.1:25", "pass"),          # mx1: declared, listen = false
    ("[fd25::1:1]:25", "pass"),         # its IPv6 twin
    ("127.25.1.9:25", "fail"),          # in the range, never declared
    ("[fd25::1:2]:25", "fail"),         # mx2 has no IPv6 address
])
def test_caught_connections(tmp_path: Path, local: str,
                            verdict: str) -> None:
    p = tmp_path / "f29-caught.toml"
    p.write_text(CAUGHT_TOML)
    sc = load_scenario(p)
    plan = make_plan([sc])
    mx2 = plan.hosts[("f29-caught", "mx2")]
    ok = Session("mx2#1", mx2.listener, tls=True,
                 cert_sha256=mx2.cert.sha256(),
                 chain_sha256=[mx2.cert.sha256()])
    ok.messages.append({"message_id": "m1", "tls": True, "ts": 1.0})
    c = caught(local)
    assert c.catch_all and c.local_address == local.rsplit(":", 1)[0] \
        .strip("[]")
    g = grade(sc, plan, sc.expect,
              Observation([c, ok], [(ok, ok.messages[0])],
                          {"mx1": HostDns("secure", []),
                           "mx2": HostDns("secure", [])},
                          SenderOutcome("delivered")))
    assert g.observed == "delivered-tls"
    assert g.verdict == verdict, g.checks
    bad = [x.text for x in g.checks if not x.ok]
    if verdict == "fail":
        assert bad == [f"connection(s) to address(es) the scenario never "
                       f"declared: {c.local_address}"]
    assert c.id in g.sessions


def test_caught_connections_belong_to_a_range_or_to_the_run(
        tmp_path: Path) -> None:
    from danelab.grader import session_scenario, stray_traffic
    from danelab.labplan import scenario_index
    scs = []
    for sid in ("a01-one", "a02-two"):
        p = tmp_path / f"{sid}.toml"
        p.write_text(toml('["delivered-dane"]', '["delivered-dane"]')
                     .replace('section = "D"', 'section = "A"')
                     .replace("case = 16", f"case = {sid[2]}"))
        scs.append(load_scenario(p))
    plan = make_plan(scs)
    where = {"127.25.1.200:25": "a01-one", "127.25.2.1:25": "a02-two",
             "[fd25::2:7]:25": "a02-two", "127.25.3.1:25": None,
             "127.99.1.1:25": None, "127.43.0.25:25": None,
             "[fd25::3:1]:25": None, "[::1]:25": None}
    got = {local: session_scenario(plan, caught(local)) for local in where}
    assert got == where
    mx1 = plan.hosts[("a01-one", "mx1")]
    assert session_scenario(plan, Session("x#1", mx1.listener)) == "a01-one"
    assert session_scenario(plan, Session("x#1", "lab:reports-mx")) is None
    stray = [caught(local, f"catch-all#{i}")
             for i, local in enumerate(where, 1)] + \
        [caught("127.99.1.1:25", "catch-all#99")]
    probs = stray_traffic(plan, stray)
    assert [(p["kind"], p["address"], p["connections"]) for p in probs] == [
        ("stray-traffic", "127.25.3.1:25", 1),
        ("stray-traffic", "127.43.0.25:25", 1),
        ("stray-traffic", "127.99.1.1:25", 2),
        ("stray-traffic", "[::1]:25", 1),
        ("stray-traffic", "[fd25::3:1]:25", 1)]
    assert "an address no scenario declared" in probs[2]["text"]
    assert (scenario_index("127.26.1.1"), scenario_index("127.25.0.1"),
            scenario_index("127.25.251.1"), scenario_index("fd25:1::1:1"),
            scenario_index("fd25::1:1"), scenario_index("nonsense")) == \
        (251, None, None, None, 1, None)


# (SNI sent to mx1 (DANE), to mx2 (no secure TLSA), expected verdict)
SNI_EACH = [("auto", None, "pass"), ("auto", "whatever.example", "pass"),
            (None, "auto", "fail"), ("mx2.d16-grader-test.test", None,
                                     "fail")]


@pytest.mark.parametrize("sni1,sni2,verdict", SNI_EACH)
def test_sni_each_dane_host(tmp_path: Path, sni1: str | None,
                            sni2: str | None, verdict: str) -> None:
    """`sni = "*"`: each host with a secure TLSA RRset must get its own
    TLSA base domain; a host without DANE is not judged."""
    sc, plan = scenario(tmp_path, '["delivered-dane"]', '["delivered-dane"]')
    sc.expect.sni, sc.expect.hosts = "*", None
    s1 = session(plan, "mx1", sni=sni1)
    s2 = session(plan, "mx2", sni=sni2, deliver=False)
    o = obs(plan, [s1, s2])
    o.dns["mx2"] = HostDns("insecure", [])
    g = grade(sc, plan, sc.expect, o)
    assert g.verdict == verdict, g.checks


def test_envelope_not_judged_where_unauthenticated_delivery_is_allowed(
        tmp_path: Path) -> None:
    """a06's shape: the expectation lets the message reach mx1 over
    unauthenticated TLS (DANE there binds only senders that follow the MX
    CNAME, so it is graded as a SHOULD), so the envelope may go there too."""
    sc, plan = scenario(tmp_path, '["delivered-dane", "delivered-tls"]',
                        '["delivered-dane"]')
    s = session(plan, "mx1")
    s.mail = True
    o = obs_dane(plan, [s])
    o.dns["mx1"].tlsa = o.dns["mx2"].tlsa          # no longer matches
    g = grade(sc, plan, sc.expect, o)
    assert g.observed == "delivered-tls"
    assert not any(c.kind == "envelope" for c in g.checks)
    assert g.verdict == "warn"


def test_every_check_names_a_ground_that_fits(tmp_path: Path) -> None:
    """Each check of a grade carries its ground (RFC, section, keyword) into
    results.json, and the ground's keyword fits the check's level."""
    from danelab.grounds import fits
    sc, plan = scenario(tmp_path, '["deferred", "bounced"]', '["deferred"]')
    leak = session(plan, "mx2", deliver=False, sni=None)
    leak.mail = True
    g = grade(sc, plan, sc.expect, obs_dane(plan, [leak], "bounced"))
    assert g.checks and all(fits(c.level, c.ground) is None
                            for c in g.checks)
    d = g.as_dict()["checks"]
    assert {c["kind"]: c["ground"]["cite"] for c in d} == {
        "outcome": "RFC 7672 §3.2 MUST NOT",
        "prefer": "RFC 7672 §2.2 MUST",
        "foreign-host": "danelab rule (evidence) MUST",
        "stray": "danelab rule (evidence) MUST",
        "hosts": "RFC 7672 §3.2 MUST NOT",
        "cleartext": "RFC 7672 §3.2 MUST NOT",
        "envelope": "RFC 7672 §3.2 MUST NOT",
        "sni": "RFC 7672 §8.1 MUST"}
    assert "tension" in d[1]["ground"]          # graded below its MUST


def test_a_host_is_judged_by_what_its_dns_requires(tmp_path: Path) -> None:
    """The envelope and hosts checks cite the requirement the host's DNS
    brings in: a bogus TLSA RRset is RFC 7672 §2.1.2, not §3.2."""
    sc, plan = scenario(tmp_path)
    sess = [session(plan, "mx2"), session(plan, "mx1")]
    for s in sess:
        s.mail = True
    o = obs_dane(plan, sess)
    o.dns["mx2"].tlsa_status = "bogus"
    g = grade(sc, plan, sc.expect, o)
    bad = {c.kind: c.ground.name for c in g.checks if not c.ok}
    assert bad["hosts"] == "7672-tlsa-failure"
    assert bad["envelope"] == "7672-tlsa-failure"
    assert bad["duplicate"] == "lab-once"


def test_tlsrpt_checks_carry_grounds() -> None:
    from danelab.tlsrpt_grade import TlsrptGrade
    t = TlsrptGrade("fail", [("MUST", False, "x", "no-report"),
                             ("SHOULD", True, "y", "type")])
    d = t.as_dict()["checks"]
    assert [c["ground"]["cite"] for c in d] == [
        "RFC 8460 §3 MUST", "danelab rule (tlsrpt) SHOULD"]


def test_flooded_session_warns(tmp_path: Path) -> None:
    """A session whose chatter fake-mx stopped logging is a finding."""
    sc, plan = scenario(tmp_path)
    s = session(plan, "mx1")
    s.events.append({"event": "close", "events_suppressed": 5000})
    folded = sessions([{"session": s.id, "listener": s.listener,
                        "event": "close", "reason": "quit",
                        "events_suppressed": 5000}])[s.id]
    s.events_dropped = folded.events_dropped
    g = grade(sc, plan, sc.expect, obs(plan, [s]))
    bad = [c for c in g.checks if not c.ok]
    assert [c.kind for c in bad] == ["flood"] and g.verdict == "warn"
    assert "5000 events dropped" in bad[0].text
