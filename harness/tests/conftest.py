"""Fixtures for the harness tests: every daemon has its teardown beside it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from danelab.netns import LabNamespace


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
