"""Running a demo: the same scenarios, one lab run per sender, side by
side (each sender in its own universe and namespace, in parallel), then
the facts of every run gathered for the story and the handout."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from ..adapters import Adapter, get_adapter
from ..catalog import load_catalog
from ..errors import DaemonError, LabError
from ..runner import LabRun, RunResult
from ..scenario import Scenario, check_scenario
from .demos import Demo
from .facts import DemoResult

HERE = Path(__file__).resolve().parent
DEMO_SCENARIOS = HERE / "scenarios"


def demo_scenarios() -> list[Scenario]:
    """The demo-only scenario files (beside this module); a file that
    does not pass the linter is an error naming it."""
    out = []
    for p in sorted(DEMO_SCENARIOS.glob("*.toml")):
        sc, errs = check_scenario(p)
        if errs or sc is None:
            raise LabError(f"{p}: " + "; ".join(str(e) for e in errs))
        out.append(sc)
    return out


def scenarios_of(demo: Demo) -> list[Scenario]:
    """The scenarios DEMO runs, from the catalog or the demo folder."""
    known = {sc.id: sc for sc in load_catalog() + demo_scenarios()}
    missing = [p.scenario for p in demo.parts if p.scenario not in known]
    if missing:
        raise LabError(f"demo {demo.name}: no scenario {missing}")
    ids = list(dict.fromkeys(p.scenario for p in demo.parts))
    return [known[i] for i in ids]


def run_demo(demo: Demo, senders: list[str], folder: Path,
             say: Callable[[str], None], student: int | None = None
             ) -> DemoResult:
    """Run DEMO's scenarios against every sender at once, each in its own
    lab run below FOLDER; gather what each showed."""
    scs = scenarios_of(demo)
    adapters: dict[str, Adapter] = {s: get_adapter(s) for s in senders}
    runs: dict[str, RunResult] = {}
    errors: dict[str, str] = {}
    labruns: dict[str, LabRun] = {}
    t0 = time.monotonic()

    def one(name: str) -> None:
        def tell(m: str) -> None:
            say(f"{name}: {m}")
        # A daemon that was not ready in time (a class of students on one
        # machine) gets a second try in a fresh folder, with a new adapter.
        for attempt in (1, 2):
            where = folder / (name if attempt == 1 else f"{name}.2")
            lr = labruns[name] = LabRun(scs, adapters[name], where, tell)
            try:
                runs[name] = lr.execute()
                errors.pop(name, None)
                return
            except DaemonError as e:
                errors[name] = str(e)
                if attempt == 1:
                    tell(f"set-up failed ({e}); trying once more")
                    adapters[name] = get_adapter(name)
            except LabError as e:
                errors[name] = str(e)
                return
    threads = [threading.Thread(target=one, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logs: dict[tuple[str, str], list[str]] = {}
    for name, r in runs.items():
        for sc in scs:
            mid = r.message_ids.get(sc.id, "")
            logs[(sc.id, name)] = adapters[name].log_lines(
                mid, sc.rcpt_domain)
    ordered = {s: runs[s] for s in senders if s in runs}
    return DemoResult(demo, folder, ordered, errors, logs,
                      round(time.monotonic() - t0, 1), student)
