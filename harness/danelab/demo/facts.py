"""What a demo run showed, per part and sender, in the terms the story
uses: did the attacker read the message (or the envelope), what did it
remove, make up or present, what DNS said, what the sender logged, which
TLSRPT reports reached the domain.  Everything comes from the lab runs
(fake-mx's events, the lab resolver's answers, the sender's own log), never
from what the demo expects."""
from __future__ import annotations

import email
import email.policy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..adapters import SenderOutcome
from ..grader import Grade, sessions_by_scenario
from ..observe import Session
from ..pki import tlsa_data
from ..results import transcript_entry
from ..runner import RunResult
from ..tlsrpt_grade import Received, collect
from .demos import Demo

# How the story names each sender, and which kind it is.
LABELS = {"postfix-may": "Postfix at may", "reference": "refsend",
          "postfix": "Postfix at dane", "postfix-dane-only":
          "Postfix at dane-only", "exim": "Exim (DANE)",
          "broken-no-dane": "naive opportunistic sender"}
OPPORTUNISTIC = ("postfix-may", "broken-no-dane",
                 "broken-plaintext-fallback", "broken-no-tls")
DEFAULT_SENDERS = ("postfix-may", "reference", "postfix")


def kind_of(sender: str) -> str:
    return "opportunistic" if sender in OPPORTUNISTIC else "DANE"


@dataclass
class Captured:
    """A line the attacker read: a `command` (envelope included), a line
    of the `message`, or a line of a message its own server received."""
    text: str
    kind: str


@dataclass
class CertSeen:
    """A certificate a server presented (from fake-mx's tls event and the
    lab's PKI), and whether it is an attacker's."""
    sha256: str
    subject: str
    issuer: str
    attacker: bool
    sni: str | None
    matches: bool | None = None      # its key against the 3 1 1 records

    def describe(self) -> str:
        who = "the attacker's own certificate" if self.attacker else \
            "the real server's certificate"
        match = "" if self.matches is None else \
            "; its key MATCHES the TLSA record" if self.matches else \
            "; its key does NOT match the TLSA record"
        return (f"{who}: subject {self.subject}, issued by {self.issuer}, "
                f"sha256 {self.sha256[:16]}…{match}")


@dataclass
class Report:
    """A TLSRPT report that reached the domain's receivers."""
    transport: str
    source: str
    doc: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def report_id(self) -> str:
        return str(self.doc.get("report-id", "?"))

    @property
    def organization(self) -> str:
        return str(self.doc.get("organization-name", "?"))

    def policies(self) -> list[dict[str, Any]]:
        return [p for p in self.doc.get("policies") or []
                if isinstance(p, dict)]

    def result_types(self) -> set[str]:
        return {str(f.get("result-type")) for p in self.policies()
                for f in p.get("failure-details") or []
                if isinstance(f, dict)}

    def summary_lines(self) -> list[str]:
        out = []
        for p in self.policies():
            pol = p.get("policy") or {}
            summ = p.get("summary") or {}
            out.append(f"policy {pol.get('policy-type')} for "
                       f"{pol.get('policy-domain')}: "
                       f"{summ.get('total-successful-session-count')} "
                       "session(s) succeeded, "
                       f"{summ.get('total-failure-session-count')} failed")
            for s in pol.get("policy-string") or []:
                out.append(f"  policy-string: {s}")
            for f in p.get("failure-details") or []:
                out.append(f"  failure: {f.get('result-type')} at "
                           f"{f.get('receiving-mx-hostname')} "
                           f"({f.get('receiving-ip')}), from "
                           f"{f.get('sending-mta-ip')}, "
                           f"{f.get('failed-session-count')} session(s)")
        return out

    def pretty(self) -> str:
        return json.dumps(self.doc, indent=2)


@dataclass
class Seen:
    """One sender in one part."""
    sender: str
    kind: str
    outcome: str                     # the grader's observed outcome
    verdict: str
    delivered_to: list[str]
    said: SenderOutcome | None
    attacker_read: bool              # the attacker has the message text
    envelope_read: bool              # ... or at least MAIL FROM / RCPT TO
    captured: list[Captured]
    stripped: list[str]
    injected: list[str]
    certs: list[CertSeen]
    log: list[str]
    dns: dict[str, Any]              # the probe's answers (results.json)
    transcript: list[dict[str, Any]]
    reports: list[Report]

    def log_tail(self, n: int) -> list[str]:
        """The last N log lines, shortened (brief_log())."""
        return [brief_log(ln) for ln in self.log[-n:]]

    def log_brief(self) -> list[str]:
        return [brief_log(ln) for ln in self.log]

    def key_log(self) -> list[str]:
        """The line that says what became of the message: Postfix's
        status= line, refsend's final event; else the last line."""
        for ln in reversed(self.log):
            if "status=" in ln or any(f'"event":"{k}"' in ln.replace(
                    " ", "") for k in ("delivered", "deferred", "bounced")):
                return [brief_log(ln)]
        return self.log_tail(1)

    def dns_lines(self) -> list[tuple[str, str]]:
        """(question, answer and its DNSSEC status), as the lab resolver
        gave them to every sender."""
        out = []
        mx = self.dns.get("MX") or {}
        ans = _rdata(mx, "MX")
        out.append(("MX", f"{', '.join(ans) or mx.get('rcode', '')} — "
                    f"{status_word(str(mx.get('status', '')))}"))
        if str(mx.get("status")) == "bogus":
            return out              # no sender learns of any host
        for host, h in (self.dns.get("hosts") or {}).items():
            det = h.get("detail") or {}
            a = det.get("A") or {}
            addr = _rdata(a, "A")
            tl = h.get("tlsa") or []
            if not addr and not tl and str(a.get("status", "")).endswith(
                    "-empty"):
                continue            # a host DNS does not name
            out.append((f"A {host}", f"{', '.join(addr) or a.get('rcode')}"
                        f" — {status_word(str(a.get('status', '')))}"))
            out.append((f"TLSA _25._tcp.{host}",
                        f"{'; '.join(tl) or 'none'} — "
                        f"{status_word(str(h.get('tlsa_status', '')))}"))
        return out


def _rdata(answer: dict[str, Any], rtype: str) -> list[str]:
    """The rdata of the RTYPE records of a probe answer (its RRSIGs
    left out)."""
    out = []
    for rr in answer.get("answer") or []:
        for line in rr.splitlines():
            f = line.split(None, 4)
            if len(f) == 5 and f[3] == rtype:
                out.append(f[4])
    return out


# refsend event fields worth a person's attention, in this order
BRIEF_KEYS = ("host", "address", "tls", "authenticated", "result_type",
              "reason", "dsn", "detail", "reply")


def brief_log(line: str) -> str:
    """A sender's log line, shortened for people: refsend's JSON events
    as `event: key=value ...` (the fields that tell what happened), an
    MTA's syslog line without its date and host name."""
    if line.startswith("{"):
        try:
            e = json.loads(line)
        except ValueError:
            return line
        return f"{e.get('event')}: " + " ".join(
            f"{k}={e[k]}" for k in BRIEF_KEYS if e.get(k) not in (None, ""))
    m = re.match(r"^\w{3} +\d+ [\d:]{8} \S+ (.*)$", line)
    return m.group(1) if m else line


def status_word(s: str) -> str:
    """secure / insecure / bogus for people (an -empty suffix: no such
    record, with that status of the denial)."""
    base = s.removesuffix("-empty")
    what = {"secure": "secure (signed, validated)",
            "insecure": "insecure (not signed: cannot be checked)",
            "bogus": "BOGUS (signature check failed)"}.get(base, base)
    return what + (", no such record" if s.endswith("-empty") else "")


def _captured(sessions: list[Session]) -> tuple[list[Captured], bool, bool]:
    """What attackers read in SESSIONS: (lines, message text?, envelope?)."""
    out: list[Captured] = []
    msg = env = False
    for s in sessions:
        if s.relay:
            in_data = False
            for line in s.captured:
                if in_data and line == ".":
                    in_data = False
                    continue
                out.append(Captured(line, "message" if in_data
                                    else "command"))
                msg = msg or in_data
                if line.upper().startswith(("MAIL FROM:", "RCPT TO:")):
                    env = True
                if line.upper() == "DATA":
                    in_data = True
        elif s.impostor:
            env = env or s.mail
            for m in s.messages:
                msg = True
                out.append(Captured(f"MAIL FROM:<{m.get('from')}>",
                                    "command"))
                out += [Captured(f"RCPT TO:<{t}>", "command")
                        for t in m.get("to") or []]
                p = Path(m.get("spool") or "")
                text = p.read_text(errors="replace") if p.is_file() else ""
                out += [Captured(ln, "message")
                        for ln in text.splitlines()]
            if s.mail and not s.messages:
                out += [Captured(f"RCPT TO:<{t}>", "command")
                        for t in s.rcpts]
    return out, msg, env


def _reports(received: list[Received], domain: str) -> list[Report]:
    out = []
    for r in received:
        if r.doc is None or domain not in r.domains:
            continue
        headers: dict[str, str] = {}
        if r.transport == "mailto" and Path(r.source).is_file():
            m = email.message_from_bytes(Path(r.source).read_bytes(),
                                         policy=email.policy.default)
            for h in ("From", "To", "Subject", "TLS-Report-Domain",
                      "TLS-Report-Submitter"):
                if m.get(h):
                    headers[h] = str(m.get(h))
            sig = str(m.get("DKIM-Signature") or "")
            d = [x.strip()[2:] for x in sig.split(";")
                 if x.strip().startswith("d=")]
            if d:
                headers["DKIM-Signature"] = f"d={d[0]} (signed)"
        out.append(Report(r.transport, r.source, r.doc, headers))
    out.sort(key=lambda x: x.transport)
    return out


def seen_in(result: RunResult, sid: str, log: list[str], kind: str
            ) -> Seen:
    """What RESULT showed for scenario SID (a sender of KIND)."""
    plan = result.plan
    sc = result.scenarios[sid]
    g: Grade = next(x for x in result.grades if x.scenario == sid)
    mine = sessions_by_scenario(plan, result.sessions.values()).get(sid, [])
    lines, msg, env = _captured(mine)
    by_sha = {it.sha256(): it for it in plan.pki.issued.values()}
    pinned = {t.split()[3].lower() for hp in plan.scenario_hosts(sid)
              for t in hp.tlsa if t.startswith("3 1 1 ")}
    certs = []
    for s in mine:
        if not s.tls or not s.cert_sha256:
            continue
        it = by_sha.get(s.cert_sha256)
        certs.append(CertSeen(
            s.cert_sha256,
            it.cert.subject.rfc4514_string() if it else "?",
            it.cert.issuer.rfc4514_string() if it else "?",
            s.impostor, s.sni,
            tlsa_data(it.cert, 1, 1) in pinned if it and pinned else None))
    rec = collect(result.run_dir, plan, result.sessions)
    return Seen(result.sender, kind, g.observed,
                g.verdict, g.delivered_to, g.sender, msg, env, lines,
                [x for s in mine for x in s.stripped],
                [x for s in mine for x in s.injected], certs, log,
                (result.dns.get(sid) or {}).get("first") or {},
                [transcript_entry(plan, s) for s in mine],
                _reports(rec, sc.rcpt_domain.rstrip(".")))


@dataclass
class DemoResult:
    """A finished demo: every sender's facts, by part."""
    demo: Demo
    folder: Path
    runs: dict[str, RunResult]
    errors: dict[str, str]
    logs: dict[tuple[str, str], list[str]]
    seconds: float
    student: int | None = None
    by_part: dict[tuple[str, str], Seen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for s, r in self.runs.items():
            for p in self.demo.parts:
                self.by_part[(p.scenario, s)] = seen_in(
                    r, p.scenario, self.logs.get((p.scenario, s), []),
                    self.kind(s))

    def kind(self, sender: str) -> str:
        """What SENDER stands for in this demo: opportunistic, DANE, or
        what the demo says (the MTA-STS sender of the mta-sts demo)."""
        return self.demo.kinds.get(sender, kind_of(sender))

    def senders(self, kinds: tuple[str, ...] = ("opportunistic", "DANE",
                                                "MTA-STS")) -> list[str]:
        return [s for s in self.runs if self.kind(s) in kinds]

    def seen(self, sid: str, sender: str) -> Seen:
        return self.by_part[(sid, sender)]

    @staticmethod
    def label(sender: str) -> str:
        return LABELS.get(sender, sender)

    def tlsa(self, sid: str) -> tuple[str, list[str]] | None:
        """The TLSA RRset the senders found (status, records) for the
        first host of SID that has one."""
        for s in self.runs:
            for h in (self.seen(sid, s).dns.get("hosts") or {}).values():
                if h.get("tlsa"):
                    return (str(h.get("tlsa_status")), list(h["tlsa"]))
        return None

    def sentence(self, sid: str, sender: str, short: bool = False) -> str:
        """What happened to SENDER's message in SID, in one sentence."""
        x = self.seen(sid, sender)
        o = x.outcome
        if o.startswith("delivered"):
            how = {"delivered-plain": "in cleartext",
                   "delivered-tls": "over TLS, unauthenticated",
                   "delivered-dane": "over DANE-authenticated TLS"
                   }.get(o, o)
            where = ", ".join(x.delivered_to) or "?"
            what = f"delivered {how} to {where}"
        else:
            what = f"{o}" + (f" ({x.said.dsn} {x.said.reason})"
                             if x.said and x.said.dsn else "")
        who = "the attacker READ the message" if x.attacker_read else \
            "the attacker read the envelope" if x.envelope_read else \
            "the attacker got nothing"
        return what + "; " + who if short else \
            f"{self.label(sender)} ({x.kind}): {what}; {who}."

    def problems(self) -> list[str]:
        """Where the run contradicts what the demo must show."""
        bad = [f"{self.label(s)}: {e}" for s, e in self.errors.items()]
        for p in self.demo.parts:
            for s in self.runs:
                want = p.expect.get(self.kind(s))
                got = self.seen(p.scenario, s).attacker_read
                if want is not None and got != want:
                    bad.append(f"{p.heading}: {self.label(s)} "
                               f"({self.kind(s)}): the attacker "
                               f"{'read' if got else 'did not read'} the "
                               f"message, the demo expects it "
                               f"{'to' if want else 'not to'}")
        if self.demo.extra_check and not self.errors:
            bad += self.demo.extra_check(self)
        return bad
