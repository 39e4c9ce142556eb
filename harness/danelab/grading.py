"""docs/grading.md keeps two generated parts: the lab's named grounds
(grounds.GROUNDS: what each says, and its tension) and the table of every
expectation that is not a plain MUST of RFC 7672.  render() recomputes
them from grounds.py and the catalog; `python3 -m danelab.grading`
rewrites the file (`--check`: exit 1 if it is out of date, write nothing).
"""
from __future__ import annotations

import re
import sys

from . import grounds as gr
from .catalog import DEFAULT_DIR, ROOT, load_catalog
from .gendoc import refresh
from .grounds import Ground
from .scenario import OUTCOMES, Expect, Scenario

DOC = ROOT / "docs" / "grading.md"
BLOCKS = ("grounds", "expectations")


def expectations(sc: Scenario) -> list[tuple[str, Expect]]:
    """SC's expectations with their phase names."""
    out = [("", sc.expect)]
    if sc.expect_after_fix:
        out.append(("after-fix", sc.expect_after_fix))
    if sc.expect_after_limit:
        out.append(("after-limit", sc.expect_after_limit))
    return out


def grounds_of(exp: Expect) -> list[tuple[str, Ground]]:
    """The grounds the expectation itself decides: its [expect.ground]
    table, and the DSN checks when it names DSN patterns."""
    out = list(exp.ground.items())
    if exp.dsn is not None:
        out += [("dsn", gr.kind_ground("dsn")),
                ("dsn-cause", gr.kind_ground("dsn-cause"))]
    return out


def plain(g: Ground) -> bool:
    return g.rfc == "RFC 7672" and g.keyword in gr.STRONG and not g.tension


def is_plain(exp: Expect) -> bool:
    """A plain MUST of RFC 7672: a bounded outcome, no choice, no
    preferred subset, and nothing but RFC 7672 MUSTs as grounds."""
    return exp.bounded and not exp.choice and exp.prefer == exp.outcome \
        and all(plain(g) for _, g in grounds_of(exp))


def _anchor(g: Ground) -> str:
    return f"[`{g.name}`](#{g.name})" if g.name else g.cite()


def _outcomes(xs: list[str]) -> str:
    if set(xs) == set(OUTCOMES):
        return "any"
    return ", ".join(x.replace("delivered-", "d-") for x in xs)


def render_grounds() -> str:
    lines = []
    for g in gr.GROUNDS.values():
        lines += [f"<a id=\"{g.name}\"></a>", f"**`{g.name}`** — "
                  f"{g.cite()}. {g.says}", ""]
        if g.tension:
            lines += [f"> Graded below its keyword: {g.tension}", ""]
    return "\n".join(lines).rstrip("\n")


def render_expectations(scenarios: list[Scenario]) -> str:
    lines = ["| expectation | level | allowed (MUST) | preferred (SHOULD) "
             "| grounds that are not a plain MUST of RFC 7672 |",
             "| --- | --- | --- | --- | --- |"]
    for sc in sorted(scenarios, key=lambda s: s.id):
        for phase, exp in expectations(sc):
            if is_plain(exp):
                continue
            name = sc.id + (f" [{phase}]" if phase else "")
            level = exp.level + (" (choice)" if exp.choice else "")
            pref = _outcomes(exp.prefer) if exp.prefer != exp.outcome \
                else "—"
            gs = "; ".join(f"{kind}: {_anchor(g)} ({g.cite()}"
                           f"{', with a tension' if g.tension else ''})"
                           for kind, g in grounds_of(exp) if not plain(g))
            if not gs:
                gs = "(RFC 7672 MUSTs only; non-plain by its levels)"
            lines.append(f"| `{name}` | {level} | "
                         f"{_outcomes(exp.outcome)} | {pref} | {gs} |")
    return "\n".join(lines)


def render(text: str, scenarios: list[Scenario]) -> str:
    """TEXT with both generated blocks recomputed."""
    parts = {"grounds": render_grounds(),
             "expectations": render_expectations(scenarios)}
    for name in BLOCKS:
        begin = f"<!-- generated: {name} -->"
        end = f"<!-- end of generated: {name} -->"
        pat = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pat.search(text):
            raise ValueError(f"{DOC} lacks the markers {begin} ... {end}")
        text = pat.sub(lambda _m: f"{begin}\n{parts[name]}\n{end}", text)
    return text


def main(argv: list[str]) -> int:
    return refresh(DOC, lambda text: render(text, load_catalog(DEFAULT_DIR)),
                   "danelab.grading", argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
