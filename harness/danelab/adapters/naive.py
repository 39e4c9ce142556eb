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

They run in harness threads inside the lab namespace (root mode only); the
queue, lookups, host walk and SMTP session are pysender.py's.
"""
from __future__ import annotations

import re
import smtplib
import socket
import ssl

from ..apex import bare, sender_domain
from .base import SenderOutcome, Submission
from .pysender import Perm, Temp, ThreadedSender, connect, lookup, \
    mx_hosts, send, starttls_any_cert, walk


# broken-stray's fallback relay: an address no scenario declares
STRAY_RELAY = "127.99.0.25"


class NaiveAdapter(ThreadedSender):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.fallback = name == "broken-plaintext-fallback"
        self.no_tls = name == "broken-no-tls"
        self.require_tls = name == "broken-require-tls"
        self.stray = name == "broken-stray"

    # -- delivery --------------------------------------------------------
    def _q(self, name: str, rtype: str) -> list[str]:
        """NAME's RTYPE records as a stub that ignores DNSSEC sees them
        (NXDOMAIN: none; any other failure: Temp)."""
        r = lookup(self.resolver, name, rtype, validate=False)
        if r.rcode == "TIMEOUT":
            raise Temp(f"timeout {name}/{rtype}")
        if r.rcode == "NXDOMAIN":
            return []
        if r.failed:
            raise Temp(f"{r.rcode} {name}/{rtype}")
        return r.records

    def deliver(self, s: Submission) -> SenderOutcome:
        out = self._mx(s)
        if self.stray and out.state == "deferred":
            try:
                return self._send(STRAY_RELAY, s)
            except (Temp, Perm, OSError, smtplib.SMTPException) as e:
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
            mx = mx_hosts(self._q(domain, "MX"))
            if mx == [(0, ".")]:
                if not self.no_tls:
                    return SenderOutcome("bounced", "null MX", "5.1.10")
                mx = []
            hosts = [h for _, h in mx] or [domain]
        except Temp as e:
            return SenderOutcome("deferred", str(e), "4.4.3")
        if self.no_tls and hosts != [domain]:
            hosts = hosts + [domain]          # sloppy: implicit MX fallback
        out = walk(hosts, self._addresses, lambda _h, a: self._attempt(a, s))
        if out.state == "deferred":
            out.dsn = "4.0.0"
        return out

    def _addresses(self, h: str) -> list[str]:
        addrs = self._q(h, "A")
        if not addrs and self.no_tls and \
                re.fullmatch(r"\d+\.\d+\.\d+\.\d+\.?", h):
            addrs = [h.rstrip(".")]   # sloppy: IP literal as MX
        return addrs

    def _attempt(self, addr: str, s: Submission) -> SenderOutcome:
        if self.stray:
            self._probe(addr)
        return self._send(addr, s)

    def _send(self, addr: str, s: Submission) -> SenderOutcome:
        if self.no_tls:
            return self._session(addr, s, tls=False)
        try:
            return self._session(addr, s, tls=True)
        except (ssl.SSLError, smtplib.SMTPResponseException,
                smtplib.SMTPServerDisconnected, socket.timeout) as e:
            if self.require_tls and not isinstance(e, Perm):
                raise Perm(f"TLS required, not had: {e}")
            return self._fallback(addr, s, e)

    def _fallback(self, addr: str, s: Submission,
                  err: Exception) -> SenderOutcome:
        """After a failed STARTTLS: cleartext for the fallback sender,
        otherwise a temporary failure (a 5xx reply stays permanent)."""
        if isinstance(err, smtplib.SMTPResponseException) and \
                err.smtp_code >= 500:
            raise err
        if not self.fallback:
            raise Temp(f"TLS failed: {err}")
        return self._session(addr, s, tls=False)

    def _session(self, addr: str, s: Submission,
                 tls: bool) -> SenderOutcome:
        with connect(addr, f"naive.{bare(sender_domain())}") as c:
            used_tls = False
            if tls and self.require_tls and not c.has_extn("starttls"):
                raise Perm("STARTTLS not offered; TLS required")
            if tls and c.has_extn("starttls"):
                starttls_any_cert(c)
                used_tls = True
            send(c, s)
            return SenderOutcome("delivered", "tls" if used_tls else "plain")
