"""The repository's Python tests run as one pytest session (`make check-py`):
every test folder is listed in pytest.ini, and the folders can share a
sys.path because no two of their modules have the same name (conftest.py
aside, which pytest loads per folder and no test imports)."""
from __future__ import annotations

import configparser
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".git", "build", "build-asan", "out", "runs", "__pycache__"}


def listed_folders() -> list[Path]:
    ini = configparser.ConfigParser()
    ini.read(ROOT / "pytest.ini")
    return [ROOT / p for p in ini["pytest"]["testpaths"].split()]


def python_test_folders() -> set[Path]:
    found = set()
    for p in ROOT.rglob("test_*.py"):
        if not SKIP.intersection(p.relative_to(ROOT).parts):
            found.add(p.parent)
    return found


def test_every_test_folder_is_in_testpaths() -> None:
    listed = listed_folders()
    assert all(d.is_dir() for d in listed), listed
    missing = python_test_folders() - set(listed)
    assert not missing, f"not in pytest.ini testpaths: {sorted(missing)}"


def test_module_names_are_unique_across_folders() -> None:
    where: dict[str, list[Path]] = defaultdict(list)
    for d in listed_folders():
        for p in d.glob("*.py"):
            if p.name != "conftest.py":
                where[p.stem].append(d)
    clashes = {m: ds for m, ds in where.items() if len(ds) > 1}
    assert not clashes, clashes


def test_no_test_imports_a_conftest() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+conftest\b", re.M)
    offenders = [p for d in listed_folders() for p in d.glob("*.py")
                 if pattern.search(p.read_text())]
    assert not offenders, offenders


def test_module_map_lists_every_harness_module() -> None:
    """docs/architecture.md's module map names every module of the
    harness package (a newcomer finds each one there)."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    pkg = ROOT / "harness" / "danelab"
    missing = [str(p.relative_to(pkg)) for p in sorted(pkg.rglob("*.py"))
               if p.name != "__init__.py" and f"`{p.name}`" not in doc
               and f"`{p.relative_to(pkg)}`" not in doc]
    assert not missing, f"not in docs/architecture.md: {missing}"
