"""Shared by the adapter tests: run the published cases of a sender again
and compare; run one small LabRun and prove nothing is left behind."""
from __future__ import annotations

import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from danelab.adapters import Adapter
from danelab.catalog import load_catalog, select
from danelab.netns import pids_in_netns
from danelab.published import (compare, load, problem_keys, run_catalog,
                               summarize)
from danelab.runner import LabRun, RunResult


_RUNS: dict[str, dict[str, Any] | BaseException] = {}
_LOCK = threading.Lock()


def _selected_senders(session: pytest.Session) -> list[str]:
    """The senders of every selected, not skipped, published-results test:
    they are all run at once, in parallel, by the first of them."""
    out = []
    for it in session.items:
        if getattr(it, "originalname", "") != \
                "test_catalog_matches_published":
            continue
        if any(m.name == "skipif" and m.args and m.args[0]
               for m in it.iter_markers()):
            continue
        s = it.callspec.params.get("sender")  # type: ignore[attr-defined]
        if s and s not in out:
            out.append(s)
    return out


def _wanted(sender: str) -> list[str]:
    pub = load(sender) or {"cases": {}}
    ids = {sc.id for sc in load_catalog()}
    return sorted({k.split("[", 1)[0] for k in pub["cases"]} & ids)


def _run_all(senders: list[str]) -> None:
    def one(s: str) -> None:
        with tempfile.TemporaryDirectory(prefix=f"published-{s}-") as d:
            try:
                _RUNS[s] = run_catalog(s, Path(d) / "run", _wanted(s),
                                       jobs=1)
            except BaseException as e:       # reported by its own test
                _RUNS[s] = e
    with ThreadPoolExecutor(max(1, len(senders))) as ex:
        list(ex.map(one, senders))


def check_published(sender: str, request: pytest.FixtureRequest,
                    chance: dict[str, str] | None = None) -> None:
    """Every published case of SENDER that the catalog still has is run
    again; a changed verdict or outcome fails.  The runs of all selected
    senders happen together (one universe each) on the first call.
    CHANCE: cases whose result this sender leaves to chance (case -> why,
    said in docs/results/README.md too); they are not compared, but must
    still be published."""
    pub = load(sender)
    if pub is None:
        pytest.skip(f"no docs/results/{sender}.json yet")
    if not _wanted(sender):
        pytest.skip("no published case left in the catalog")
    with _LOCK:
        if sender not in _RUNS:
            todo = [s for s in _selected_senders(request.session)
                    if s not in _RUNS and load(s) and _wanted(s)]
            _run_all(todo if sender in todo else todo + [sender])
    res = _RUNS[sender]
    if isinstance(res, BaseException):
        raise res
    now = summarize(res)
    ids = {sc.id for sc in load_catalog()}
    published = {k: v for k, v in pub["cases"].items()
                 if k.split("[", 1)[0] in ids}
    gone = sorted(set(chance or {}) - set(published))
    assert not gone, f"not published, drop them from the chance list: {gone}"
    published = {k: v for k, v in published.items()
                 if k not in (chance or {})}
    diffs = compare(published, now)
    was, got = pub.get("problems", []), problem_keys(res)
    if was != got:
        diffs.append(f"problems of the run were {was}, now {got}")
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
