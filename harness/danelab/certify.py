"""The certification header of a report: per sender, what a vendor can
publish, in the spirit of the reports of Autobahn|Testsuite and h2spec.

- The headline, per RFC: "passes every MUST of RFC 7672" or how many cases
  failed a MUST resting on it, with the SHOULDs warned (they never fail a
  run), the MAY choices recorded, and the cases not graded (a feature the
  sender lacks, a phase the lab could not drive it to).
- The suite's version (suite.py: catalog digest, danelab commit), how much
  of the catalog the report covers, the sender's name, version and
  configuration digest (Adapter.version(), Adapter.config_digest()), the
  date and the command that reproduces each run.
- Per-section tallies, failures first, and the order of the case sections
  (failures first).

Which RFC a check rests on: the check's `ground` (grounds.py; every check
the grader makes has one, "danelab" for the lab's own rules); a check
without one (results written before grounds existed) rests on RFC 8460 for
TLSRPT and on the documents the case's `rfc` field names, or on RFC 7672
when that names none other.  A case counts once
per document and kind, whatever its number of checks there.
"""
from __future__ import annotations

import re
from typing import Any

# The documents of the headline (issue 18: a count per RFC, so that "conforms
# to RFC 7672" means exactly that); grounds.HEADLINE_DOCUMENTS is the same.
HEADLINE_DOCUMENTS = ("RFC 7672", "RFC 7671", "RFC 8460", "RFC 8996",
                      "RFC 5321", "RFC 8461")
TLSRPT_RFC = "RFC 8460"
DEFAULT_RFC = "RFC 7672"
RFC_RE = re.compile(r"RFC \d+")
# The section headings of docs/cases.md (test_report.py keeps them in step).
SECTION_TITLES = {
    "A": "Resolving the recipient domain's MX records",
    "B": "The MX hosts' addresses",
    "C": "The TLSA lookup",
    "D": "Matching the server's certificate",
    "E": "STARTTLS and TLS at the MX host",
    "F": "Several MX hosts",
    "G": "Sender policy settings and retries",
    "H": "The sender's TLSRPT reports (RFC 8460)",
    "I": "MTA-STS (RFC 8461) beside DANE",
    "J": "Attacks (teaching labs)",
    "K": "The lab's own checks",
}
SEVERITY = {"fail": 0, "warn": 1, "info": 2, "pass": 3}


def case_key(c: dict[str, Any]) -> str:
    ph = c.get("phase", "first")
    return c["id"] if ph == "first" else f"{c['id']}[{ph}]"


def case_documents(c: dict[str, Any]) -> list[str]:
    """The documents a case's delivery checks rest on, from its `rfc`
    field (RFC 8460 aside; RFC 7672 when no other is named)."""
    docs = [d for d in dict.fromkeys(RFC_RE.findall(c.get("rfc") or ""))
            if d != TLSRPT_RFC]
    return docs or [DEFAULT_RFC]


def _docs(ch: dict[str, Any], c: dict[str, Any], tlsrpt: bool) -> list[str]:
    g = ch.get("ground") or {}
    if g.get("rfc"):
        return [str(g["rfc"])]
    return [TLSRPT_RFC] if tlsrpt else case_documents(c)


def _not_graded(c: dict[str, Any]) -> bool:
    return any(ch.get("kind") == "not-graded" for ch in c.get("checks", []))


def documents(cases: list[dict[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """Per document, sets of case keys: `must` (graded on a MUST resting on
    it), `fail` (a failed MUST), `warn` (a warned SHOULD), `may` (a MAY
    choice recorded), `not_graded` (a check resting on it was not graded)."""
    out: dict[str, dict[str, set[str]]] = {}

    def add(doc: str, what: str, key: str) -> None:
        d = out.setdefault(doc, {k: set() for k in
                                 ("must", "fail", "warn", "may",
                                  "not_graded")})
        d[what].add(key)

    for c in cases:
        key = case_key(c)
        groups = [(c.get("checks") or [], False, _not_graded(c))]
        t = c.get("tlsrpt")
        if t:
            groups.append((t.get("checks") or [], True,
                           t.get("verdict") == "info"))
        for checks, tlsrpt, ungraded in groups:
            for ch in checks:
                for doc in _docs(ch, c, tlsrpt):
                    if ungraded:
                        if ch.get("level") == "MUST":
                            add(doc, "not_graded", key)
                        continue
                    if ch.get("level") == "MUST":
                        add(doc, "must", key)
                        if not ch.get("ok"):
                            add(doc, "fail", key)
                    elif ch.get("level") == "SHOULD" and not ch.get("ok"):
                        add(doc, "warn", key)
                    elif ch.get("level") == "MAY" and ch.get("ok"):
                        add(doc, "may", key)
    return out


def _doc_order(doc: str) -> tuple[int, int]:
    if doc in HEADLINE_DOCUMENTS:
        return (HEADLINE_DOCUMENTS.index(doc), 0)
    m = re.search(r"\d+", doc)
    return (len(HEADLINE_DOCUMENTS), int(m.group()) if m else 0)


def document_rows(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per document the cases rest on (headline documents first):
    counts and the case keys behind them."""
    rows = []
    for doc, d in sorted(documents(cases).items(),
                         key=lambda kv: _doc_order(kv[0])):
        rows.append({"document": doc, "headline": doc in HEADLINE_DOCUMENTS,
                     "must": len(d["must"]), "fail": sorted(d["fail"]),
                     "warn": sorted(d["warn"]), "may": sorted(d["may"]),
                     "not_graded": sorted(d["not_graded"] - d["must"]),
                     "passes": not d["fail"] and bool(d["must"]),
                     # in the header's table (the others are folded)
                     "shown": doc in HEADLINE_DOCUMENTS or bool(
                         d["fail"] or d["warn"])})
    return rows


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The `run` records of one sender's results files (groups, shards) as
    one: every distinct version, configuration digest, suite version and
    command; the first and last start; the scenarios run."""
    def distinct(key: str, sub: str | None = None) -> list[Any]:
        vals = []
        for r in runs:
            v = (r.get(sub) or {}).get(key) if sub else r.get(key)
            if v not in (None, "") and v not in vals:
                vals.append(v)
        return vals
    starts = sorted(distinct("started"))
    return {"versions": distinct("version", "sender"),
            "config_digests": distinct("config_digest", "sender"),
            "suites": distinct("label", "suite"),
            "catalog_files": max([int((r.get("suite") or {}).get(
                "catalog_files") or 0) for r in runs] or [0]),
            "commands": distinct("command"),
            "first_start": starts[0] if starts else "",
            "last_start": starts[-1] if starts else "",
            "files": len(runs)}


def certificate(sender: str, cases: list[dict[str, Any]],
                runs: list[dict[str, Any]],
                problems: list[dict[str, Any]]) -> dict[str, Any]:
    """The header of SENDER's part of a report: headline sentences,
    per-document rows, the suite and sender facts, the coverage."""
    rows = document_rows(cases)
    run = merge_runs(runs)
    ids = {c["id"] for c in cases}
    total = run["catalog_files"]
    suite = run["suites"][0] if len(run["suites"]) == 1 else (
        "an unknown catalog" if not run["suites"] else
        "several suite versions (" + "; ".join(run["suites"]) + ")")
    if total and len(ids) >= total:
        scope = f"in {suite}"
    elif total:
        scope = (f"in {len(ids)} of the {total} scenarios of {suite} (a "
                 "partial run)")
    else:
        scope = (f"in the {len(ids)} scenario(s) run (suite version "
                 "unknown)")
    lines = []
    by_doc = {r["document"]: r for r in rows}
    for doc in HEADLINE_DOCUMENTS:
        r = by_doc.get(doc)
        if doc == TLSRPT_RFC and (r is None or not r["must"]):
            ng = len(r["not_graded"]) if r else 0
            lines.append({"document": doc, "state": "not-graded",
                          "text": f"{doc} (TLSRPT): not graded: the sender "
                                  "sent no TLSRPT reports in this run"
                                  + (f" ({ng} case(s))" if ng else "")})
            continue
        if r is None:
            continue            # e.g. no MTA-STS case was run
        if not r["must"]:
            if not r["not_graded"]:
                continue
            lines.append({"document": doc, "state": "not-graded",
                          "text": f"{doc}: not graded in any of its "
                                  f"{len(r['not_graded'])} case(s) (the "
                                  "sender lacks what they need)"})
            continue
        extra = [f"{len(r['warn'])} SHOULD warned" if r["warn"] else "",
                 f"{len(r['may'])} MAY choice(s) recorded" if r["may"]
                 else "",
                 f"{len(r['not_graded'])} not graded" if r["not_graded"]
                 else ""]
        tail = "; ".join(x for x in extra if x)
        if r["fail"]:
            text = (f"fails {len(r['fail'])} of {r['must']} cases on a MUST "
                    f"of {doc}")
        else:
            text = f"passes every MUST of {doc} ({r['must']} cases)"
        lines.append({"document": doc,
                      "state": "fail" if r["fail"] else "pass",
                      "text": text + (f"; {tail}" if tail else "")})
    fails = sorted({k for r in rows for k in r["fail"]})
    warns = sorted({k for r in rows for k in r["warn"]})
    mays = sorted({k for r in rows for k in r["may"]})
    mine = [p for p in problems if p.get("sender") == sender]
    passed = not fails and not mine and bool(cases)
    graded = [ln["document"] for ln in lines if ln["state"] == "pass"]
    ungraded = [ln["document"] for ln in lines
                if ln["state"] == "not-graded"]
    if not cases:
        verdict = (f"nothing graded: {len(mine)} problem(s) of the run"
                   if mine else "nothing graded")
    elif passed:
        verdict = (f"passes every MUST of {' and '.join(graded)} {scope}"
                   if graded else f"passes every MUST {scope}")
    else:
        verdict = (f"{len(fails)} case(s) failed a MUST"
                   + (f", {len(mine)} problem(s) of the run" if mine else "")
                   + f" {scope}")
    if cases and ungraded:
        verdict += f"; {' and '.join(ungraded)} not graded"
    return {"sender": sender, "passed": passed, "verdict": verdict,
            "scope": scope, "lines": lines, "documents": rows,
            "must_failed": fails, "should_warned": warns, "may_choices": mays,
            "problems": len(mine), "run": run, "scenarios": len(ids)}


def worst(cs: list[dict[str, Any]]) -> str:
    """The worst verdict of case records CS (their TLSRPT grades too):
    fail, warn, info or pass."""
    vs = [c["verdict"] for c in cs]
    vs += [c["tlsrpt"]["verdict"] for c in cs if c.get("tlsrpt")]
    vs = [v for v in vs if v in SEVERITY] or ["pass"]
    return min(vs, key=SEVERITY.__getitem__)


def section_tallies(cases: list[dict[str, Any]], senders: list[str]
                    ) -> list[dict[str, Any]]:
    """Per section letter: its title and, per sender, how many case records
    passed, failed, warned, were info (TLSRPT failures count as failures);
    sections with failures first, then those with warnings, then A-K."""
    out = []
    for sec in sorted({c["section"] for c in cases}):
        per = {}
        for s in senders:
            mine = [c for c in cases if c["section"] == sec
                    and c["sender"] == s]
            per[s] = {v: sum(1 for c in mine if worst([c]) == v)
                      for v in SEVERITY}
        out.append({"section": sec, "title": SECTION_TITLES.get(sec, ""),
                    "per": per,
                    "fail": sum(p["fail"] for p in per.values()),
                    "warn": sum(p["warn"] for p in per.values())})
    out.sort(key=lambda t: (-t["fail"], -t["warn"], t["section"]))
    return out
