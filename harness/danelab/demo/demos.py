"""The teaching demos: what each one runs, the story it tells in stages,
and what must come out of it.

A demo runs one or more parts (a scenario each: section J of the catalog,
or a demo-only file in scenarios/ beside this module) with several
senders side by side, and tells the story stage by stage: what the
attacker does, what the sender sees, what the RFC says, and what this run
showed.  `expect` of a part says, per kind of sender (opportunistic,
DANE), whether the attacker must end up reading the message: the demo
fails (and `make check` with it) when a run says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .facts import DemoResult

# Lines about a run: the facts a stage tells, or a demo's own problems.
RunLines = Callable[["DemoResult"], list[str]]


class Detail(str):
    """A fact line that only the terminal shows (an attacker's pane, a
    log line): the handout has them in its tables."""
    detail = True


@dataclass
class Stage:
    """One stop of the narration.  FACTS adds what this run showed (it is
    called once the senders are done); a stage with BEFORE is told before
    the run starts."""
    title: str
    attacker: str = ""
    sender: str = ""
    rfc: str = ""
    facts: RunLines | None = None
    before: bool = False


@dataclass
class Part:
    """One scenario of a demo, and whether the attacker must read the
    message, per kind of sender."""
    scenario: str
    heading: str
    expect: dict[str, bool]


@dataclass
class Demo:
    name: str
    title: str
    summary: str
    parts: list[Part]
    stages: list[Stage]
    questions: list[tuple[str, str]]
    report: bool = False        # show the TLSRPT reports the run produced
    extra_check: RunLines | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # sender -> kind


# -- facts of a run, in words ------------------------------------------------

ALL = ("opportunistic", "DANE", "MTA-STS")


def _then(*parts: RunLines) -> RunLines:
    """The facts of every one of PARTS, in turn."""
    def f(r: "DemoResult") -> list[str]:
        return [line for part in parts for line in part(r)]
    return f


def _outcomes(sid: str, kinds: tuple[str, ...] = ALL) -> RunLines:
    def f(r: "DemoResult") -> list[str]:
        return [r.sentence(sid, s) for s in r.senders(kinds)]
    return f


def _logs(sid: str, kinds: tuple[str, ...]) -> RunLines:
    def f(r: "DemoResult") -> list[str]:
        out = []
        for s in r.senders(kinds):
            seen = r.seen(sid, s)
            out.append(f"{r.label(s)}: {r.sentence(sid, s, short=True)}")
            out += [Detail(f"  log: {ln}") for ln in seen.key_log()]
        return out
    return f


def _stripped(sid: str) -> RunLines:
    def f(r: "DemoResult") -> list[str]:
        gone = sorted({ln for s in r.senders() for ln in
                       r.seen(sid, s).stripped})
        return [f"The attacker removed this line from the server's EHLO "
                f"reply: {ln!r}" for ln in gone] or [
                    "(no line was removed in this run)"]
    return f


def _pane(sid: str, kinds: tuple[str, ...] = ALL) -> RunLines:
    def f(r: "DemoResult") -> list[str]:
        out: list[str] = []
        for s in r.senders(kinds):
            seen = r.seen(sid, s)
            if not seen.captured:
                out.append(Detail(f"Attacker's pane for {r.label(s)}: "
                                  "nothing"))
                continue
            out.append(Detail(f"Attacker's pane for {r.label(s)} (what "
                              "it read):"))
            out += [Detail("  | " + c.text.replace("\t", "    "))
                    for c in seen.captured[:14]]
            if len(seen.captured) > 14:
                out.append(Detail(f"  | ... {len(seen.captured) - 14} "
                                  "more lines"))
        return out
    return f


def _certs(sid: str) -> RunLines:
    def f(r: "DemoResult") -> list[str]:
        out = []
        for s in r.senders():
            for c in r.seen(sid, s).certs[:1]:
                out.append(f"{r.label(s)} was shown {c.describe()}")
        return out + ["(Every sender has a universe of its own, with keys "
                      "of its own: the digests differ from one to the "
                      "next.)"]
    return f


def _dns(sid: str) -> RunLines:
    def f(r: "DemoResult") -> list[str]:
        s = r.senders()[0]
        return [f"{q}: {a}" for q, a in r.seen(sid, s).dns_lines()]
    return f


def _report(sid: str) -> RunLines:
    def f(r: "DemoResult") -> list[str]:
        out = []
        for s in r.senders():
            reps = r.seen(sid, s).reports
            if not reps:
                out.append(f"{r.label(s)}: sent no TLSRPT report")
                continue
            out.append(f"{r.label(s)}: {len(reps)} report(s), by "
                       f"{' and '.join(x.transport for x in reps)}, from "
                       f"{reps[0].organization}")
            out += [Detail(f"  | {ln}") for ln in reps[0].summary_lines()]
        return out
    return f


SENDERS_LINE = ("Three senders each send one message to it: Postfix at "
                "`may` (opportunistic TLS, the way most mail servers are "
                "set up), the lab's reference sender and Postfix at "
                "`dane` (both DANE senders).")

# -- the demos ----------------------------------------------------------------

J41 = "j41-starttls-stripped"
J42 = "j42-impostor-pkix-valid-cert"
J43 = "j43-forged-mx-answer"
J43U = "j43u-forged-mx-unsigned-zone"

STRIP = Demo(
    name="strip",
    title="STARTTLS stripping: the attacker deletes one line",
    summary="An on-path attacker removes STARTTLS from the server's EHLO "
    "reply; the opportunistic sender falls back to cleartext, the DANE "
    "senders refuse.",
    parts=[Part(J41, "STARTTLS stripped on the way",
                {"opportunistic": True, "DANE": False})],
    stages=[
        Stage("The set-up", before=True,
              sender="The recipient domain is signed with DNSSEC. Its MX "
              "host is mx1, and mx1 has a TLSA record: a fingerprint of the "
              "real server's key, signed too. The real server offers "
              "STARTTLS. Every connection to mx1's address reaches an "
              "attacker instead, who relays it to the real server. "
              + SENDERS_LINE,
              rfc="STARTTLS (RFC 3207) is offered in the server's answer "
              "to EHLO, before any encryption: nothing protects that "
              "offer."),
        Stage("What the attacker does",
              attacker="It passes every line along in both directions, "
              "except one: it deletes \"250 STARTTLS\" from the server's "
              "answer to EHLO. It also answers STARTTLS itself with an "
              "error, should a sender ask anyway. The real server never "
              "learns that anything happened.",
              facts=_stripped(J41)),
        Stage("What the opportunistic sender sees",
              sender="An EHLO answer without STARTTLS: exactly what an old "
              "server without TLS would say. Postfix at `may` follows its "
              "rule, \"use TLS when it is offered\", and sends the "
              "envelope and the message in cleartext, through the "
              "attacker.",
              facts=_then(_outcomes(J41, ("opportunistic",)),
                          _pane(J41, ("opportunistic",)))),
        Stage("What the DANE senders see",
              sender="The same answer. But they looked up the TLSA record "
              "of mx1 first, and DNSSEC said it is genuine (secure): for "
              "them TLS is not optional. They stop before sending even "
              "the envelope, and keep the message to try again later.",
              facts=_then(_logs(J41, ("DANE",)), _pane(J41, ("DANE",)))),
        Stage("What the RFC says",
              rfc="RFC 7672 §1.3.1 describes this downgrade attack. "
              "§2.2: when a host has a secure, usable TLSA RRset, TLS is "
              "mandatory, and the sender must not deliver without it. The "
              "failure is treated as temporary (defer, not bounce): the "
              "message is delayed, not lost, and is delivered once the "
              "attack stops. The `tlsrpt` demo shows how the domain's "
              "owner hears about it.",
              facts=_outcomes(J41)),
    ],
    questions=[
        ("Why can't the opportunistic sender notice the attack?",
         "STARTTLS is offered in cleartext, before any encryption, and the "
         "attacker can change that text at will. Without a second, "
         "trustworthy source saying \"this server does TLS\" (DANE's signed "
         "TLSA record, or MTA-STS), a missing STARTTLS looks exactly like "
         "an old server."),
        ("What told the DANE senders that TLS was required, and why can't "
         "the attacker remove that too?",
         "The TLSA record of mx1, looked up through DNSSEC-validated DNS. "
         "The attacker sits on the SMTP path and cannot forge the zone's "
         "signatures: if it tampered with the DNS answer, the answer would "
         "be bogus and the sender would stop all the same (see the "
         "spoof-mx demo)."),
        ("The DANE senders did not deliver either. What did the attacker "
         "gain, and what happens to the message?",
         "It gained nothing to read: not even the envelope left the "
         "sender. The message stays queued and is retried; once the attack "
         "stops it is delivered. The most the attacker can do is delay "
         "mail, and TLSRPT tells the domain's owner that it is happening."),
    ])

IMPOSTOR = Demo(
    name="impostor",
    title="The impostor: encrypted, but to the wrong server",
    summary="The attacker terminates TLS itself with its own certificate "
    "(one a CA trusted for PKIX issued for mx1); opportunistic TLS accepts "
    "it, DANE refuses on the TLSA mismatch.",
    parts=[Part(J42, "Impostor with a certificate for mx1",
                {"opportunistic": True, "DANE": False})],
    stages=[
        Stage("The set-up", before=True,
              sender="The recipient domain is signed with DNSSEC; its MX "
              "host mx1 has a TLSA record holding the fingerprint of the "
              "real server's public key (DANE-EE, 3 1 1). The attacker "
              "redirects every connection to mx1's address to a server of "
              "its own. " + SENDERS_LINE,
              rfc="RFC 7672 §3.1.1: with a DANE-EE record the server's key "
              "must match the record; the certificate's names, dates and "
              "issuer do not matter."),
        Stage("What the attacker does",
              attacker="It answers as mx1, offers STARTTLS and completes "
              "the TLS handshake itself, with its own key and a "
              "certificate for mx1's name from a CA that senders trust (as "
              "when a CA is tricked into issuing one). The sender gets "
              "encryption, to the attacker.",
              facts=_certs(J42)),
        Stage("What the opportunistic sender sees",
              sender="TLS works. Postfix at `may` encrypts but checks no "
              "certificate at all (it has no way of knowing which one is "
              "right), so it hands over the message. The attacker decrypts "
              "it: it holds the key.",
              facts=_then(_outcomes(J42, ("opportunistic",)),
                          _pane(J42, ("opportunistic",)))),
        Stage("What the DANE senders see",
              sender="The same handshake. They compare the key the server "
              "showed with the TLSA record: no match. They stop before "
              "sending the envelope and keep the message for later.",
              facts=_logs(J42, ("DANE",))),
        Stage("What the RFC says",
              rfc="RFC 7672 §1.3.4: trusting hundreds of CAs means any one "
              "of them that is fooled can fool the sender; DANE lets the "
              "domain's owner publish the one key that counts. §2.2: no "
              "matching record, no delivery to that host (defer).",
              facts=_outcomes(J42)),
    ],
    questions=[
        ("The connection was encrypted. Why is the message still not safe?",
         "It was encrypted to the attacker, who holds the key and reads "
         "everything. Encryption without authentication only keeps out "
         "those who merely listen; the question is who is at the other "
         "end."),
        ("The certificate named mx1 and was signed by a CA the sender "
         "trusts. Why did the DANE senders reject it?",
         "The TLSA record (3 1 1) pins the SHA-256 of the real server's "
         "public key. The impostor's key is different. With DANE-EE the CA "
         "and the names are not consulted at all (RFC 7672 §3.1.1)."),
        ("The domain's owner replaces the real server's key. What must be "
         "done first so that DANE senders keep delivering?",
         "Publish a TLSA record for the new key beside the old one, wait "
         "until the old RRset has expired from caches (its TTL), then "
         "switch keys, and only then remove the old record (RFC 7671 §8). "
         "Otherwise DANE senders defer, exactly as they did here."),
    ])

SPOOF_MX = Demo(
    name="spoof-mx",
    title="A forged MX answer: unsigned, then signed",
    summary="The attacker answers the MX lookup with its own host. For an "
    "unsigned domain every sender follows it; once the zone is signed the "
    "forged answer is bogus and the validating senders refuse.",
    parts=[Part(J43U, "Part 1: the domain is not signed",
                {"opportunistic": True, "DANE": True}),
           Part(J43, "Part 2: the domain is signed",
                {"opportunistic": False, "DANE": False})],
    stages=[
        Stage("The set-up", before=True,
              sender="Two recipient domains. The first is not signed with "
              "DNSSEC; the second is. For each, the attacker answers the "
              "senders' MX question (\"which host takes mail for this "
              "domain?\") with its own host, evil. " + SENDERS_LINE
              + " All three ask the lab's resolver, which validates "
              "DNSSEC.",
              rfc="DNSSEC (RFC 4033-4035) lets a resolver check that an "
              "answer was signed with the zone's key, following a chain of "
              "signatures from the root."),
        Stage("Part 1: the unsigned domain",
              attacker="Its forged MX answer is as good as the real one: "
              "the zone has no signatures, so there is nothing to check.",
              sender="Every sender, the DANE senders too, gets an answer "
              "the resolver calls insecure. DANE does not apply to an "
              "insecure domain, so all of them deliver to evil with "
              "whatever TLS evil offers.",
              facts=_then(_dns(J43U), _outcomes(J43U))),
        Stage("Part 2: the signed domain",
              attacker="It sends the same kind of forged answer, but it "
              "cannot sign it with the zone's key: its signature is made "
              "with a key the zone does not publish.",
              sender="The resolver checks the signature against the "
              "zone's keys, finds it wrong and calls the answer bogus "
              "(it answers SERVFAIL). The senders get no MX host at all, "
              "connect nowhere, and keep the message for later.",
              facts=_then(_dns(J43), _logs(J43, ("opportunistic", "DANE")))),
        Stage("Who validated?",
              sender="Postfix at `may` refused in part 2 as well, because "
              "the lab's resolver validates for everyone. A sender whose "
              "resolver does not validate would have followed the forged "
              "MX to evil, as in part 1. DANE needs a validating resolver "
              "and a sender that trusts its verdict (Postfix: "
              "smtp_dns_support_level = dnssec; Exim: the resolver's AD "
              "bit, see case K44)."),
        Stage("What the RFC says",
              rfc="RFC 7672 §2.1.1: a bogus answer is never used, and is "
              "not treated as \"no MX record\" either (that would let the "
              "attacker send the mail to the domain's own address); it is "
              "a temporary failure: defer. §2.2: DANE applies only where "
              "the MX answer is secure.",
              facts=_then(_outcomes(J43U), _outcomes(J43))),
    ],
    questions=[
        ("In part 1 the DANE senders went to the attacker too. Why did "
         "DANE not help?",
         "The domain is not signed, so nothing tells a forged answer from "
         "a real one, and the TLSA records (if any) could be forged just "
         "as easily. DANE protects only domains whose DNS is signed; for "
         "the others RFC 7672 prescribes opportunistic TLS."),
        ("In part 2, what exactly did the resolver detect?",
         "The MX RRset's signature was made with a key that is not in the "
         "zone's DNSKEY RRset, so it does not chain up to the root's trust "
         "anchor: the answer is bogus."),
        ("Why must a bogus MX answer not be treated like \"this domain "
         "has no MX record\"?",
         "Without an MX record a sender delivers to the domain's own "
         "address (the implicit MX of RFC 5321). An attacker who can make "
         "answers fail would then choose where mail goes. So a bogus "
         "answer means: stop and retry later."),
    ])


def _reported(sid: str, kind: str, only: str | None = None,
              what: str = "") -> RunLines:
    """The check that every sender of KIND (only the sender ONLY, when
    given) reported the stripped STARTTLS of scenario SID; WHAT says for
    which policy."""
    def check(r: "DemoResult") -> list[str]:
        bad = []
        for s in r.senders((kind,)):
            if only is not None and s != only:
                continue
            types = {t for rep in r.seen(sid, s).reports
                     for t in rep.result_types()}
            if "starttls-not-supported" not in types:
                bad.append(f"{r.label(s)} sent no TLSRPT report with result "
                           f"type starttls-not-supported{what} (got "
                           f"{sorted(types) or 'no report'})")
        return bad
    return check


TLSRPT = Demo(
    name="tlsrpt",
    title="The domain owner's view: the TLSRPT report",
    summary="The strip attack again, seen from the recipient domain: the "
    "TLSRPT report the DANE sender sends afterwards, decoded.",
    parts=[Part(J41, "STARTTLS stripped on the way",
                {"opportunistic": True, "DANE": False})],
    report=True,
    extra_check=_reported(J41, "DANE", only="reference"),
    stages=[
        Stage("The set-up", before=True,
              sender="The same domain and attacker as in the strip demo. "
              "The domain also publishes where it wants reports about "
              "failed TLS: a TXT record at _smtp._tls naming a mailbox "
              "and an HTTPS address. " + SENDERS_LINE,
              rfc="RFC 8460 (SMTP TLS Reporting): senders that apply DANE "
              "or MTA-STS send the domain a daily report of the sessions "
              "that succeeded and failed, and why."),
        Stage("The attack, in short",
              attacker="It removes STARTTLS from the EHLO reply.",
              sender="The opportunistic sender delivers in cleartext; the "
              "DANE senders refuse. Nothing reaches the domain's server "
              "from them, so the domain's owner sees nothing at all.",
              facts=_outcomes(J41)),
        Stage("The report arrives",
              sender="After its attempt, the reference sender's reporter "
              "sends its report (here at once; normally once a day) to "
              "both addresses of the record: as a DKIM-signed mail with the "
              "gzip'ed JSON attached, and by HTTPS POST.",
              facts=_report(J41)),
        Stage("Reading it",
              sender="policy-type tlsa and policy-string: the TLSA records "
              "the sender found. summary: sessions that worked and failed. "
              "failure-details: the result type (starttls-not-supported: "
              "the MX did not offer STARTTLS), the MX host, the sending "
              "address, how many sessions. The owner knows mx1 does offer "
              "STARTTLS: something on the path removes it.",
              rfc="RFC 8460 §4.3 lists the result types. §5.3: a report "
              "sent by mail must be delivered even when TLS fails, so an "
              "attacker who blocks TLS cannot block the report too."),
        Stage("And the other senders?",
              sender="Postfix 3.7 sends no TLSRPT reports (Postfix 3.10 "
              "and later can, with libtlsrpt). Postfix at `may` would have "
              "nothing to report anyway: it has no policy, and as far as "
              "it knows the delivery went fine.",
              facts=_outcomes(J41, ("opportunistic",))),
    ],
    questions=[
        ("Which part of the report tells the owner that STARTTLS was "
         "removed?",
         "failure-details: result-type starttls-not-supported for "
         "receiving-mx-hostname mx1 (with failed-session-count 1), under "
         "a policy of type tlsa: the sender knew TLS was required and "
         "did not get it."),
        ("Why may a report sent by mail not depend on TLS working?",
         "The report is about TLS failing: if its own delivery required "
         "TLS, the attacker who strips STARTTLS would silence the report "
         "too (RFC 8460 §5.3). Its integrity comes from the DKIM "
         "signature instead."),
        ("The real mx1 does offer STARTTLS, yet the report says it did "
         "not. What should the owner conclude and do?",
         "Something between senders and mx1 removes it: an attacker, or "
         "a middlebox such as a firewall with an \"SMTP fixup\" feature. "
         "Look at the path from the addresses in the report (sending-mta-"
         "ip), and keep DANE: it is what turned the attack into a "
         "delay."),
    ])

J41D = "j41d-strip-sts-enforce"
J41E = "j41e-strip-sts-testing"


MTA_STS = Demo(
    name="mta-sts",
    title="MTA-STS under the strip attack: testing, then enforce",
    summary="A domain without DANE publishes an MTA-STS policy; the "
    "attacker strips STARTTLS. In testing mode the MTA-STS sender delivers "
    "anyway and reports; in enforce mode it refuses. Senders without "
    "MTA-STS fall for it both times.",
    parts=[Part(J41E, "Part 1: the policy is in testing mode",
                {"opportunistic": True, "DANE": True, "MTA-STS": True}),
           Part(J41D, "Part 2: the policy is in enforce mode",
                {"opportunistic": True, "DANE": True, "MTA-STS": False})],
    kinds={"reference": "MTA-STS"},
    report=True,
    # in testing mode the MTA-STS sender must have reported the attack
    extra_check=_reported(J41E, "MTA-STS", what=" for the testing policy"),
    stages=[
        Stage("The set-up", before=True,
              sender="The recipient domain has no TLSA records, so DANE "
              "does not apply to it. Instead it publishes an MTA-STS "
              "policy: a TXT record at _mta-sts announces it, and the "
              "policy itself (which MX hosts must be used with TLS, and "
              "the mode: testing or enforce) is served over HTTPS at "
              "mta-sts.<domain>. The attacker strips STARTTLS as in the "
              "strip demo. The senders: Postfix at `may` (no MTA-STS), "
              "refsend (applies MTA-STS, and DANE where there is DANE) and "
              "Postfix at `dane` (DANE only).",
              rfc="RFC 8461: the policy comes over HTTPS with a "
              "certificate a public CA issued for mta-sts.<domain>, so an "
              "attacker on the SMTP path cannot forge it; senders cache "
              "it for max_age seconds."),
        Stage("Part 1: testing mode",
              attacker="It removes STARTTLS from the EHLO reply.",
              sender="refsend fetched the policy: mx1 is listed, mode "
              "testing. It sees that STARTTLS is missing, counts the "
              "failure for its TLSRPT report, and delivers anyway, in "
              "cleartext: testing mode is for checking a set-up before "
              "relying on it. The other two never looked for a policy.",
              facts=_then(_outcomes(J41E), _report(J41E))),
        Stage("Part 2: enforce mode",
              sender="Same attack, policy in enforce mode: for refsend TLS "
              "to mx1, with a certificate valid for mx1, is now required. "
              "It stops before sending the envelope and keeps the message "
              "for later. Postfix at `may` and Postfix at `dane` deliver "
              "in cleartext, as in part 1.",
              facts=_then(_logs(J41D, ALL), _pane(J41D, ("MTA-STS",)))),
        Stage("And DANE?",
              sender="Postfix at `dane` was no better than Postfix at "
              "`may` here: DANE needs TLSA records in a signed zone, and "
              "this domain has none. Where a domain has both, DANE "
              "decides (RFC 8461 §2), and where it has neither, only "
              "opportunistic TLS is left."),
        Stage("What the RFC says",
              rfc="RFC 8461 §5: in enforce mode a sender must not deliver "
              "to a listed MX host without TLS and a valid certificate; in "
              "testing mode it delivers anyway and reports the failure "
              "(RFC 8460). §10: the policy protects from the first "
              "successful fetch on (trust on first use): an attacker who "
              "blocks every fetch of a sender that never had the policy "
              "leaves it with opportunistic TLS.",
              facts=_then(_outcomes(J41E), _outcomes(J41D))),
    ],
    questions=[
        ("In testing mode refsend delivered to the attacker. What was the "
         "policy good for?",
         "The report: refsend told the domain's owner, through TLSRPT, "
         "that STARTTLS was missing at mx1. Testing mode lets an owner find "
         "such problems (an attacker, or a broken set-up of their own) "
         "before switching to enforce, without losing mail."),
        ("Why can't the attacker remove the MTA-STS policy the way it "
         "removed STARTTLS?",
         "The policy is fetched over HTTPS from mta-sts.<domain> and "
         "checked against a certificate from a public CA, not read from "
         "the SMTP session; the attacker on the SMTP path cannot change "
         "it. It can only try to block the fetch, which works against a "
         "sender that never fetched the policy before (trust on first "
         "use); a cached policy keeps protecting for max_age."),
        ("Postfix at dane did not protect this domain. What would, and "
         "which wins when a domain has both?",
         "TLSA records for mx1 in the signed zone (then DANE applies, as "
         "in the strip demo), or senders that apply MTA-STS in enforce "
         "mode. With both published, DANE takes precedence (RFC 8461 §2): "
         "a sender that can do DANE uses the TLSA records."),
    ])

DEMOS: dict[str, Demo] = {d.name: d for d in (STRIP, IMPOSTOR, SPOOF_MX,
                                              TLSRPT, MTA_STS)}
