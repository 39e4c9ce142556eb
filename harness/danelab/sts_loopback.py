"""The lab's MTA-STS policy server on the host's loopback, outside any lab:
scenario texts written to files and loaded as the catalog loads them, and
the server for a plan of them in a thread, on a free port (every policy
host has its own 127.44.S.1 address; all of 127.0.0.0/8 is local).  The
MTA-STS tests (harness/tests/test_sts.py) and bench/sts_policy.py fetch
from it with sts_fetch; a lab run starts the server in its namespace
instead (sts_lab)."""
from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import LabError
from .labplan import LabPlan
from .pki import WEBPKI_ROOT, cert_file
from .scenario import Scenario, check_scenario
from .sts_lab import write_config
from .sts_server import PolicyServer


def scenarios(folder: Path, texts: dict[str, str]) -> list[Scenario]:
    """Each TOML text of TEXTS (scenario id -> text) as FOLDER/<id>.toml,
    loaded; a file the loader refuses is an error with its problems (each
    names the file)."""
    out = []
    for sid, text in texts.items():
        p = folder / f"{sid}.toml"
        p.write_text(text)
        sc, errs = check_scenario(p)
        if sc is None:
            raise LabError("; ".join(str(e) for e in errs))
        out.append(sc)
    return out


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def webpki_ca(folder: Path) -> str:
    """The lab's WebPKI root that policy_server() wrote below FOLDER: the
    trust a conforming fetch gets."""
    return str(cert_file(folder / "pki", WEBPKI_ROOT))


@contextmanager
def policy_server(plan: LabPlan, folder: Path, ready: Path | None = None
                  ) -> Iterator[PolicyServer]:
    """PLAN's policy server, serving in a thread until the block ends:
    PLAN's PKI in FOLDER/pki, its configuration (generation 1, rewritten
    with sts_lab.write_config for a reload) and its events
    (events.jsonl) in FOLDER.  READY, when given, is the server's ready
    file ("ready N" once generation N is served)."""
    plan.pki.write(folder / "pki")
    srv = PolicyServer(write_config(plan, folder, 1), folder / "events.jsonl",
                       free_port())
    srv.load()
    t = threading.Thread(target=srv.serve, args=(ready,), daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.stop.set()
        t.join(10)
