"""fake-mx as the lab runs it: its JSON config from a lab plan, its start and
stop, and its JSON-lines events read back.  The daemon itself is in fake-mx/
(C); docs/interfaces.md is the contract between the two.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, overload

from .errors import DaemonError
from .labinfra import CATCH_ALL_LISTENERS, SENDER_LISTENER, \
    SINK_LISTENER, sender_mx, sink_mx
from .labplan import HostPlan, LabPlan
from .pki import Issued
from .netns import LabNamespace
from .proc import Tracked

ROOT = Path(__file__).resolve().parents[2]


@overload
def binary(component: str, name: str) -> Path: ...


@overload
def binary(component: str, name: str, required: bool) -> Path | None: ...


def binary(component: str, name: str, required: bool = True) -> Path | None:
    """Path of a C component's binary in the build folder in use."""
    b = ROOT / component / os.environ.get("DANELAB_BUILD", "build") / name
    if not b.exists():
        if not required:
            return None
        raise DaemonError(f"{b} is missing: run `make` first")
    return b


def _cert_entry(leaf: Issued, also: list[Issued]) -> dict[str, Any]:
    """One tls.certs entry: LEAF (and the other key types ALSO), each
    with its chain file."""
    def pair(it: Issued) -> dict[str, Any]:
        return {"chain": str(it.chain_file), "key": str(it.key_file)}
    entry = pair(leaf)
    if also:
        entry["also"] = [pair(it) for it in also]
    return entry


def _behaviour(replies: dict[str, str], starttls: str | None,
               starttls_reply: str | None, fault: str | None,
               alert: str | None, close_after: str | None
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The profile keys of a host or connection entry as fake-mx spells
    them: (listener keys, tls keys).  None values are left out."""
    out: dict[str, Any] = {}
    if "banner" in replies:
        out["banner"] = replies["banner"]
    rest = {k: v for k, v in replies.items() if k != "banner"}
    if rest:
        out["replies"] = rest
    for key, v in (("starttls", starttls),
                   ("starttls_reply", starttls_reply),
                   ("close_after", close_after)):
        if v is not None:
            out[key] = v
    tls = {k: v for k, v in (("fault", fault), ("alert", alert))
           if v is not None}
    return out, tls


def listener_config(hp: HostPlan, plan: LabPlan,
                    v6: bool = False) -> dict[str, Any]:
    """HP's listener; V6: its IPv6 twin, whose default certificate is
    cert_v6 when the host names one (then alone, without cert_also)."""
    h = hp.decl
    fq = hp.fqdn.rstrip(".")
    if v6 and h.cert_v6 and hp.cert6:
        certs = [_cert_entry(hp.cert6, [])]
    else:
        certs = [_cert_entry(hp.cert, hp.cert_also)]
    for name, it in hp.sni_certs.items():
        certs.append(dict(_cert_entry(it, []), sni=[name]))
    mode = "impostor" if h.mode == "impostor" else h.mode
    own, fault = _behaviour(h.replies, h.starttls, h.starttls_reply,
                            h.tls_fault, h.tls_alert, h.close_after)
    cfg: dict[str, Any] = {
        "name": hp.listener, "address": hp.address, "port": 25,
        "hostname": fq, "mode": mode,
        "banner": f"220 {fq} ESMTP fake-mx", **own,
        "tls": {"certs": certs, "min_version": h.tls_versions[0],
                "max_version": h.tls_versions[-1], **fault},
    }
    steps: list[dict[str, Any]] = []
    for c in h.connections:
        step, tls = _behaviour(c.replies, c.starttls, c.starttls_reply,
                               c.tls_fault, c.tls_alert, c.close_after)
        steps.append({"count": c.count, **step,
                      **({"tls": tls} if tls else {})})
    if steps:
        cfg["connections"] = steps
    if h.mode == "strip-relay" and h.relay_to:
        target = plan.hosts[(hp.scenario, h.relay_to)]
        cfg["relay_to"] = {"address": target.address, "port": 25}
        cfg.update(relay_attack_config(h.relay_attack, h.relay_inject))
    return cfg


def relay_attack_config(attack: str, inject: str | None) -> dict[str, Any]:
    """fake-mx's strip-relay keys for a scenario's `relay_attack`: strip
    STARTTLS from the EHLO reply (strip), keep it and answer STARTTLS with
    454 (refuse-starttls), or keep it, let STARTTLS through and send INJECT
    in plaintext after the server's 220 (inject)."""
    if attack == "refuse-starttls":
        return {"relay_strip": False}
    if attack == "inject":
        return {"relay_strip": False, "relay_starttls": "pass",
                "relay_inject": inject}
    return {}


def sink_config(plan: LabPlan) -> dict[str, Any]:
    """The report sink: the MX of reports.<apex>, keeping TLSRPT mail."""
    c = plan.infra.sink_cert
    return {"name": SINK_LISTENER, "address": plan.addrs.sink_mx, "port": 25,
            "hostname": sink_mx(), "mode": "sink",
            "banner": f"220 {sink_mx()} ESMTP danelab report sink",
            "starttls": "offer",
            "tls": {"certs": [{"chain": str(c.chain_file),
                               "key": str(c.key_file)}]}}


def sender_sink_config(plan: LabPlan) -> dict[str, Any]:
    """The MX of sender.<apex>: keeps the delivery status notifications a
    sender returns to the envelope sender (the smtp:// adapter reads
    them)."""
    c = plan.infra.sender_cert
    return {"name": SENDER_LISTENER, "address": plan.addrs.sender_mx,
            "port": 25, "hostname": sender_mx(), "mode": "sink",
            "banner": f"220 {sender_mx()} ESMTP danelab sender mailbox",
            "starttls": "offer",
            "tls": {"certs": [{"chain": str(c.chain_file),
                               "key": str(c.key_file)}]}}


def start_https_sink(ns: LabNamespace, plan: LabPlan, run: Path) -> Tracked:
    c = plan.infra.https_cert
    ready = run / "https-sink.ready"
    ready.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "harness"))
    t = ns.spawn("https-sink", ["/usr/bin/python3", "-m",
                                "danelab.https_sink", "--addr",
                                plan.addrs.https,
                                "--cert", str(c.chain_file), "--key",
                                str(c.key_file), "--store",
                                str(run / "https-sink"), "--ready",
                                str(ready)],
                 log=run / "https-sink.log", env=env)
    ns.sup.wait_ready(t, ready.exists)
    return t


def catch_all_config(ipv6: bool) -> list[dict[str, Any]]:
    """Port 25 of every address no other listener serves: each connection
    there is logged and reset (docs/interfaces.md, fake-mx)."""
    return [{"name": name, "address": addr, "port": 25, "mode": "catch-all"}
            for name, addr in CATCH_ALL_LISTENERS.items()
            if ipv6 or ":" not in addr]


def write_config(plan: LabPlan, run: Path, ipv6: bool = True) -> Path:
    spool = run / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    listeners = [listener_config(hp, plan) for hp in plan.hosts.values()
                 if hp.decl.listen]
    for hp in plan.hosts.values():
        if hp.decl.listen and hp.address6 and hp.cert6:
            v6 = listener_config(hp, plan, v6=True)
            v6["name"], v6["address"] = hp.listener6, hp.address6
            listeners.append(v6)
    listeners.append(sink_config(plan))
    listeners.append(sender_sink_config(plan))
    listeners += catch_all_config(ipv6)
    cfg = {"events": str(run / "fakemx-events.jsonl"), "spool": str(spool),
           "timeouts": {"command_ms": 20000, "data_ms": 30000,
                        "tls_ms": 5000},
           "listeners": listeners}
    p = run / "fakemx.json"
    p.write_text(json.dumps(cfg, indent=1))
    return p


def add_ipv6_addresses(ns: LabNamespace, plan: LabPlan) -> bool:
    """Make all of fd25::/16 local on the namespace's lo (as 127.0.0.0/8
    is: a connection to any of it reaches fake-mx, its catch-all if no
    host listens there) and put every IPv6 host address of the plan on lo
    (a specific listener can only bind an assigned address).  False when
    the namespace has no IPv6 and no host needs it.  An exposed lab's
    range is made local by expose.py instead (in the main table, so that
    the link to the sender under test stays routed)."""
    route = ns.run(["ip", "-6", "route", "add", "local", "fd25::/16", "dev",
                    "lo"], check=any(hp.address6
                                     for hp in plan.hosts.values())) \
        if plan.net is None else ns.run(["true"])
    for hp in plan.hosts.values():
        if hp.address6:
            ns.run(["ip", "-6", "addr", "add", f"{hp.address6}/128", "dev",
                    "lo", "nodad"], check=True)
    return route.returncode == 0


def start(ns: LabNamespace, plan: LabPlan, run: Path) -> Tracked:
    ipv6 = add_ipv6_addresses(ns, plan)
    conf = write_config(plan, run, ipv6)
    pidfile = run / "fakemx.pid"
    pidfile.unlink(missing_ok=True)
    t = ns.spawn("fake-mx", [str(binary("fake-mx", "fake-mx")), "-c",
                             str(conf), "-p", str(pidfile)],
                 log=run / "fakemx.log")
    ns.sup.wait_ready(t, pidfile.exists)
    return t


def read_events(run: Path) -> Iterator[dict[str, Any]]:
    p = run / "fakemx-events.jsonl"
    if not p.exists():
        return
    with p.open(encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                yield {"event": "unparsable", "line": n, "text": line[:200]}
