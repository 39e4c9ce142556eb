"""Tiny report sinks for refsend-tlsrpt's tests, run as threads inside the
test process (nothing to reap): a plain SMTP server that keeps every
message, and an HTTPS server that keeps every POST and answers with a
scripted list of status codes.  Both listen on 127.0.0.1, on a free port.
"""
import http.server
import socket
import socketserver
import ssl
import threading


class _SMTPHandler(socketserver.StreamRequestHandler):
    def _send(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        sink = self.server.sink
        self._send("220 sink.test ESMTP tlsrpt-test-sink")
        mail_from, rcpts = None, []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("ascii", "replace").rstrip("\r\n")
            sink.lines.append(line)
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._send("250 sink.test")
            elif verb == "MAIL":
                mail_from, rcpts = line[10:].strip("<>"), []
                self._send("250 2.1.0 ok")
            elif verb == "RCPT":
                if sink.rcpt_reply.startswith("250"):
                    rcpts.append(line[8:].strip("<>"))
                self._send(sink.rcpt_reply)
            elif verb == "DATA":
                self._send("354 go ahead")
                data = []
                while True:
                    d = self.rfile.readline()
                    if not d or d == b".\r\n":
                        break
                    if d.startswith(b".."):
                        d = d[1:]
                    data.append(d)
                sink.messages.append({"from": mail_from, "to": rcpts,
                                      "data": b"".join(data)})
                self._send("250 2.0.0 queued")
            elif verb == "QUIT":
                self._send("221 bye")
                return
            elif verb == "STAR":
                sink.starttls_asked = True
                self._send("502 not here")
            else:
                self._send("500 what")


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _ThreadedSink:
    """A socketserver serving from a thread of the test process, on the
    free port it was bound to; close() stops it."""

    def _serve(self, server):
        self.server = server
        self.server.sink = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SMTPSink(_ThreadedSink):
    """Plain SMTP on 127.0.0.1:port; .messages holds what was accepted."""

    def __init__(self, rcpt_reply="250 2.1.5 ok"):
        self.messages, self.lines = [], []
        self.rcpt_reply = rcpt_reply
        self.starttls_asked = False
        self._serve(_Server(("127.0.0.1", 0), _SMTPHandler))


class _HTTPHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        sink = self.server.sink
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        code = sink.codes.pop(0) if sink.codes else 200
        sink.posts.append({"path": self.path, "headers": dict(self.headers),
                           "body": body, "answered": code})
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class _HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class HTTPSSink(_ThreadedSink):
    """HTTPS on 127.0.0.1:port with cert/key; codes is the list of
    statuses to answer, in order (then 200)."""

    def __init__(self, cert, key, codes=()):
        self.posts, self.codes = [], list(codes)
        server = _HTTPServer(("127.0.0.1", 0), _HTTPHandler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._serve(server)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class DNSSink:
    """A tiny authoritative-looking DNS server on 127.0.0.1 (UDP), for
    the reporter's libunbound path: answers from records, a dict
    {(name, type): [rdata text, ...]} (names without the final dot);
    anything else is NXDOMAIN.  No DNSSEC: answers are insecure."""

    def __init__(self, records):
        import dns.message
        import dns.rcode
        import dns.rdata
        import dns.rdataclass
        import dns.rdatatype
        import dns.rrset
        self._dns = dns
        self.records = {(n.lower().rstrip("."), t.upper()): v
                        for (n, t), v in records.items()}
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _answer(self, wire):
        dns = self._dns
        q = dns.message.from_wire(wire)
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        q0 = q.question[0]
        name = q0.name.to_text().lower().rstrip(".")
        tname = dns.rdatatype.to_text(q0.rdtype)
        self.queries.append((name, tname))
        data = self.records.get((name, tname))
        if data:
            rr = dns.rrset.from_text_list(q0.name, 60, "IN", tname, data)
            r.answer.append(rr)
        elif not any(n == name for n, _ in self.records):
            r.set_rcode(dns.rcode.NXDOMAIN)
        return r.to_wire()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                continue
            try:
                self.sock.sendto(self._answer(wire), peer)
            except Exception:  # a malformed query: no answer
                pass

    def close(self):
        self._stop = True
        self.thread.join()
        self.sock.close()
