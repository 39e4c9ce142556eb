"""Fixtures for the fake-mx integration tests.

One state-changing action per fixture, teardown beside setup:
- ``pki``: certificates made at test time (EC P-256 and RSA leaves, a CA;
  fmx_pki.py).
- ``fakemx``: a factory; each call writes a config, starts one fake-mx
  (fmx_daemon.py), waits for its PID file and returns a handle.  Teardown
  stops every daemon it started by PID (SIGTERM, then SIGKILL), asserts a
  clean exit and that no sanitizer report was left in its stderr.

Tests import helpers from fmx_*.py, never from this file: every conftest.py
of the repository shares the module name `conftest` in one pytest session.
All traffic stays on 127.0.0.0/8 (and ::1).
"""
from __future__ import annotations

import os
import signal

import pytest

from fmx_daemon import FakeMX
from fmx_pki import make_cert


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """EC and RSA leaves, plus a leaf issued by a CA (chain of two)."""
    d = tmp_path_factory.mktemp("pki")
    ca = make_cert(d, "ca", "danelab test CA", "ec", ca=True)
    return {
        "ec": make_cert(d, "ec", "mx1.a01.test", "ec"),
        "rsa": make_cert(d, "rsa", "mx1.a01.test", "rsa"),
        "other": make_cert(d, "other", "other.a01.test", "ec"),
        "ca": ca,
        "chained": make_cert(d, "chained", "mx2.a01.test", "ec", issuer=ca),
    }


@pytest.fixture
def fakemx(tmp_path):
    """Factory: fakemx(listeners, timeouts=None) -> running FakeMX."""
    started: list[FakeMX] = []
    count = [0]

    def start(listeners: list[dict], timeouts: dict | None = None,
              nofile: int | None = None) -> FakeMX:
        count[0] += 1
        d = tmp_path / f"fakemx{count[0]}"
        d.mkdir()
        fm = FakeMX(d, listeners, timeouts, nofile)
        started.append(fm)
        return fm.start()

    yield start
    for fm in started:
        try:
            rc = fm.stop()
        finally:
            if fm.proc is not None and fm.proc.poll() is None:
                os.kill(fm.proc.pid, signal.SIGKILL)
                fm.proc.wait()
        err = fm.stderr()
        assert "ERROR: AddressSanitizer" not in err, err
        assert "runtime error:" not in err, err
        assert "ERROR: LeakSanitizer" not in err, err
        assert "definitely lost: 0" in err or "definitely lost" not in err, err
        assert rc == 0, f"fake-mx exit status {rc}: {err}"
