"""Deliberately broken senders, to prove that the grader fails what it must.

All of them ignore DNSSEC (they query with the CD bit, so bogus data reaches
them as it would a non-validating stub) and TLSA records:

  broken-no-dane             opportunistic TLS, any certificate accepted, no
                             cleartext fallback after a TLS failure;
  broken-plaintext-fallback  the same, and after a failed STARTTLS it
                             reconnects and delivers in cleartext;
  broken-no-tls              never uses STARTTLS, and handles MX sloppily:
                             a null MX or an MX set without addresses makes
                             it fall back to the domain's own address, and
                             an MX target that looks like an IPv4 address
                             is connected to as one;
  broken-require-tls         TLS everywhere (any certificate), never
                             cleartext, and a hard bounce when TLS cannot
                             be had: too strict for domains without DANE;
  broken-stray               broken-no-dane that also dials addresses no
                             DNS answer named: before each MX address it
                             probes host .250 of the same /24 (a made-up
                             neighbour, inside the scenario's range), and
                             mail it cannot deliver goes to a hard-wired
                             fallback relay, STRAY_RELAY (in no scenario's
                             range).  Only fake-mx's catch-all sees either.

They run in harness threads inside the lab namespace (root mode only).
"""
from __future__ import annotations

import re
import smtplib
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from ..errors import LabError
from .base import Adapter, LabContext, SenderOutcome, Submission


# broken-stray's fallback relay: an address no scenario declares
STRAY_RELAY = "127.99.0.25"


class _Temp(Exception):
    pass


class _Perm(Exception):
    pass


class NaiveAdapter(Adapter):
    def __init__(self, name: str) -> None:
        self.name = name
        self.fallback = name == "broken-plaintext-fallback"
        self.no_tls = name == "broken-no-tls"
        self.require_tls = name == "broken-require-tls"
        self.stray = name == "broken-stray"
        self.queue: list[Submission] = []
        self.results: dict[str, SenderOutcome] = {}
        self.ctx: LabContext | None = None

    def start(self, ctx: LabContext) -> None:
        if ctx.ns.mode != "root":
            raise LabError(f"the {self.name} sender needs root mode")
        self.ctx = ctx

    def submit(self, subs: list[Submission]) -> None:
        self.queue += subs
        for s in subs:
            self.results[s.message_id] = SenderOutcome("deferred", "queued")

    def run_queue(self) -> None:
        assert self.ctx
        todo = [s for s in self.queue
                if self.results[s.message_id].state == "deferred"]
        self.ctx.ns.call(self._all, todo)

    def _all(self, todo: list[Submission]) -> None:
        with ThreadPoolExecutor(16) as ex:
            for s, out in zip(todo, ex.map(self._one, todo)):
                self.results[s.message_id] = out

    def outcomes(self) -> dict[str, SenderOutcome]:
        return dict(self.results)

    # -- delivery --------------------------------------------------------
    def _q(self, name: str, rtype: str) -> list[str]:
        assert self.ctx
        q = dns.message.make_query(name, rtype)
        q.flags |= dns.flags.CD
        try:
            r = dns.query.udp(q, self.ctx.resolver, timeout=3)
        except dns.exception.Timeout:
            raise _Temp(f"timeout {name}/{rtype}")
        if r.rcode() == dns.rcode.NXDOMAIN:
            return []
        if r.rcode() != dns.rcode.NOERROR:
            raise _Temp(f"{dns.rcode.to_text(r.rcode())} {name}/{rtype}")
        want = dns.rdatatype.from_text(rtype)
        return [rd.to_text() for rrs in r.answer if rrs.rdtype == want
                for rd in rrs]

    def _one(self, s: Submission) -> SenderOutcome:
        out = self._mx(s)
        if self.stray and out.state == "deferred":
            try:
                return self._send(STRAY_RELAY, s)
            except (_Temp, _Perm, OSError, smtplib.SMTPException) as e:
                return SenderOutcome("deferred", f"{out.reason}; fallback "
                                     f"relay {STRAY_RELAY}: {e}", out.dsn)
        return out

    @staticmethod
    def _probe(addr: str) -> None:
        """broken-stray's look at a neighbour of ADDR (IPv4 only)."""
        if ":" in addr:
            return
        try:
            socket.create_connection((addr.rsplit(".", 1)[0] + ".250", 25),
                                     timeout=3).close()
        except OSError:
            pass

    def _mx(self, s: Submission) -> SenderOutcome:
        domain = s.rcpt.split("@", 1)[1]
        try:
            mx = sorted((int(p), h) for p, h in
                        (x.split() for x in self._q(domain, "MX")))
            if mx == [(0, ".")]:
                if not self.no_tls:
                    return SenderOutcome("bounced", "null MX", "5.1.10")
                mx = []
            hosts = [h for _, h in mx] or [domain]
        except _Temp as e:
            return SenderOutcome("deferred", str(e), "4.4.3")
        last = "no usable host"
        if self.no_tls and hosts != [domain]:
            hosts = hosts + [domain]          # sloppy: implicit MX fallback
        for h in hosts:
            try:
                addrs = self._q(h, "A")
                if not addrs and self.no_tls and \
                        re.fullmatch(r"\d+\.\d+\.\d+\.\d+\.?", h):
                    addrs = [h.rstrip(".")]   # sloppy: IP literal as MX
            except _Temp as e:
                last = str(e)
                continue
            for a in addrs:
                if self.stray:
                    self._probe(a)
                try:
                    return self._send(a, s)
                except _Perm as e:
                    return SenderOutcome("bounced", str(e), "5.0.0")
                except (_Temp, OSError, smtplib.SMTPException) as e:
                    last = f"{h}[{a}]: {e}"
        return SenderOutcome("deferred", last, "4.0.0")

    def _send(self, addr: str, s: Submission) -> SenderOutcome:
        if self.no_tls:
            return self._session(addr, s, tls=False)
        try:
            return self._session(addr, s, tls=True)
        except (ssl.SSLError, smtplib.SMTPResponseException,
                smtplib.SMTPServerDisconnected, socket.timeout) as e:
            if self.require_tls and not isinstance(e, _Perm):
                raise _Perm(f"TLS required, not had: {e}")
            return self._fallback(addr, s, e)

    def _fallback(self, addr: str, s: Submission,
                  err: Exception) -> SenderOutcome:
        """After a failed STARTTLS: cleartext for the fallback sender,
        otherwise a temporary failure (a 5xx reply stays permanent)."""
        if isinstance(err, smtplib.SMTPResponseException) and \
                err.smtp_code >= 500:
            raise err
        if not self.fallback:
            raise _Temp(f"TLS failed: {err}")
        return self._session(addr, s, tls=False)

    def _session(self, addr: str, s: Submission,
                 tls: bool) -> SenderOutcome:
        with smtplib.SMTP(addr, 25, local_hostname="naive.sender.test",
                          timeout=8) as c:
            c.ehlo()
            used_tls = False
            if tls and self.require_tls and not c.has_extn("starttls"):
                raise _Perm("STARTTLS not offered; TLS required")
            if tls and c.has_extn("starttls"):
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                c.starttls(context=ctx)
                c.ehlo()
                used_tls = True
            try:
                c.sendmail(s.sender, [s.rcpt], s.data)
            except smtplib.SMTPRecipientsRefused as e:
                code = list(e.recipients.values())[0][0]
                if code >= 500:
                    raise _Perm(f"{code} recipient refused")
                raise _Temp(f"{code} recipient refused")
            except smtplib.SMTPResponseException as e:
                if e.smtp_code >= 500:
                    raise _Perm(f"{e.smtp_code} {e.smtp_error!r}")
                raise _Temp(f"{e.smtp_code}")
            return SenderOutcome("delivered", "tls" if used_tls else "plain")
