"""Grounds: the requirement of a standard each check of the grader rests on.

A Ground names a document (an RFC, or "danelab" for the lab's own evidence
rules), a section, the normative keyword there (MUST, MUST NOT, SHOULD,
SHOULD NOT, MAY) and what the requirement says, in the lab's own words (never
the RFC's sentences).  `tension`, when set, says why a check is graded below
its keyword: two documents pull the other way, or the requirement binds only
senders with an optional feature the lab cannot see; it gives both readings.

fits() is the rule that keeps a verdict honest: a MUST check rests on a MUST
or MUST NOT; a SHOULD check on a SHOULD or SHOULD NOT, or on a MUST whose
tension is stated; a MAY check (a recorded choice) on a MAY, or on any
keyword whose tension is stated.  Scenario files name their grounds in
`[expect.ground]` (docs/scenarios.md), by name from GROUNDS or written out;
the grader takes the fixed kinds' grounds from KIND_GROUNDS, TLSRPT's from
TLSRPT_GROUNDS.  docs/grading.md explains the levels and lists every
expectation that is not a plain MUST of RFC 7672.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .certify import HEADLINE_DOCUMENTS
from .certify import documents as tally

KEYWORDS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
LAB = "danelab"
RFC_RE = re.compile(r"^RFC [1-9][0-9]{2,4}$")
SECTION_RE = re.compile(r"^[0-9A-Z][0-9.]*(, [0-9A-Z][0-9.]*)*$")
STRONG = ("MUST", "MUST NOT")
MEDIUM = ("SHOULD", "SHOULD NOT")


@dataclass(frozen=True)
class Ground:
    rfc: str                # "RFC 7672", or LAB for the lab's own rule
    section: str            # "2.2.3"; for LAB the rule's topic
    keyword: str            # one of KEYWORDS
    says: str               # the requirement, paraphrased
    tension: str = ""       # why it may be graded below its keyword
    name: str = field(default="", compare=False)   # its key in GROUNDS

    def cite(self) -> str:
        """"RFC 7672 §2.2.3 MUST NOT", "danelab rule (evidence) MUST"."""
        if self.rfc == LAB:
            return f"{LAB} rule ({self.section}) {self.keyword}"
        return f"{self.rfc} §{self.section} {self.keyword}"

    def as_dict(self) -> dict[str, str]:
        d = {"rfc": self.rfc, "section": self.section,
             "keyword": self.keyword, "says": self.says,
             "cite": self.cite()}
        if self.tension:
            d["tension"] = self.tension
        if self.name:
            d["name"] = self.name
        return d


def fits(level: str, g: Ground) -> str | None:
    """None when a check at LEVEL may rest on G, else why not."""
    if level == "MUST" and g.keyword not in STRONG:
        return (f"a MUST check needs a MUST or MUST NOT ground, not "
                f"{g.cite()}")
    if level == "SHOULD" and g.keyword not in MEDIUM and not (
            g.keyword in STRONG and g.tension):
        return (f"a SHOULD check needs a SHOULD or SHOULD NOT ground (or a "
                f"MUST with its tension stated), not {g.cite()}")
    if level == "MAY" and g.keyword != "MAY" and not g.tension:
        return (f"a MAY check (a recorded choice) needs a MAY ground or a "
                f"stated tension, not {g.cite()}")
    if level not in ("MUST", "SHOULD", "MAY"):
        return f"unknown level {level!r}"
    return None


# Reused text: the tension between deferring and bouncing.
BOUNCE_TENSION = (
    "Read strictly, the requirement asks for a delay, and returning the "
    "message at once (a bounce) is no delay. But RFC 5321 §4.5.4.1 leaves "
    "the give-up time to the sender (its 4-5 days carry no keyword), and "
    "some gateways document that they treat a DANE or DNSSEC failure as "
    "permanent and bounce at once. Both readings keep the message away from "
    "the server it must not reach, which is what the MUSTs protect; so the "
    "lab grades the choice as SHOULD: a deferral passes, a bounce warns.")

OPTIONAL_TENSION = (
    "A sender that implements {feature} must treat the matching record as "
    "authenticating the server and deliver. Support for {feature} is not "
    "mandatory ({why}); a sender without it sees an RRset with no usable "
    "record, where RFC 7671 §10.3 asks for delivery over unauthenticated "
    "TLS (a SHOULD), which the lab cannot tell from DANE. So a deferral "
    "here only warns.")


def _g(name: str, rfc: str, section: str, keyword: str, says: str,
       tension: str = "") -> Ground:
    return Ground(rfc, section, keyword, " ".join(says.split()),
                  " ".join(tension.split()), name)


_ALL = [
    # ---------------------------------------------------------- RFC 7672
    _g("7672-dns-delay", "RFC 7672", "2.1.2", "MUST", """
       When a DNS lookup fails (SERVFAIL, bogus or indeterminate) in a way
       that leaves the client unable to tell which servers it should use,
       a failed MX lookup being the plain case, delivery must be delayed:
       the message waits instead of going to any server."""),
    _g("7672-dns-delay-not-bounce", "RFC 7672", "2.1.2", "MUST", """
       A DNS failure that leaves the client unable to tell which servers to
       use means delivery is delayed (and RFC 5321 §5.1 queues a message
       whose lookup failed temporarily).""", BOUNCE_TENSION),
    _g("7672-dns-skip", "RFC 7672", "2.1.2", "MUST", """
       Any DNS failure on the way to a server (its address lookup as much
       as its TLSA lookup) makes the client skip that server; with no
       server left, delivery is delayed. A bogus answer is a failure, never
       data to act on (§2.1.1)."""),
    _g("7672-tlsa-failure", "RFC 7672", "2.1.2", "MUST NOT", """
       A server whose TLSA lookup fails (bogus, indeterminate, timeout,
       SERVFAIL, malformed reply) is treated as unreachable: the message
       must not go through it, and the client must not go on connecting to
       it."""),
    _g("7672-fallback-or-delay", "RFC 7672", "2.2", "MUST", """
       Each failure the section lists (authentication that fails where a
       usable TLSA record exists, TLS that cannot be set up where TLSA
       records exist, a TLSA lookup error) must end in trying the next MX
       host or in delayed delivery.""", BOUNCE_TENSION),
    _g("7672-tls-required", "RFC 7672", "2.2.3", "MUST NOT", """
       Once a secure TLSA RRset is found for a host, usable or not, the
       host has promised TLS: mail must not reach it unless STARTTLS set up
       a TLS session first (§2.2 adds: with only unusable records, TLS
       without authentication)."""),
    _g("7672-no-unauthenticated", "RFC 7672", "3.2", "MUST NOT", """
       When a usable secure TLSA record exists for a server, the client
       authenticates the server with the TLSA records, and the message must
       not be delivered to it when that authentication fails."""),
    _g("7672-opportunistic", "RFC 7672", "2.2", "SHOULD", """
       Where no secure TLSA record applies (insecure or absent records, or
       DANE not in use for the destination), the client should use
       ordinary opportunistic TLS, which includes delivering in cleartext to
       a server that shows no TLS support."""),
    _g("7672-cleartext-retry", "RFC 7672", "2.2", "MAY", """
       Without DANE, a client may try again in cleartext when TLS fails,
       during the handshake or later; holding the message is equally
       allowed."""),
    _g("7672-mx-preference", "RFC 7672", "2.2.1", "MUST", """
       MX hosts are taken in preference order (RFC 5321 §5.1 too); a less
       preferred host must not be chosen ahead of a more preferred one, not
       even because it has TLSA records."""),
    _g("7672-half-dane", "RFC 7672", "2.2.1", "MAY", """
       The client may use DANE with MX hosts it found through an insecure
       MX RRset, when their own address and TLSA records are secure; or
       treat the destination as having no DANE."""),
    _g("7672-mandatory-insecure-mx", "RFC 7672", "2.2.1", "MUST", """
       When DANE is mandatory for a destination and its MX RRset (or a CNAME
       leading to it) is insecure, delivery must be delayed: nothing is
       sent."""),
    _g("7672-mandatory-delay-not-bounce", "RFC 7672", "2.2.1", "MUST", """
       When DANE is mandatory for a destination whose MX RRset is insecure,
       delivery must be delayed.""", BOUNCE_TENSION),
    _g("7672-ta-mx-name", "RFC 7672", "3.2.2", "MUST", """
       The names a DANE-TA(2) client must accept are the TLSA base domain
       and, after a secure MX lookup, the next-hop domain (and its CNAME
       expansion).""", """
       The MX host name as written in the MX record, before its CNAME was
       expanded, is not on that list: a sender that refuses a certificate
       naming only it breaks no rule, and one that also accepts it (the
       name came from a secure MX RRset and a secure CNAME) loosens nothing
       the RFC asks for. The lab records which one the sender is."""),
    _g("7672-cname-original", "RFC 7672", "2.2.3", "MUST", """
       When a host name is a secure CNAME and the expanded name has no
       secure TLSA records, the client must try the original (unexpanded)
       name next; the first of the two with secure records is the TLSA base
       domain."""),
    _g("7672-cname-original-deliver", "RFC 7672", "2.2.3", "MUST", """
       The original (unexpanded) name's TLSA records authenticate the host
       when the expanded name has none, so a client that follows the CNAME
       delivers with DANE.""", """
       RFC 7672 §2.2.2 does not require senders to follow CNAMEs found as
       MX targets at all (RFC 5321 §5.1 puts such MX records outside its
       scope), so a sender may refuse the host and hold the message; one
       that follows the CNAME must use the original name's records (the
       MUST of the outcome check). A deferral here only warns."""),
    _g("7672-dane-ee", "RFC 7672", "3.1.1", "MUST", """
       A server whose leaf certificate (or key) matches a usable DANE-EE(3)
       record is authenticated, whatever names the certificate carries and
       whatever its dates say, so the client delivers."""),
    _g("7672-dane-ta", "RFC 7672", "3.2.2", "MUST", """
       With DANE-TA(2) the chain must lead from the leaf to the matched
       trust anchor and the client checks names: the TLSA base domain is
       the primary reference identifier and, when the MX RRset was secure,
       the recipient (next-hop) domain must be accepted as well. A chain
       and a name that fit authenticate the server, so the client
       delivers."""),
    _g("7672-wildcard-one-label", "RFC 7672", "3.2.3", "MUST", """
       Clients must accept a certificate name whose wildcard stands for the
       whole left-most label of a reference identifier."""),
    _g("7672-wildcard-more-labels", "RFC 7672", "3.2.3", "MAY", """
       A client's local policy may let a wildcard stand for more than one
       label; servers cannot count on it, and refusing is the common
       choice."""),
    _g("7672-sni", "RFC 7672", "8.1", "MUST", """
       The client must send the TLS SNI extension naming the TLSA base
       domain (RFC 7671 §10.2 too)."""),
    _g("7672-weak-key", "RFC 7672", "3.1.1", "MUST", """
       A server whose key matches a usable DANE-EE(3) record is
       authenticated.""", """
       RFC 7672 sets no minimum key size, and a sender's local security
       policy (the default of many TLS libraries) may refuse a key this
       weak during the handshake; the sender then holds the message, which
       keeps it from any unauthenticated server. The lab records which a
       sender does."""),
    _g("7672-cn-id", "RFC 7672", "3.2.2", "MUST", """
       A DANE-TA(2) client checks the leaf's names against its reference
       identifiers; §3.2.3 matches the subject CN when the certificate has
       no DNS name in a subjectAltName.""", """
       RFC 6125 §6.4.4 makes checking the CN a last-resort MAY, and some
       TLS libraries never read it, so a sender that refuses a leaf named
       only in its CN breaks no MUST; RFC 7672 §3.2.3 counts the CN in
       exactly this case. The lab prefers delivery as SHOULD: a deferral
       warns."""),
    # ---------------------------------------------------------- RFC 7671
    _g("7671-ta-in-dns", "RFC 7671", "5.2.2", "MUST", """
       With a DANE-TA(2) Cert(0) Full(0) record the whole trust anchor
       certificate is in DNS, and the client must be able to verify the
       server's chain even when the server does not send that
       certificate."""),
    _g("7671-ta-key-in-dns", "RFC 7671", "5.2.3", "SHOULD", """
       With a DANE-TA(2) SPKI(1) Full(0) record and no certificate of the
       chain matching it, clients are recommended (RECOMMENDED, a SHOULD)
       to accept a chain whose topmost certificate is signed by the
       record's key, the rest of the chain and the names checking out."""),
    _g("7671-expanded-first", "RFC 7671", "7", "SHOULD", """
       A client that follows a host's CNAME chain, secure at every step,
       should prefer the fully expanded name as the TLSA base domain (and
       use it for SNI and name checks)."""),
    _g("7671-unusable-tls", "RFC 7671", "10.3", "SHOULD", """
       In opportunistic use, when every TLSA record of a server is unusable
       the client should still connect with TLS, unauthenticated (and must
       not connect if TLS cannot be had)."""),
    _g("7671-mandatory-unusable", "RFC 7671", "10.3", "MUST NOT", """
       When authenticated TLS is mandatory and every TLSA record of a
       server is unusable, the client must not connect to that server."""),
    _g("7671-agility", "RFC 7671", "9", "SHOULD", """
       Digest algorithm agility: for each usage and selector the client
       should use only the usable records with the strongest digest it
       supports (and any Full(0) records), after dropping unusable and
       malformed ones; RFC 7672 §5 makes §9 apply to SMTP.""", """
       Here a correct SHA2-256 record sits beside a wrong SHA2-512 record
       for the same key. RFC 7672 §3.1.1 says a server matching a usable
       DANE-EE record is authenticated, and a client without agility
       accepts the SHA2-256 match; a client with agility ignores the
       weaker digest and defers. Both follow a document; the lab prefers
       agility as SHOULD: a delivery warns."""),
    _g("7671-sha512", "RFC 7671", "2", "SHOULD", """
       Clients should implement SHA2-512 (only SHA2-256 is mandatory). A
       client that does authenticates a server matching a SHA2-512 record
       (RFC 7672 §3.1.1); one that does not sees an unusable record and
       should still deliver over unauthenticated TLS (RFC 7671 §10.3).""",
       """
       The lab cannot tell the two apart on the wire (both end in a TLS
       delivery to a server whose chain matches), so only a deferral
       warns."""),
    _g("7671-sha512-refuse", "RFC 7671", "2", "SHOULD", """
       Clients should implement SHA2-512. A client that does finds that the
       only record does not match and must refuse the server and hold the
       message (RFC 7672 §3.2, §2.2); one that does not sees an unusable
       record and may deliver over unauthenticated TLS (RFC 7671 §10.3).""",
       """
       A sender without SHA2-512 breaks only this SHOULD when it delivers
       over TLS; a sender with it breaks the MUST NOT of RFC 7672 §3.2. The
       lab cannot tell which it is, so a delivery over TLS warns (cleartext
       stays a MUST failure), as does a bounce in place of a delay (see
       the tension of deferring vs bouncing)."""),
    _g("7672-full-match", "RFC 7672", "3.2", "MUST", """
       When a usable secure TLSA record exists, the client authenticates
       the server with the TLSA records; a chain that matches a usable
       record (with a fitting name for DANE-TA) authenticates it, so the
       client delivers.""",
       OPTIONAL_TENSION.format(
           feature="matching type Full(0)",
           why="RFC 7671 §2 makes SHA2-256 the only mandatory digest and "
           "asks Full(0) support only for DANE-TA Cert(0) records, in "
           "§5.2.2")),
    _g("7672-full-refuse", "RFC 7672", "3.2", "MUST NOT", """
       A sender that supports matching type Full(0) finds that the record
       does not match and must not deliver; it holds the message (§2.2).""",
       """
       Support for Full(0) with this record type is not mandatory (RFC 7671
       §2 makes SHA2-256 the only mandatory digest); a sender without it
       sees an unusable record and may deliver over unauthenticated TLS
       (RFC 7671 §10.3). The lab cannot tell which sender it has, so a
       delivery over TLS warns (cleartext stays a MUST failure), as does a
       bounce in place of a delay."""),
    _g("7671-malformed", "RFC 7671", "9", "SHOULD", """
       A record whose data is malformed is dropped as unusable before
       matching; an RRset left with no usable record calls for TLS without
       authentication (RFC 7672 §2.2).""", """
       The record is a Full(0) key whose bytes are no valid key. A sender
       that parses it drops it as malformed and delivers over
       unauthenticated TLS; a sender that compares bytes sees a usable
       record that does not match and defers (RFC 7672 §3.2). Both are
       defensible readings; the lab records which one the sender took."""),
    # ---------------------------------------------------------- RFC 8996
    _g("8996-old-tls", "RFC 8996", "4, 5", "MUST NOT", """
       TLS 1.0 and TLS 1.1 must not be used.""", """
       RFC 8996 does not update RFC 7671, whose §3 requires DANE clients to
       support at least TLS 1.0, nor RFC 7672, whose §2.2 asks an
       opportunistic client to use TLS where it can and allows cleartext
       otherwise. A sender that negotiates TLS 1.1 here follows those; one
       that refuses the old versions follows RFC 8996 and then holds the
       message or sends it in cleartext (where no TLSA record forbids it).
       Neither document's MUST binds against the other, so the lab records
       the choice."""),
    # ---------------------------------------------------------- RFC 8446
    _g("8446-mandatory-algorithms", "RFC 8446", "9.1", "MUST", """
       A TLS implementation must support the mandatory signature
       algorithms (ECDSA P-256 with SHA-256, RSA PKCS#1 v1.5 and RSA-PSS
       with SHA-256); others are optional.""", """
       The server's only key is of a kind outside that list. A sender that
       supports it authenticates the server and delivers (RFC 7672 §3.1.1);
       one that does not cannot complete the handshake and holds the
       message, which keeps it from any unauthenticated server. Both are
       conforming; the lab records which a sender is."""),
    _g("8446-chain-order", "RFC 8446", "4.4.2", "SHOULD", """
       Implementations should be prepared for extra certificates and for
       any order of the certificates after the leaf (which must come
       first), whatever the TLS version: such chains can still be
       validated. A sender that builds the path delivers; one that cannot
       must still not deliver unauthenticated."""),
    # ---------------------------------------------------------- RFC 8461
    _g("8461-enforce", "RFC 8461", "5", "MUST NOT", """
       Under an MTA-STS policy in enforce mode the sender must not deliver
       to a host that the policy's mx patterns do not list, that offers no
       STARTTLS, or whose certificate does not validate (WebPKI, for the
       host's name)."""),
    _g("8461-no-redirect", "RFC 8461", "3.3", "MUST NOT", """
       The policy is fetched by HTTPS GET from the policy host; an HTTP 3xx
       redirect must not be followed."""),
    _g("8461-dane-first", "RFC 8461", "2", "MUST NOT", """
       A sender that implements MTA-STS must not let a valid (or
       testing-only) MTA-STS validation override a failing DANE validation:
       where DANE refuses a host, MTA-STS cannot bring it back."""),
    _g("8461-transient", "RFC 8461", "5", "SHOULD", """
       A delivery refused under an enforce policy should be treated as a
       temporary failure and retried later (and must not be failed for good
       before the sender has looked for an updated policy)."""),
    _g("8461-no-policy", "RFC 8461", "3.3", "MUST", """
       When a valid TXT record exists but no policy can be fetched (for any
       reason: the fetch fails, or what comes back is no valid policy) and
       no valid policy is cached, the sender must go on delivering as
       though the domain had no MTA-STS.""", """
       The lab cannot tell why a sender held the message: one that refuses
       under its own policy (dane-only) or for any reason but MTA-STS breaks
       no MUST of RFC 8461, and without MTA-STS delivery is the SHOULD of
       opportunistic TLS (RFC 7672 §2.2). So holding or returning the
       message, or sending it in cleartext, warns."""),
    _g("8461-txt-invalid", "RFC 8461", "3.1", "MUST", """
       When the _mta-sts name holds no record starting with v=STSv1, more
       than one, or one that is syntactically invalid, the sender must
       assume the domain has no available MTA-STS policy (and delivers as
       without one, unless a valid policy is cached).""", """
       The lab cannot tell why a sender held the message: one that refuses
       under its own policy (dane-only) or for any reason but MTA-STS breaks
       no MUST of RFC 8461, and without MTA-STS delivery is the SHOULD of
       opportunistic TLS (RFC 7672 §2.2). So holding or returning the
       message, or sending it in cleartext, warns."""),
    _g("8461-apply-cached", "RFC 8461", "3.3", "MUST", """
       When no live policy can be discovered or fetched but a valid,
       unexpired policy is cached, the sender must apply the cached
       policy."""),
    _g("8461-proactive-refresh", "RFC 8461", "3.3", "SHOULD", """
       Senders should refresh cached policies before they expire, so a
       changed policy is picked up while the old one is still valid."""),
    _g("8461-check-update", "RFC 8461", "5", "MUST NOT", """
       A message refused under an enforce policy must not be failed for
       good before the sender has checked DNS for an updated policy (the
       TXT record's id).""", """
       A retry while the cached policy is still within its max_age may go on
       using it: the RFC asks for the check only before the sender gives
       up. So delivering under the updated policy is preferred (SHOULD) and
       a deferral warns; the lab cannot see whether a bounce came after a
       check, so a bounce warns too."""),
    _g("8461-max-age", "RFC 8461", "3.2", "SHOULD", """
       max_age is the policy's lifetime: senders should cache a policy for
       up to that long, and a policy past its max_age is no valid policy to
       apply; the sender fetches the current one."""),
    _g("8461-cache-same-id", "RFC 8461", "3.1", "MUST", """
       The TXT record's id must identify one instance of the policy, so
       that senders can tell when it changed.""", """
       Here the policy changed but the id did not: a sender that keeps its
       cached policy (the id says nothing changed) follows the RFC's design;
       one that fetches anyway (RFC 8461 §5.1 lets senders check for a new
       policy at any time) finds the new one. The lab records which."""),
    _g("8461-idn", "RFC 8461", "3.2", "MUST", """
       In a policy, an internationalized mx value must be written as its
       A-label (Punycode), not as a U-label.""", """
       The publisher broke that MUST; the RFC does not say what a sender
       does with a U-label pattern. One that converts it matches the MX and
       delivers, one that compares bytes finds no match and, under enforce,
       holds the message. The lab records which (a delivery is preferred)."""),
    _g("8461-txt-servfail", "RFC 8461", "3.1", "MUST", """
       A sender that cannot find a valid _mta-sts record must assume the
       domain has no available MTA-STS policy.""", """
       A failed lookup (SERVFAIL) is not an absent record: a sender may
       treat the domain as having no policy and deliver with opportunistic
       TLS, or hold the message until the lookup works, since an attacker
       can make lookups fail. The lab records which (a delivery is
       preferred)."""),
    # ---------------------------------------------------------- RFC 5321
    _g("5321-mx-only", "RFC 5321", "5.1", "MUST NOT", """
       When a domain has MX records, the client must not use the domain's
       own address records unless an MX record leads there; an MX set
       with no usable host is an error to report, not a reason to fall back
       to the implicit MX."""),
    _g("5321-mx-error", "RFC 5321", "5.1", "MUST", """
       MX records that exist but name no usable host (a null MX, a target
       that has no address) must be reported as an error.""", """
       A deferral that ends in a DSN reports the error too, only later.
       RFC 7505 §4.1 explains that a null MX exists so that senders fail on
       the first attempt, but states it without a keyword; so the lab
       prefers a bounce as SHOULD and lets a deferral warn."""),
    _g("5321-mx-literal", "RFC 5321", "5.1", "MUST", """
       An MX target must be a host name with address records; an MX set
       whose only target is not usable must be reported as an error.""", """
       RFC 7672 §2.2 admits that an MTA may choose to connect to an address
       written in an MX record in place of a host name (DANE then does not
       apply), and RFC 5321 §5.1 puts such records outside its scope. So a
       sender that connects there with opportunistic TLS breaks no MUST;
       the lab prefers the error report as SHOULD and lets the delivery
       warn."""),
    _g("5321-try-next", "RFC 5321", "5.1", "SHOULD", """
       When the first address of a destination fails, the client should go
       on to the next (it should try at least two addresses, in MX
       preference order); RFC 7672 §2.2 names falling back to the next
       server as one way to handle a DANE failure."""),
    _g("5321-queue-4yz", "RFC 5321", "4.5.4.1", "MUST", """
       Mail that cannot be sent now (here the server answered with a
       temporary, 4yz, reply) must be queued and retried later, not
       returned."""),
    _g("5321-queue-retry", "RFC 5321", "4.5.4.1", "MUST", """
       Mail that cannot be sent now must be queued and retried later.""",
       BOUNCE_TENSION),
    _g("5321-retry-delivers", "RFC 5321", "4.5.4.1", "MUST", """
       A queued message is retried, and a retry after the fault is gone
       delivers it (here with DANE: RFC 7672 §3.1.1 authenticates the
       repaired server). A message still held after the retry was never
       retried, or was retried on stale data."""),
    _g("5321-retry-delivers-bounced", "RFC 5321", "4.5.4.1", "MUST", """
       A queued message is retried, and a retry after the fault is gone
       delivers it.""", """
       A sender that bounced the message on the first attempt (graded
       there as SHOULD: deferring vs bouncing is a tension, see its text)
       has nothing left to deliver; its bounce is allowed here too and only
       warns."""),
    _g("5321-dsn", "RFC 5321", "6.1", "MUST", """
       When delivery of an accepted message has failed for good (here: the
       sender's own retry limit is reached), the sender must send a
       notification to the message's return path; until then the message
       is not delivered to a server DANE forbids."""),
    _g("5321-lost-connection", "RFC 5321", "3.8", "SHOULD", """
       A client whose connection is closed or reset in the middle of a
       transaction should treat it as a temporary (451) reply: keep the
       message and retry, not return it."""),
    _g("5321-5yz-no-repeat", "RFC 5321", "4.2.1", "SHOULD NOT", """
       After a permanent (5yz) reply the client should not repeat the same
       request; the message is returned with a notification (§6.1)."""),
    # ---------------------------------------------------------- RFC 3464
    _g("3464-status", "RFC 3464", "2.3.4", "MUST", """
       Each recipient a delivery status notification reports on carries a
       Status field with an enhanced status code (RFC 3463); RFC 5321 §6.1
       requires the notification itself."""),
    # ---------------------------------------------------------- the lab
    _g("lab-policy-dane-only", LAB, "policy", "MUST", """
       A destination the sender is configured to treat as dane-only gets
       mail only over a TLS session authenticated with DANE. RFC 7672 §6
       describes mandatory DANE this way (without a usable TLSA record
       delivery is delayed) but in prose without a keyword; the lab holds a
       sender to the policy it was configured with."""),
    _g("lab-policy-dane-only-delay", LAB, "policy", "SHOULD", """
       A destination the sender's dane-only policy refuses should see the
       message delayed rather than returned: RFC 7672 §6 describes mandatory
       DANE as delaying delivery when no usable TLSA record exists (prose,
       no keyword), and a DNS change may repair the fault."""),
    _g("lab-dns-hosts-only", LAB, "evidence", "MUST", """
       The message may reach only hosts that the recipient domain's DNS
       names: its MX hosts or its implicit MX (RFC 5321 §5.1 sends mail
       there). A copy at another scenario's host is a delivery the DNS
       never asked for."""),
    _g("lab-declared-only", LAB, "evidence", "MUST", """
       Every connection goes to an address the scenario's DNS gave out;
       a connection to any other address of the scenario's range cannot be
       explained by the DNS (RFC 5321 §5.1) and counts against the
       scenario."""),
    _g("lab-once", LAB, "evidence", "MUST", """
       One message, one delivery: a second copy (e.g. to another MX host
       after the first accepted it) is counted as a fault. No RFC sentence
       forbids duplicates in these words; this is the lab's rule."""),
    _g("lab-sender-word", LAB, "evidence", "MUST", """
       A sender that reports a delivery no lab host received has lost the
       message or sent it outside the lab (RFC 5321 §6.1: an accepted
       message must not be lost)."""),
    _g("lab-sender-word-arrived", LAB, "evidence", "SHOULD", """
       The sender's own record should agree with the network: a message
       that arrived is not deferred or bounced (which would mean a second
       copy or a false notice)."""),
    _g("lab-flood", LAB, "evidence", "SHOULD", """
       A sender should not flood a server with commands: fake-mx stops
       logging a session's chatter past its budget (the evidence of that
       session is cut short), and the lab counts it as a finding. No RFC
       sentence sets the budget; this is the lab's rule."""),
    _g("lab-dsn-cause", LAB, "dsn", "SHOULD", """
       A notification for a DANE or DNSSEC failure should name the cause
       with a security (X.7.x) or routing (X.4.x) status code. RFC 3463
       defines the classes; no RFC requires a particular one here."""),
    _g("lab-not-graded", LAB, "evidence", "MAY", """
       A phase the lab could not set up for this sender is recorded, never
       graded as a pass."""),
    _g("lab-provisional", LAB, "evidence", "MAY", """
       While a long-running lab still waits for a sender that retries on
       its own schedule, a message neither delivered nor bounced is
       recorded as provisional, never graded as a pass or a failure,
       until the deadline."""),
    # ---------------------------------------------------------- TLSRPT
    _g("8460-one-record", "RFC 8460", "3", "MUST", """
       When the domain's _smtp._tls name holds no record starting with
       v=TLSRPTv1, or more than one, the sender must assume the domain does
       not use TLSRPT: no report is sent."""),
    _g("8460-no-loop", "RFC 8460", "3", "SHOULD NOT", """
       The SMTP session that delivers a report should not itself be
       counted in a later report."""),
    _g("lab-tlsrpt-nothing-due", LAB, "tlsrpt", "MUST", """
       No report is due for this domain: its _smtp._tls record cannot be
       validated, or the sender had no session with its hosts. A report
       would rest on data the sender could not trust or on nothing."""),
    _g("lab-tlsrpt-sent", LAB, "tlsrpt", "MUST", """
       A sender whose adapter says it sends TLSRPT reports sends one for a
       domain that asks for them. RFC 8460 §3 lets it deliver to one of
       several rua endpoints (each one is a MAY), so one report by any of
       them is enough."""),
    _g("8460-form", "RFC 8460", "3, 4, 5.3", "MUST", """
       The report is one RFC 8460 defines: a mail report carries a DKIM
       signature of the reporting domain (§3) and the TLS-Report-Domain and
       TLS-Report-Submitter header fields, the latter the domain of the
       report's contact-info (§5.3); the report's policies are an array
       (§4). The lab also holds the report to the JSON form of §4.4, which
       has no keyword of its own: it reads that form as the definition of a
       report, so a key of the wrong type, or missing where the report has
       something to put in it, makes no RFC 8460 report.
       docs/tlsrpt-grading.md lists each item with its section."""),
    _g("8460-form-should", "RFC 8460", "4.1, 4.3, 5.1, 5.3", "SHOULD", """
       A report should cover one full UTC day (§4.1), give a failure reason
       code where §4.3 asks for one, and carry the recommended file name
       (§5.1) and subject line (§5.3); docs/tlsrpt-grading.md lists each
       item."""),
    _g("lab-tlsrpt-content", LAB, "tlsrpt", "MUST", """
       The report's policy strings are TLSA records the domain published
       and its session counts agree with the sessions the lab saw (RFC 8460
       §4.2 defines the counts, without a keyword)."""),
    _g("lab-tlsrpt-type", LAB, "tlsrpt", "SHOULD", """
       A failure is reported under the result type of RFC 8460 §4.3 that
       fits what happened."""),
    _g("lab-tlsrpt-reporter", LAB, "tlsrpt", "MUST", """
       The sender's reporting step ran without error, so the lab could
       collect its reports."""),
]

GROUNDS: dict[str, Ground] = {g.name: g for g in _ALL}

# The grounds of the checks that do not depend on the scenario.
KIND_GROUNDS: dict[str, str] = {
    "foreign-host": "lab-dns-hosts-only",
    "stray": "lab-declared-only",
    "duplicate": "lab-once",
    "sender-word": "lab-sender-word",
    "sender-word-arrived": "lab-sender-word-arrived",
    "sni": "7672-sni",
    "dsn": "3464-status",
    "dsn-cause": "lab-dsn-cause",
    "flood": "lab-flood",
    "sts-policy": "8461-enforce",
    "sts-redirect": "8461-no-redirect",
    "not-graded": "lab-not-graded",
    "provisional": "lab-provisional",
}

# The grounds of the TLSRPT checks, by kind (tlsrpt_grade.py).
TLSRPT_GROUNDS: dict[str, str] = {
    "no-report": "8460-one-record",
    "nothing-due": "lab-tlsrpt-nothing-due",
    "sent": "lab-tlsrpt-sent",
    "form-must": "8460-form",
    "form-should": "8460-form-should",
    "content": "lab-tlsrpt-content",
    "type": "lab-tlsrpt-type",
    "loop": "8460-no-loop",
    "reporter": "lab-tlsrpt-reporter",
    "not-graded": "lab-not-graded",
}

# The check kinds a scenario's [expect.ground] table may name.
SCENARIO_KEYS = ("outcome", "prefer", "choice", "hosts", "no-connection",
                 "cleartext")


def kind_ground(kind: str) -> Ground:
    return GROUNDS[KIND_GROUNDS[kind]]


def tlsrpt_ground(kind: str) -> Ground:
    return GROUNDS[TLSRPT_GROUNDS[kind]]


def parse(value: Any) -> tuple[Ground | None, list[str]]:
    """A ground as a scenario file writes it: the name of one of GROUNDS,
    or a table { rfc, section, keyword, says, tension }.  Returns the
    ground, or None and the reasons it is not one."""
    if isinstance(value, str):
        g = GROUNDS.get(value)
        return (g, []) if g else (None, [
            f"{value!r} is not a ground the lab knows (docs/grading.md "
            "lists them); write it out as { rfc, section, keyword, says }"])
    if not isinstance(value, dict):
        return None, ["must be a ground's name or a table { rfc, section, "
                      "keyword, says }"]
    errs = []
    unknown = sorted(set(value) - {"rfc", "section", "keyword", "says",
                                   "tension"})
    if unknown:
        errs.append(f"unknown key(s) {', '.join(unknown)}")
    vals = {}
    for k in ("rfc", "section", "keyword", "says", "tension"):
        v = value.get(k, "")
        if not isinstance(v, str):
            errs.append(f"{k} must be a string")
            v = ""
        vals[k] = " ".join(v.split())
    for k in ("rfc", "section", "keyword", "says"):
        if not vals[k]:
            errs.append(f"{k} is required")
    if vals["rfc"] and not RFC_RE.match(vals["rfc"]):
        errs.append(f"rfc {vals['rfc']!r} must read like 'RFC 7672' (the "
                    "lab's own rules are named, not written out)")
    if vals["section"] and not SECTION_RE.match(vals["section"]):
        errs.append(f"section {vals['section']!r} must read like '2.2.3' "
                    "(no §)")
    if vals["keyword"] and vals["keyword"] not in KEYWORDS:
        errs.append(f"keyword {vals['keyword']!r} is not one of "
                    f"{', '.join(KEYWORDS)}")
    if errs:
        return None, errs
    return Ground(vals["rfc"], vals["section"], vals["keyword"],
                  vals["says"], vals["tension"]), []


def documents(cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per document (an RFC, or the lab's own rules): how many cases were
    graded on a MUST resting on it, which failed one and which warned on a
    SHOULD, from results.json case records (TLSRPT checks included), and
    how many were not graded (the sender lacks a feature they need: no
    MUST of theirs counts).  The tally is certify.documents(), the one the
    report's header shows; this is its form for results.json."""
    return {doc: {"must": len(d["must"]), "fail": len(d["fail"]),
                  "warn": len(d["warn"]), "fail_cases": sorted(d["fail"]),
                  "warn_cases": sorted(d["warn"]),
                  "not_graded": len(d["not_graded"] - d["must"])}
            for doc, d in sorted(tally(cases).items(),
                                 key=lambda kv: _doc_key(kv[0]))}


def _doc_key(rfc: str) -> tuple[int, str]:
    return ((HEADLINE_DOCUMENTS.index(rfc), rfc)
            if rfc in HEADLINE_DOCUMENTS else (len(HEADLINE_DOCUMENTS), rfc))


def headline(docs: dict[str, dict[str, Any]],
             also: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per headline document, per other one with a finding and per
    name in ALSO: its failed and warned cases, and whether the sender
    conforms to it (cases graded on a MUST resting on it, none failed)."""
    names = list(HEADLINE_DOCUMENTS)
    for doc in list(docs) + list(also or []):
        if doc not in names:
            names.append(doc)
    names = names[:len(HEADLINE_DOCUMENTS)] + sorted(
        names[len(HEADLINE_DOCUMENTS):], key=_doc_key)
    rows = []
    for rfc in names:
        d = docs.get(rfc, {"must": 0, "fail": 0, "warn": 0,
                           "fail_cases": [], "warn_cases": [],
                           "not_graded": 0})
        # conforming needs a MUST graded: nothing graded is not a pass
        # (results published before the counts had "must" read as none)
        rows.append({"document": rfc, **d,
                     "conforms": d.get("fail", 0) == 0 and
                     d.get("must", 0) > 0})
    return rows
