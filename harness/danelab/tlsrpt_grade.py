"""Grading the TLSRPT reports a sender emitted, against what fake-mx saw.

collect() gathers every report that reached the lab's receivers (the
report-sink MX's spool, the HTTPS receiver's store) and checks each one's
form (tlsrpt_check, tlsrpt_doc).  grade_scenario() then asks, per scenario
domain: was a report due and did one arrive (by one rua transport at
least: RFC 8460 §3 makes delivery to each a MAY); is
each well-formed (its MUST problems fail, its SHOULD problems warn); and,
per transport over all its reports (each report-id once): are the policy
strings the TLSA records the domain published; do the session counts and
date ranges agree with the sessions fake-mx logged (tlsrpt_count); is the
expected result type there.  The adapter plays no part: whatever sender
sent the reports, they get the same checks.
"""
from __future__ import annotations

import functools
import itertools
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .grounds import TLSRPT_GROUNDS, tlsrpt_ground
from .labinfra import DKIM_SELECTOR, SINK_LISTENER, default_tlsrpt, \
    reports_domain, sender_domain
from .labplan import LabPlan
from .observe import Session
from .probe import HostDns
from .scenario import Scenario
from .tlsrpt_check import Doc, Problem, check_https, check_mail
from .tlsrpt_count import count_checks, entries, failures, \
    published_check


@dataclass
class Received:
    transport: str                    # mailto | https
    source: str                       # spool file or stored POST
    doc: dict[str, Any] | None
    problems: list[Problem]

    @functools.cached_property
    def domains(self) -> set[str]:
        out = set()
        for p in (self.doc or {}).get("policies", []) or []:
            if isinstance(p, dict) and isinstance(p.get("policy"), dict):
                d = p["policy"].get("policy-domain")
                if isinstance(d, str):
                    out.add(d.lower().rstrip("."))
        return out


# (level, ok, text, kind): kind names the check's ground in
# grounds.TLSRPT_GROUNDS.
TCheck = tuple[str, bool, str, str]


@dataclass
class TlsrptGrade:
    verdict: str                      # pass | fail | warn | none
    checks: list[TCheck] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reports": self.reports,
                "checks": [{"level": c[0], "ok": c[1], "text": c[2],
                            "kind": c[3],
                            **({"ground": tlsrpt_ground(c[3]).as_dict()}
                               if c[3] in TLSRPT_GROUNDS else {})}
                           for c in self.checks]}


def _mail_checked(raw: bytes, dkim_txt: bytes
                  ) -> tuple[Doc | None, list[Problem]]:
    """check_mail() of RAW, the reporting domain's DKIM key record being
    DKIM_TXT."""
    want = f"{DKIM_SELECTOR}._domainkey.{sender_domain()}".encode()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return dkim_txt if name.rstrip(b".") == want.rstrip(b".") else None
    return check_mail(raw, dnsfunc, sender_domain().rstrip("."))


def _mails_checked(raws: list[bytes], dkim_txt: bytes
                   ) -> list[tuple[Doc | None, list[Problem]]]:
    """_mail_checked() of each of RAWS, on every core when there are many
    (MIME parsing and DKIM verification are pure Python: a few ms each,
    and a catalog has hundreds of report mails)."""
    cores = os.cpu_count() or 1
    if len(raws) < 32 or cores < 2:
        return [_mail_checked(r, dkim_txt) for r in raws]
    with ProcessPoolExecutor(cores, mp_context=multiprocessing
                             .get_context("fork")) as ex:
        return list(ex.map(_mail_checked, raws, itertools.repeat(dkim_txt),
                           chunksize=max(1, len(raws) // (4 * cores))))


def collect(run: Path, plan: LabPlan,
            sessions: dict[str, Session]) -> list[Received]:
    spooled: list[tuple[Path, bytes | None]] = []
    for s in sessions.values():
        if s.listener != SINK_LISTENER:
            continue
        for m in s.messages:
            p = Path(m.get("spool") or "")
            spooled.append((p, p.read_bytes() if p.is_file() else None))
    checked = iter(_mails_checked([raw for _, raw in spooled
                                   if raw is not None],
                                  plan.infra.dkim_txt().encode()))
    out = []
    for p, raw in spooled:
        if raw is None:
            out.append(Received("mailto", str(p), None,
                                [Problem("MUST", "spooled report mail is "
                                         "missing")]))
        else:
            doc, probs = next(checked)
            out.append(Received("mailto", str(p), doc, probs))
    log = run / "https-sink" / "posts.jsonl"
    if log.exists():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("problem"):          # the sink refused the body
                out.append(Received("https", rec.get("file", ""), None,
                                    [Problem("MUST", f"report POST refused "
                                             f"({rec['status']}): "
                                             f"{rec['problem']}")]))
                continue
            if rec.get("status") != 200:
                continue            # refused on purpose; the retry counts
            body = Path(rec["file"]).read_bytes()
            doc, probs = check_https(body, rec.get("content_type", ""))
            out.append(Received("https", rec["file"], doc, probs))
    return out


def _rua_transports(records: list[str]) -> list[str] | None:
    """Transports a domain's _smtp._tls asks for, or None if it asks for
    no reporting (no record, several, or a malformed one)."""
    recs = [r for r in records if r.strip().startswith("v=TLSRPTv1")]
    if len(recs) != 1:
        return None
    fields = [f.strip() for f in recs[0].split(";")]
    rua = [f[4:] for f in fields if f.startswith("rua=")]
    if not rua:
        return None
    out = []
    for uri in rua[0].split(","):
        uri = uri.strip()
        if uri.startswith("mailto:"):
            out.append("mailto")
        elif uri.startswith("https://"):
            out.append("https")
        else:
            return None
    return out


def grade_scenario(sc: Scenario, plan: LabPlan, received: list[Received],
                   mine: list[Session],
                   dns: list[dict[str, HostDns]] | None = None
                   ) -> TlsrptGrade:
    """DNS: the probe results of every phase (a report may span a fix)."""
    dom = sc.rcpt_domain.rstrip(".")
    reps = [r for r in received if dom in r.domains]
    checks: list[TCheck] = []
    records = sc.tlsrpt_records if sc.tlsrpt_records is not None \
        else [default_tlsrpt()]
    transports = _rua_transports(records)
    if transports is None or not sc.tlsrpt_due:
        checks.append(("MUST", not reps, "no report sent (the domain asks "
                       "for none)" if not reps else
                       f"{len(reps)} report(s) sent although the domain's "
                       "_smtp._tls asks for no reporting" if transports is
                       None else f"{len(reps)} report(s) sent although none "
                       "is due", "no-report" if transports is None
                       else "nothing-due"))
        return _verdict(checks, reps)
    # RFC 8460 §3: delivery to each rua is a MAY; one report is enough.
    by = ", ".join(f"{sum(1 for r in reps if r.transport == t)} by {t}"
                   for t in sorted(set(transports)))
    checks.append(("MUST", bool(reps), f"report(s) sent: {by}", "sent"))
    for r in reps:
        checks += _form_checks(r)
    published = {t.lower() for hp in plan.scenario_hosts(sc.id)
                 for t in hp.tlsa}
    published |= {t for phase in dns or [] for h in phase.values()
                  for t in h.tlsa}
    for t in sorted({r.transport for r in reps}):
        docs = each_report_once([r for r in reps if r.transport == t])
        content = [published_check(docs, dom, published, t)]
        content += count_checks(docs, mine, dom, t)
        checks += [(lv, ok, text, "content") for lv, ok, text in content]
        if sc.expect.tlsrpt:
            fail = failures(docs, dom)
            types = {f.get("result-type") for d in docs
                     for p in entries(d, dom)
                     for f in p.get("failure-details", []) or []
                     if isinstance(f, dict)}
            checks.append(("MUST", fail >= 1, f"{t}: failures reported"
                           if fail else f"{t}: no failure reported",
                           "content"))
            checks.append(("SHOULD", sc.expect.tlsrpt in types,
                           f"{t}: result types {sorted(map(str, types))}, "
                           f"expected {sc.expect.tlsrpt}", "type"))
    return _verdict(checks, reps)


def _form_checks(r: Received) -> list[TCheck]:
    out: list[TCheck] = []
    for lv in ("MUST", "SHOULD"):
        ps = [str(p) for p in r.problems if p.level == lv]
        if lv == "MUST" or ps:
            out.append((lv, not ps, f"{r.transport} report well-formed"
                        if not ps else f"{r.transport} report ({lv}): "
                        + "; ".join(ps), f"form-{lv.lower()}"))
    return out


def each_report_once(reps: list[Received]) -> list[dict[str, Any] | None]:
    """The documents of REPS, each report-id once (a report delivered twice
    to one transport is one report, RFC 8460 §5.3's Report-ID)."""
    seen: set[str] = set()
    out = []
    for r in reps:
        rid = (r.doc or {}).get("report-id")
        key = rid if isinstance(rid, str) and rid else r.source
        if key not in seen:
            seen.add(key)
            out.append(r.doc)
    return out


def no_loops(received: list[Received]) -> list[str]:
    """Report traffic must not itself be reported."""
    dom = reports_domain().rstrip(".")
    return [r.source for r in received if dom in r.domains]


def _verdict(checks: list[TCheck], reps: list[Received]) -> TlsrptGrade:
    v = "pass"
    if any(not c[1] and c[0] == "MUST" for c in checks):
        v = "fail"
    elif any(not c[1] for c in checks):
        v = "warn"
    return TlsrptGrade(v, checks, [r.source for r in reps])
