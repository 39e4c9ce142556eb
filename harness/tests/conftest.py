"""Fixtures for the harness tests: every daemon has its teardown beside it."""
from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Iterator

import pytest

from danelab.netns import LabNamespace, close_all


def _terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a CI time limit, a kill): stop every lab namespace this
    session has open, whichever thread opened it, then end as Ctrl-C
    would; without this, the runs in worker threads leave daemons."""
    close_all()
    raise KeyboardInterrupt


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, _terminated)


def pytest_report_header(config: pytest.Config) -> str:
    mode = "root" if os.geteuid() == 0 else "user"
    return f"danelab: lab namespaces in {mode} mode"


@pytest.fixture
def labns(tmp_path: Path) -> Iterator[LabNamespace]:
    """A fresh lab namespace, closed (every process stopped) afterwards."""
    ns = LabNamespace(tmp_path / "ns")
    ns.open()
    try:
        yield ns
    finally:
        ns.close()
