"""The broken DANE senders' flawless code (danebroken.py) with MTA-STS
(RFC 8461) added, and deliberately broken variants of it, to prove that
section I of the catalog fails what it must.

What the flawless sender does for MTA-STS, per message:

- discovery (§3.1, §5.1): the `_mta-sts.<domain>` TXT RRset, asked for
  as a validating client does (bogus data is a failed lookup), read with
  the lab's parse_txt (exactly one `v=STSv1` record with a valid id);
- the cache (§5.1): a policy is kept for its max_age on the sender's own
  clock (which the lab can advance).  A cached policy whose id the TXT
  record repeats is used as it is; a new id makes the sender fetch; a
  missing, bad or failed TXT record leaves a cached policy in force;
  a failed fetch too (an expired policy and a failed fetch: no policy);
- the fetch (§3.3): HTTPS to `mta-sts.<domain>` (address from the lab
  resolver), with SNI, the certificate checked against the lab's WebPKI
  bundle (LabContext.webpki_ca) and the name; a 200 answer with
  text/plain only, no redirect followed, at most 64 KiB, within 10 s
  (sts_fetch.fetch, the lab's conforming client); the body read with the
  lab's parse_policy;
- the policy (§4, §5): `enforce` binds every MX host DANE does not govern
  (no TLSA RRset, or an insecure domain): the host must fit one of the
  mx patterns (else it is skipped, no connection), STARTTLS is required,
  SNI is the host name, and the chain it presents must be WebPKI-valid
  for the host (sts_auth.webpki_valid, against the same root); `testing`
  and `none` change nothing in delivery;
- DANE first (§2): a host with a secure TLSA RRset is judged by DANE
  alone, a bogus TLSA RRset makes it unusable, whatever the policy says.

Each broken variant is wrong in exactly one way:

  broken-sts-overrides-dane      on a host whose TLSA records do not match
                                 the chain, an enforce policy that lists
                                 the host and a WebPKI-valid chain win:
                                 the message goes (the known bug of a
                                 policy daemon whose answer replaces DANE);
  broken-sts-enforce-as-testing  an enforce policy is applied as testing:
                                 nothing it says stops a delivery;
  broken-sts-follows-redirect    a 3xx answer from the policy host is
                                 followed to its Location (RFC 8461 §3.3
                                 forbids it);
  broken-sts-wildcard-base       a pattern `*.example` also fits the name
                                 `example` itself (§4.1: the wildcard
                                 stands for exactly one label).

The name `sts-control` (test_catalog.py) gives the code without a flaw.
"""
from __future__ import annotations

import threading
import time
import urllib.parse
from dataclasses import dataclass

from cryptography import x509

from ..sts_auth import webpki_valid
from ..sts_fetch import POLICY_PATH, Fetched, fetch
from ..sts_policy import Policy, mx_matches, parse_policy, parse_txt
from . import BROKEN_STS
from .base import LabContext, SenderOutcome, Submission
from .danebroken import BrokenDaneAdapter, Route, rcpt_domain
from .pysender import Temp, lookup

FETCH_TIMEOUT = 10.0
CONTROL = "sts-control"


@dataclass
class Cached:
    """One domain's policy in the sender's cache."""

    id: str
    policy: Policy
    expires: float              # on the sender's clock


class BrokenStsAdapter(BrokenDaneAdapter):
    """A DANE and MTA-STS sender with the flaw its NAME (one of
    adapters.BROKEN_STS) says; `sts-control`: without a flaw."""

    features = ("mta-sts",)

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.sts_flaw = name if name in BROKEN_STS else ""
        self.cache: dict[str, Cached] = {}
        self.lock = threading.Lock()
        self.offset = 0.0           # advance_clock()
        self.root_pem = b""         # the WebPKI root the lab gave

    def start(self, ctx: LabContext) -> None:
        super().start(ctx)
        if ctx.webpki_ca is not None:
            self.root_pem = ctx.webpki_ca.read_bytes()

    def advance_clock(self, seconds: int) -> bool:
        self.offset += seconds
        return True

    def now(self) -> float:
        return time.time() + self.offset

    # -- the policy that applies -------------------------------------------
    def deliver(self, s: Submission) -> SenderOutcome:
        return self._deliver(s, self.sts_policy(rcpt_domain(s)))

    def sts_policy(self, domain: str) -> Policy | None:
        """DOMAIN's MTA-STS policy now (None: no policy applies)."""
        txt = lookup(self.resolver, f"_mta-sts.{domain}.", "TXT",
                     validate=True)
        sid = None if txt.failed else parse_txt(
            [_txt_text(r) for r in txt.records]).id
        now = self.now()
        with self.lock:
            cached = self.cache.get(domain)
        if cached is not None and cached.expires <= now:
            cached = None
        if cached is not None and (sid is None or sid == cached.id):
            return self._in_force(cached.policy)
        if sid is None:
            return None
        got = self._fetch(domain)
        if got is None:
            return self._in_force(cached.policy) if cached else None
        with self.lock:
            self.cache[domain] = Cached(sid, got, now + got.max_age)
        return self._in_force(got)

    def _in_force(self, p: Policy) -> Policy | None:
        if p.mode == "none":
            return None
        if p.mode == "enforce" and \
                self.sts_flaw == "broken-sts-enforce-as-testing":
            return Policy("testing", p.max_age, p.mx)   # the flaw
        return p

    def _fetch(self, domain: str) -> Policy | None:
        """The policy mta-sts.DOMAIN serves, or None if it cannot be had."""
        name = f"mta-sts.{domain}"
        got = self._get(name, POLICY_PATH)
        if got is not None and not got.ok and 300 <= got.status < 400 and \
                got.location and \
                self.sts_flaw == "broken-sts-follows-redirect":
            url = urllib.parse.urlsplit(got.location)    # the flaw
            got = self._get(url.hostname or name, url.path or "/")
        if got is None or not got.ok:
            return None
        try:
            text = got.body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return parse_policy(text).policy

    def _get(self, name: str, path: str) -> Fetched | None:
        addr = lookup(self.resolver, f"{name}.", "A", validate=True)
        if addr.failed or not addr.records or self.ctx is None or \
                self.ctx.webpki_ca is None:
            return None
        return fetch(addr.records[0], name, str(self.ctx.webpki_ca),
                     timeout=FETCH_TIMEOUT, path=path)

    # -- the policy applied to each host ---------------------------------
    def _route(self, h: str, domain: str, mx_secure: bool,
               policy: str, sts: Policy | None) -> Route:
        route = super()._route(h, domain, mx_secure, policy, sts)
        if route.mode != "opportunistic" or sts is None or \
                sts.mode != "enforce":
            return route                     # DANE governs, or no policy
        if not self._listed(sts, h):
            raise Temp(f"{h} is not listed by the MTA-STS policy", "4.7.5")
        route.mode, route.base = "sts", h
        return route

    def _listed(self, sts: Policy, host: str) -> bool:
        if sts.matches(host):
            return True
        if self.sts_flaw != "broken-sts-wildcard-base":
            return False
        return any(p.startswith("*.") and mx_matches(p[2:], host)
                   for p in sts.mx)              # the flaw

    def _judge(self, r: Route, chain: list[x509.Certificate]) -> str:
        if r.mode == "sts":
            return self._webpki(r.host, chain)
        why = super()._judge(r, chain)
        if why and r.mode == "dane" and \
                self.sts_flaw == "broken-sts-overrides-dane" and \
                r.sts is not None and r.sts.mode == "enforce" and \
                r.sts.matches(r.host) and self._webpki(r.host, chain) == "":
            return ""                            # the flaw
        return why

    def _webpki(self, host: str, chain: list[x509.Certificate]) -> str:
        """Why CHAIN is not WebPKI-valid for HOST ("" if it is)."""
        if not self.root_pem:
            return "no WebPKI trust given"
        # one object per thread: pyca/cryptography certificates may not be
        # read from two threads at once ("Already borrowed")
        root = x509.load_pem_x509_certificate(self.root_pem)
        v = webpki_valid(chain, root, host)
        return "" if v.ok else f"MTA-STS: {v.why}"


def _txt_text(record: str) -> str:
    """A TXT record's text from its presentation form ("a" "b" -> ab)."""
    out, quoted, i = [], False, 0
    while i < len(record):
        ch = record[i]
        if ch == '"':
            quoted = not quoted
        elif ch == "\\" and quoted and i + 1 < len(record):
            nxt = record[i + 1:i + 4]
            if nxt.isdigit() and len(nxt) == 3:
                out.append(chr(int(nxt)))
                i += 3
            else:
                out.append(record[i + 1])
                i += 1
        elif quoted:
            out.append(ch)
        i += 1
    return "".join(out)
