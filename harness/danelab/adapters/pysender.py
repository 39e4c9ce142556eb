"""What the lab's Python senders (naive.py, danebroken.py) share: the
adapter life cycle (a queue worked by harness threads inside the lab
namespace), lookups at the lab resolver, the walk over MX hosts and their
addresses, and the SMTP client: an envelope and message sent with smtplib,
and a STARTTLS done with pyOpenSSL that hands back the whole chain the
server presented (Python's ssl module shows only the leaf).

These senders run as threads of the harness, so they need root mode.
Temp and Perm are how a delivery step says "try the next address" and
"bounce the message".
"""
from __future__ import annotations

import io
import select
import smtplib
import socket
import ssl
import time
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from cryptography import x509
from OpenSSL import SSL  # type: ignore[import]  # no stubs in Debian

from ..errors import LabError
from .base import Adapter, LabContext, SenderOutcome, Submission

SMTP_TIMEOUT = 8.0
DNS_TIMEOUT = 3.0


class Temp(Exception):
    """This address (or host) failed for now: go on to the next one."""

    def __init__(self, text: str, dsn: str = "4.0.0") -> None:
        super().__init__(text)
        self.dsn = dsn


class Perm(Exception):
    """The message cannot be delivered: bounce it."""

    def __init__(self, text: str, dsn: str = "5.0.0") -> None:
        super().__init__(text)
        self.dsn = dsn


class ThreadedSender(Adapter):
    """A sender whose delivery is deliver(), run for every queued message
    by a pool of harness threads inside the lab namespace.  A message
    deferred on one pass is tried again on the next run_queue()."""

    def __init__(self, name: str) -> None:
        self.name = name
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
            for s, out in zip(todo, ex.map(self.deliver, todo)):
                self.results[s.message_id] = out

    def outcomes(self) -> dict[str, SenderOutcome]:
        return dict(self.results)

    @abstractmethod
    def deliver(self, s: Submission) -> SenderOutcome:
        """One delivery attempt of S; never raises."""

    @property
    def resolver(self) -> str:
        assert self.ctx
        return self.ctx.resolver


# -- DNS -----------------------------------------------------------------
@dataclass
class Lookup:
    """One answer of the lab resolver."""

    rcode: str                    # NOERROR, NXDOMAIN, SERVFAIL, TIMEOUT...
    ad: bool                      # the resolver validated it (AD bit)
    records: list[str] = field(default_factory=list)   # of the asked type,
    #                             as text, hex data in one piece
    owner: str = ""               # their owner: the name after CNAMEs

    @property
    def failed(self) -> bool:
        """No answer to rely on: SERVFAIL (bogus data), a timeout, ..."""
        return self.rcode not in ("NOERROR", "NXDOMAIN")


def lookup(resolver: str, name: str, rtype: str, validate: bool,
           timeout: float = DNS_TIMEOUT) -> Lookup:
    """Ask RESOLVER for NAME/RTYPE.  VALIDATE: ask as a DANE client does
    (AD set in the query, CD clear: bogus data comes back as SERVFAIL and
    `ad` says whether the answer validated); otherwise with the CD bit, as
    a stub that ignores DNSSEC (bogus data comes back as any data)."""
    q = dns.message.make_query(name, rtype, use_edns=0, payload=4096)
    q.flags |= dns.flags.AD if validate else dns.flags.CD
    try:
        r = dns.query.udp(q, resolver, timeout=timeout)
        if r.flags & dns.flags.TC:
            r = dns.query.tcp(q, resolver, timeout=timeout)
    except dns.exception.Timeout:
        return Lookup("TIMEOUT", False)
    want = dns.rdatatype.from_text(rtype)
    got = [rrs for rrs in r.answer if rrs.rdtype == want]
    return Lookup(dns.rcode.to_text(r.rcode()),
                  validate and bool(r.flags & dns.flags.AD),
                  [rd.to_text(chunksize=0) for rrs in got for rd in rrs],
                  got[0].name.to_text().lower() if got else "")


def mx_hosts(records: list[str]) -> list[tuple[int, str]]:
    """An MX RRset's (preference, host) pairs, best first; a null MX is
    [(0, ".")]."""
    return sorted((int(p), h.lower()) for p, h in
                  (x.split() for x in records))


# -- the walk over hosts -------------------------------------------------
def walk(hosts: Iterable[str], addresses: Callable[[str], list[str]],
         attempt: Callable[[str, str], SenderOutcome]) -> SenderOutcome:
    """Try each host in order and each of its ADDRESSES (which raises Temp
    when the host has none to use) with ATTEMPT(host, address), until one
    delivers.  A Perm bounces at once; a Temp, a network or SMTP error goes
    on to the next address.  Nothing delivered: deferred, with the last
    reason."""
    last, dsn = "no usable host", "4.4.4"
    for h in hosts:
        try:
            addrs = addresses(h)
        except Temp as e:
            last, dsn = str(e), e.dsn
            continue
        for a in addrs:
            try:
                return attempt(h, a)
            except Perm as e:
                return SenderOutcome("bounced", str(e), e.dsn)
            except Temp as e:
                last, dsn = f"{h}[{a}]: {e}", e.dsn
            except (OSError, smtplib.SMTPException, SSL.Error) as e:
                last, dsn = f"{h}[{a}]: {e}", "4.4.2"
    return SenderOutcome("deferred", last, dsn)


# -- SMTP ----------------------------------------------------------------
def _raise_for(code: int, text: str) -> None:
    if code >= 500:
        raise Perm(f"{code} {text}")
    raise Temp(f"{code} {text}")


def envelope(c: smtplib.SMTP, s: Submission) -> None:
    """MAIL FROM and RCPT TO; a refusal raises Perm (5xx) or Temp."""
    code, msg = c.mail(s.sender)
    if code != 250:
        c.rset()
        _raise_for(code, f"MAIL FROM refused: {msg!r}")
    code, msg = c.rcpt(s.rcpt)
    if code not in (250, 251):
        c.rset()
        _raise_for(code, "recipient refused")


def message(c: smtplib.SMTP, s: Submission) -> None:
    """DATA and the message, after envelope()."""
    reply: bytes | str
    try:
        code, reply = c.data(s.data)
    except smtplib.SMTPResponseException as e:
        code, reply = e.smtp_code, e.smtp_error
    if code != 250:
        _raise_for(code, f"message refused: {reply!r}")


def send(c: smtplib.SMTP, s: Submission) -> None:
    envelope(c, s)
    message(c, s)


def connect(addr: str, helo: str) -> smtplib.SMTP:
    """An SMTP session with ADDR:25, EHLO sent."""
    c = smtplib.SMTP(addr, 25, local_hostname=helo, timeout=SMTP_TIMEOUT)
    c.ehlo()
    return c


def starttls_any_cert(c: smtplib.SMTP) -> None:
    """STARTTLS with Python's ssl module, any certificate accepted, no SNI
    (smtplib names the server by the address it dialled)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.starttls(context=ctx)
    c.ehlo()


def _wait(sock: socket.socket, write: bool, deadline: float) -> None:
    left = deadline - time.monotonic()
    r, w, _ = select.select([] if write else [sock], [sock] if write else [],
                            [], max(left, 0))
    if not r and not w:
        raise socket.timeout("TLS timed out")


class _TlsReader(io.RawIOBase):
    """The read side of a pyOpenSSL connection, for smtplib's makefile."""

    def __init__(self, tls: "TlsSocket") -> None:
        self.tls = tls

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        return self.tls.recv_into(b)


class TlsSocket:
    """A pyOpenSSL connection over a non-blocking socket, with the few
    socket methods smtplib calls (sendall, makefile, close) and a timeout
    on every step."""

    def __init__(self, conn: SSL.Connection, sock: socket.socket,
                 timeout: float) -> None:
        self.conn, self.sock, self.timeout = conn, sock, timeout

    def _io(self, step: Callable[[], int]) -> int:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return step()
            except SSL.WantReadError:
                _wait(self.sock, False, deadline)
            except SSL.WantWriteError:
                _wait(self.sock, True, deadline)

    def handshake(self) -> None:
        def step() -> int:
            self.conn.do_handshake()
            return 0
        self._io(step)

    def recv_into(self, b: Any) -> int:
        def step() -> int:
            try:
                return int(self.conn.recv_into(b, len(b)))
            except SSL.ZeroReturnError:
                return 0
        return self._io(step)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            chunk = bytes(view[:16384])     # the same buffer on a retry
            n = self._io(lambda: int(self.conn.send(chunk)))
            view = view[n:]

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        return io.BufferedReader(_TlsReader(self))

    def close(self) -> None:
        try:
            self.conn.shutdown()
        except SSL.Error:
            pass
        self.sock.close()


def starttls_chain(c: smtplib.SMTP, sni: str | None
                   ) -> list[x509.Certificate]:
    """STARTTLS with pyOpenSSL (TLS 1.2 at least, SNI when given, nothing
    verified) and EHLO again; returns the chain the server presented, leaf
    first.  A refusal raises Temp; a failed handshake SSL.Error or
    socket.timeout."""
    code, msg = c.docmd("STARTTLS")
    if code != 220:
        raise Temp(f"STARTTLS refused: {code} {msg!r}", "4.7.5")
    assert c.sock is not None
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_verify(SSL.VERIFY_NONE, lambda *_: True)
    raw = c.sock
    raw.setblocking(False)
    conn = SSL.Connection(ctx, raw)
    if sni:
        conn.set_tlsext_host_name(sni.encode("idna"))
    conn.set_connect_state()
    tls = TlsSocket(conn, raw, SMTP_TIMEOUT)
    c.sock = tls                  # type: ignore[assignment]
    c.file = None
    tls.handshake()
    chain = [x.to_cryptography() for x in conn.get_peer_cert_chain() or []]
    c.helo_resp = c.ehlo_resp = None
    c.esmtp_features, c.does_esmtp = {}, False
    c.ehlo()
    return chain


def quit_quietly(c: smtplib.SMTP) -> None:
    """QUIT if the session still stands, then close it."""
    try:
        c.quit()
    except (OSError, smtplib.SMTPException, SSL.Error):
        c.close()
