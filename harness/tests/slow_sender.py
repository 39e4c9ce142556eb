"""A small mail relay for the `danelab serve` tests: a sender the lab cannot
drive, which delivers each message when the test says so.

    slow_sender.py --resolver IP --control DIR --rule SCENARIO=WHAT ...

It takes mail over SMTP on port 25 (any address, no TLS, no AUTH) and, per
recipient domain's first label (the scenario id), does WHAT:
  deliver          at once: the MX hosts by preference, STARTTLS when
                   offered (SNI the MX host's name, no verification), the
                   first host that takes it (default);
  bounce           at once: a DSN (Action: failed, Status 5.1.0) to the
                   envelope sender's MX;
  release:deliver, release:bounce
                   the same once the file DIR/release-SCENARIO exists;
  hold             never (the message stays "queued").
What it did goes to DIR/log, one line per step; DIR/ready appears once it
listens.  It needs the lab's resolver (--resolver) and nothing else.
"""
from __future__ import annotations

import argparse
import email.utils
import smtplib
import socketserver
import ssl
import threading
import time
from pathlib import Path

import dns.resolver

LOCK = threading.Lock()


class Relay:
    def __init__(self, resolver: str, control: Path,
                 rules: dict[str, str]) -> None:
        self.res = dns.resolver.Resolver(configure=False)
        self.res.nameservers = [resolver]
        self.res.lifetime = 5.0
        self.control, self.rules = control, rules

    def log(self, text: str) -> None:
        with LOCK, (self.control / "log").open("a") as f:
            f.write(f"{time.time():.3f} {text}\n")

    def take(self, mail_from: str, rcpt: str, data: bytes) -> None:
        sid = rcpt.rpartition("@")[2].split(".")[0]
        rule = self.rules.get(sid, "deliver")
        self.log(f"received {sid} rule={rule}")
        if rule != "hold":
            threading.Thread(target=self._later, daemon=True,
                             args=(sid, rule, mail_from, rcpt, data)).start()

    def _later(self, sid: str, rule: str, mail_from: str, rcpt: str,
               data: bytes) -> None:
        if rule.startswith("release:"):
            flag = self.control / f"release-{sid}"
            while not flag.exists():        # the test's go-ahead
                time.sleep(0.05)
            rule = rule.split(":", 1)[1]
        try:
            if rule == "bounce":
                self.send(mail_from.rpartition("@")[2], "",
                          mail_from, dsn(rcpt, data))
                self.log(f"bounced {sid}")
            else:
                host = self.send(rcpt.rpartition("@")[2], mail_from, rcpt,
                                 data)
                self.log(f"delivered {sid} to {host}")
        except Exception as e:              # logged for the test to show
            self.log(f"failed {sid}: {e}")

    def send(self, domain: str, mail_from: str, rcpt: str, data: bytes
             ) -> str:
        """DATA to the first MX host of DOMAIN that takes it."""
        mx = sorted(self.res.resolve(domain, "MX"),
                    key=lambda r: r.preference)
        last = "no MX host"
        for r in mx:
            name = str(r.exchange).rstrip(".")
            for a in self.res.resolve(name, "A"):
                try:
                    c = smtplib.SMTP(timeout=10,
                                     local_hostname="slow.sender.test")
                    c.connect(a.address, 25)
                    c._host = name          # the SNI of STARTTLS
                    c.ehlo()
                    if c.has_extn("starttls"):
                        tls = ssl.create_default_context()
                        tls.check_hostname = False
                        tls.verify_mode = ssl.CERT_NONE
                        c.starttls(context=tls)
                        c.ehlo()
                    c.sendmail(mail_from, [rcpt], data)
                    c.quit()
                    return name
                except (OSError, smtplib.SMTPException) as e:
                    last = f"{name}: {e}"
        raise RuntimeError(last)


def dsn(rcpt: str, data: bytes) -> bytes:
    """A DSN saying the message DATA to RCPT failed."""
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    b = "dsn-boundary"
    return (f"From: <MAILER-DAEMON@slow.sender.test>\r\n"
            f"Subject: Undelivered Mail\r\n"
            f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: multipart/report; "
            f"report-type=delivery-status; boundary=\"{b}\"\r\n\r\n"
            f"--{b}\r\nContent-Type: text/plain\r\n\r\nnot delivered\r\n"
            f"--{b}\r\nContent-Type: message/delivery-status\r\n\r\n"
            f"Reporting-MTA: dns; slow.sender.test\r\n\r\n"
            f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\n"
            f"Status: 5.1.0\r\nDiagnostic-Code: smtp; 550 5.1.0 null MX\r\n"
            f"\r\n--{b}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"{head}\r\n--{b}--\r\n").encode()


class Handler(socketserver.StreamRequestHandler):
    relay: Relay

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 slow.sender.test ESMTP")
        mail_from, rcpts = "", []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].decode(errors="replace").upper()
            arg = line.decode(errors="replace").strip()
            if verb in ("EHLO", "HELO"):
                self.reply("250 slow.sender.test")
            elif verb == "MAIL":
                mail_from = arg.split(":", 1)[1].strip().strip("<>")
                rcpts = []
                self.reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(arg.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go on")
                lines = []
                while (ln := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(ln[1:] if ln.startswith(b"..") else ln)
                for r in rcpts:
                    self.relay.take(mail_from, r, b"".join(lines))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:                           # RSET, NOOP
                self.reply("250 ok")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolver", required=True)
    ap.add_argument("--control", required=True, type=Path)
    ap.add_argument("--rule", action="append", default=[])
    a = ap.parse_args()
    Handler.relay = Relay(a.resolver, a.control,
                          dict(r.split("=", 1) for r in a.rule))
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer(("0.0.0.0", 25), Handler) as srv:
        (a.control / "ready").write_text("")
        srv.serve_forever()


if __name__ == "__main__":
    main()
