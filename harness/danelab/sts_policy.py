"""MTA-STS (RFC 8461) as the lab judges it: the `_mta-sts` TXT record, the
policy file, and MX name patterns.  The lab's own reading, independent of
any sender's code: the grader uses it to decide which policy a conforming
sender applies (RFC 8461 §3.1, §3.2, §4.1).

- TXT (§3.1): of the records at `_mta-sts.<domain>`, those that do not
  start with `v=STSv1;` are dropped; exactly one must remain, with an `id`
  of 1 to 32 letters and digits.  Otherwise there is no policy.
- Policy (§3.2): `key: value` lines (CRLF or LF); `version: STSv1`,
  `mode` one of enforce, testing, none, `max_age` a plain decimal number of
  seconds no larger than 31557600, and `mx` patterns (at least one, unless
  the mode is none).  Unknown keys are ignored.
- Patterns (§4.1): a name, or `*.` and a name: the wildcard stands for
  exactly one leftmost label, never for none (the base name itself) and
  never for two.  Names compare without case and without a trailing dot.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

MODES = ("enforce", "testing", "none")
MAX_AGE_LIMIT = 31557600
ID_RE = re.compile(r"[A-Za-z0-9]{1,32}")
# RFC 8461 §3.2: sts-policy-term = key ":" *WSP value *WSP
KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
MAX_BODY = 64 * 1024           # what the lab calls "over the size limit"


@dataclass
class TxtResult:
    id: str | None              # None: no usable record
    why: str = ""


def parse_txt(records: list[str]) -> TxtResult:
    """The policy id the TXT RRset at `_mta-sts` announces, or why none."""
    sts = [r for r in records if r.startswith("v=STSv1;")]
    if not sts:
        return TxtResult(None, "no record starts with v=STSv1;"
                         if records else "no TXT record")
    if len(sts) > 1:
        return TxtResult(None, f"{len(sts)} v=STSv1 records")
    fields: dict[str, str] = {}
    for part in sts[0].split(";")[1:]:
        part = part.strip(" \t")
        if not part:
            continue
        if "=" not in part:
            return TxtResult(None, f"malformed field {part!r}")
        k, v = part.split("=", 1)
        fields.setdefault(k, v)
    sid = fields.get("id")
    if sid is None or not ID_RE.fullmatch(sid):
        return TxtResult(None, "no valid id (1 to 32 letters and digits)")
    return TxtResult(sid)


@dataclass
class Policy:
    mode: str
    max_age: int
    mx: list[str] = field(default_factory=list)

    def matches(self, host: str) -> bool:
        return any(mx_matches(p, host) for p in self.mx)


@dataclass
class PolicyResult:
    policy: Policy | None       # None: the text is not a valid policy
    why: str = ""


def parse_policy(text: str) -> PolicyResult:
    """Read a policy body (already decoded); None and why if invalid."""
    fields: dict[str, list[str]] = {}
    for n, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        if ":" not in line:
            return PolicyResult(None, f"line {n}: no key: value")
        k, v = line.split(":", 1)
        if not KEY_RE.fullmatch(k):
            return PolicyResult(None, f"line {n}: bad key {k!r}")
        fields.setdefault(k, []).append(v.strip(" \t"))

    def first(key: str) -> str | None:
        return fields[key][0] if key in fields else None
    version = first("version")
    if version != "STSv1":
        return PolicyResult(None, f"version is {version!r}, not STSv1")
    mode = first("mode")
    if mode not in MODES:
        return PolicyResult(None, f"mode {mode!r} is not one of "
                            f"{', '.join(MODES)}" if mode else "no mode")
    age = first("max_age")
    if age is None or not re.fullmatch(r"[0-9]{1,10}", age):
        return PolicyResult(None, f"max_age {age!r} is not a number of "
                            "seconds" if age is not None else "no max_age")
    if int(age) > MAX_AGE_LIMIT:
        return PolicyResult(None, f"max_age {age} exceeds {MAX_AGE_LIMIT}")
    mx = fields.get("mx", [])
    if not mx and mode != "none":
        return PolicyResult(None, f"mode {mode} without any mx")
    return PolicyResult(Policy(mode, int(age), mx))


def _norm(name: str) -> str:
    """A name for comparison: no trailing dot, lower case, every label in
    A-label form (RFC 8461 §3.2 lets a pattern use U-labels; the MX host
    name in DNS is in A-labels)."""
    labels = name.strip().rstrip(".").lower().split(".")
    out = []
    for lab in labels:
        if lab.isascii():
            out.append(lab)
            continue
        try:
            out.append(lab.encode("idna").decode("ascii"))
        except UnicodeError:
            return ""
    return ".".join(out)


def mx_matches(pattern: str, host: str) -> bool:
    """Does MX host HOST fit policy pattern PATTERN (RFC 8461 §4.1)?"""
    p, h = _norm(pattern), _norm(host)
    if not p or not h:
        return False
    if p.startswith("*."):
        base = p[2:]
        first, _, rest = h.partition(".")
        return bool(first) and first != "*" and rest == base
    return p == h
