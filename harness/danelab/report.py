"""Reports from results.json files: junit.xml for CI and report.html for
people.  Several results files (shards, or several senders) merge into one
report: the matrix has a column per sender.

report.html is a certification report a vendor can publish: one
self-contained file (no script, style or font from the network), opening
per sender with a header (certify.py: the headline per RFC, the suite's
version, the sender's version and configuration digest, the date, the
command that reproduces the run), then per-section tallies (failures
first), a filter (failures / warnings / all; a few lines of inline script,
and without script every case is shown), the matrix, and one section per
case, failures first, keyed to its RFC clause with its evidence: DNS
records, checks with their level, the sequence diagram and the transcript.
junit.xml carries the same suite and sender facts as testsuite properties.

Besides its cases, a results file may hold `problems`: failures of the run
as a whole that no case owns (traffic to an address no scenario declared).
Each becomes a failed junit test case (classname danelab.SENDER.run) and a
list above the matrix, and fails the run like a failed MUST.

Every check shows the ground it rests on (RFC, section, keyword) beside it;
the header's table counts, per document its checks rest on, the cases with
a failed MUST and with a warned SHOULD (certify.documents()).
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jinja2

from . import transcript
from .summary import OUTCOME_TEXT, headline, summaries
from .certify import SEVERITY, certificate, merge_runs, section_tallies, \
    worst

TEMPLATES = Path(__file__).parent / "templates"


def load_results(paths: list[Path]) -> list[dict[str, Any]]:
    """Merge results files into one list of case records."""
    cases: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for p in paths:
        data = json.loads(Path(p).read_text())
        for c in data["cases"]:
            key = (c["id"], c["sender"], c.get("phase", "first"))
            if key in seen:
                continue
            seen.add(key)
            cases.append(c)
    return cases


def load_problems(paths: list[Path]) -> list[dict[str, Any]]:
    """The run-level problems of results files, each with its sender."""
    out: list[dict[str, Any]] = []
    for p in paths:
        data = json.loads(Path(p).read_text())
        for pr in data.get("problems") or []:
            pr = {"sender": data.get("sender", "?"), **pr}
            if pr not in out:
                out.append(pr)
    return out


def _why(ch: dict[str, Any]) -> str:
    """A failed check's text with the ground it rests on."""
    g = ch.get("ground")
    return f"{ch['text']} [{g['cite']}]" if g else ch["text"]


def load_runs(paths: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """The run records of results files (results.run_record()), by sender;
    a file written before run records existed gives an empty one."""
    out: dict[str, list[dict[str, Any]]] = {}
    for p in paths:
        data = json.loads(Path(p).read_text())
        run = data.get("run") or {}
        sender = data.get("sender") or \
            (run.get("sender") or {}).get("name", "?")
        if run not in out.setdefault(sender, []):
            out[sender].append(run)
    return out


def _properties(suite: ET.Element, runs: list[dict[str, Any]]) -> None:
    """The suite and sender facts of a junit testsuite (every distinct
    value of the runs behind it)."""
    m = merge_runs(runs)
    props = ET.SubElement(suite, "properties")
    for name, vals in (("danelab.suite", m["suites"]),
                       ("danelab.sender.version", m["versions"]),
                       ("danelab.sender.config_digest",
                        m["config_digests"]),
                       ("danelab.command", m["commands"])):
        for v in vals:
            ET.SubElement(props, "property", name=name, value=str(v))


def write_junit(cases: list[dict[str, Any]], path: Path,
                problems: list[dict[str, Any]] | None = None,
                runs: dict[str, list[dict[str, Any]]] | None = None
                ) -> None:
    by_sender: dict[str, list[dict[str, Any]]] = {}
    for c in cases:
        by_sender.setdefault(c["sender"], []).append(c)
    probs: dict[str, list[dict[str, Any]]] = {}
    for pr in problems or []:
        probs.setdefault(pr["sender"], []).append(pr)
        by_sender.setdefault(pr["sender"], [])
    root = ET.Element("testsuites")
    for sender, cs in by_sender.items():
        tl = [c["tlsrpt"] for c in cs if c.get("tlsrpt")]
        pl = probs.get(sender, [])
        suite = ET.SubElement(root, "testsuite", name=f"danelab.{sender}",
                              tests=str(len(cs) + len(tl) + len(pl)),
                              failures=str(sum(c["verdict"] == "fail"
                                               for c in cs) +
                                           sum(t["verdict"] == "fail"
                                               for t in tl) + len(pl)))
        if runs and runs.get(sender):
            _properties(suite, runs[sender])
        for pr in pl:
            tc = ET.SubElement(suite, "testcase", classname=f"danelab."
                               f"{sender}.run", name=f"{pr.get('kind')} "
                               f"{pr.get('address', '')}".strip())
            ET.SubElement(tc, "failure", message=pr.get("text", ""))
        for c in cs:
            name = c["id"] + ("" if c.get("phase", "first") == "first"
                              else f"[{c['phase']}]")
            tc = ET.SubElement(suite, "testcase", classname=f"danelab."
                               f"{sender}.{c['section']}", name=name)
            bad = [_why(ch) for ch in c["checks"] if not ch["ok"]]
            if c["verdict"] == "fail":
                f = ET.SubElement(tc, "failure", message="; ".join(bad))
                f.text = json.dumps(c["checks"], indent=1)
            out = ET.SubElement(tc, "system-out")
            out.text = (f"verdict={c['verdict']} observed={c['observed']} "
                        f"expected={','.join(c['expected'])}\n"
                        + "\n".join(bad))
            t = c.get("tlsrpt")
            if t:
                tt = ET.SubElement(suite, "testcase", classname=f"danelab."
                                   f"{sender}.tlsrpt", name=f"{name}[tlsrpt]")
                tbad = [_why(ch) for ch in t["checks"] if not ch["ok"]]
                if t["verdict"] == "fail":
                    ET.SubElement(tt, "failure", message="; ".join(tbad))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


COLOURS = {"c": "#333", "r": "#666", "tls": "#1a7f37", "err": "#cf222e",
           "note": "#656d76", "attack": "#8250df"}


def sequence_svg(sessions: list[dict[str, Any]], limit: int = 120) -> str:
    """A sequence diagram of a case's sessions (results.json transcript
    entries): the sender on the left, then each attacker, then the servers;
    every command (STARTTLS, DATA and QUIT included) and reply, TLS with
    the SNI sent, and, for an on-path attacker, both legs and what it
    removed or made up."""
    lanes = transcript.lanes(sessions)
    rows = transcript.steps(sessions)
    cut = len(rows) - limit
    rows = rows[:limit]
    lane_w, row_h = 250, 22
    w = 160 + lane_w * (len(lanes) - 1)
    h = 40 + row_h * (len(rows) + 1 + (cut > 0))
    x = {ln: 80 + i * lane_w for i, ln in enumerate(lanes)}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" '
           f'height="{h}" class="seq">']
    for ln, lx in x.items():
        cls = "lane attacker" if ln.startswith("attacker") else "lane"
        out.append(f'<text x="{lx}" y="16" text-anchor="middle" '
                   f'class="{cls}">{html.escape(ln)}</text>')
        out.append(f'<line x1="{lx}" y1="24" x2="{lx}" y2="{h - 6}" '
                   'class="life"/>')
    for i, st in enumerate(rows):
        y = 40 + i * row_h
        col = COLOURS[st.kind]
        a, b, label = x[st.src], x[st.dst], html.escape(st.label)
        if a == b:
            out.append(f'<text x="{a + 6}" y="{y}" fill="{col}" '
                       f'font-size="11" data-kind="{st.kind}">{label}'
                       '</text>')
            continue
        d = 1 if b > a else -1
        out.append(f'<line x1="{a}" y1="{y}" x2="{b - 6 * d}" y2="{y}" '
                   f'stroke="{col}"/>'
                   f'<polygon points="{b},{y} {b - 6 * d},{y - 4} '
                   f'{b - 6 * d},{y + 4}" fill="{col}"/>')
        out.append(f'<text x="{(a + b) / 2}" y="{y - 4}" '
                   f'text-anchor="middle" fill="{col}" font-size="11" '
                   f'data-kind="{st.kind}">{label}</text>')
    if cut > 0:
        out.append(f'<text x="10" y="{40 + len(rows) * row_h}" '
                   f'font-size="11" fill="#656d76">… {cut} more steps in '
                   'the transcript</text>')
    out.append("</svg>")
    return "".join(out)


def readable_transcript(sessions: list[dict[str, Any]]
                        ) -> list[dict[str, Any]]:
    """Each session with its transcript lines (transcript.readable()),
    for the templates."""
    out = []
    for en in sessions:
        lines = [{"t": f"+{ln.t * 1000:.1f} ms", "who": transcript.who_label(
            en, ln.who), "text": ln.text, "cls": ln.cls}
            for ln in transcript.readable(en, sessions)]
        out.append({"session": en.get("session"),
                    "listener": en.get("listener"),
                    "role": en.get("role", "server"),
                    "lane": transcript.lane_of(en), "via": en.get("via"),
                    "upstream": en.get("upstream"), "lines": lines})
    return out


def write_html(cases: list[dict[str, Any]], path: Path,
               title: str = "danelab certification report",
               problems: list[dict[str, Any]] | None = None,
               runs: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """report.html: per sender the certification header (certify.py),
    then what each sender does, the run's problems, the per-section
    tallies, the filter, the matrix and one section per case (failures
    first) with its evidence."""
    senders = list(dict.fromkeys([c["sender"] for c in cases] +
                                 [p["sender"] for p in problems or []]))
    ids: list[str] = sorted(dict.fromkeys(
        c["id"] + ("" if c.get("phase", "first") == "first"
                   else f" [{c['phase']}]") for c in cases))
    cell: dict[tuple[str, str], dict[str, Any]] = {}
    info: dict[str, dict[str, Any]] = {}
    for c in cases:
        rid = c["id"] + ("" if c.get("phase", "first") == "first"
                         else f" [{c['phase']}]")
        cell[(rid, c["sender"])] = c
        info.setdefault(rid, c)
        c["svg"] = sequence_svg(c.get("transcript", []))
        c["readable"] = readable_transcript(c.get("transcript", []))
    totals = {s: {v: sum(1 for c in cases if c["sender"] == s and
                         c["verdict"] == v)
                  for v in ("pass", "fail", "warn", "info")}
              for s in senders}
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=True)
    sums = summaries(cases)
    worst_of = {rid: worst([c for (r, _), c in cell.items() if r == rid])
                for rid in ids}
    certs = [certificate(s, [c for c in cases if c["sender"] == s],
                         (runs or {}).get(s, []), problems or [])
             for s in senders]
    page = env.get_template("report.html.j2").render(
        title=title, senders=senders, ids=ids, cell=cell, info=info,
        totals=totals, problems=problems or [], summaries=sums,
        headlines={s: headline(x) for s, x in sums.items()},
        outcome_text=OUTCOME_TEXT, certificates=certs,
        tallies=section_tallies(cases, senders), worst=worst_of,
        case_order=sorted(ids, key=lambda r: (SEVERITY[worst_of[r]], r)))
    path.write_text(page, encoding="utf-8")


def write_reports(results: list[Path], out: Path
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """junit.xml and report.html in OUT; returns the cases and the run
    problems read from RESULTS."""
    out.mkdir(parents=True, exist_ok=True)
    cases = load_results(results)
    problems = load_problems(results)
    runs = load_runs(results)
    write_junit(cases, out / "junit.xml", problems, runs)
    write_html(cases, out / "report.html", problems=problems, runs=runs)
    return cases, problems
