"""A conforming MTA-STS policy fetch (RFC 8461 §3.3), in the lab's own code:
the tests drive the policy server's faults with it, and the bench counts
fetches per second with it.

HTTPS GET of https://mta-sts.<domain>/.well-known/mta-sts.txt with SNI,
the certificate checked against the given CA file and the host name; a 200
answer only (redirects are not followed), media type text/plain, a body of
at most 64 KiB, read within the time limit.
"""
from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from typing import Mapping

from .sts_policy import MAX_BODY

POLICY_PATH = "/.well-known/mta-sts.txt"


@dataclass
class Fetched:
    ok: bool
    body: bytes = b""
    why: str = ""              # why the fetch failed
    status: int = 0
    location: str = ""         # a 3xx answer's Location header


def fetch(address: str, name: str, cafile: str, port: int = 443,
          timeout: float = 10.0, sni: bool = True,
          path: str = POLICY_PATH) -> Fetched:
    """Fetch NAME's policy from ADDRESS (the lab's DNS answer for NAME);
    PATH is for a deliberately broken client that follows a redirect."""
    ctx = ssl.create_default_context(cafile=cafile)
    if not sni:
        ctx.check_hostname = False
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((address, port), timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=name if sni else None
                                ) as tls:
            if not sni:
                if not _name_fits(tls.getpeercert() or {}, name):
                    return Fetched(False, why="certificate does not fit "
                                   f"{name}")
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {name}\r\n"
                        "Connection: close\r\n\r\n".encode())
            data = b""
            while True:
                if time.monotonic() > deadline:
                    return Fetched(False, why="timed out")
                tls.settimeout(max(0.1, deadline - time.monotonic()))
                chunk = tls.recv(16384)
                if not chunk:
                    break
                data += chunk
                if len(data) > MAX_BODY + 16384:
                    return Fetched(False, why="policy over 64 KiB")
    except ssl.SSLCertVerificationError as e:
        return Fetched(False, why=f"certificate: {e.verify_message}")
    except (OSError, ssl.SSLError) as e:
        return Fetched(False, why=f"connection: {e}")
    return _parse_response(data)


def _name_fits(cert: Mapping[str, object], name: str) -> bool:
    sans = cert.get("subjectAltName") or ()
    assert isinstance(sans, tuple)
    return any(k == "DNS" and str(v).lower() == name.lower()
               for k, v in sans)


def _parse_response(data: bytes) -> Fetched:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return Fetched(False, why="no complete HTTP response")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return Fetched(False, why="malformed status line")
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    if status != 200:
        return Fetched(False, why=f"HTTP {status} (not followed)"
                       if 300 <= status < 400 else f"HTTP {status}",
                       status=status, location=headers.get("location", ""))
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "text/plain":
        return Fetched(False, why=f"media type {ctype or 'none'}",
                       status=status)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    if len(body) > MAX_BODY:
        return Fetched(False, why="policy over 64 KiB", status=status)
    return Fetched(True, body, status=status)


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size, _, rest = rest.partition(b"\r\n")
        n = int(size.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        out, rest = out + rest[:n], rest[n + 2:]
    return out
