"""Shared by the adapter tests: run the published cases of a sender again
and compare; run one small LabRun and prove nothing is left behind."""
from __future__ import annotations

from pathlib import Path

import pytest

from danelab.adapters import Adapter
from danelab.adapters.published import (compare, load, run_catalog,
                                        summarize)
from danelab.catalog import load_catalog, select
from danelab.netns import pids_in_netns
from danelab.runner import LabRun, RunResult


def check_published(sender: str, tmp_path: Path) -> None:
    """Every published case of SENDER that the catalog still has is run
    again (two parallel groups); a changed verdict or outcome fails."""
    pub = load(sender)
    if pub is None:
        pytest.skip(f"no docs/results/{sender}.json yet")
    ids = {sc.id for sc in load_catalog()}
    wanted = sorted({k.split("[", 1)[0] for k in pub["cases"]} & ids)
    if not wanted:
        pytest.skip("no published case left in the catalog")
    now = summarize(run_catalog(sender, tmp_path / "run", wanted))
    published = {k: v for k, v in pub["cases"].items()
                 if k.split("[", 1)[0] in ids}
    diffs = compare(published, now)
    assert not diffs, (f"{sender} differs from docs/results/{sender}.json "
                       f"(catalog {pub['catalog_commit']}):\n  "
                       + "\n  ".join(diffs))


def run_clean(adapter: Adapter, ids: list[str], run: Path) -> RunResult:
    """A LabRun of IDS; afterwards no process is left in its namespace."""
    seen: dict[str, str] = {}
    start = adapter.start

    def spy(ctx):  # type: ignore[no-untyped-def]
        assert ctx.ns.ns_id
        seen["ns"] = ctx.ns.ns_id
        start(ctx)
    adapter.start = spy  # type: ignore[method-assign]
    try:
        return LabRun(select(load_catalog(), ids), adapter, run).execute()
    finally:
        if "ns" in seen:
            assert pids_in_netns(seen["ns"]) == [], "processes left behind"
