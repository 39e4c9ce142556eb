"""The lab's MTA-STS policy server: every scenario's `mta-sts.<domain>` over
HTTPS (RFC 8461 §3.3), each on its own address, each with its certificate
and its fault.

Run inside the lab namespace as a program:
  python3 -m danelab.sts_server --config CONF --events FILE --ready FILE
CONF is JSON: {"generation": N, "sites": [{"scenario", "name", "address",
"fault", "policy", "chain", "key", ["nosni_chain", "nosni_key"]}]}.
SIGHUP re-reads CONF (the lab changes policies between queue passes); the
server then writes "ready N" to the ready file.  Every request, and every
connection that never got that far, is one JSON line in the events file.

Faults (scenario.STS_FAULTS): not-found (404, the policy as its body),
redirect (301 to a second path that serves the policy: a fetch of it shows
the redirect was followed), content-type (text/html), oversize (a valid
policy padded past 64 KiB; also chunked), slow (the body trickles), blackhole
(the TCP connection is accepted, TLS never answered), sni-required (without
SNI the server shows a certificate for another name), refused (nothing
listens).  Everything is bounded: connections, request size, time.
"""
from __future__ import annotations

import argparse
import json
import selectors
import signal
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .sts_policy import MAX_BODY

POLICY_PATH = "/.well-known/mta-sts.txt"
MOVED_PATH = "/.well-known/mta-sts-moved.txt"
MAX_CONNECTIONS = 128          # at once; more are closed at accept
MAX_REQUEST = 8192             # request line and headers
IO_TIMEOUT = 15.0              # a silent client is dropped after this
HOLD_CAP = 90.0                # slow and blackhole give up after this
SLOW_STEP = 2.0                # slow: one body byte per this many seconds


@dataclass
class Site:
    scenario: str
    name: str
    address: str
    fault: str
    policy: bytes
    ctx: ssl.SSLContext
    nosni_ctx: ssl.SSLContext | None = None


def _context(chain: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(chain, key)
    return ctx


def load_sites(conf: dict[str, Any]) -> dict[str, Site]:
    """The configuration's sites by address, with their TLS contexts."""
    out: dict[str, Site] = {}
    for c in conf.get("sites", []):
        site = Site(c["scenario"], c["name"].lower(), c["address"],
                    c.get("fault", "none"), c["policy"].encode(),
                    _context(c["chain"], c["key"]))
        if c.get("nosni_chain"):
            site.nosni_ctx = _context(c["nosni_chain"], c["nosni_key"])
        _record_sni(site)
        out[site.address] = site
    return out


def _record_sni(site: Site) -> None:
    """Remember the SNI each handshake carried; with sni-required, switch
    to the site's own certificate only when the SNI names it."""
    def cb(sock: Any, name: str | None, _ctx: ssl.SSLContext) -> None:
        sock.danelab_sni = name
        if site.nosni_ctx is not None and name and \
                name.lower() == site.name:
            sock.context = site.ctx

    site.ctx.sni_callback = cb
    if site.nosni_ctx is not None:
        site.nosni_ctx.sni_callback = cb


class PolicyServer:
    def __init__(self, conf: Path, events: Path, port: int = 443) -> None:
        self.conf_path, self.events_path, self.port = conf, events, port
        self.sites: dict[str, Site] = {}
        self.listening: dict[str, socket.socket] = {}
        self.generation = 0
        self.stop = threading.Event()
        self.reload_wanted = threading.Event()
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.sel = selectors.DefaultSelector()
        # a byte here ends the loop's wait at once (wake()): a reload or a
        # stop is not left to the next time the loop looks
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)

    def wake(self) -> None:
        """End the loop's wait now (from a signal handler)."""
        try:
            self.wake_w.send(b"!")
        except OSError:
            pass                # full: a byte is waiting already

    # -- configuration and sockets -----------------------------------------
    def load(self) -> None:
        conf = json.loads(self.conf_path.read_text())
        sites = load_sites(conf)
        want = {a for a, s in sites.items() if s.fault != "refused"}
        for addr in set(self.listening) - want:
            sock = self.listening.pop(addr)
            self.sel.unregister(sock)
            sock.close()
        for addr in sorted(want - set(self.listening)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((addr, self.port))
            sock.listen(64)
            sock.setblocking(False)
            self.sel.register(sock, selectors.EVENT_READ, addr)
            self.listening[addr] = sock
        with self.lock:
            self.sites = sites
            self.generation = int(conf.get("generation", 1))

    def log(self, rec: dict[str, Any]) -> None:
        rec = {"ts": round(time.time(), 3), "generation": self.generation,
               **rec}
        with self.lock, open(self.events_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    # -- the loop ----------------------------------------------------------
    def serve(self, ready: Path | None = None) -> None:
        if ready is not None:
            ready.write_text(f"ready {self.generation}\n")
        while not self.stop.is_set():
            if self.reload_wanted.is_set():
                self.reload_wanted.clear()
                self.load()
                if ready is not None:
                    ready.write_text(f"ready {self.generation}\n")
            for key, _ in self.sel.select(0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.wake_r:
                    try:
                        sock.recv(64)
                    except OSError:
                        pass
                    continue
                try:
                    conn, peer = sock.accept()
                except OSError:
                    continue
                site = self.sites.get(key.data)
                if site is None or not self.slots.acquire(blocking=False):
                    conn.close()
                    continue
                threading.Thread(target=self._serve_one,
                                 args=(conn, peer, site),
                                 daemon=True).start()
        for sock in self.listening.values():
            sock.close()

    def _serve_one(self, conn: socket.socket, peer: tuple[str, int],
                   site: Site) -> None:
        rec: dict[str, Any] = {"scenario": site.scenario,
                               "address": site.address, "name": site.name,
                               "peer": peer[0], "fault": site.fault}
        try:
            conn.setblocking(True)
            conn.settimeout(IO_TIMEOUT)
            if site.fault == "blackhole":
                self._hold(conn)
                rec["event"] = "blackholed"
                return
            self._https(conn, site, rec)
        except (OSError, ValueError) as e:
            rec.setdefault("event", "error")
            rec["error"] = str(e)[:200]
        finally:
            try:
                conn.close()
            except OSError:
                pass
            self.log(rec)
            self.slots.release()

    def _hold(self, conn: socket.socket) -> None:
        """Keep the connection open, answering nothing, until the client
        gives up, HOLD_CAP passes or the server stops."""
        conn.settimeout(1.0)
        end = time.monotonic() + HOLD_CAP
        while time.monotonic() < end and not self.stop.is_set():
            try:
                if not conn.recv(4096):
                    return
            except socket.timeout:
                continue

    def _https(self, conn: socket.socket, site: Site,
               rec: dict[str, Any]) -> None:
        ctx = site.nosni_ctx or site.ctx
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            rec["event"] = "tls-failed"
            rec["error"] = str(e)[:200]
            return
        rec["sni"] = getattr(tls, "danelab_sni", None)
        rec["tls_version"] = tls.version()
        try:
            req = self._read_request(tls)
            if req is None:
                rec["event"] = "no-request"
                return
            method, path, headers = req
            rec.update(event="request", method=method, path=path,
                       host=headers.get("host", ""))
            self._respond(tls, site, method, path, rec)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    @staticmethod
    def _read_request(tls: ssl.SSLSocket
                      ) -> tuple[str, str, dict[str, str]] | None:
        buf = b""
        while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
            if len(buf) > MAX_REQUEST:
                return None
            chunk = tls.recv(4096)
            if not chunk:
                return None
            buf += chunk
        head = buf.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
        parts = lines[0].split()
        if len(parts) != 3:
            return None
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        return parts[0], parts[1], headers

    def _respond(self, tls: ssl.SSLSocket, site: Site, method: str,
                 path: str, rec: dict[str, Any]) -> None:
        path = path.split("?", 1)[0]
        body, ctype, status = site.policy, "text/plain", 200
        extra: list[str] = []
        chunked = False
        if method not in ("GET", "HEAD"):
            status, body = 405, b""
        elif path == MOVED_PATH and site.fault == "redirect":
            rec["followed_redirect"] = True
        elif path != POLICY_PATH:
            status, body = 404, b"not found\n"
        elif site.fault == "not-found":
            status = 404
        elif site.fault == "redirect":
            status, body = 301, b""
            extra.append(f"Location: https://{site.name}{MOVED_PATH}")
        elif site.fault == "content-type":
            ctype = "text/html"
        elif site.fault in ("oversize", "oversize-chunked"):
            body = padded(site.policy)
            chunked = site.fault == "oversize-chunked"
        reason = {200: "OK", 301: "Moved Permanently", 404: "Not Found",
                  405: "Method Not Allowed"}[status]
        head = [f"HTTP/1.1 {status} {reason}",
                f"Content-Type: {ctype}", "Connection: close", *extra]
        head.append("Transfer-Encoding: chunked" if chunked else
                    f"Content-Length: {len(body)}")
        tls.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        rec["status"] = status
        if method == "HEAD":
            body = b""
        if site.fault == "slow" and status == 200:
            rec["sent"] = self._trickle(tls, body)
            return
        if chunked:
            for i in range(0, len(body), 4096):
                part = body[i:i + 4096]
                tls.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            tls.sendall(b"0\r\n\r\n")
        else:
            tls.sendall(body)
        rec["sent"] = len(body)

    def _trickle(self, tls: ssl.SSLSocket, body: bytes) -> int:
        """Send BODY one byte per SLOW_STEP, up to HOLD_CAP in all."""
        end = time.monotonic() + HOLD_CAP
        sent = 0
        for i in range(len(body)):
            if self.stop.wait(SLOW_STEP) or time.monotonic() > end:
                break
            tls.sendall(body[i:i + 1])
            sent += 1
        return sent


def padded(policy: bytes) -> bytes:
    """POLICY followed by lines of an unknown key (ignored by a reader,
    RFC 8461 §3.2) until the body exceeds MAX_BODY: valid if read whole."""
    line = b"x-padding: " + b"a" * 100 + b"\r\n"
    n = (MAX_BODY - len(policy)) // len(line) + 2
    return policy + line * n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--port", type=int, default=443)
    a = ap.parse_args()
    srv = PolicyServer(Path(a.config), Path(a.events), a.port)
    srv.load()

    def on_signal(event: threading.Event) -> Callable[..., None]:
        def handler(*_: object) -> None:
            event.set()
            srv.wake()
        return handler

    signal.signal(signal.SIGTERM, on_signal(srv.stop))
    signal.signal(signal.SIGHUP, on_signal(srv.reload_wanted))
    srv.serve(Path(a.ready))


if __name__ == "__main__":
    main()
