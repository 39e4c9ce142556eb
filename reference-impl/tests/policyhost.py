#!/usr/bin/python3
"""policyhost.py -- MTA-STS policy hosts for refsend's own tests.

Not the lab's policy server: a small HTTPS server (python ssl +
http.server) that serves https://mta-sts.<domain>/.well-known/mta-sts.txt
for each site of a JSON configuration, each on its own address, port 443,
with its own certificate and one behaviour:

  ok        200, text/plain, the policy
  redirect  301 to /.well-known/moved.txt, where `target` is served (200)
  oversize  200, text/plain, the policy padded past 64 KiB (Content-Length)
  chunked   the same, chunked, without a Content-Length
  blackhole every connection is accepted and held open without a byte
            (no TLS handshake, no answer): a fetch waits until it
            gives up

Every request is one JSON line in the log: {"site", "path", "status"};
a connection to a blackhole site is one line {"site", "held": true},
written once the connection is accepted.  When every site listens, the
ready file is written.

Usage: policyhost.py --config FILE --log FILE --ready FILE
CONFIG: {"sites": [{"name", "address", "chain", "key", "behaviour",
         "policy", ["target"]}]}
"""
import argparse
import http.server
import json
import signal
import socket
import ssl
import sys
import threading

POLICY_PATH = "/.well-known/mta-sts.txt"
MOVED_PATH = "/.well-known/moved.txt"
LIMIT = 64 * 1024
LOCK = threading.Lock()


def padded(policy: str) -> bytes:
    """The policy, then extension lines until it passes the limit."""
    body = policy.encode()
    line = b"x-padding: " + b"p" * 60 + b"\n"
    while len(body) <= LIMIT:
        body += line
    return body


def log_line(site, log_path, **fields):
    with LOCK, open(log_path, "a") as f:
        f.write(json.dumps({"site": site["name"], **fields}) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    site: dict = {}
    log_path = ""

    def log_message(self, *args):
        pass

    def record(self, status):
        log_line(self.site, self.log_path, path=self.path, status=status)

    def send(self, status, ctype, body, chunked=False):
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        if status == 301:
            self.send_header("Location", "https://" + self.site["name"] +
                             MOVED_PATH)
        self.end_headers()
        if not chunked:
            self.wfile.write(body)
            return
        for i in range(0, len(body), 4096):
            part = body[i:i + 4096]
            self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        s = self.site
        b = s["behaviour"]
        if self.path == MOVED_PATH and b == "redirect":
            self.send(200, "text/plain", s["target"].encode())
        elif self.path != POLICY_PATH:
            self.send(404, "text/plain", b"not here\n")
        elif b == "ok":
            self.send(200, "text/plain; charset=utf-8",
                      s["policy"].encode())
        elif b == "redirect":
            self.send(301, "text/plain", b"moved\n")
        elif b == "oversize":
            self.send(200, "text/plain", padded(s["policy"]))
        elif b == "chunked":
            self.send(200, "text/plain", padded(s["policy"]), chunked=True)
        else:
            self.send(500, "text/plain", b"unknown behaviour\n")


class Blackhole:
    """Accepts connections on port 443 and never sends or reads a
    byte; they stay open until shutdown()."""

    def __init__(self, site, log_path):
        self.site, self.log_path = site, log_path
        self.sock = socket.create_server((site["address"], 443))
        self.held = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            log_line(self.site, self.log_path, held=True)

    def shutdown(self):
        self.sock.close()
        for c in self.held:
            c.close()


def serve(site, log_path):
    if site["behaviour"] == "blackhole":
        return Blackhole(site, log_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(site["chain"], site["key"])
    handler = type("SiteHandler", (Handler,), {"site": site,
                                               "log_path": log_path})
    srv = http.server.ThreadingHTTPServer((site["address"], 443), handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready", required=True)
    a = ap.parse_args()
    with open(a.config) as f:
        conf = json.load(f)
    servers = [serve(s, a.log) for s in conf["sites"]]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(a.ready, "w") as f:
        f.write("ready\n")
    stop.wait()
    for srv in servers:
        srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
