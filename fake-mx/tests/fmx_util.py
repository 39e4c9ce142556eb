"""Small SMTP client helpers for the fake-mx integration tests."""
from __future__ import annotations

import socket
import ssl
import time


class Raw:
    """A raw line client: send bytes, read complete SMTP replies."""

    def __init__(self, addr: tuple[str, int], timeout: float = 5.0):
        fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def reply(self) -> tuple[int, list[str]]:
        """One reply: (code, lines of text)."""
        lines = []
        while True:
            line = self._line().decode("ascii", "replace").rstrip("\r\n")
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, line: str | bytes) -> tuple[int, list[str]]:
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.reply()

    def starttls(self, sni: str | None = None, **kw) -> ssl.SSLSocket:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        for k, v in kw.items():
            setattr(ctx, k, v)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=sni)
        return self.sock

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True once the server closed the connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, TimeoutError):
            return False
        except ssl.SSLError:
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def by_kind(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["event"] == kind]


def one_session(events: list[dict], listener: str) -> list[dict]:
    """Events of the only (or last) session of a listener."""
    mine = [e for e in events if e["listener"] == listener]
    assert mine, "no events for " + listener
    sid = mine[-1]["session"]
    return [e for e in mine if e["session"] == sid]


def replies(events: list[dict], stage: str) -> list[int]:
    return [e["code"] for e in events
            if e["event"] == "reply" and e["stage"] == stage]


def wait_until(pred, timeout: float = 5.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False
