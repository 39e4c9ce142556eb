"""NSD (authoritative) and Unbound (validating) for the lab universe.

Both run in the foreground inside the lab namespace, with configs, logs and
pid files in the run folder, and are stopped by the namespace's supervisor.
Readiness: a query that gets an answer.  Unbound is set up to trust only our
root's DS, to find our root through its own hints, and to forget RFC 6761's
default refusal of `test.`.  Under a simulated parent (internet.py) the
same functions make the Internet's NSD and resolver (NAME "inet-nsd",
"inet-unbound": their own files in the run folder).
"""
from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Callable

import dns.exception
import dns.message
import dns.query

from ..apex import lab_apex
from ..errors import DaemonError, LabError
from ..netns import LabNamespace
from ..proc import READY_LIMIT, Tracked
from .zonebuild import NSD_ADDR, BuiltUniverse

UNBOUND_ADDR = "127.53.0.53"
# How long the first readiness question waits for its answer; each next
# one waits twice as long as the one before, up to READY_QUERY_MAX.  The
# first is often sent before the daemon has bound its address, and is
# lost: its wait is time a run's start waits longer than it needs (NSD
# serves 300 zones 0.13 s after it starts).  The longer waits after it
# are for a busy machine, where a harness thread with many others beside
# it may read an answer late.
READY_QUERY_TIMEOUT = 0.1
READY_QUERY_MAX = 0.5


def nsd_conf(u: BuiltUniverse, run: Path, zones: list[str] | None = None,
             addrs: tuple[str, ...] = (NSD_ADDR,), name: str = "nsd"
             ) -> Path:
    """NAME.conf: an NSD on ADDRS serving ZONES (None: all of U's)."""
    lines = ["server:"] + [f"  ip-address: {a}" for a in addrs] + [
             "  port: 53",
             '  username: ""', '  chroot: ""', '  database: ""',
             f'  zonesdir: "{u.folder}"',
             f'  zonelistfile: "{run}/{name}.zonelist"',
             f'  xfrdfile: "{run}/{name}.xfrd"', f'  xfrdir: "{run}"',
             f'  pidfile: "{run}/{name}.pid"', "  server-count: 1",
             "  verbosity: 1", "  hide-version: yes", "  hide-identity: yes",
             "  round-robin: no", "remote-control:",
             "  control-enable: no"]
    for zname, bz in u.zones.items():
        if zones is not None and zname not in zones:
            continue
        lines += ["zone:", f'  name: "{zname}"',
                  f'  zonefile: "{bz.file.name}"']
    p = run / f"{name}.conf"
    p.write_text("\n".join(lines) + "\n")
    return p


def unbound_conf(u: BuiltUniverse, run: Path,
                 exposed: tuple[str, str] | None = None,
                 addr: str = UNBOUND_ADDR, name: str = "unbound",
                 log_queries: bool = False) -> Path:
    """EXPOSED: (address, range) of an exposed lab: Unbound answers there
    too, to the range's clients (docs/remote.md).  LOG_QUERIES: one line
    in its log per question asked (who, the name, the type): for the
    simulated Internet's resolver, the record of what a "cloud" sender
    looked up.

    unknown-server-time-limit: the first wait for a name server Unbound
    has no round-trip time for yet (default 376 ms); its retries double
    it.  Every lab name server is on loopback and answers in a
    millisecond once known (Unbound then waits at least 50 ms anyway,
    infra-cache-min-rtt), so 50 ms is as patient as Unbound already is
    with NSD; a name server that never answers (case 12h) is given up in
    about 3 s instead of 17 s.

    ADDR and NAME: where it listens, and the name of its files (NAME.conf,
    NAME.ctl) in RUN."""
    more = ""
    if exposed:
        more = (f"\n  interface: {exposed[0]}" if exposed[0] != addr
                else "") + f"\n  access-control: {exposed[1]} allow"
    text = f"""server:
  interface: {addr}{more}
  port: 53
  do-ip6: no
  username: ""
  chroot: ""
  directory: "{run}"
  pidfile: "{run}/{name}.pid"
  use-syslog: no
  logfile: ""
  log-time-ascii: yes
  verbosity: 1
  log-queries: {"yes" if log_queries else "no"}
  val-log-level: 2
  ede: yes
  num-threads: 1
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  root-hints: "{u.root_hints}"
  trust-anchor-file: "{u.trust_anchor}"
  local-zone: "test." nodefault
  module-config: "validator iterator"
  qname-minimisation: no
  harden-dnssec-stripped: yes
  aggressive-nsec: no
  prefetch: no
  serve-expired: no
  infra-host-ttl: 30
  unknown-server-time-limit: 50
  outgoing-range: 256
  so-reuseport: no
remote-control:
  control-enable: yes
  control-interface: "{run}/{name}.ctl"
  control-use-cert: no
"""
    p = run / f"{name}.conf"
    p.write_text(text)
    return p


def _answers(addr: str, name: str, timeout: float) -> bool:
    q = dns.message.make_query(name, "SOA")
    try:
        dns.query.udp(q, addr, timeout=timeout)
        return True
    except (OSError, dns.exception.Timeout):
        return False


def start_nsd(ns: LabNamespace, u: BuiltUniverse, run: Path,
              zones: list[str] | None = None,
              addrs: tuple[str, ...] = (NSD_ADDR,), name: str = "nsd",
              netns: str | None = None) -> Tracked:
    """NSD serving ZONES (None: all) on ADDRS, in the lab namespace or
    (NETNS: a namespace file) in another one; ready once the first zone
    answers from ADDRS[0], asked from the lab namespace."""
    conf = nsd_conf(u, run, zones, addrs, name)
    log = run / f"{name}.log"
    start = log.stat().st_size if log.exists() else 0
    argv = ["nsd", "-d", "-c", str(conf)]
    t = ns.spawn(name, argv, log=log) if netns is None else \
        ns.sup.spawn(name, ["nsenter", f"--net={netns}", "--", *argv],
                     log=log)
    first = zones[0] if zones else "."
    ns.sup.wait_ready(t, _readiness(ns, addrs[0], first))
    bad = zone_load_errors(log, start)
    if bad:
        raise LabError(f"NSD could not read {len(bad)} zone file(s), so "
                       f"their names would all fail: {bad[0]} (more in "
                       f"{log})")
    return t


def zone_load_errors(log: Path, start: int = 0) -> list[str]:
    """NSD's lines about zone files it read with errors, in LOG from byte
    START on (NSD logs them before it serves, and then answers SERVFAIL
    for those zones)."""
    try:
        with log.open("rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [ln.strip() for ln in text.splitlines()
            if re.search(r"\bread with [1-9][0-9]* errors?\b", ln)]


def start_unbound(ns: LabNamespace, u: BuiltUniverse, run: Path,
                  exposed: tuple[str, str] | None = None,
                  addr: str = UNBOUND_ADDR, name: str = "unbound",
                  netns: str | None = None, ready_name: str | None = None,
                  log_queries: bool = False) -> Tracked:
    """Unbound on ADDR (and EXPOSED), in the lab namespace or (NETNS) in
    another one; ready once it answers for READY_NAME (default: the lab
    apex), asked from the lab namespace."""
    conf = unbound_conf(u, run, exposed, addr, name, log_queries)
    argv = ["unbound", "-d", "-p", "-c", str(conf)]
    log = run / f"{name}.log"
    t = ns.spawn(name, argv, log=log) if netns is None else \
        ns.sup.spawn(name, ["nsenter", f"--net={netns}", "--", *argv],
                     log=log)
    ns.sup.wait_ready(t, _readiness(ns, addr, ready_name or lab_apex()))
    return t


def _readiness(ns: LabNamespace, addr: str, name: str
               ) -> Callable[[], bool]:
    """A readiness check of the name server at ADDR: true once it has
    answered a question about NAME, and from then on (asking again could
    only find a busy machine slow, not the daemon unready)."""
    timeout, ready = READY_QUERY_TIMEOUT, False

    def check() -> bool:
        nonlocal timeout, ready
        if not ready:
            ready = _ready(ns, addr, name, timeout)
            timeout = min(2 * timeout, READY_QUERY_MAX)
        return ready
    return check


def _ready(ns: LabNamespace, addr: str, name: str, timeout: float) -> bool:
    if ns.mode == "root":
        return ns.call(_answers, addr, name, timeout)
    cp = ns.run(["dig", f"@{addr}", "+time=1", "+tries=1", name, "SOA"])
    return cp.returncode == 0


def unbound_control(run: Path, *args: str, name: str = "unbound") -> str:
    """One unbound-control command, spoken straight to Unbound's control
    socket (run/unbound.ctl: a file, reachable from outside the lab
    namespace; no certificates): "UBCT1 <command>" and the reply until
    Unbound closes.  A reply starting with "error" raises DaemonError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(READY_LIMIT)
        s.connect(str(run / f"{name}.ctl"))
        s.sendall(("UBCT1 " + " ".join(args) + "\n").encode())
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    text = reply.decode(errors="replace")
    if text.startswith("error"):
        raise DaemonError(f"unbound-control {' '.join(args)}: "
                          f"{text.strip()}")
    return text


def unbound_flush(ns: LabNamespace, run: Path,
                  zones: list[str] | None = None,
                  nsd: tuple[str, ...] = (NSD_ADDR,),
                  name: str = "unbound") -> None:
    """Make Unbound forget what it cached of ZONES (every name at or below
    each; None: everything), every bogus and negative answer, and what it
    learnt of NSD (lameness, EDNS, round-trip time) after a zone change.
    What it learnt of name servers that never answer (case 12h) stays:
    no zone change makes them answer.  NSD: the lab NSD's addresses as
    Unbound knows them."""
    for z in zones if zones is not None else ["."]:
        unbound_control(run, "flush_zone", z, name=name)
    for args in (["flush_bogus"], ["flush_negative"],
                 *(["flush_infra", a] for a in nsd), ["flush_requestlist"]):
        unbound_control(run, *args, name=name)
