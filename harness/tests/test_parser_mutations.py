"""Bounded, deterministic mutation loops over every harness parser that
reads input the lab does not control (issue: untrusted parsers without a
fuzz target): scenario files, fake-mx's event log, Postfix and Exim log
lines, the command adapter's status output, bounce notices (RFC 3464) and
TLSRPT report mail.  Each parser must either accept the input or reject it
with its own error, never crash with another exception.  The seed is fixed,
so a failure reproduces; the counts keep each loop to about a second."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Callable

import pytest

from danelab.adapters import exim, postfix
from danelab.adapters.command import parse_status
from danelab.errors import LabError, SpecError
from danelab.observe import sessions
from danelab.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SEED = 7672


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One random edit: flip, delete, duplicate, insert junk, truncate."""
    b = bytearray(data)
    if not b:
        return bytes(rng.randbytes(rng.randint(1, 16)))
    i = rng.randrange(len(b))
    op = rng.randrange(6)
    if op == 0:
        b[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        del b[i:i + rng.randint(1, 32)]
    elif op == 2:
        j = rng.randrange(len(b))
        b[i:i] = b[j:j + rng.randint(1, 64)]
    elif op == 3:
        b[i:i] = rng.choice([b"\x00", b"\xff\xfe", b"[[", b"]]", b"{",
                             b"\"", b"=", b"\n", b"\r", b"\\u0000",
                             b"9" * 40, b"[" * 300, "é".encode()])
    elif op == 4:
        b = b[:i]
    else:
        b[i] = rng.randrange(256)
    return bytes(b)


def loop(seeds: list[bytes], n: int, parse: Callable[[bytes], object],
         allowed: tuple[type[BaseException], ...]) -> int:
    rng = random.Random(SEED)
    rejected = 0
    for k in range(n):
        data = rng.choice(seeds)
        for _ in range(rng.randint(1, 4)):
            data = mutate(rng, data)
        try:
            parse(data)
        except allowed:
            rejected += 1
        except Exception as e:  # noqa: B902 - the point of the test
            pytest.fail(f"input #{k} ({data[:120]!r}...) raised "
                        f"{type(e).__name__}: {e}")
    return rejected


def test_scenario_loader(tmp_path: Path) -> None:
    seeds = [p.read_bytes() for p in
             sorted((ROOT / "scenarios").glob("*.toml"))[::9]]
    f = tmp_path / "d16-mutant.toml"

    def parse(data: bytes) -> object:
        f.write_bytes(data)
        return load_scenario(f)
    rejected = loop(seeds, 1500, parse, (SpecError,))
    assert rejected > 500          # the mutations do reach the checks


def test_event_log_folding() -> None:
    """fake-mx's events as the harness folds them: any JSON object, any
    field type, must fold or be skipped."""
    base = [json.dumps(e).encode() for e in (
        {"session": "a#1", "listener": "x:mx1", "event": "connect",
         "peer": "127.0.0.1:5", "local": "127.25.1.1:25"},
        {"session": "a#1", "event": "tls", "version": "TLSv1.3",
         "sni": "mx1", "cert_sha256": "ab", "chain_sha256": ["ab"]},
        {"session": "a#1", "event": "mail", "from": "a@b"},
        {"session": "a#1", "event": "close", "reason": "quit",
         "events_suppressed": 3})]

    def parse(data: bytes) -> object:
        try:
            e = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None                 # read_events() marks it unparsable
        return sessions([e] if isinstance(e, dict) else [])
    loop(base, 3000, parse, ())


POSTFIX_LINES = [
    b"2026-11-30T05:00:00 host postfix/smtp[123]: 4AbC: to=<r@a01.test>, "
    b"relay=mx1.a01.test[127.25.1.1]:25, delay=0.1, dsn=2.0.0, "
    b"status=sent (250 2.0.0 Ok)",
    b"2026-11-30T05:00:00 host postfix/smtp[1]: 4AbC: to=<r@x.test>, "
    b"relay=none, delay=1, dsn=4.7.5, status=deferred (TLSA lookup error)",
    b"2026-11-30T05:00:00 host postfix/cleanup[9]: 4AbC: "
    b"message-id=<m1@sender.test>"]
EXIM_LINES = [
    b"2026-11-30 05:00:00 1abcde-000001-AB => r@a01.test R=dnslookup "
    b"T=remote_smtp H=mx1.a01.test [127.25.1.1] X=TLS1.3 CV=dane",
    b"2026-11-30 05:00:00 1abcde-000001-AB == r@x.test R=dnslookup "
    b"defer (-53): retry time not reached for any host",
    b"2026-11-30 05:00:00 1abcde-000001-AB ** r@x.test: 5.7.5 DANE error"]


@pytest.mark.parametrize("seeds,parse", [
    (POSTFIX_LINES,
     lambda d: postfix.parse_status(d.decode(errors="replace"))),
    (EXIM_LINES, lambda d: [exim.parse_line(d.decode(errors="replace"), f)
                            for f in ("=>", "==", "**")]),
], ids=["postfix", "exim"])
def test_mta_log_lines(seeds: list[bytes], parse) -> None:
    loop(seeds, 3000, parse, ())


def test_command_status_output() -> None:
    seeds = [b"a@b delivered\n<c@d> deferred 4.7.5 validation-failure\n",
             b'{"message_id": "x@y", "state": "bounced", "dsn": "5.7.5"}\n'
             b"# note\n"]
    loop(seeds, 3000, lambda d: parse_status(d.decode(errors="replace")),
         (LabError,))


def test_bounce_notices() -> None:
    from danelab import dsn
    seeds = [(b"From: MAILER-DAEMON@x.test\r\nTo: s@sender.test\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status;"
              b" boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
              b"failed\r\n--b\r\nContent-Type: message/delivery-status\r\n"
              b"\r\nReporting-MTA: dns; x.test\r\n\r\nFinal-Recipient: "
              b"rfc822; r@a.test\r\nAction: failed\r\nStatus: 5.7.5\r\n"
              b"Diagnostic-Code: smtp; 550 no\r\n\r\n--b\r\nContent-Type: "
              b"text/rfc822-headers\r\n\r\nMessage-ID: <m1@s.test>\r\n"
              b"\r\n--b--\r\n")]
    loop(seeds, 2000, lambda d: dsn.parse(d, {"m1@s.test"}), ())


def test_tlsrpt_report_mail() -> None:
    from danelab.tlsrpt_check import check_https
    doc = {"organization-name": "o", "date-range": {
        "start-datetime": "2026-11-29T00:00:00Z",
        "end-datetime": "2026-11-30T00:00:00Z"},
        "contact-info": "t@sender.test", "report-id": "r1",
        "policies": [{"policy": {"policy-type": "tlsa", "policy-string":
                                 ["3 1 1 ab"], "policy-domain": "a.test"},
                      "summary": {"total-successful-session-count": 1,
                                  "total-failure-session-count": 0}}]}
    raw = json.dumps(doc).encode()
    seeds = [gzip.compress(raw), raw]

    def parse(data: bytes) -> object:
        # the body as a reporter POSTs it, gzip'ed or (mutated) not
        return check_https(data, "application/tlsrpt+gzip")
    loop(seeds, 1500, parse, ())
    # and the JSON inside a valid gzip stream
    loop([raw], 1500, lambda d: check_https(gzip.compress(d),
                                            "application/tlsrpt+gzip"), ())
