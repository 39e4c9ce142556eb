"""The Exim adapter: mainlog parsing, the per-policy routers, a small run
that leaves nothing behind (not even the namespace-only Debian-exim user),
and the whole published catalog again."""
from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from test_adapter_util import check_published, run_clean
from danelab.adapters.exim import (EXIM_ROOT, LINE, EximAdapter,
                                   exim_config, parse_line)

needs_exim = pytest.mark.skipif(
    not (EXIM_ROOT / "usr/sbin/exim4").exists(),
    reason="Exim not set up (ci/exim-install)")

# (mainlog line, state, dsn)
LINES = [
    ('2026-11-23 01:41:19 1xVJ3X-0002CT-0T => user@a.test R=dnslookup '
     'T=dane_try H=mx1.a.test [127.25.1.1]:25 X=TLS1.3:AES_256_GCM:256 '
     'CV=dane DN="CN=mx1.a.test" C="250 2.0.0 queued" DT=0s',
     "delivered", "2.0.0"),
    ("2026-11-23 01:41:19 1xVJ3X-0002CX-0Z == user@b.test R=dnslookup "
     "T=dane_try defer (-37) H=mx1.b.test [127.25.3.1]:25 DT=0s: TLS "
     "session: (certificate verification failed): Verification failed. "
     "The certificate differs.", "deferred", "4.0.0"),
    ("2026-11-23 01:41:19 1xVJ3X-0002CY-0A ** user@c.test R=dnslookup "
     "T=dane_require: DANE error: lookup not DNSSEC", "bounced", "5.0.0"),
    ("2026-11-23 01:41:19 1xVJ3X-0002CZ-0B == user@d.test R=dnslookup "
     "T=dane_try defer (-44) H=mx1.d.test [127.25.4.1]: SMTP error from "
     "remote mail server after RCPT TO:<user@d.test>: 450 4.2.0 later",
     "deferred", "4.2.0"),
]


@pytest.mark.parametrize("line,state,dsn", LINES)
def test_parse_mainlog(line: str, state: str, dsn: str) -> None:
    m = LINE.match(line)
    assert m
    o = parse_line(m.group("rest"), m.group("flag"))
    assert o and (o.state, o.dsn) == (state, dsn)


def test_policy_routers(tmp_path: Path) -> None:
    conf = exim_config(tmp_path, Path("/x/exim4"), False,
                       {"a.test.": "dane-only", "b.test.": "exclude",
                        "c.test.": "may"})
    assert "domains = <; a.test\n" in conf
    assert "domains = <; b.test; c.test\n" in conf
    assert "hosts_try_dane =\n" in conf          # no DANE for may/exclude
    assert "transport = dane_try\n  no_more" in conf
    req = exim_config(tmp_path, Path("/x/exim4"), True, {})
    assert "driver = dnslookup\n  domains = <;" not in req
    assert "transport = dane_require\n  no_more" in req


@needs_exim
def test_small_run_leaves_nothing(tmp_path: Path) -> None:
    r = run_clean(EximAdapter(), ["a01-secure-dane-ee",
                                  "d16-dane-ee-wrong-digest",
                                  "a03-mx-insecure"], tmp_path)
    assert [g.verdict for g in r.grades] == ["pass"] * 3
    log = (tmp_path / "sender" / "log" / "mainlog").read_text()
    assert "CV=dane" in log and "The certificate differs" in log
    with pytest.raises(KeyError):
        pwd.getpwnam("Debian-exim")              # never on the host


@needs_exim
def test_require_dane_bounces_insecure(tmp_path: Path) -> None:
    r = run_clean(EximAdapter("exim-require-dane", True),
                  ["a03-mx-insecure"], tmp_path)
    g = r.grades[0]
    assert g.observed == "bounced" and g.sender
    assert "not DNSSEC" in g.sender.reason


@needs_exim
@pytest.mark.parametrize("sender", ["exim", "exim-require-dane"])
def test_catalog_matches_published(sender: str,
                                   request: pytest.FixtureRequest) -> None:
    check_published(sender, request)


@needs_exim
def test_queue_pass_deadline(tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that outlives its limit (a server stalling the TLS
    handshake) is killed with its deliveries: a clear error, nothing
    left in the namespace."""
    import danelab.adapters.exim as ex
    from danelab.catalog import load_catalog
    from danelab.errors import LabError
    stall = [s.id for s in load_catalog() if "stall" in s.id][:1]
    if not stall:
        pytest.skip("no TLS-stall scenario in the catalog")
    monkeypatch.setattr(ex, "PASS_TIMEOUT", 1.0)
    with pytest.raises(LabError, match="not done within 1 s"):
        run_clean(EximAdapter(), stall, tmp_path)
