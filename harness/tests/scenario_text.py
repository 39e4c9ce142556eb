"""Scenario files the tests write: the keys every one of them starts with
(the tests' scenarios are named "t" and explained in a word)."""
from __future__ import annotations


def head(section: str, case: int, rfc: str, explain: str = "x",
         requires: tuple[str, ...] = ()) -> str:
    """The TOML lines before a test scenario's tables: title, SECTION,
    CASE, RFC, EXPLAIN, and REQUIRES when it names features."""
    text = (f'title = "t"\nsection = "{section}"\ncase = {case}\n'
            f'rfc = "{rfc}"\nexplain = "{explain}"\n')
    if requires:
        text += "requires = [" + ", ".join(f'"{r}"' for r in requires) + "]\n"
    return text
