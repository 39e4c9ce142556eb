"""The handout of a demo run: one self-contained HTML page (inline style,
inline SVG, nothing fetched) with the story, the sequence diagrams with
the attacker in the middle, what the attacker captured, the DNS answers
each sender got, each sender's outcome and log lines, the TLSRPT reports
where the demo shows them, and three checkpoint questions with their
answers folded away."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jinja2

from ..report import readable_transcript, sequence_svg
from .facts import DemoResult

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _status_class(text: str) -> str:
    for word in ("BOGUS", "insecure", "secure"):
        if word in text:
            return word.lower()
    return ""


def context(r: DemoResult) -> dict[str, Any]:
    """Everything the template shows, from the run's facts."""
    d = r.demo
    stages = []
    for st in d.stages:
        facts = [f for f in (st.facts(r) if st.facts and not r.errors
                             else []) if not getattr(f, "detail", False)]
        stages.append({"title": st.title, "attacker": st.attacker,
                       "sender": st.sender, "rfc": st.rfc, "facts": facts})
    parts = []
    for p in d.parts:
        rows = []
        for s in r.senders():
            x = r.seen(p.scenario, s)
            rows.append({
                "sender": s, "label": r.label(s), "kind": r.kind(s),
                "outcome": x.outcome, "sentence": r.sentence(
                    p.scenario, s, short=True),
                "read": x.attacker_read, "envelope": x.envelope_read,
                "said": x.said, "log": x.log_brief()[-3:],
                "log_full": x.log,
                "dns": [{"q": q, "a": a, "cls": _status_class(a)}
                        for q, a in x.dns_lines()],
                "captured": x.captured, "stripped": x.stripped,
                "injected": x.injected, "certs": x.certs,
                "svg": sequence_svg(x.transcript, limit=60),
                "transcript": readable_transcript(x.transcript),
                "reports": x.reports if d.report else []})
        parts.append({"heading": p.heading, "scenario": p.scenario,
                      "title": r.runs[next(iter(r.runs))].scenarios[
                          p.scenario].title if r.runs else p.scenario,
                      "tlsa": r.tlsa(p.scenario), "rows": rows})
    return {"demo": d, "stages": stages, "parts": parts,
            "student": r.student, "seconds": r.seconds,
            "folder": str(r.folder), "errors": r.errors,
            "problems": r.problems(),
            "when": time.strftime("%Y-%m-%d %H:%M"),
            "senders": [(s, r.label(s), r.kind(s)) for s in r.senders()]}


def write_handout(r: DemoResult, path: Path) -> Path:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=True)
    page = env.get_template("handout.html.j2").render(**context(r))
    path.write_text(page, encoding="utf-8")
    return path
