#!/usr/bin/python3
"""smtpsink.py -- a small SMTP sink for refsend's own tests and bench.

Not part of the lab (fake-mx is): a threaded ESMTP server on 127.0.0.1 that
accepts everything, optionally offers STARTTLS (with a given cert/key), and
records every accepted message as one JSON line in a log file:
{"message_id": ..., "from": ..., "to": [...], "size": n, "tls": bool}.

A message counts as accepted only once the final 250 has been written;
a client that vanishes before that has delivered nothing (RFC 5321 4.1.1.4
semantics).  --eom-delay makes the server wait before that final reply, so
a test can kill the client while messages are in flight; --gate FILE holds
every final reply while FILE exists, and once no final reply is on its way
any more (every session is held or has written its reply and its log line)
the sink writes FILE's content into FILE.held: a test that writes a fresh
token into FILE and waits for FILE.held to hold it knows that nothing more
will be accepted until FILE goes.

Usage: smtpsink.py --port N --log FILE [--pidfile F] [--eom-delay S]
                   [--quit-delay S] [--tls-cert C --tls-key K]
                   [--rcpt-reply CODE] [--gate F]
"""
import argparse
import json
import os
import re
import select
import socket
import socketserver
import ssl
import sys
import threading
import time

LOCK = threading.Lock()


class Gate:
    """--gate FILE: final replies wait while FILE exists.  `inside` counts
    the sessions past the gate whose reply and log line are not yet
    written; FILE.held acknowledges a closed gate once it is 0."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.inside = 0

    def enter(self):
        while True:
            with self.lock:
                if not self.path or not os.path.exists(self.path):
                    self.inside += 1
                    return
            time.sleep(0.01)

    def leave(self):
        with self.lock:
            self.inside -= 1

    def watch(self):
        """Thread: write FILE.held (FILE's token) when the gate is closed
        and no session is inside; remove it when the gate opens."""
        held = self.path + ".held"
        while True:
            with self.lock:
                try:
                    with open(self.path) as f:
                        token = f.read()
                except FileNotFoundError:
                    token = None
                if token is None:
                    if os.path.exists(held):
                        os.unlink(held)
                elif self.inside == 0:
                    try:
                        with open(held) as f:
                            done = f.read() == token
                    except FileNotFoundError:
                        done = False
                    if not done:
                        with open(held + ".tmp", "w") as f:
                            f.write(token)
                        os.rename(held + ".tmp", held)
            time.sleep(0.01)


class Handler(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def client_gone(self):
        """True when the client has closed its end (EOF is readable)."""
        r, _, _ = select.select([self.connection], [], [], 0)
        if not r:
            return False
        try:
            if isinstance(self.connection, ssl.SSLSocket):
                return False    # cannot peek under TLS: assume present
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def final_reply(self, body, mail_from, rcpts, tls):
        """The reply to the end of data, and the log line of an accepted
        message.  False when the session is over."""
        opts = self.server.opts
        if self.client_gone():
            return False    # client vanished: nothing accepted
        m = re.search(rb"^Message-ID:\s*<?([^>\r\n]*)>?", body,
                      re.I | re.M)
        rec = {"message_id": m.group(1).decode() if m else None,
               "from": mail_from, "to": rcpts, "size": len(body),
               "tls": tls}
        if not opts.eom_reply.startswith("2"):
            self.reply(opts.eom_reply)
            return True
        try:
            self.reply("250 2.0.0 accepted")
        except OSError:
            return False
        with LOCK:
            with open(opts.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
                f.flush()
        return True

    def handle(self):
        opts = self.server.opts
        tls = False
        self.reply("220 sink.test ESMTP smtpsink")
        mail_from, rcpts = None, []
        while True:
            line = self.rfile.readline(10000)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO" and opts.ehlo_reply:
                self.reply(opts.ehlo_reply)
            elif verb == "EHLO":
                ext = ["250-sink.test", "250-PIPELINING"]
                if opts.tls_cert and not tls:
                    ext.append("250-STARTTLS")
                ext.append("250 8BITMIME")
                # one write: no Nagle / delayed-ACK stall between lines
                self.wfile.write("".join(e + "\r\n" for e in ext).encode())
                self.wfile.flush()
            elif verb == "HELO":
                self.reply("250 sink.test")
            elif verb == "STARTTLS" and opts.tls_cert and not tls:
                self.reply("220 go ahead")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(opts.tls_cert, opts.tls_key)
                conn = ctx.wrap_socket(self.connection, server_side=True)
                self.connection = conn
                self.rfile = conn.makefile("rb")
                self.wfile = conn.makefile("wb")
                tls = True
            elif verb == "MAIL":
                m = re.search(r"<(.*?)>", cmd)
                mail_from, rcpts = (m.group(1) if m else ""), []
                self.reply(opts.mail_reply)
            elif verb == "RCPT":
                m = re.search(r"<(.*?)>", cmd)
                code = opts.rcpt_reply
                if code == 250:
                    rcpts.append(m.group(1) if m else "")
                    self.reply("250 2.1.5 ok")
                else:
                    self.reply("%d %d.1.1 rejected by smtpsink" %
                               (code, code // 100))
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = []
                while True:
                    dl = self.rfile.readline(1000000)
                    if not dl:
                        return      # client vanished: nothing accepted
                    if dl in (b".\r\n", b".\n"):
                        break
                    if dl.startswith(b".."):
                        dl = dl[1:]
                    data.append(dl)
                body = b"".join(data)
                if opts.eom_delay:
                    time.sleep(opts.eom_delay)
                self.server.gate.enter()
                try:
                    if not self.final_reply(body, mail_from, rcpts, tls):
                        return
                finally:
                    self.server.gate.leave()
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.reply("250 ok")
            elif verb == "NOOP":
                self.reply("250 ok")
            elif verb == "QUIT":
                if opts.quit_delay:
                    time.sleep(opts.quit_delay)
                self.reply("221 bye")
                return
            else:
                self.reply("502 5.5.2 unknown command")


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--log", required=True)
    ap.add_argument("--pidfile")
    ap.add_argument("--eom-delay", type=float, default=0.0)
    ap.add_argument("--quit-delay", type=float, default=0.0,
                    help="seconds before the reply to QUIT")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--rcpt-reply", type=int, default=250)
    ap.add_argument("--ehlo-reply", help="reply to EHLO instead of 250")
    ap.add_argument("--mail-reply", default="250 2.1.0 ok")
    ap.add_argument("--eom-reply", default="250 2.0.0 accepted",
                    help="a non-2xx reply here refuses every message")
    ap.add_argument("--gate", help="while this file exists, hold every "
                    "final reply (then accept only if the client is "
                    "still there); FILE.held gets FILE's content once no "
                    "final reply is on its way")
    opts = ap.parse_args()
    if not opts.address.startswith("127."):
        sys.exit("smtpsink: only 127.0.0.0/8 addresses")
    srv = Server((opts.address, opts.port), Handler)
    srv.opts = opts
    srv.gate = Gate(opts.gate)
    if opts.gate:
        threading.Thread(target=srv.gate.watch, daemon=True).start()
    if opts.pidfile:
        with open(opts.pidfile + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(opts.pidfile + ".tmp", opts.pidfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
