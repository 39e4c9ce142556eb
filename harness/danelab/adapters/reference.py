"""The reference sender (reference-impl/, `refsend`) as a sender under test.

Messages are submitted on the host (submission needs no network); each queue
pass runs `refsend run --all` inside the lab namespace.  Outcomes are read
from refsend's JSON-lines events (docs/interfaces.md).
"""
from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
import time
from pathlib import Path

from ..errors import LabError
from ..fakemx import binary
from .base import Adapter, LabContext, SenderOutcome, Submission

PASS_TIMEOUT = 300
SUBMIT_WORKERS = 16            # refsend submit processes at once
MAX_PARALLEL = 200
REPORTERS = 6                  # refsend-tlsrpt processes at once
RETRY_SCHEDULE = (1, 1, 2)     # the reporter's, in seconds


class ReferenceAdapter(Adapter):
    name = "reference"

    def __init__(self) -> None:
        self.ctx: LabContext | None = None
        self.conf: Path | None = None
        self.bin = binary("reference-impl", "refsend")

    def start(self, ctx: LabContext) -> None:
        self.ctx = ctx
        ctx.run.mkdir(parents=True, exist_ok=True)
        lines = [f"queue_dir = {ctx.run / 'queue'}",
                 f"events = {ctx.run / 'events.jsonl'}",
                 f"dsn_dir = {ctx.run / 'dsn'}",
                 f"resolver = {ctx.resolver}",
                 f"trust_anchor = {ctx.trust_anchor}",
                 "helo_name = refsend.sender.test",
                 # Lab timeouts: everything is on loopback, where a
                 # TLS handshake takes milliseconds (under 0.6 s on a
                 # 2-core machine at load 15, every message in flight);
                 # the stalled handshake (case 25) and the TLSA lookup
                 # that never gets an answer (case 12) wait this long.
                 "connect_timeout = 3", "command_timeout = 10",
                 "tls_timeout = 2", "dns_timeout = 3",
                 "retry_schedule = 1", "max_attempts = 10",
                 # every message of the catalog in flight at once
                 f"max_parallel = {MAX_PARALLEL}",
                 "default_policy = dane"]
        for dom, level in sorted(ctx.policies.items()):
            lines.append(f"policy = {dom.rstrip('.')} {level}")
        self.conf = ctx.run / "refsend.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def _argv(self, *args: str) -> list[str]:
        assert self.conf
        return [str(self.bin), "-c", str(self.conf), *args]

    def submit(self, subs: list[Submission]) -> None:
        """One `refsend submit` per message, several at a time: each
        is an independent durable write (its own file, fsync, rename), and
        one after another they cost the catalog seconds of fsync waits."""
        def one(s: Submission) -> None:
            cp = subprocess.run(self._argv("submit", "-f", s.sender, s.rcpt),
                                input=s.data, capture_output=True,
                                timeout=30)
            if cp.returncode != 0:
                raise LabError(f"refsend submit failed for {s.scenario}: "
                               f"{cp.stderr.decode(errors='replace')}")
        with ThreadPoolExecutor(SUBMIT_WORKERS) as ex:
            list(ex.map(one, subs))

    def run_queue(self) -> None:
        assert self.ctx
        cp = self.ctx.ns.run(self._argv("run", "--all"),
                             timeout=PASS_TIMEOUT)
        assert self.ctx
        (self.ctx.run / "run.log").open("ab").write(cp.stdout + cp.stderr)
        if cp.returncode != 0:
            raise LabError(f"refsend run exited {cp.returncode}: "
                           f"{cp.stderr.decode(errors='replace')[-500:]}")

    def expire(self, message_ids: list[str]) -> bool:
        """`refsend expire`: one attempt left, due now (docs/refsend.md)."""
        cp = subprocess.run(self._argv("expire", *message_ids),
                            capture_output=True, timeout=30)
        if cp.returncode != 0:
            raise LabError(f"refsend expire failed: "
                           f"{cp.stderr.decode(errors='replace')[-500:]}")
        return True

    def outcomes(self) -> dict[str, SenderOutcome]:
        assert self.ctx
        qid_to_mid: dict[str, str] = {}
        last: dict[str, SenderOutcome] = {}
        p = self.ctx.run / "events.jsonl"
        if not p.exists():
            return {}
        for line in p.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            k, q = e.get("event"), e.get("queue_id")
            if k == "queued" and q:
                qid_to_mid[q] = (e.get("message_id") or "").strip("<>")
            elif k in ("delivered", "deferred", "bounced") and q:
                last[q] = SenderOutcome(
                    k, str(e.get("reason") or e.get("reply") or ""),
                    str(e.get("dsn") or ""), str(e.get("detail") or ""))
        return {qid_to_mid.get(q, q): o for q, o in last.items()}

    def flush_reports(self) -> bool:
        """Run the reference sender's TLSRPT reporter (refsend-tlsrpt):
        flush, then retry the pending deliveries (twice at most) as soon
        as the retry schedule makes them due.

        REPORTERS reporters run at once, each over its share of the
        recipient domains: each reads the events of its domains' messages
        (a copy of refsend's events, split by message: every report is
        about one domain, built from that domain's messages only) and
        keeps its own state folder (tlsrpt/N); they share one log.  One
        after another they would wait, report by report, on the
        receivers, the disk and the DNS."""
        assert self.ctx
        rep = binary("reference-impl/tlsrpt", "refsend-tlsrpt",
                     required=False)
        if rep is None:
            return False
        confs = [self._reporter_conf(k, lines)
                 for k, lines in enumerate(self._split_events(REPORTERS))]
        self._run_reporters(rep, [(c, "flush") for c in confs])
        for _ in range(2):
            due = self._pending_due()
            if not due:
                break
            time.sleep(max(0.0, max(due.values()) + 0.01 - time.time()))
            self._run_reporters(rep, [(confs[k], "retry") for k in due])
        return True

    def _split_events(self, n: int) -> list[list[bytes]]:
        """refsend's event lines in N parts, each message's lines in one
        part, the messages of one recipient domain together."""
        assert self.ctx
        p = self.ctx.run / "events.jsonl"
        lines = p.read_bytes().splitlines(keepends=True) if p.exists() \
            else []
        domain: dict[str, str] = {}
        events = []
        for line in lines:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                e = {}
            q = str(e.get("queue_id") or "")
            if e.get("event") == "queued" and e.get("to"):
                domain[q] = str(e["to"][0]).rpartition("@")[2].lower()
            events.append((q, line))
        part = {d: i % n for i, d in enumerate(sorted(set(domain.values())))}
        out: list[list[bytes]] = [[] for _ in range(n)]
        for q, line in events:
            out[part.get(domain.get(q, ""), 0)].append(line)
        return out

    def _reporter_conf(self, k: int, events: list[bytes]) -> Path:
        assert self.ctx
        ctx = self.ctx
        d = ctx.run / "tlsrpt" / str(k)
        d.mkdir(parents=True, exist_ok=True)
        (d / "events.jsonl").write_bytes(b"".join(events))
        conf = d / "tlsrpt.conf"
        conf.write_text("\n".join([
            f"events = {d / 'events.jsonl'}",
            f"state_dir = {d}",
            f"log = {ctx.run / 'tlsrpt-events.jsonl'}",
            f"resolver = {ctx.resolver}",
            f"trust_anchor = {ctx.trust_anchor}",
            "organization_name = danelab reference sender",
            f"contact_info = mailto:tlsrpt@{ctx.reporting_domain}",
            f"reporting_domain = {ctx.reporting_domain}",
            f"dkim_selector = {ctx.dkim_selector}",
            f"dkim_key = {ctx.dkim_key}",
            "helo_name = refsend.sender.test",
            f"https_ca = {ctx.lab_ca}",
            "retry_schedule = " + ",".join(map(str, RETRY_SCHEDULE))])
            + "\n")
        return conf

    def _run_reporters(self, rep: Path, jobs: list[tuple[Path, str]]
                       ) -> None:
        """refsend-tlsrpt -c CONF CMD for every (CONF, CMD), all at once."""
        assert self.ctx
        ctx = self.ctx

        def one(job: tuple[Path, str]) -> None:
            conf, cmd = job
            cp = ctx.ns.run([str(rep), "-c", str(conf), cmd],
                            timeout=PASS_TIMEOUT)
            with (ctx.run / "tlsrpt.log").open("ab") as f:
                f.write(cp.stdout + cp.stderr)
            if cp.returncode != 0:
                raise LabError(f"refsend-tlsrpt {cmd} ({conf.parent.name}) "
                               f"exited {cp.returncode}: "
                               f"{cp.stderr.decode(errors='replace')[-500:]}")
        with ThreadPoolExecutor(len(jobs)) as ex:
            list(ex.map(one, jobs))

    def _pending_due(self) -> dict[int, float]:
        """Reporter number -> when its first pending delivery is due, from
        the log: a delivery left pending at attempt N (event time T) is
        due RETRY_SCHEDULE[N-1] seconds after T's second (the reporter
        counts from when it started, in whole seconds)."""
        assert self.ctx
        state: dict[tuple[str, str], tuple[str, float, int]] = {}
        where: dict[str, int] = {}
        p = self.ctx.run / "tlsrpt-events.jsonl"
        if not p.exists():
            return {}
        for f in (self.ctx.run / "tlsrpt").glob("*/reports/*.json"):
            where[f.stem] = int(f.parent.parent.name)
        for line in p.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e.get("event") == "delivery":
                state[(e.get("report_id", ""), e.get("rua", ""))] = (
                    e.get("status", ""), float(e.get("ts") or 0),
                    int(e.get("attempts") or 1))
        due: dict[int, float] = {}
        for (rid, _), (status, ts, n) in state.items():
            if status != "pending":
                continue
            k = where.get(rid, 0)
            at = int(ts) + RETRY_SCHEDULE[min(n, len(RETRY_SCHEDULE)) - 1]
            due[k] = min(due.get(k, at), at)
        return due

    def version(self) -> str:
        return "refsend (danelab reference sender)"
