"""Shared by the adapter tests: run the published cases of a sender again
and compare; run one small LabRun and prove nothing is left behind."""
from __future__ import annotations

import signal
import subprocess
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from danelab.adapters import Adapter
from danelab.catalog import load_catalog, select
from danelab.netns import pids_in_netns
from danelab.published import (compare, finish_catalog, load, problem_keys,
                               start_catalog, summarize)
from danelab.runner import LabRun, RunResult


# How many published runs go at once, beside the rest of the session.
PUBLISHED_PARALLEL = 2


def is_published_test(item: pytest.Item) -> bool:
    return getattr(item, "originalname", "") == \
        "test_catalog_matches_published"


def _selected_senders(items: list[pytest.Item]) -> list[str]:
    """The senders of every selected, not skipped, published-results test
    that has published cases left in the catalog."""
    out = []
    for it in items:
        if not is_published_test(it):
            continue
        if any(m.name == "skipif" and m.args and m.args[0]
               for m in it.iter_markers()):
            continue
        s = it.callspec.params.get("sender")  # type: ignore[attr-defined]
        if s and s not in out and load(s) and _wanted(s):
            out.append(s)
    return out


def _wanted(sender: str) -> list[str]:
    pub = load(sender) or {"cases": {}}
    ids = {sc.id for sc in load_catalog()}
    return sorted({k.split("[", 1)[0] for k in pub["cases"]} & ids)


class PublishedRuns:
    """The published runs of the selected senders: started once collection
    is done (conftest.py), PUBLISHED_PARALLEL at a time, while the other
    tests run (a run mostly waits on the MTA's timers); each published
    test waits for its own sender's run.  stop() interrupts what still
    runs (SIGINT: each `danelab run` tears its lab down) and waits."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: ThreadPoolExecutor | None = None
        self.futures: dict[str, Future[dict[str, Any]]] = {}
        self.procs: set[subprocess.Popen[str]] = set()
        self.stopping = False

    def start(self, senders: list[str]) -> None:
        with self.lock:
            if self.stopping:
                return
            if self.pool is None:
                self.pool = ThreadPoolExecutor(
                    PUBLISHED_PARALLEL, thread_name_prefix="published")
            for s in senders:
                if s not in self.futures:
                    self.futures[s] = self.pool.submit(self._one, s)

    def result(self, sender: str) -> dict[str, Any]:
        self.start([sender])
        return self.futures[sender].result()

    def _one(self, sender: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix=f"published-{sender}-") as d:
            run = Path(d) / "run"
            with self.lock:
                if self.stopping:
                    raise RuntimeError("the session ended first")
                p = start_catalog(sender, run, _wanted(sender), jobs=1)
                self.procs.add(p)
            try:
                return finish_catalog(p, run)
            finally:
                with self.lock:
                    self.procs.discard(p)

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            for p in self.procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            pool, self.pool = self.pool, None
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)


PUBLISHED = PublishedRuns()


def start_published(items: list[pytest.Item]) -> None:
    """Start the published runs ITEMS need; Postfix's first (its passes
    are the slowest: each waits for its crash on c14d to go quiet)."""
    senders = _selected_senders(items)
    PUBLISHED.start(sorted(senders, key=lambda s: "postfix" not in s))


def check_published(sender: str, request: pytest.FixtureRequest,
                    chance: dict[str, str] | None = None) -> None:
    """Every published case of SENDER that the catalog still has is run
    again; a changed verdict or outcome fails.  The run is one of
    PUBLISHED (started beside the other tests; one universe each).
    CHANCE: cases whose result this sender leaves to chance (case -> why,
    said in docs/results/README.md too); they are not compared, but must
    still be published."""
    pub = load(sender)
    if pub is None:
        pytest.skip(f"no docs/results/{sender}.json yet")
    if not _wanted(sender):
        pytest.skip("no published case left in the catalog")
    res = PUBLISHED.result(sender)
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
