"""The grader: a scenario's expectation against what was observed.

Ground truth is what fake-mx saw (which host got the message, over TLS or
not, which certificate it presented, which SNI arrived, which addresses were
dialled); the sender's own outcome counts only where the network cannot tell
(deferred vs bounced).  A violated MUST fails the case, a violated SHOULD
warns, a MAY records the choice (verdict "info").  Every check names its
ground (grounds.py): the scenario's [expect.ground] for the outcome, prefer,
choice and hosts checks; the lab's table for the fixed kinds; and, where a
host's DNS makes DANE bind it, the RFC 7672 requirement that does.

Traffic to an address no scenario declared is a failure, not a silent pass:
fake-mx's catch-all sees every connection to port 25 of an address nobody
listens on.  One to a declared host that does not listen (`listen = false`)
is only evidence of a refused connection; one to another address of a
scenario's range fails that scenario; one outside every range is a problem
of the whole run (stray_traffic()).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from cryptography import x509

from . import grounds as gr
from .adapters.base import SenderOutcome
from .dane_auth import Verdict, authenticate, usable_records
from .grounds import Ground
from .labplan import HostPlan, LabPlan, StsPlan
from .observe import Session
from .pki import WEBPKI_ROOT
from .probe import HostDns
from .scenario import Expect, Scenario
from .sts_auth import webpki_valid
from .sts_policy import parse_policy


STATUS_RE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
# Every Check.kind this module emits, in the order grade() adds them
# (test_catalog.py reads the module's Check(...) calls to keep it in step).
CHECK_KINDS = ("outcome", "prefer", "foreign-host", "stray", "hosts",
               "no-connection", "cleartext", "envelope", "duplicate", "sni",
               "dsn", "dsn-cause", "flood", "sts-policy", "sts-redirect",
               "sender-word-arrived", "sender-word", "not-graded",
               "provisional")


@dataclass
class Check:
    level: str          # MUST | SHOULD | MAY
    ok: bool
    text: str
    kind: str           # what is checked: outcome, prefer, hosts, ...
    ground: Ground      # the requirement it rests on (grounds.py)

    def __post_init__(self) -> None:
        misfit = gr.fits(self.level, self.ground)
        if misfit:
            raise ValueError(f"{self.kind} check: {misfit}")

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "ok": self.ok, "text": self.text,
                "kind": self.kind, "ground": self.ground.as_dict()}


@dataclass
class Grade:
    scenario: str
    phase: str                      # first | after-fix | after-limit
    expected: list[str]
    observed: str
    verdict: str                    # pass | fail | warn | info
    checks: list[Check] = field(default_factory=list)
    delivered_to: list[str] = field(default_factory=list)
    sender: SenderOutcome | None = None
    sessions: list[str] = field(default_factory=list)
    tlsrpt: dict[str, Any] | None = None      # tlsrpt_grade, when graded
    # `danelab serve`: True once the grade can no longer change, False
    # while it is provisional; None in a run (every grade is final)
    final: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "expected": self.expected,
            "observed": self.observed, "verdict": self.verdict,
            "checks": [c.as_dict() for c in self.checks],
            "delivered_to": self.delivered_to,
            "sender_outcome": self.sender.__dict__ if self.sender else None,
            "sessions": self.sessions,
            "tlsrpt": self.tlsrpt,
            **({} if self.final is None else {"final": self.final}),
        }


def session_chain(s: Session, by_sha: dict[str, x509.Certificate]
                  ) -> list[x509.Certificate]:
    """The chain the server presented in S (leaf first), as certificates."""
    chain = [by_sha[h] for h in s.chain_sha256 if h in by_sha]
    if not chain and s.cert_sha256 in by_sha:
        chain = [by_sha[s.cert_sha256]]
    return chain


def session_auth(s: Session, hd: HostDns, by_sha: dict[str, x509.Certificate],
                 extra_refs: tuple[str, ...] = ()) -> Verdict:
    """Would a DANE client have authenticated the server in S, given the
    host's TLSA RRset as the lab resolver returns it (dane_auth)?"""
    if hd.tlsa_status != "secure":
        return Verdict(False, f"its TLSA RRset is {hd.tlsa_status}")
    if not s.tls:
        return Verdict(False, "the session had no TLS")
    when = dt.datetime.fromtimestamp(s.events[0]["ts"], dt.timezone.utc) \
        if s.events and "ts" in s.events[0] else None
    return authenticate(hd.tlsa, session_chain(s, by_sha),
                        hd.references + list(extra_refs), when)


def host_duty(sc: Scenario, hd: HostDns) -> tuple[str, Ground] | None:
    """Why a conforming sender may give this host nothing unless it
    authenticates it, and the requirement that says so: bogus data makes a
    host unusable (RFC 7672 §2.1.2); a secure, usable TLSA RRset makes
    authentication mandatory (§3.2); a dane-only policy asks it of every
    host.  None where DANE does not bind."""
    G = gr.GROUNDS
    if sc.policy in ("may", "exclude"):
        return None
    mx = hd.mx_status.removesuffix("-empty")
    if mx == "bogus":
        return "the MX RRset is bogus", G["7672-dns-delay"]
    if hd.addr_status == "bogus":
        return "its address RRset is bogus", G["7672-dns-skip"]
    if mx == "secure" and hd.addr_status == "secure":
        if hd.tlsa_status == "bogus":
            return "its TLSA RRset is bogus", G["7672-tlsa-failure"]
        if hd.tlsa_status == "secure" and usable_records(hd.tlsa):
            return ("it has a secure, usable TLSA RRset",
                    G["7672-no-unauthenticated"])
    if sc.policy == "dane-only" and not (hd.tlsa_status == "secure"
                                         and usable_records(hd.tlsa)):
        why = "the sender's policy is dane-only"
        if mx == "insecure":
            return why, G["7672-mandatory-insecure-mx"]
        if hd.tlsa_status == "secure" and hd.tlsa:
            return why, G["7671-mandatory-unusable"]
        return why, G["lab-policy-dane-only"]
    return None


def dane_required(sc: Scenario, hd: HostDns) -> str | None:
    """host_duty()'s reason alone."""
    duty = host_duty(sc, hd)
    return duty[0] if duty else None


def tls_duty(sc: Scenario, hd: HostDns) -> tuple[str, Ground] | None:
    """Why this host may get nothing in cleartext: host_duty(), or a secure
    TLSA RRset of only unusable records (RFC 7672 §2.2.3)."""
    duty = host_duty(sc, hd)
    if duty is not None and duty[1].name == "7672-no-unauthenticated":
        return duty[0], gr.GROUNDS["7672-tls-required"]
    if duty is not None:
        return duty
    if sc.policy not in ("may", "exclude") and \
            hd.mx_status.removesuffix("-empty") == "secure" and \
            hd.addr_status == "secure" and hd.tlsa_status == "secure" \
            and hd.tlsa:
        return "it has a secure TLSA RRset", gr.GROUNDS["7672-tls-required"]
    return None


def expect_ground(exp: Expect, kind: str) -> Ground:
    """The ground EXP names for KIND, else its outcome ground (lint makes
    sure one of them exists where the check can fail)."""
    g = exp.ground.get(kind) or exp.ground.get("outcome")
    if g is None:
        raise ValueError(f"the expectation names no ground for {kind}")
    return g


def session_scenario(plan: LabPlan, s: Session) -> str | None:
    """The scenario a session is evidence for: its listener's, or, for a
    connection the catch-all took, the one whose address range holds the
    address the sender dialled.  None: no scenario's (the report sink, or
    stray traffic)."""
    if s.catch_all:
        return plan.scenario_of_address(s.local_address)
    hp = plan.by_listener.get(s.listener)
    return hp.scenario if hp else None


def sessions_by_scenario(plan: LabPlan, sessions: Iterable[Session]
                         ) -> dict[str, list[Session]]:
    """Each scenario's evidence (session_scenario()), in one pass."""
    out: dict[str, list[Session]] = {}
    for s in sessions:
        sid = session_scenario(plan, s)
        if sid is not None:
            out.setdefault(sid, []).append(s)
    return out


def stray_traffic(plan: LabPlan,
                  sessions: list[Session]) -> list[dict[str, Any]]:
    """Connections to addresses in no scenario's range, one problem per
    address: problems of the run as a whole (no case can own them)."""
    seen: dict[str, list[Session]] = {}
    for s in sessions:
        if s.catch_all and session_scenario(plan, s) is None:
            seen.setdefault(s.local, []).append(s)
    return [{"kind": "stray-traffic", "address": local,
             "connections": len(ss), "session": ss[0].id,
             "text": f"{len(ss)} connection(s) to {local}, an address no "
                     f"scenario declared (the first from {ss[0].peer}, "
                     f"fake-mx session {ss[0].id})"}
            for local, ss in sorted(seen.items())]


@dataclass
class Observation:
    """Everything seen for one scenario in one phase."""

    sessions: list[Session]                   # on this scenario's listeners
    deliveries: list[tuple[Session, dict[str, Any]]]   # its message, anywhere
    dns: dict[str, HostDns]                   # host name -> what DNS says
    sender: SenderOutcome | None
    sts: StsPlan | None = None                # the MTA-STS policy served
    sts_fetches: list[dict[str, Any]] = field(default_factory=list)


def _classify(sc: Scenario, plan: LabPlan, obs: Observation,
              by_sha: dict[str, x509.Certificate]) -> tuple[str, list[str]]:
    if not obs.deliveries:
        state = obs.sender.state if obs.sender else "unknown"
        return (state if state in ("deferred", "bounced") else
                f"not-delivered({state})"), []
    to, cls = [], "delivered-dane"
    for sess, _msg in obs.deliveries:
        hp = session_host(plan, sess)
        to.append(hp.name if hp and hp.scenario == sc.id
                  else sess.listener)
        if not sess.tls:
            cls = "delivered-plain"
            continue
        hd = obs.dns.get(hp.name) if hp else None
        dane = hd is not None and session_auth(
            sess, hd, by_sha, (sc.rcpt_domain.rstrip("."),)).ok
        if not dane and cls == "delivered-dane":
            cls = "delivered-tls"
    return cls, to


def dsn_matches(code: str, pattern: str) -> bool:
    """Does enhanced status code CODE fit PATTERN ('x' = any)?"""
    got, want = code.split("."), pattern.split(".")
    return len(got) == len(want) == 3 and all(
        w == "x" or g == w for g, w in zip(got, want))


def dsn_checks(patterns: list[str], out: SenderOutcome | None
               ) -> list[Check]:
    """A bounce must come with a DSN whose Status is an RFC 3463 code
    (RFC 3464 §2.3.4 makes Status required; RFC 5321 §6.1 the DSN); it
    should name the cause (e.g. X.7.x, security, for a DANE failure)."""
    code = out.dsn if out else ""
    valid = bool(STATUS_RE.fullmatch(code)) and code[0] in "45"
    checks = [Check("MUST", valid, f"DSN with status {code}" if valid else
                    f"no DSN status code (got {code!r})", "dsn",
                    gr.kind_ground("dsn"))]
    if valid:
        ok = any(dsn_matches(code, p) for p in patterns)
        names = "names" if ok else "does not name"
        checks.append(Check("SHOULD", ok, f"DSN status {code} {names} the "
                            f"cause (expected {' or '.join(patterns)})",
                            "dsn-cause", gr.kind_ground("dsn-cause")))
    return checks


def sni_each_host(sc: Scenario, plan: LabPlan, obs: Observation,
                  tls: list[Session]) -> list[Check]:
    """`sni = "*"`: every TLS session to a host of this scenario whose
    TLSA RRset is secure carries that host's TLSA base domain as SNI
    (RFC 7672 §8.1); sessions to hosts without DANE are not judged."""
    seen, bad = 0, []
    for s in tls:
        hp = session_host(plan, s)
        hd = obs.dns.get(hp.name) if hp and hp.scenario == sc.id else None
        if hp is None or hd is None or hd.tlsa_status != "secure":
            continue
        seen += 1
        want = hd.base or hp.fqdn.rstrip(".")
        if (s.sni or "").lower() != want.lower():
            bad.append(f"{hp.name}: {s.sni or 'none'} (expected {want})")
    if not seen:
        return []
    return [Check("MUST", not bad, "each DANE host got its TLSA base "
                  "domain as SNI" if not bad else
                  "SNI wrong: " + "; ".join(sorted(set(bad))), "sni",
                  gr.kind_ground("sni"))]


def session_host(plan: LabPlan, s: Session) -> HostPlan | None:
    """The declared host the sender dialled for a session: by its
    listener; for a connection the catch-all took, by the address dialled;
    for the second leg of a relayed session, the relay's host (the sender
    chose it, and its TLSA RRset is the one the chain is judged by)."""
    if s.catch_all:
        return plan.by_address.get(s.local_address)
    if s.via_listener:
        return plan.by_listener.get(s.via_listener)
    return plan.by_listener.get(s.listener)


def unauthenticated_allowed(exp: Expect, host: str) -> bool:
    """Does EXP let the message reach HOST without DANE authentication
    (where the scenario grades a DANE step as a SHOULD, e.g. the TLSA
    fallback to the original MX name)?  Then the envelope may too."""
    return bool({"delivered-tls", "delivered-plain"} & set(exp.outcome)) \
        and (exp.hosts is None or host in exp.hosts)


def envelope_checks(sc: Scenario, plan: LabPlan, exp: Expect,
                    obs: Observation,
                    by_sha: dict[str, x509.Certificate]) -> list[Check]:
    """Where DANE binds a host (host_duty()), the sender may not give it
    the envelope unless it authenticated it: such a host is unusable, so
    even MAIL FROM and RCPT TO (the recipient's address) must not reach it.
    A host with no DANE obligation, or one the expectation lets the message
    reach unauthenticated, is not judged.  One check per requirement that
    binds a judged host."""
    judged: dict[str, Ground] = {}
    bad: dict[str, list[str]] = {}
    for s in obs.sessions:
        hp = session_host(plan, s)
        hd = obs.dns.get(hp.name) if hp and hp.scenario == sc.id else None
        duty = host_duty(sc, hd) if hd else None
        if hp is None or hd is None or duty is None or \
                unauthenticated_allowed(exp, hp.name):
            continue
        why, ground = duty
        judged.setdefault(ground.name, ground)
        bad.setdefault(ground.name, [])
        if not s.mail:
            continue
        v = session_auth(s, hd, by_sha, (sc.rcpt_domain.rstrip("."),))
        if v.ok:
            continue
        what = "the message" if s.messages else \
            "MAIL FROM and RCPT TO" if s.rcpts else "MAIL FROM"
        bad[ground.name].append(
            f"{hp.name} got {what} over {'TLS' if s.tls else 'cleartext'}, "
            f"but {why} and {v.why} (fake-mx session {s.id})")
    return [Check("MUST", not bad[n], "no envelope reached a host the "
                  "sender could not authenticate" if not bad[n] else
                  "envelope sent to an unauthenticated host: " +
                  "; ".join(bad[n]), "envelope", g)
            for n, g in judged.items()]


def no_connection_check(sc: Scenario, plan: LabPlan, exp: Expect,
                        obs: Observation) -> list[Check]:
    """`no_connection`: hosts the sender must not even dial."""
    if not exp.no_connection:
        return []
    hit = sorted({f"{hp.name} (fake-mx session {s.id})"
                  for s in obs.sessions
                  if (hp := session_host(plan, s)) is not None
                  and hp.scenario == sc.id and hp.name in exp.no_connection})
    return [Check("MUST", not hit, f"no connection to "
                  f"{', '.join(exp.no_connection)}" if not hit else
                  f"connected to {', '.join(hit)}", "no-connection",
                  expect_ground(exp, "no-connection"))]


def hosts_check(sc: Scenario, plan: LabPlan, exp: Expect, obs: Observation,
                to: list[str], by_sha: dict[str, x509.Certificate]
                ) -> list[Check]:
    """`hosts`: where the message may arrive.  A forbidden host the message
    reached without authentication is judged by what its DNS makes DANE
    require (host_duty()); any other by the expectation's own ground."""
    if exp.hosts is None:
        return []
    allowed = exp.hosts
    bad = [h for h in to if h not in allowed]
    ground: Ground | None = None
    for s, _m in obs.deliveries:
        hp = plan.by_listener.get(s.listener)
        if hp is None or hp.scenario != sc.id or hp.name in allowed:
            continue
        hd = obs.dns.get(hp.name)
        duty = host_duty(sc, hd) if hd else None
        if duty and hd is not None and not session_auth(
                s, hd, by_sha, (sc.rcpt_domain.rstrip("."),)).ok:
            ground = duty[1]
            break
    if ground is None:
        if "hosts" not in exp.ground and "outcome" not in exp.ground:
            # `hosts` leaves none of the file's hosts out (lint asks a
            # ground otherwise): only another scenario's host could be
            # reached, which the foreign-host check judges.
            return []
        ground = expect_ground(exp, "hosts")
    return [Check("MUST", not bad,
                  f"message reached only allowed hosts "
                  f"({', '.join(allowed) or 'none'})" if not bad
                  else f"message reached forbidden host(s) "
                  f"{', '.join(bad)}", "hosts", ground)]


def cleartext_check(sc: Scenario, plan: LabPlan, exp: Expect,
                    obs: Observation) -> list[Check]:
    """No envelope in cleartext unless the expectation allows a cleartext
    delivery; a host whose DNS demands TLS is judged by that requirement
    (tls_duty()), any other by the expectation's ground."""
    if "delivered-plain" in exp.outcome:
        return []
    plain = [s for s in obs.sessions if s.plain_mail]
    ground: Ground | None = None
    for s in plain:
        hp = session_host(plan, s)
        hd = obs.dns.get(hp.name) if hp and hp.scenario == sc.id else None
        duty = tls_duty(sc, hd) if hd else None
        if duty:
            ground = duty[1]
            break
    if ground is None:
        ground = expect_ground(exp, "cleartext")
    names = sorted({s.listener for s in plain})
    return [Check("MUST", not plain, "no envelope sent in cleartext"
                  if not plain else "envelope sent in cleartext to "
                  f"{', '.join(names)}", "cleartext", ground)]


def session_time(s: Session) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(s.events[0]["ts"], dt.timezone.utc) \
        if s.events and "ts" in s.events[0] else None


def sts_checks(sc: Scenario, plan: LabPlan, exp: Expect, obs: Observation,
               by_sha: dict[str, x509.Certificate]) -> list[Check]:
    """`policy = "sts-enforce"`: the served policy governs (RFC 8461 §4,
    §5): every envelope went to a host one of its mx patterns fits, over
    TLS, with a certificate the lab's WebPKI judges valid for that host's
    name (sts_auth).  Any STS scenario: a redirect is never followed
    (RFC 8461 §3.3)."""
    out: list[Check] = []
    if obs.sts is not None and any(f.get("followed_redirect")
                                   for f in obs.sts_fetches):
        out.append(Check("MUST", False, "the sender followed the policy "
                         "host's HTTP redirect", "sts-redirect",
                         gr.kind_ground("sts-redirect")))
    if exp.policy != "sts-enforce" or obs.sts is None:
        return out
    pol = parse_policy(obs.sts.policy).policy
    if pol is None or pol.mode != "enforce":
        return out      # the linter test keeps catalog files from this
    root = plan.pki.issued[WEBPKI_ROOT].cert
    bad = []
    for s in obs.sessions:
        hp = session_host(plan, s)
        if hp is None or hp.scenario != sc.id or not s.mail:
            continue
        host = hp.fqdn.rstrip(".")
        if not pol.matches(host):
            bad.append(f"{hp.name} is not listed by the policy "
                       f"(fake-mx session {s.id})")
        elif not s.tls:
            bad.append(f"{hp.name} got the envelope without TLS "
                       f"(fake-mx session {s.id})")
        else:
            v = webpki_valid(session_chain(s, by_sha), root, host,
                             session_time(s))
            if not v.ok:
                bad.append(f"{hp.name}: {v.why} (fake-mx session {s.id})")
    out.append(Check("MUST", not bad, "MTA-STS enforce: every envelope "
                     "went to a listed MX over TLS with a WebPKI-valid "
                     "certificate" if not bad else "MTA-STS enforce "
                     "violated: " + "; ".join(bad), "sts-policy",
                     gr.kind_ground("sts-policy")))
    return out


def feature_gate(sc: Scenario, exp: Expect, g: Grade,
                 features: tuple[str, ...]) -> Grade:
    """A scenario that `requires` what the sender does not implement is
    never passed: its grade becomes `info`.  A failure stays a failure
    where the expectation does not rest on the missing feature (DANE or no
    policy governs: every sender must get those right)."""
    missing = [f for f in sc.requires if f not in features]
    if not missing:
        return g
    if g.verdict == "fail" and exp.policy in ("dane", "none"):
        return g
    g.checks.append(Check("MAY", False, f"not graded: the sender does not "
                          f"implement {', '.join(missing)} (the grade "
                          f"would be {g.verdict})", "not-graded",
                          gr.kind_ground("not-graded")))
    g.verdict = "info"
    return g


def not_graded(sc: Scenario, exp: Expect, obs: Observation, phase: str,
               why: str) -> Grade:
    """A phase the lab could not set up for this sender: recorded, as
    info, never as a pass."""
    return Grade(sc.id, phase, exp.outcome, "not-graded", "info",
                 [Check("MAY", False, f"not graded: {why}", "not-graded",
                        gr.kind_ground("not-graded"))], [],
                 obs.sender, [s.id for s in obs.sessions])


def provisional(g: Grade, why: str, now: bool = True) -> Grade:
    """G while more can still arrive (`danelab serve`): recorded as
    info, never as a pass or a failure, with WHY (and, with NOW, the grade
    it would be now); not final."""
    would = f" (the grade would be {g.verdict} now)" if now else ""
    g.checks.append(Check("MAY", False, f"provisional: {why}{would}",
                          "provisional", gr.kind_ground("provisional")))
    g.verdict, g.final = "info", False
    return g


def outcome_checks(exp: Expect, observed: str) -> list[Check]:
    """The outcome must be one of `outcome` (MUST; with `choice`, a MAY
    while it is) and should be one of `prefer` (SHOULD)."""
    out: list[Check] = []
    inside = observed in exp.outcome
    text = f"outcome {observed}, expected one of {', '.join(exp.outcome)}"
    if not inside:
        out.append(Check("MUST", False, text, "outcome",
                         expect_ground(exp, "outcome")))
    elif exp.choice:
        out.append(Check("MAY", True, text, "outcome", exp.ground["choice"]))
    elif exp.bounded:
        out.append(Check("MUST", True, text, "outcome",
                         exp.ground["outcome"]))
    if inside and exp.prefer != exp.outcome:
        out.append(Check("SHOULD", observed in exp.prefer,
                         f"outcome {observed}, preferred "
                         f"{', '.join(exp.prefer)}", "prefer",
                         exp.ground["prefer"]))
    return out


def grade(sc: Scenario, plan: LabPlan, exp: Expect, obs: Observation,
          phase: str = "first") -> Grade:
    by_sha = plan.pki.by_sha256()
    observed, to = _classify(sc, plan, obs, by_sha)
    checks = outcome_checks(exp, observed)
    mine = {h.name for h in plan.scenario_hosts(sc.id)}
    foreign = [x for x in to if x not in mine]
    checks.append(Check("MUST", not foreign,
                        "message reached only this scenario's hosts"
                        if not foreign else
                        f"message reached undeclared hosts: {foreign}",
                        "foreign-host", gr.kind_ground("foreign-host")))
    declared = plan.declared_addresses(sc.id)
    stray = sorted({s.local_address for s in obs.sessions
                    if s.catch_all and s.local_address not in declared})
    checks.append(Check("MUST", not stray,
                        "connections only to the scenario's declared hosts"
                        if not stray else
                        f"connection(s) to address(es) the scenario never "
                        f"declared: {', '.join(stray)}", "stray",
                        gr.kind_ground("stray")))
    checks += hosts_check(sc, plan, exp, obs, to, by_sha)
    checks += no_connection_check(sc, plan, exp, obs)
    checks += cleartext_check(sc, plan, exp, obs)
    checks += envelope_checks(sc, plan, exp, obs, by_sha)
    checks += sts_checks(sc, plan, exp, obs, by_sha)
    if len(obs.deliveries) > 1:
        checks.append(Check("MUST", False, f"delivered "
                            f"{len(obs.deliveries)} times", "duplicate",
                            gr.kind_ground("duplicate")))
    tls = [s for s in obs.sessions if s.tls]
    if exp.sni == "*":
        checks += sni_each_host(sc, plan, obs, tls)
    elif exp.sni is not None and tls:
        want = sc.fqdn(exp.sni).rstrip(".")
        bad_sni = sorted({str(s.sni) for s in tls
                          if (s.sni or "").lower() != want})
        checks.append(Check("MUST", not bad_sni,
                            f"SNI {want} sent in every TLS session"
                            if not bad_sni else
                            f"SNI seen: {', '.join(bad_sni)}; expected "
                            f"{want}", "sni", gr.kind_ground("sni")))
    if exp.dsn is not None and observed == "bounced":
        checks += dsn_checks(exp.dsn, obs.sender)
    flooded = [s for s in obs.sessions if s.events_dropped]
    if flooded:
        checks.append(Check("SHOULD", False, "the sender flooded the "
                            "server: fake-mx stopped logging chatter in " +
                            ", ".join(f"{s.id} ({s.events_dropped} events "
                                      f"dropped)" for s in flooded),
                            "flood", gr.kind_ground("flood")))
    if obs.sender and obs.deliveries and obs.sender.state != "delivered":
        checks.append(Check("SHOULD", False, "message arrived but the "
                            f"sender reports {obs.sender.state}",
                            "sender-word-arrived",
                            gr.kind_ground("sender-word-arrived")))
    if obs.sender and not obs.deliveries and obs.sender.state == "delivered":
        checks.append(Check("MUST", False, "sender reports delivery, but no "
                            "lab host received the message", "sender-word",
                            gr.kind_ground("sender-word")))
    verdict = "pass"
    if any(not c.ok and c.level == "MUST" for c in checks):
        verdict = "fail"
    elif any(not c.ok and c.level == "SHOULD" for c in checks):
        verdict = "warn"
    elif exp.choice:
        verdict = "info"
    return Grade(sc.id, phase, exp.outcome, observed, verdict, checks, to,
                 obs.sender, [s.id for s in obs.sessions])
