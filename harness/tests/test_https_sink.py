"""The lab's HTTPS report receiver against a hostile or sloppy reporter:
chunked bodies are read, an endless or oversized body is refused at the
limit, a stalled one times out, and each refusal is kept as evidence the
TLSRPT grader reports (the sender under test must not be able to hang or
exhaust the lab's own receiver)."""
from __future__ import annotations

import json
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from danelab.https_sink import MAX_BODY
from danelab.pki import CertSpec, LabPKI
from danelab.proc import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def sink(tmp_path: Path) -> Iterator[tuple[tuple[str, int], Path]]:
    pki = LabPKI()
    pki.issue(CertSpec("sink", ["reports.test"]))
    pki.write(tmp_path / "pki")
    it = pki.issued["sink"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store, ready = tmp_path / "store", tmp_path / "ready"
    p = subprocess.Popen(
        ["/usr/bin/python3", "-m", "danelab.https_sink", "--addr",
         "127.0.0.1", "--port", str(port), "--cert", str(it.chain_file),
         "--key", str(it.key_file), "--store", str(store), "--ready",
         str(ready), "--read-timeout", "1"],
        env={"PYTHONPATH": str(ROOT / "harness")})
    try:
        assert wait_until(ready.exists, 30), "sink not ready"
        yield ("127.0.0.1", port), store
    finally:
        p.terminate()
        p.wait(10)


def post(addr: tuple[str, int], head: bytes, body: bytes = b"",
         linger: bool = False) -> bytes:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(addr, timeout=10) as raw, \
            ctx.wrap_socket(raw) as s:
        s.sendall(b"POST /v1/r HTTP/1.1\r\nHost: reports.test\r\n"
                  b"Content-Type: application/tlsrpt+gzip\r\n" + head +
                  b"\r\n" + body)
        out = b""
        while True:
            try:
                d = s.recv(4096)
            except (ssl.SSLError, OSError):
                break
            if not d:
                break
            out += d
            if not linger and b"\r\n\r\n" in out:
                break
        return out


def records(store: Path) -> list[dict]:
    f = store / "posts.jsonl"
    return [json.loads(x) for x in f.read_text().splitlines()] \
        if f.exists() else []


def test_chunked_body_is_read(sink) -> None:
    addr, store = sink
    body = b"\x1f\x8b" + b"x" * 5000
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c)
                      for c in (body[:3000], body[3000:])) + b"0\r\n\r\n"
    reply = post(addr, b"Transfer-Encoding: chunked\r\n", chunks)
    assert reply.startswith(b"HTTP/1.0 200") or \
        reply.startswith(b"HTTP/1.1 200"), reply
    [rec] = records(store)
    assert rec["status"] == 200 and rec["size"] == len(body)
    assert Path(rec["file"]).read_bytes() == body


def test_oversized_chunked_body_is_refused(sink) -> None:
    addr, store = sink
    head = b"%x\r\n" % (MAX_BODY + 1)
    reply = post(addr, b"Transfer-Encoding: chunked\r\n", head + b"x" * 100,
                 linger=True)
    assert b" 413 " in reply.split(b"\r\n")[0], reply[:80]
    [rec] = records(store)
    assert rec["status"] == 413 and "over" in rec["problem"]


def test_oversized_length_is_refused_unread(sink) -> None:
    addr, store = sink
    reply = post(addr, b"Content-Length: %d\r\n" % (MAX_BODY + 1))
    assert b" 413 " in reply.split(b"\r\n")[0], reply[:80]
    assert records(store)[0]["status"] == 413


def test_stalled_body_times_out(sink) -> None:
    """10 of 100 announced bytes, then nothing: refused after the read
    timeout (1 s here), the reporter's connection closed."""
    addr, store = sink
    reply = post(addr, b"Content-Length: 100\r\n", b"x" * 10, linger=True)
    assert b" 408 " in reply.split(b"\r\n")[0] or reply == b"", reply[:80]
    assert wait_until(lambda: bool(records(store)), 10)
    rec = records(store)[0]
    assert rec["status"] == 408 and "within 1 s" in rec["problem"]


def test_refused_post_is_a_tlsrpt_finding(sink, tmp_path: Path) -> None:
    """The TLSRPT grader turns a refused POST into a problem it reports,
    instead of skipping it like a deliberate 503."""
    from danelab.labplan import make_plan
    from danelab.tlsrpt_grade import collect
    addr, store = sink
    post(addr, b"Content-Length: %d\r\n" % (MAX_BODY + 1))
    run = tmp_path / "run"
    (run / "https-sink").mkdir(parents=True)
    (run / "https-sink" / "posts.jsonl").write_text(
        (store / "posts.jsonl").read_text())
    [r] = collect(run, make_plan([]), {})
    assert r.transport == "https" and r.doc is None
    assert r.problems and "refused (413)" in r.problems[0].text
