"""Deliberately broken DANE senders, to prove that the grader's finer checks
fail what they must.  Unlike naive.py's senders these do DANE: validated
lookups at the lab resolver (AD asked for, CD clear, the AD bit read),
secure MX and address first, TLSA at `_25._tcp.<host>` (the CNAME-expanded
name first, then the MX name), mandatory TLS with SNI = the TLSA base
domain, DANE-EE and DANE-TA matching on the whole presented chain
(pyOpenSSL), per-destination policies (dane-only, may, exclude), no
cleartext where TLS is required, and the next MX after a failed host.
Each is wrong in exactly one way:

  broken-envelope-leak         on a host DANE binds, STARTTLS, then MAIL
                               FROM and RCPT TO before the chain is judged
                               (and even where the TLSA RRset is bogus); a
                               failure only then gives RSET and QUIT and the
                               next MX;
  broken-any-ca                DANE-TA also accepted when any certificate
                               above the leaf that the server sent matches
                               the record: the presented order is taken for
                               the path, no signature is verified;
  broken-ee-dates              DANE-EE refuses an expired or not yet valid
                               leaf (RFC 7672 §3.1.1 says dates are ignored);
  broken-servfail-no-tlsa      a TLSA lookup that fails (SERVFAIL, bogus,
                               timeout) counts as "no TLSA": opportunistic
                               TLS, a downgrade;
  broken-ta-needs-sent-anchor  a DANE-TA record with full data (`2 0 0`,
                               `2 1 0`) only matches when the server sent
                               that CA itself, although the record carries
                               the anchor (RFC 7671 §5.2.2);
  broken-every-usage           with DANE-EE and DANE-TA records both
                               published, a record of each usage must
                               match, not any one record (RFC 7672 §3.1).

Matching reuses dane_auth's record parsing and chain building (the grader
judges what fake-mx saw, not what these senders decided).  They run in
harness threads inside the lab namespace (root mode only).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509

from ..apex import bare, sender_domain
from ..dane_auth import Tlsa, in_validity, names_fit, ta_path, \
    usable_records
from ..sts_policy import Policy
from . import BROKEN_DANE
from .base import SenderOutcome, Submission
from .pysender import Lookup, Temp, ThreadedSender, connect, envelope, \
    lookup, message, mx_hosts, quit_quietly, send, starttls_chain, walk


@dataclass
class Route:
    """How one MX host is to be used."""

    host: str                   # as the MX record names it, no final dot
    mode: str                   # dane | tls | opportunistic | tlsa-bogus
    addrs: list[str]
    base: str                   # TLSA base domain (SNI); else the host
    tlsa: list[Tlsa] = field(default_factory=list)   # usable, strongest
    refs: list[str] = field(default_factory=list)  # DANE-TA leaf names
    sts: Policy | None = None   # the domain's MTA-STS policy (stsbroken)


def _plain(name: str) -> str:
    return name.lower().rstrip(".")


def rcpt_domain(s: Submission) -> str:
    """The recipient's domain, lower case, no trailing dot."""
    return _plain(s.rcpt.split("@", 1)[1])


def strongest(records: list[Tlsa]) -> list[Tlsa]:
    """Digest agility (RFC 7671 §9): of each usage and selector, only the
    records of the strongest matching type present (full data below
    SHA2-256 below SHA2-512, OpenSSL's order)."""
    best: dict[tuple[int, int], int] = {}
    for t in records:
        k = (t.usage, t.selector)
        best[k] = max(best.get(k, 0), t.mtype)
    return [t for t in records if t.mtype == best[(t.usage, t.selector)]]


class BrokenDaneAdapter(ThreadedSender):
    """A DANE sender with the flaw its NAME (one of adapters.BROKEN_DANE)
    says.  Any other name gives it without a flaw: the control that
    test_catalog.py runs beside them, to show that the flaw alone is
    what fails them."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.flaw = name if name in BROKEN_DANE else ""

    def _policy(self, domain: str) -> str:
        assert self.ctx
        levels = {_plain(d): v for d, v in self.ctx.policies.items()}
        return levels.get(domain, "dane")

    def _ask(self, name: str, rtype: str) -> Lookup:
        return lookup(self.resolver, name, rtype, validate=True)

    # -- DNS: which hosts, and how each must be used --------------------
    def deliver(self, s: Submission) -> SenderOutcome:
        return self._deliver(s, None)

    def _deliver(self, s: Submission, sts: Policy | None) -> SenderOutcome:
        """Deliver S; STS is the recipient domain's MTA-STS policy that
        applies (None: none, or the sender does not implement MTA-STS)."""
        domain = rcpt_domain(s)
        policy = self._policy(domain)
        mx = self._ask(domain, "MX")
        if mx.failed:
            return SenderOutcome("deferred", f"MX lookup of {domain}: "
                                 f"{mx.rcode}", "4.4.3")
        if mx.rcode == "NXDOMAIN":
            return SenderOutcome("bounced", f"{domain} does not exist",
                                 "5.1.2")
        pairs = mx_hosts(mx.records)
        if pairs == [(0, ".")]:
            return SenderOutcome("bounced", "null MX", "5.1.10")
        hosts = [_plain(h) for _, h in pairs] or [domain]
        routes: dict[str, Route] = {}

        def addresses(h: str) -> list[str]:
            routes[h] = self._route(h, domain, mx.ad, policy, sts)
            return routes[h].addrs

        return walk(hosts, addresses,
                    lambda h, a: self._session(routes[h], a, s))

    def _route(self, h: str, domain: str, mx_secure: bool,
               policy: str, sts: Policy | None) -> Route:
        found = [a for a in (self._ask(h, "A"), self._ask(h, "AAAA"))
                 if not a.failed]
        if not found:
            raise Temp(f"address lookup of {h} failed", "4.4.3")
        addrs = [x for a in found for x in a.records]
        if not addrs:
            raise Temp(f"{h} has no address", "4.4.4")
        refs = [h, domain]
        route = Route(h, "opportunistic", addrs, h, refs=refs, sts=sts)
        if policy in ("dane", "dane-only") and mx_secure and \
                all(a.ad for a in found):
            expanded = next((_plain(a.owner) for a in found if a.owner), h)
            names = [expanded] + ([h] if expanded != h else [])
            route = self._tlsa(route, names)
        if policy == "dane-only" and route.mode != "dane":
            raise Temp(f"{h}: policy dane-only, but no usable secure "
                       f"TLSA RRset", "4.7.5")
        return route

    def _tlsa(self, route: Route, names: list[str]) -> Route:
        """ROUTE with the TLSA RRset of the first name that has a secure
        one (RFC 7672 §2.2.3); a failed lookup makes the host unusable."""
        for n in names:
            t = self._ask(f"_25._tcp.{n}.", "TLSA")
            if t.failed:
                if self.flaw == "broken-servfail-no-tlsa":
                    continue                 # the flaw: failure as absence
                if self.flaw == "broken-envelope-leak":
                    route.mode, route.base = "tlsa-bogus", n
                    return route             # judged only after RCPT TO
                raise Temp(f"TLSA lookup at _25._tcp.{n}: {t.rcode}",
                           "4.7.5")
            if t.ad and t.records:
                tlsa = strongest(usable_records(t.records))
                route.mode = "dane" if tlsa else "tls"
                route.base, route.tlsa = n, tlsa
                route.refs = [n] + route.refs
                return route
        return route

    # -- SMTP ------------------------------------------------------------
    def _session(self, r: Route, addr: str, s: Submission) -> SenderOutcome:
        c = connect(addr, f"dane.{bare(sender_domain())}")
        try:
            if r.mode == "opportunistic":
                tls = c.has_extn("starttls")
                if tls:
                    starttls_chain(c, r.base)
                send(c, s)
                return SenderOutcome("delivered", "tls" if tls else "plain")
            if not c.has_extn("starttls"):
                raise Temp(f"{r.host}: STARTTLS not offered, TLS required",
                           "4.7.4")
            chain = starttls_chain(c, r.base)
            if self.flaw == "broken-envelope-leak":
                envelope(c, s)               # the flaw: before judging
                why = self._judge(r, chain)
                if why:
                    c.rset()
                    raise Temp(f"{r.host}: {why}", "4.7.5")
                message(c, s)
            else:
                why = self._judge(r, chain)
                if why:
                    raise Temp(f"{r.host}: {why}", "4.7.5")
                send(c, s)
            return SenderOutcome("delivered", r.mode)
        finally:
            quit_quietly(c)

    # -- certificate matching ---------------------------------------------
    def _judge(self, r: Route, chain: list[x509.Certificate]) -> str:
        """Why R's server is not authenticated by CHAIN ("" if it is)."""
        if r.mode == "tls":
            return ""                        # unusable records: TLS only
        if r.mode == "tlsa-bogus":
            return "its TLSA RRset is bogus"
        if not chain:
            return "no certificate presented"
        now = dt.datetime.now(dt.timezone.utc)
        matched = {t.usage for t in r.tlsa if self._match(t, chain, r, now)}
        if self.flaw == "broken-every-usage":
            # the flaw: each usage published must have a matching record
            if matched and matched == {t.usage for t in r.tlsa}:
                return ""
            return "not every usage published has a matching record"
        if matched:
            return ""
        return "no usable TLSA record authenticates the chain"

    def _match(self, t: Tlsa, chain: list[x509.Certificate], r: Route,
               now: dt.datetime) -> bool:
        """T authenticates CHAIN (DANE-EE: the leaf; DANE-TA: a path)."""
        if t.usage == 3 and t.matches(chain[0]):
            return self.flaw != "broken-ee-dates" or \
                in_validity(chain[0], now)
        return t.usage == 2 and self._ta(t, chain, r.refs, now)

    def _ta(self, t: Tlsa, chain: list[x509.Certificate], refs: list[str],
            now: dt.datetime) -> bool:
        """DANE-TA: the leaf reaches T's anchor, names and dates hold."""
        if not names_fit(chain[0], refs):
            return False
        sent = [i for i, c in enumerate(chain) if i and t.matches(c)]
        if self.flaw == "broken-any-ca" and sent and \
                all(in_validity(c, now) for c in chain[:sent[0]]):
            return True      # the flaw: the presented order taken as path
        path = ta_path(t, chain)
        if path is None or not all(in_validity(c, now) for c in path):
            return False
        if self.flaw == "broken-ta-needs-sent-anchor" and t.mtype == 0:
            return bool(sent)                # the flaw: anchor must be sent
        return True
