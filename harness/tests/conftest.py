"""Fixtures for the harness tests: every daemon has its teardown beside it."""
from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Iterator

import pytest

from danelab.netns import LabNamespace, close_all
from test_adapter_util import PUBLISHED, is_published_test, start_published


def _terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a CI time limit, a kill): stop every lab namespace this
    session has open, whichever thread opened it, then end as Ctrl-C
    would; without this, the runs in worker threads leave daemons."""
    close_all()
    raise KeyboardInterrupt


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, _terminated)


def pytest_collection_modifyitems(session: pytest.Session,
                                  config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """The published-results comparisons go last: their runs (real MTAs
    over the whole catalog) start as soon as collection is done and go on
    beside every other test, so those tests wait for them least."""
    items.sort(key=is_published_test)


def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.config.option.collectonly:
        start_published(session.items)


def pytest_sessionfinish(session: pytest.Session) -> None:
    PUBLISHED.stop()


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
