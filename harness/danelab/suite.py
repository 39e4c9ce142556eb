"""The suite's version, stamped on every results file and report: what was
graded against, so that two reports can be compared and one reproduced.

The version has two parts: the catalog (a SHA-256 over every scenario
file's name and bytes, in name order, with the number of files) and the
danelab checkout (`git describe --always --dirty`, "unknown" outside a git
checkout or without git).  The catalog digest covers the whole folder, not
the selection: the shards of one catalog carry the same version.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def catalog_digest(folder: Path) -> tuple[str, int]:
    """The SHA-256 (hex) over FOLDER's *.toml files (each file's name, a
    NUL byte, its bytes; in name order) and how many there are."""
    files = sorted(Path(folder).glob("*.toml"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest(), len(files)


def danelab_commit(root: Path = ROOT) -> str:
    """`git describe --always --dirty --tags` of the checkout at ROOT, or
    "unknown" when ROOT is not a git checkout (a release tarball) or git
    is not installed."""
    try:
        cp = subprocess.run(["git", "-C", str(root), "describe", "--always",
                             "--dirty", "--tags", "--abbrev=12"],
                            capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    out = cp.stdout.strip()
    return out if cp.returncode == 0 and out else "unknown"


def suite_version(folder: Path, root: Path = ROOT) -> dict[str, Any]:
    """The catalog's digest and size, the checkout's commit, and both in
    one label ("catalog sha256:0123456789abcdef (265 files), danelab
    72752cc")."""
    digest, n = catalog_digest(folder)
    commit = danelab_commit(root)
    return {"catalog_sha256": digest, "catalog_files": n,
            "danelab": commit,
            "label": f"catalog sha256:{digest[:16]} ({n} files), "
                     f"danelab {commit}"}
