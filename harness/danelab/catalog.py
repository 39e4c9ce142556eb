"""The scenario catalog: every scenarios/*.toml, loaded, checked, selected."""
from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from .errors import LabError, SpecError
from .scenario import SECTIONS, Scenario, check_scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / "scenarios"


def load_catalog(folder: Path = DEFAULT_DIR) -> list[Scenario]:
    """Every scenario in FOLDER, sorted by id; the first bad file raises."""
    files = sorted(Path(folder).glob("*.toml"))
    if not files:
        raise LabError(f"no scenario files (*.toml) in {folder}")
    return [load_scenario(f) for f in files]


def universe_errors(sc: Scenario) -> list[SpecError]:
    """The universe-level check of one scenario that loaded: its zones,
    records, faults, certificates, CNAME loops (the first error found)."""
    from .labplan import make_plan
    from .dns.zonespec import validate_universe
    try:
        validate_universe(make_plan([sc]).zones)
    except SpecError as e:
        return [e]
    return []


def lint(folder: Path = DEFAULT_DIR) -> tuple[int, list[SpecError]]:
    """Check every file; return how many were read and every error (all
    of each file's own errors, then the universe check of each file that
    has none)."""
    errors: list[SpecError] = []
    files = sorted(Path(folder).glob("*.toml"))
    for f in files:
        sc, errs = check_scenario(f)
        errors += errs
        if sc is not None:
            errors += universe_errors(sc)
    return len(files), errors


def select(scenarios: list[Scenario], patterns: list[str] | None = None,
           sections: str | None = None, shard: str | None = None
           ) -> list[Scenario]:
    """Filter by id glob(s), by section letters, then take shard K/N."""
    out = scenarios
    if patterns:
        ids = {s.id for s in out}

        def match(sid: str, p: str) -> bool:
            if p in ids:                  # an exact id means just that one
                return sid == p
            return fnmatch.fnmatch(sid, p) or sid.startswith(p)
        out = [s for s in out if any(match(s.id, p) for p in patterns)]
    if sections:
        want = set(sections.upper().replace(",", "").replace(" ", ""))
        wrong = sorted(want - set(SECTIONS))
        if wrong:
            what = "is not a section" if len(wrong) == 1 else \
                "are not sections"
            raise LabError(f"--section {sections!r}: {', '.join(wrong)} "
                           f"{what}; the sections are "
                           f"{', '.join(SECTIONS)} (docs/cases.md)")
        out = [s for s in out if s.section in want]
    if shard:
        m = re.fullmatch(r"(\d+)/(\d+)", shard)
        if not m or not 1 <= int(m[1]) <= int(m[2]):
            raise LabError(f"--shard {shard!r}: expected K/N with 1 <= K <= N")
        k, n = int(m[1]), int(m[2])
        out = [s for i, s in enumerate(out) if i % n == k - 1]
    return out
