"""MTA-STS in a running lab: the WebPKI trust the sender gets, the policy
server's start and its reload between queue passes, its fetch log read back.

Trust: the runner puts the lab's WebPKI root (pki.WEBPKI_ROOT, and nothing
else) in a folder laid out like Debian's /etc/ssl/certs (the bundle
ca-certificates.crt and the OpenSSL hash link) and bind-mounts it over
/etc/ssl/certs inside the lab namespace only: a real MTA there trusts the
lab's WebPKI through its usual system bundle, and the host's /etc is never
touched (the mount namespace has private propagation).  Adapters also get
the bundle's path as LabContext.webpki_ca.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from .labplan import LabPlan
from .netns import LabNamespace
from .pki import WEBPKI_ROOT, LabPKI
from .proc import Tracked, wait_until

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_CERTS = "/etc/ssl/certs"
BUNDLE = "ca-certificates.crt"


def write_trust(pki: LabPKI, folder: Path) -> Path:
    """The WebPKI trust folder (bundle + hash link); return the bundle."""
    folder.mkdir(parents=True, exist_ok=True)
    root = pki.issued[WEBPKI_ROOT]
    bundle = folder / BUNDLE
    pem = folder / "danelab-webpki-root.pem"
    from cryptography.hazmat.primitives import serialization
    pem.write_bytes(root.cert.public_bytes(serialization.Encoding.PEM))
    bundle.write_bytes(pem.read_bytes())
    h = subprocess.run(["openssl", "x509", "-subject_hash", "-noout", "-in",
                        str(pem)], capture_output=True, text=True,
                       check=True).stdout.strip()
    link = folder / f"{h}.0"
    if not link.exists():
        link.symlink_to(pem.name)
    return bundle


def mount_trust(ns: LabNamespace, folder: Path) -> None:
    """Bind-mount FOLDER over the namespace's /etc/ssl/certs."""
    if Path(SYSTEM_CERTS).is_dir():
        ns.run(["mount", "--bind", str(folder), SYSTEM_CERTS], check=True)


def write_config(plan: LabPlan, run: Path, generation: int) -> Path:
    conf = run / "sts-server.json"
    tmp = conf.with_suffix(".tmp")
    tmp.write_text(json.dumps({"generation": generation, "sites": [
        sp.config() for sp in plan.sts.values()]}, indent=1))
    os.replace(tmp, conf)
    return conf


def assign_addresses(ns: LabNamespace, plan: LabPlan) -> None:
    """Put the policy hosts' addresses on the namespace's lo.  The server
    could bind them without that (all of 127.0.0.0/8 is local), but a
    client's getaddrinfo() with AI_ADDRCONFIG (aiohttp's, used by
    postfix-mta-sts-resolver) returns A records only when some IPv4 address
    other than 127.0.0.1 is configured, and a lab with IPv6 hosts has
    fd25:: addresses on lo: without this, such a client finds no address
    for `mta-sts.<domain>` although DNS has one."""
    cmds = "".join(f"address add {sp.address}/32 dev lo\n"
                   for sp in plan.sts.values())
    if cmds:
        ns.run(["ip", "-batch", "-"], input=cmds.encode(), check=True)


def start(ns: LabNamespace, plan: LabPlan, run: Path) -> Tracked:
    """The policy server for every [sts] of PLAN, inside the namespace."""
    assign_addresses(ns, plan)
    conf = write_config(plan, run, 1)
    ready = run / "sts-server.ready"
    ready.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "harness"))
    t = ns.spawn("sts-server", ["/usr/bin/python3", "-m",
                                "danelab.sts_server", "--config", str(conf),
                                "--events", str(run / "sts-events.jsonl"),
                                "--ready", str(ready)],
                 log=run / "sts-server.log", env=env)
    ns.sup.wait_ready(t, ready.exists, 15)
    return t


def reload(t: Tracked, plan: LabPlan, run: Path) -> None:
    """Serve PLAN's policies from now on (the [fix.sts] of pass 2)."""
    write_config(plan, run, 2)
    ready = run / "sts-server.ready"
    os.kill(t.pid, signal.SIGHUP)
    if not wait_until(lambda: ready.read_text() == "ready 2\n", 15):
        from .errors import DaemonError
        raise DaemonError("the MTA-STS policy server did not reload; see "
                          f"{t.log}")


def fetches(run: Path) -> dict[str, list[dict[str, Any]]]:
    """The policy server's log, by scenario."""
    out: dict[str, list[dict[str, Any]]] = {}
    p = run / "sts-events.jsonl"
    if not p.exists():
        return out
    for line in p.read_text(errors="replace").splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        out.setdefault(str(e.get("scenario")), []).append(e)
    return out
