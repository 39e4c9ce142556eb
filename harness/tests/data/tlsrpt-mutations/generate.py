"""The TLSRPT mutation corpus, made from one real report of the reference
reporter: original.json (kept byte for byte) and, beside it, one file per
mutation, each wrong in exactly one way, and index.json saying what the
grader must answer for each (level and explanation substrings).

    /usr/bin/python3 harness/tests/data/tlsrpt-mutations/generate.py
        rewrites the mutation files and index.json from original.json;
    ... generate.py --from-run RUN_DIR SCENARIO
        first copies SCENARIO's report from a finished lab run
        (RUN_DIR/group1, reference sender) into original.json, and the
        fake-mx events of its sessions into sessions.jsonl.

"doc" mutations are failed by the document checks (tlsrpt_doc); "lab"
mutations are well-formed documents that only the comparison with
fake-mx's sessions can fail (tlsrpt_count).  test_tlsrpt_mutations.py
checks every one, and that these files are what this script makes.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
Doc = dict[str, Any]


@dataclass
class Mutation:
    name: str
    kind: str                          # doc | lab
    level: str                         # MUST | SHOULD
    expect: list[str]                  # each in one finding, no other
    make: Callable[[Doc], Doc | bytes]


def _pol(d: Doc) -> Doc:
    return d["policies"][0]["policy"]


def _sum(d: Doc) -> Doc:
    return d["policies"][0]["summary"]


def _fd(d: Doc) -> Doc:
    return d["policies"][0]["failure-details"][0]


def _edit(f: Callable[[Doc], Any]) -> Callable[[Doc], Doc]:
    def make(d: Doc) -> Doc:
        f(d)
        return d
    return make


def _set(get: Callable[[Doc], Doc], key: str, value: Any
         ) -> Callable[[Doc], Doc]:
    return _edit(lambda d: get(d).__setitem__(key, value))


def _drop(get: Callable[[Doc], Doc], key: str) -> Callable[[Doc], Doc]:
    return _edit(lambda d: get(d).pop(key))


def _top(d: Doc) -> Doc:
    return d


def _range(d: Doc) -> Doc:
    return d["date-range"]


def _raw(f: Callable[[str], str]) -> Callable[[Doc], bytes]:
    return lambda d: f(_dump(d).decode()).encode()


def _swap_range(d: Doc) -> Doc:
    r = d["date-range"]
    r["start-datetime"], r["end-datetime"] = \
        r["end-datetime"], r["start-datetime"]
    return d


def _day_earlier(d: Doc) -> Doc:
    for k in ("start-datetime", "end-datetime"):
        t = dt.datetime.fromisoformat(d["date-range"][k].replace("Z",
                                                                 "+00:00"))
        d["date-range"][k] = (t - dt.timedelta(days=1)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
    return d


def _sts(d: Doc) -> Doc:
    p = _pol(d)
    host = p["mx-host"][0]
    p["policy-type"] = "sts"
    p["policy-string"] = ["version: STSv1", "mode: enforce", f"mx: {host}",
                          "max_age: 86400"]
    p.pop("mx-host")
    return d


def _sessionless_tlsa_invalid(d: Doc) -> Doc:
    """The double count the reference used to make: the session counted
    as a success and its policy once more as tlsa-invalid."""
    f = _fd(d)
    d["policies"][0]["failure-details"].append({
        "result-type": "tlsa-invalid",
        "sending-mta-ip": f["sending-mta-ip"],
        "receiving-mx-hostname": f["receiving-mx-hostname"],
        "failed-session-count": 1,
        "failure-reason-code": "no usable TLSA record"})
    _sum(d)["total-failure-session-count"] += 1
    return d


def _failure_at_v6(d: Doc) -> Doc:
    """The session that went on after TLS at the IPv6 address, counted
    as a success and also as a failure there."""
    f = dict(_fd(d), **{"receiving-ip": V6})
    d["policies"][0]["failure-details"].append(f)
    _sum(d)["total-failure-session-count"] += 1
    return d


def _no_failure(d: Doc) -> Doc:
    d["policies"][0]["failure-details"] = []
    _sum(d)["total-failure-session-count"] = 0
    return d


def _inflate(d: Doc) -> Doc:
    _fd(d)["failed-session-count"] = 2
    _sum(d)["total-failure-session-count"] = 2
    return d


V6 = "fd25::8c:1"          # the scenario's IPv6 address (f32e, mx1~v6)
REASON = "DANE verification failed: no matching DANE TLSA records (65)"

MUTATIONS = [
    # -- the document: top level
    Mutation("contact-info-mailto", "doc", "MUST",
             ["contact-info 'mailto:tlsrpt@sender.test' is a mailto: URI, "
              "not an addr-spec"],
             _set(_top, "contact-info", "mailto:tlsrpt@sender.test")),
    Mutation("contact-info-display-name", "doc", "MUST",
             ["is not an addr-spec"],
             _set(_top, "contact-info", "TLSRPT <tlsrpt@sender.test>")),
    Mutation("no-organization-name", "doc", "MUST",
             ["organization-name missing"],
             _drop(_top, "organization-name")),
    Mutation("no-report-id", "doc", "MUST", ["report-id missing"],
             _drop(_top, "report-id")),
    Mutation("report-id-number", "doc", "MUST",
             ["report-id missing or not a string"],
             _set(_top, "report-id", 42)),
    Mutation("no-date-range", "doc", "MUST", ["date-range missing"],
             _drop(_top, "date-range")),
    Mutation("start-not-rfc3339", "doc", "MUST",
             ["start-datetime 'yesterday' is not an RFC 3339 date-time"],
             _set(_range, "start-datetime", "yesterday")),
    Mutation("end-without-offset", "doc", "MUST",
             ["has no time-offset (RFC 3339 §5.6 requires Z or ±hh:mm)"],
             _edit(lambda d: _range(d).__setitem__(
                 "end-datetime", _range(d)["end-datetime"].rstrip("Z")))),
    Mutation("start-impossible-date", "doc", "MUST",
             ["is not a valid date and time"],
             _set(_range, "start-datetime", "2026-11-31T00:00:00Z")),
    Mutation("range-reversed", "doc", "MUST", ["ends before it starts"],
             _swap_range),
    Mutation("range-not-a-utc-day", "doc", "SHOULD",
             ["is not one full UTC day"],
             _edit(lambda d: _range(d).__setitem__(
                 "end-datetime",
                 _range(d)["start-datetime"].replace("T00:", "T12:")))),
    Mutation("policies-object", "doc", "MUST",
             ["policies missing or not an array"],
             _edit(lambda d: d.__setitem__("policies", d["policies"][0]))),
    Mutation("policies-empty", "doc", "MUST",
             ["policies is an empty array"],
             _set(_top, "policies", [])),
    # -- the policy
    Mutation("policy-type-unknown", "doc", "MUST",
             ["policy-type 'dane' is not tlsa, sts or no-policy-found"],
             _set(_pol, "policy-type", "dane")),
    Mutation("no-policy-domain", "doc", "MUST", ["policy-domain missing"],
             _drop(_pol, "policy-domain")),
    Mutation("policy-domain-u-label", "doc", "MUST",
             ["policy-domain 'f32e-ipv4-wrong-ipv6-right.tést' is not in "
              "A-labels"],
             _set(_pol, "policy-domain",
                  "f32e-ipv4-wrong-ipv6-right.tést")),
    Mutation("no-policy-string", "doc", "MUST",
             ["policy-string missing for a tlsa policy"],
             _drop(_pol, "policy-string")),
    Mutation("policy-string-a-string", "doc", "MUST",
             ["policy-string is not an array of strings"],
             _edit(lambda d: _pol(d).__setitem__(
                 "policy-string", _pol(d)["policy-string"][0]))),
    Mutation("policy-string-inner-space", "doc", "MUST",
             ["is not a TLSA RR in presentation format"],
             _edit(lambda d: _pol(d).__setitem__("policy-string", [
                 s[:14] + " " + s[14:] for s in _pol(d)["policy-string"]]))),
    Mutation("mx-host-a-string", "doc", "MUST",
             ["mx-host is not an array of strings"],
             _edit(lambda d: _pol(d).__setitem__(
                 "mx-host", _pol(d)["mx-host"][0]))),
    Mutation("mx-host-u-label", "doc", "MUST",
             ["mx-host[0] 'mx1.exämple.test' is not in A-labels"],
             _set(_pol, "mx-host", ["mx1.exämple.test"])),
    Mutation("sts-without-mx-host", "doc", "MUST",
             ["mx-host missing for an sts policy"], _sts),
    # -- the summary
    Mutation("no-summary", "doc", "MUST", ["summary missing"],
             _edit(lambda d: d["policies"][0].pop("summary"))),
    Mutation("success-count-negative", "doc", "MUST",
             ["total-successful-session-count -1 is not a count"],
             _set(_sum, "total-successful-session-count", -1)),
    Mutation("failure-count-float", "doc", "MUST",
             ["total-failure-session-count missing or not an integer"],
             _set(_sum, "total-failure-session-count", 1.0)),
    Mutation("success-count-beyond-ijson", "doc", "MUST",
             ["total-successful-session-count 9007199254740992 is not a "
              "count"],
             _set(_sum, "total-successful-session-count", 2 ** 53)),
    Mutation("summary-more-than-details", "doc", "MUST",
             ["summary counts 2 failed session(s), its failure-details "
              "account for 1"],
             _set(_sum, "total-failure-session-count", 2)),
    Mutation("summary-fewer-than-details", "doc", "MUST",
             ["failure-details count 1 failed session(s) even where types "
              "overlap, its summary only 0"],
             _set(_sum, "total-failure-session-count", 0)),
    Mutation("no-failure-details", "doc", "MUST",
             ["its failure-details account for 0"],
             _edit(lambda d: d["policies"][0].pop("failure-details"))),
    Mutation("tlsa-invalid-beside-success", "doc", "MUST",
             ["1 successful session(s) under a TLSA policy that its own "
              "tlsa-invalid detail calls unusable"],
             _sessionless_tlsa_invalid),
    # -- the failure details
    Mutation("failure-details-object", "doc", "MUST",
             ["failure-details is not an array"],
             _edit(lambda d: d["policies"][0].__setitem__(
                 "failure-details", _fd(d)))),
    Mutation("result-type-unregistered", "doc", "MUST",
             ["result-type 'dane-failure' is not a registered result type"],
             _set(_fd, "result-type", "dane-failure")),
    Mutation("failed-session-count-zero", "doc", "MUST",
             ["failed-session-count 0 is not a count of at least 1"],
             _set(_fd, "failed-session-count", 0)),
    Mutation("no-sending-mta-ip", "doc", "MUST",
             ["sending-mta-ip missing: a validation-failure failure "
              "happened in a session"],
             _drop(_fd, "sending-mta-ip")),
    Mutation("no-receiving-ip", "doc", "MUST",
             ["receiving-ip missing: a validation-failure failure"],
             _drop(_fd, "receiving-ip")),
    Mutation("no-receiving-mx-hostname", "doc", "MUST",
             ["receiving-mx-hostname missing"],
             _drop(_fd, "receiving-mx-hostname")),
    Mutation("sending-mta-ip-a-name", "doc", "MUST",
             ["sending-mta-ip 'localhost' is not an IP address"],
             _set(_fd, "sending-mta-ip", "localhost")),
    Mutation("receiving-ip-leading-zero", "doc", "MUST",
             ["receiving-ip '127.025.140.1' is not an IP address"],
             _set(_fd, "receiving-ip", "127.025.140.1")),
    Mutation("receiving-ip-not-rfc5952", "doc", "MUST",
             ["receiving-ip 'FD25:0:0:0:0:0:8C:1' is not in RFC 5952 text "
              "form"],
             _set(_fd, "receiving-ip", "FD25:0:0:0:0:0:8C:1")),
    Mutation("receiving-mx-hostname-not-a-name", "doc", "MUST",
             ["receiving-mx-hostname 'mx1 f32e' is not a domain name"],
             _set(_fd, "receiving-mx-hostname", "mx1 f32e")),
    Mutation("receiving-mx-helo-number", "doc", "MUST",
             ["receiving-mx-helo missing or not a string"],
             _set(_fd, "receiving-mx-helo", 250)),
    Mutation("additional-information-text", "doc", "MUST",
             ["additional-information " + repr(REASON) + " is not a URI"],
             _set(_fd, "additional-information", REASON)),
    Mutation("no-failure-reason-code", "doc", "SHOULD",
             ["no failure-reason-code for validation-failure"],
             _drop(_fd, "failure-reason-code")),
    Mutation("failure-reason-code-number", "doc", "MUST",
             ["failure-reason-code missing or not a string"],
             _set(_fd, "failure-reason-code", 65)),
    # -- I-JSON
    Mutation("duplicate-member", "doc", "MUST",
             ["duplicate member names (not I-JSON"],
             _raw(lambda t: t.replace('"report-id":',
                                      '"report-id":"x","report-id":', 1))),
    Mutation("not-utf8", "doc", "MUST", ["report is not UTF-8"],
             lambda d: _dump(d).replace(b"danelab", b"dan\xe9lab", 1)),
    Mutation("lone-surrogate", "doc", "MUST",
             ["hold surrogate code points (not I-JSON"],
             _raw(lambda t: t.replace("danelab", "dane\\ud800lab", 1))),
    Mutation("nan-count", "doc", "MUST",
             ["NaN is not a JSON number"],
             _raw(lambda t: t.replace(
                 '"total-successful-session-count":1',
                 '"total-successful-session-count":NaN', 1))),
    Mutation("top-level-array", "doc", "MUST",
             ["report is not a JSON object"], lambda d: _dump([d])),
    # -- well-formed, but not what the lab saw (tlsrpt_count)
    Mutation("failure-count-inflated", "lab", "MUST",
             ["more failed sessions than fake-mx saw at 127.25.140.1"],
             _inflate),
    Mutation("failure-at-wrong-ip", "lab", "MUST",
             ["failures reported at 127.25.140.9, where the sender had no "
              "session",
              "TLS failures fake-mx saw are not reported at 127.25.140.1"],
             _set(_fd, "receiving-ip", "127.25.140.9")),
    Mutation("failure-not-reported", "lab", "MUST",
             ["TLS failures fake-mx saw are not reported at 127.25.140.1"],
             _no_failure),
    Mutation("success-inflated", "lab", "MUST",
             ["2 successful session(s) reported, fake-mx saw only 1"],
             _set(_sum, "total-successful-session-count", 2)),
    Mutation("success-not-counted", "lab", "MUST",
             ["1 session(s) went on after TLS but are counted neither"],
             _set(_sum, "total-successful-session-count", 0)),
    Mutation("session-counted-twice", "lab", "MUST",
             ["session(s) counted twice"], _failure_at_v6),
    Mutation("range-misses-the-sessions", "lab", "MUST",
             ["counted sessions outside the date-range"], _day_earlier),
    Mutation("policy-string-not-published", "lab", "MUST",
             ["policy strings not published"],
             _edit(lambda d: _pol(d).__setitem__("policy-string", [
                 "3 1 1 " + "ab" * 32]))),
]


def _dump(d: Any) -> bytes:
    return json.dumps(d, separators=(",", ":"),
                      ensure_ascii=False).encode()


def build(original: bytes) -> dict[str, bytes]:
    """Every file of the corpus but original.json and sessions.jsonl."""
    doc = json.loads(original)
    out: dict[str, bytes] = {}
    index = []
    for m in MUTATIONS:
        got = m.make(copy.deepcopy(doc))
        out[f"{m.name}.json"] = got if isinstance(got, bytes) else _dump(got)
        index.append({"file": f"{m.name}.json", "kind": m.kind,
                      "level": m.level, "expect": m.expect})
    pol = _pol(doc)
    out["index.json"] = json.dumps(
        {"original": "original.json", "sessions": "sessions.jsonl",
         "domain": pol["policy-domain"],
         "published": pol["policy-string"], "mutations": index},
        indent=1, ensure_ascii=False).encode() + b"\n"
    return out


def from_run(run: Path, scenario: str) -> None:
    reports = sorted((run / "sender" / "tlsrpt" / "reports").glob("*.json"))
    mine = [p for p in reports if json.loads(p.read_bytes())["policies"][0]
            ["policy"]["policy-domain"] == f"{scenario}.test"]
    if len(mine) != 1:
        sys.exit(f"{len(mine)} reports for {scenario}.test in {run}")
    (HERE / "original.json").write_bytes(mine[0].read_bytes())
    lines = [ln for ln in (run / "fakemx-events.jsonl").read_text()
             .splitlines()
             if json.loads(ln).get("listener", "").startswith(
                 f"{scenario}:")]
    (HERE / "sessions.jsonl").write_text("\n".join(lines) + "\n")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--from-run"] and len(argv) == 3:
        from_run(Path(argv[1]), argv[2])
    elif argv:
        sys.exit("usage: generate.py [--from-run RUN_DIR SCENARIO]")
    for name, data in build((HERE / "original.json").read_bytes()).items():
        (HERE / name).write_bytes(data)


if __name__ == "__main__":
    main(sys.argv[1:])
