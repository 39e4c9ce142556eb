"""hostile.py -- a tiny scripted SMTP server that misbehaves on command.

For the tests of refsend (reference-impl/tests) and refsend-tlsrpt
(reference-impl/tlsrpt/tests): it runs as threads of the test process on
127.0.0.1 and a free port, so nothing outlives a test (close() stops it).

Each step of the dialogue has a scripted answer; without one the server
behaves like a plain ESMTP server that accepts everything.  The steps are
"banner", "ehlo", "helo", "mail", "rcpt", "data" (the reply to DATA),
"eom" (the reply to the end of the message) and "quit".  An answer is:

    "250 ok" / b"250 ok"   sent as is, followed by CRLF (it may hold
                           several lines, or bytes that are not UTF-8)
    Raw(b"...")            sent as is, nothing added
    Drip(text, every=1.0)  sent one byte at a time, `every` seconds apart
    Endless(line)          the line sent again and again (a multiline
                           reply that never ends), `every` seconds apart
    HANG                   no answer at all; the connection stays open
    CLOSE                  the connection is closed instead

What the server saw is kept: .commands (every command line, in order),
.messages (one dict per message it accepted with a final 2xx: "from",
"to", "data", "message_id") and .seen(VERB), a threading.Event set when
a command with that verb first arrives, so that a test can wait for a
moment of the dialogue instead of sleeping.
"""
import contextlib
import re
import socketserver
import threading
from typing import (Any, Callable, Dict, Iterator, List, Optional,
                    Union)


class Raw:
    """Bytes sent as they are, without a CRLF added."""

    def __init__(self, data: bytes) -> None:
        self.data = data


class Drip:
    """A reply sent one byte at a time."""

    def __init__(self, text: Union[str, bytes], every: float = 1.0) -> None:
        self.data = text.encode() if isinstance(text, str) else text
        self.every = every


class Endless:
    """A multiline reply that never ends: line + CRLF, again and again."""

    def __init__(self, line: str = "250-still talking",
                 every: float = 0.05) -> None:
        self.line = line.encode() + b"\r\n"
        self.every = every


HANG = "hang"
CLOSE = "close"
Answer = Union[str, bytes, Raw, Drip, Endless]

DEFAULTS = {
    "banner": "220 hostile.test ESMTP",
    "ehlo": "250-hostile.test\r\n250 8BITMIME",
    "helo": "250 hostile.test",
    "mail": "250 2.1.0 ok",
    "rcpt": "250 2.1.5 ok",
    "data": "354 go ahead",
    "eom": "250 2.0.0 accepted",
    "quit": "221 2.0.0 bye",
}


class _Stop(Exception):
    """The connection is over (closed by the script or by the client)."""


class _Handler(socketserver.StreamRequestHandler):
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        self.hostile = self.server.hostile

    def _answer(self, step: str) -> None:
        a = self.hostile.script.get(step, DEFAULTS[step])
        stop = self.hostile.stopping
        try:
            if a == HANG:
                stop.wait()
                raise _Stop()
            if a == CLOSE:
                raise _Stop()
            if isinstance(a, Raw):
                self.wfile.write(a.data)
            elif isinstance(a, Drip):
                for i in range(len(a.data)):
                    self.wfile.write(a.data[i:i + 1])
                    self.wfile.flush()
                    if stop.wait(a.every):
                        raise _Stop()
            elif isinstance(a, Endless):
                while not stop.wait(a.every):
                    self.wfile.write(a.line)
                    self.wfile.flush()
                raise _Stop()
            else:
                data = a.encode() if isinstance(a, str) else a
                self.wfile.write(data + b"\r\n")
            self.wfile.flush()
        except OSError:
            raise _Stop()

    def _line(self, limit: int = 65536) -> bytes:
        try:
            line = self.rfile.readline(limit)
        except OSError:
            raise _Stop()
        if not line:
            raise _Stop()
        return line

    def _data(self) -> bytes:
        out: List[bytes] = []
        while True:
            line = self._line(1 << 20)
            if line in (b".\r\n", b".\n"):
                return b"".join(out)
            out.append(line[1:] if line.startswith(b"..") else line)

    def handle(self) -> None:
        h = self.hostile
        mail_from, rcpts = "", []     # type: str, List[str]
        try:
            self._answer("banner")
            while True:
                cmd = self._line().decode("utf-8", "replace").rstrip("\r\n")
                verb = cmd.split(" ", 1)[0].upper()
                h._note(cmd, verb)
                step = verb.lower()
                if step in ("ehlo", "helo", "quit"):
                    self._answer(step)
                    if step == "quit":
                        return
                elif step == "mail":
                    m = re.search(r"<(.*?)>", cmd)
                    mail_from, rcpts = (m.group(1) if m else ""), []
                    self._answer("mail")
                elif step == "rcpt":
                    m = re.search(r"<(.*?)>", cmd)
                    rcpts.append(m.group(1) if m else "")
                    self._answer("rcpt")
                elif step == "data":
                    self._answer("data")
                    body = self._data()
                    eom = h.script.get("eom", DEFAULTS["eom"])
                    if isinstance(eom, (str, bytes, Raw)):
                        raw = eom.data if isinstance(eom, Raw) else eom
                        if raw[:1] in ("2", b"2"):
                            h._keep(mail_from, rcpts, body)
                    self._answer("eom")
                else:
                    self.wfile.write(b"250 2.0.0 ok\r\n")
                    self.wfile.flush()
        except _Stop:
            return


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    hostile: "Hostile"


class Hostile:
    """One scripted server on 127.0.0.1; see the module docstring."""

    def __init__(self, **script: Any) -> None:
        unknown = set(script) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"hostile: unknown steps {sorted(unknown)}")
        self.script: Dict[str, Any] = script
        self.commands: List[str] = []
        self.messages: List[Dict[str, Any]] = []
        self.stopping = threading.Event()
        self._seen: Dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.hostile = self
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def seen(self, verb: str) -> threading.Event:
        with self._lock:
            return self._seen.setdefault(verb.upper(), threading.Event())

    def _note(self, cmd: str, verb: str) -> None:
        with self._lock:
            self.commands.append(cmd)
            ev = self._seen.setdefault(verb, threading.Event())
        ev.set()

    def _keep(self, mail_from: str, rcpts: List[str], body: bytes) -> None:
        m = re.search(rb"^Message-ID:\s*<?([^>\r\n]*)>?", body,
                      re.I | re.M)
        msgid: Optional[str] = \
            m.group(1).decode("utf-8", "replace") if m else None
        with self._lock:
            self.messages.append({"from": mail_from, "to": list(rcpts),
                                  "data": body, "message_id": msgid})

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def hostile_servers() -> Iterator[Callable[..., Hostile]]:
    """A factory make(**script) -> a started Hostile; every server it made
    is closed when the block ends (the `hostile` fixture of refsend's and
    refsend-tlsrpt's tests)."""
    servers: List[Hostile] = []

    def make(**script: Any) -> Hostile:
        h = Hostile(**script)
        servers.append(h)
        return h
    try:
        yield make
    finally:
        for h in servers:
            h.close()
