"""Small SMTP client helpers for the fake-mx integration tests."""
from __future__ import annotations

import socket
import ssl
import sys
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


def _proc_addr(addr: tuple[str, int]) -> str:
    """An address as /proc/net/tcp{,6} prints it (32-bit words in host
    byte order, then the port), e.g. 127.0.0.1:25 -> 0100007F:0019."""
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    raw = socket.inet_pton(fam, addr[0])
    words = (int.from_bytes(raw[i:i + 4], sys.byteorder)
             for i in range(0, len(raw), 4))
    return "".join(f"{w:08X}" for w in words) + f":{addr[1]:04X}"


def _tcp_queues(local: str, remote: str) -> tuple[int, int] | None:
    """(send queue, receive queue) of the TCP socket local -> remote."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                p = line.split()
                if p[1] == local and p[2] == remote:
                    tx, rx = p[4].split(":")
                    return int(tx, 16), int(rx, 16)
    return None


def wait_read_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """Wait until the process at the other end of sock (on this host) has
    read everything sent so far: our bytes are acknowledged (our send
    queue is empty), then the peer socket's receive queue is empty.  A
    condition on the kernel's queues, not a delay."""
    me = _proc_addr(sock.getsockname()[:2])
    peer = _proc_addr(sock.getpeername()[:2])

    def read() -> bool:
        ours = _tcp_queues(me, peer)
        if ours is None or ours[0] != 0:
            return False
        theirs = _tcp_queues(peer, me)
        return theirs is not None and theirs[1] == 0
    return wait_until(read, timeout)
