"""The reference sender (reference-impl/, `refsend`) as a sender under test.

Messages are submitted on the host (submission needs no network); each queue
pass runs `refsend run --all` inside the lab namespace.  Outcomes are read
from refsend's JSON-lines events (docs/interfaces.md).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
import time
from pathlib import Path

from ..apex import bare, sender_domain
from ..errors import LabError
from ..fakemx import binary
from .base import RUN_DIR, Adapter, LabContext, SenderOutcome, Submission, \
    text_digest

PASS_TIMEOUT = 300
SUBMIT_LISTS = 8               # refsend submit -l processes at once
MAX_PARALLEL = 500             # deliveries in flight: the whole catalog
REPORTERS = 6                  # refsend-tlsrpt processes at once


def helo_name() -> str:
    """refsend's EHLO name: a host of the lab's sender domain."""
    return f"refsend.{bare(sender_domain())}"


def submit_conf(run: str) -> str:
    """refsend.conf for `refsend submit` alone (ReferenceAdapter.stage()):
    the folders and EHLO name refsend_conf() gives RUN; the trust anchor,
    a required key, is named but not read by submit."""
    return "\n".join([f"queue_dir = {run}/queue",
                      f"events = {run}/events.jsonl",
                      f"dsn_dir = {run}/dsn",
                      f"trust_anchor = {run}/not-read-by-submit",
                      f"helo_name = {helo_name()}"]) + "\n"


def refsend_conf(run: str, resolver: str, trust_anchor: str,
                 policies: dict[str, str], sts_ca: str | None = None,
                 clock_offset: int = 0) -> str:
    """refsend.conf for a sender folder RUN (docs/refsend.md).  STS_CA: the
    lab's WebPKI root that MTA-STS trusts (policy hosts and MX hosts);
    CLOCK_OFFSET moves the MTA-STS policy cache's clock (advance_clock)."""
    lines = [f"queue_dir = {run}/queue",
             f"events = {run}/events.jsonl",
             f"dsn_dir = {run}/dsn",
             f"resolver = {resolver}",
             f"trust_anchor = {trust_anchor}",
             f"helo_name = {helo_name()}",
             # Lab timeouts: everything is on loopback, where a TLS
             # handshake takes milliseconds (under 1.1 s on a 2-core
             # machine at load 24, the whole catalog in flight): the
             # stalled handshake (case 25) waits this long in each pass.
             # No DNS answer should take seconds (the lab resolver gives
             # up on a name server that never answers in about 3 s).
             "connect_timeout = 3", "command_timeout = 10",
             "tls_timeout = 2", "dns_timeout = 10",
             "retry_schedule = 1", "max_attempts = 10",
             f"max_parallel = {MAX_PARALLEL}",
             "default_policy = dane"]
    if sts_ca:
        # a shorter fetch limit than the default 60 s: the lab's slow and
        # black-holed policy hosts hold pass 1 this long (every other
        # fetch, DNS and TLS included, took under 0.9 s on a 2-core
        # machine at load 20; connect, TLS and GET under 0.4 s at load
        # 3 to 5, the whole catalog in flight)
        lines += [f"sts_ca_file = {sts_ca}", "sts_timeout = 2"]
    if clock_offset:
        lines.append(f"clock_offset = {clock_offset}")
    for dom, level in sorted(policies.items()):
        lines.append(f"policy = {dom.rstrip('.')} {level}")
    return "\n".join(lines) + "\n"


class ReferenceAdapter(Adapter):
    name = "reference"
    features = ("mta-sts",)

    def __init__(self) -> None:
        self.ctx: LabContext | None = None
        self.conf: Path | None = None
        self.bin = binary("reference-impl", "refsend")
        self.clock_offset = 0

    def _write_conf(self) -> None:
        assert self.ctx and self.conf
        ctx = self.ctx
        self.conf.write_text(refsend_conf(
            str(ctx.run), ctx.resolver, str(ctx.trust_anchor), ctx.policies,
            str(ctx.webpki_ca) if ctx.webpki_ca else None,
            self.clock_offset))

    def start(self, ctx: LabContext) -> None:
        self.ctx = ctx
        ctx.run.mkdir(parents=True, exist_ok=True)
        self.conf = ctx.run / "refsend.conf"
        self._write_conf()

    def advance_clock(self, seconds: int) -> bool:
        """refsend's `clock_offset` moves the MTA-STS policy cache's clock
        (nothing else); each call adds to it."""
        self.clock_offset += seconds
        self._write_conf()
        return True

    def _argv(self, *args: str) -> list[str]:
        assert self.conf
        return [str(self.bin), "-c", str(self.conf), *args]

    def stage(self, folder: Path, subs: list[Submission]) -> bool:
        """`refsend submit` needs only its queue (no DNS, no network): the
        messages are queued while the lab is being built, with a
        configuration that has the queue, events and DSN folders and the
        EHLO name of start()'s (the one start() writes replaces it)."""
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "submit.conf"
        conf.write_text(submit_conf(str(folder)))
        self._submit(conf, subs)
        return True

    def submit(self, subs: list[Submission]) -> None:
        assert self.conf
        self._submit(self.conf, subs)

    def _submit(self, conf: Path, subs: list[Submission]) -> None:
        """`refsend submit -l` over SUBMIT_LISTS lists at once, the messages
        dealt out in turn (files of a folder beside CONF, removed
        afterwards): each message is a durable write of its own (files,
        fsync, rename), and one after another they wait seconds on the
        disk; a refsend process per message costs as much CPU time in
        starting as the lab's build needs meanwhile."""
        d = (conf.parent / "submitting").resolve()
        if "\t" in str(d) or "\n" in str(d):
            raise LabError(f"{d!r}: refsend submit -l takes no tab or "
                           "newline in a message's file name")
        d.mkdir(parents=True, exist_ok=True)
        lists: list[list[str]] = [[] for _ in range(SUBMIT_LISTS)]
        for i, s in enumerate(subs):
            f = d / f"{i}.eml"
            f.write_bytes(s.data)
            lists[i % SUBMIT_LISTS].append(f"{f}\t{s.sender}\t{s.rcpt}\n")

        def one(k: int) -> None:
            lf = d / f"list{k}"
            lf.write_text("".join(lists[k]))
            cp = subprocess.run([str(self.bin), "-c", str(conf), "submit",
                                 "-l", str(lf)], capture_output=True,
                                stdin=subprocess.DEVNULL, timeout=60)
            if cp.returncode != 0:
                raise LabError(f"refsend submit -l {lf} exited "
                               f"{cp.returncode}: "
                               f"{cp.stderr.decode(errors='replace')}")
        with ThreadPoolExecutor(SUBMIT_LISTS) as ex:
            list(ex.map(one, [k for k in range(SUBMIT_LISTS) if lists[k]]))
        shutil.rmtree(d)

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

    def log_lines(self, message_id: str, domain: str) -> list[str]:
        """refsend's events about the message: its policy, session and
        final events (JSON lines, as refsend wrote them)."""
        if not self.ctx or not (self.ctx.run / "events.jsonl").exists():
            return []
        qid, out = None, []
        for line in (self.ctx.run / "events.jsonl").read_text(
                errors="replace").splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e.get("event") == "queued" and (e.get("message_id") or ""
                                               ).strip("<>") == message_id:
                qid = e.get("queue_id")
            if qid and e.get("queue_id") == qid and e.get("event") in (
                    "mx", "policy", "session", "delivered", "deferred",
                    "bounced"):
                out.append(line)
        return out

    def flush_reports(self) -> bool:
        """Run the reference sender's TLSRPT reporter (refsend-tlsrpt) in
        its real-use set-up, whole UTC days (`period = daily`, the
        default), with its clock advanced to just after the next UTC
        midnight so that today is a complete day: flush, then retry
        pending deliveries up to twice, the clock a few seconds later
        each time (past the retry schedule's 1 s and 2 s).

        REPORTERS reporters run at once, each over its share of the
        recipient domains: each reads the events of its domains' messages
        (a copy of refsend's events, split by message: every report is
        about one domain and one day, built from that domain's messages
        only) and keeps its own state folder (tlsrpt/N); they share one
        log.  One after another they would wait, report by report, on the
        receivers, the disk and the DNS."""
        assert self.ctx
        rep = binary("reference-impl/tlsrpt", "refsend-tlsrpt",
                     required=False)
        if rep is None:
            return False
        confs = [self._reporter_conf(k, lines)
                 for k, lines in enumerate(self._split_events(REPORTERS))]
        midnight = (int(time.time()) // 86400 + 1) * 86400
        todo = list(range(len(confs)))
        for i, cmd in enumerate(("flush", "retry", "retry")):
            if cmd == "retry":
                todo = self._pending()
                if not todo:
                    break
            clock = str(midnight + 1 + 4 * i)
            self._run_reporters(rep, clock, cmd, [confs[k] for k in todo])
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
            f"contact_info = tlsrpt@{ctx.reporting_domain}",
            f"reporting_domain = {ctx.reporting_domain}",
            f"dkim_selector = {ctx.dkim_selector}",
            f"dkim_key = {ctx.dkim_key}",
            f"helo_name = refsend.{ctx.reporting_domain}",
            f"https_ca = {ctx.lab_ca}",
            "retry_schedule = 1,1,2"]) + "\n")
        return conf

    def _run_reporters(self, rep: Path, clock: str, cmd: str,
                       confs: list[Path]) -> None:
        """refsend-tlsrpt -T CLOCK -c CONF CMD for every CONF, all at
        once."""
        assert self.ctx
        ctx = self.ctx

        def one(conf: Path) -> None:
            cp = ctx.ns.run([str(rep), "-T", clock, "-c", str(conf), cmd],
                            timeout=PASS_TIMEOUT)
            with (ctx.run / "tlsrpt.log").open("ab") as f:
                f.write(cp.stdout + cp.stderr)
            if cp.returncode != 0:
                err = cp.stderr.decode(errors="replace")[-500:]
                raise LabError(f"refsend-tlsrpt {cmd} (tlsrpt/"
                               f"{conf.parent.name}) exited "
                               f"{cp.returncode}: {err}")
        with ThreadPoolExecutor(len(confs)) as ex:
            list(ex.map(one, confs))

    def _pending(self) -> list[int]:
        """The reporters (their numbers) with a delivery still pending, as
        the log says; a report's reporter is the state folder its copy
        (the "report" event's file) lies in."""
        assert self.ctx
        state: dict[tuple[str, str], str] = {}
        owner: dict[str, int] = {}
        p = self.ctx.run / "tlsrpt-events.jsonl"
        if not p.exists():
            return []
        for line in p.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e.get("event") == "report" and e.get("file"):
                owner[e.get("report_id", "")] = \
                    int(Path(e["file"]).parent.parent.name)
            elif e.get("event") == "delivery":
                state[(e.get("report_id", ""), e.get("rua", ""))] = \
                    e.get("status", "")
        return sorted({owner.get(rid, 0) for (rid, _), v in state.items()
                       if v == "pending"})

    def version(self) -> str:
        """refsend has no version of its own: it is danelab's, at the
        checkout's commit, and its binary is named by its digest (a
        sanitizer build differs from a plain one)."""
        from ..suite import danelab_commit
        try:
            digest = hashlib.sha256(self.bin.read_bytes()).hexdigest()
        except OSError:
            digest = "unknown"
        return (f"refsend (danelab reference sender), danelab "
                f"{danelab_commit()}, binary sha256:{digest[:16]}")

    def config_digest(self) -> str:
        """refsend.conf as start() writes it, without the run folder's
        paths and the catalog's per-domain policies."""
        assert self.ctx
        return text_digest(refsend_conf(
            RUN_DIR, self.ctx.resolver, f"{RUN_DIR}/trust-anchor", {},
            f"{RUN_DIR}/webpki-root.crt" if self.ctx.webpki_ca else None))
