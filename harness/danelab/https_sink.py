"""The lab's HTTPS receiver for TLSRPT reports (RFC 8460 §3, https: rua).

Run inside the lab namespace as a program:
  python3 -m danelab.https_sink --addr 127.43.0.43 --cert CHAIN --key KEY
      --store DIR --ready FILE
Every POST is kept as DIR/post-N.bin, with a JSON line in DIR/posts.jsonl
(time, path, content type, size, status sent back).  A path containing
`/fail-once/` is answered 503 the first time, so a sender's retry shows.
"""
from __future__ import annotations

import argparse
import json
import signal
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 10 * 1024 * 1024        # a report POST larger than this is refused
READ_TIMEOUT = 30.0                # seconds a client may leave a read waiting


class BodyError(Exception):
    """A request body the sink refuses: (HTTP status, what was wrong)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], store: Path) -> None:
        super().__init__(addr, Handler)
        self.store = store
        self.lock = threading.Lock()
        self.count = 0
        self.failed_once: set[str] = set()

    def keep(self, rec: dict[str, Any], body: bytes) -> None:
        with self.lock:
            self.count += 1
            f = self.store / f"post-{self.count}.bin"
            f.write_bytes(body)
            rec["file"] = str(f)
            with open(self.store / "posts.jsonl", "a") as log:
                log.write(json.dumps(rec) + "\n")


class Handler(BaseHTTPRequestHandler):
    server: Sink
    timeout = READ_TIMEOUT          # the socket's: no read waits forever

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _read_exact(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) != n:
            raise BodyError(400, f"body ended after {len(data)} of {n} "
                            "bytes")
        return data

    def _chunked(self) -> bytes:
        """A chunked body (RFC 9112 §7.1), at most MAX_BODY bytes."""
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BodyError(400, f"bad chunk size line {line[:40]!r}")
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass                    # trailer fields
                return bytes(out)
            if len(out) + size > MAX_BODY:
                raise BodyError(413, f"chunked body over {MAX_BODY} bytes")
            out += self._read_exact(size)
            self._read_exact(2)             # CRLF after the chunk

    def read_body(self) -> bytes:
        """The request body by Content-Length or chunked encoding; a
        BodyError when it is too large, malformed, or stalls."""
        try:
            if "chunked" in self.headers.get("Transfer-Encoding",
                                             "").lower():
                return self._chunked()
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                raise BodyError(413, f"Content-Length {n} over {MAX_BODY} "
                                "bytes")
            return self._read_exact(n)
        except (TimeoutError, OSError) as e:
            raise BodyError(408, f"body not received within "
                            f"{self.timeout:.0f} s ({e})")
        except ValueError:
            raise BodyError(400, "bad Content-Length")

    def do_POST(self) -> None:
        try:
            body = self.read_body()
        except BodyError as e:
            # kept as evidence: the grader reports a refused report POST
            self.server.keep({"ts": time.time(), "path": self.path,
                              "content_type": self.headers.get(
                                  "Content-Type", ""), "size": 0,
                              "status": e.status, "problem": e.why}, b"")
            self.close_connection = True
            try:
                self.send_error(e.status, e.why)
            except OSError:
                pass
            return
        status = 200
        with self.server.lock:
            if "/fail-once/" in self.path and \
                    self.path not in self.server.failed_once:
                self.server.failed_once.add(self.path)
                status = 503
        self.server.keep({"ts": time.time(), "path": self.path,
                          "content_type": self.headers.get("Content-Type",
                                                           ""),
                          "size": len(body), "status": status}, body)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_error(404)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--read-timeout", type=float, default=READ_TIMEOUT)
    a = ap.parse_args()
    Handler.timeout = a.read_timeout
    store = Path(a.store)
    store.mkdir(parents=True, exist_ok=True)
    srv = Sink((a.addr, a.port), store)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(
        target=srv.shutdown).start())
    Path(a.ready).write_text("ready\n")
    # shutdown() returns once serve_forever() next looks: every run stops
    # this sink, and waited the default half second for it
    srv.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
