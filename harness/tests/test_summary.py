"""The sender summary: what the negative cases say, not the labels."""
from __future__ import annotations

from typing import Any

from danelab.summary import headline, sender_summary, summaries


def case(cid: str, expected: list[str], observed: str, verdict: str,
         failed: tuple[str, ...] = (), kinds: tuple[str, ...] = (),
         sender: str = "s") -> dict[str, Any]:
    checks = [{"level": "MUST", "ok": False, "text": k, "kind": k}
              for k in failed]
    checks += [{"level": "MUST", "ok": True, "text": k, "kind": k}
               for k in kinds]
    return {"id": cid, "sender": sender, "expected": expected,
            "observed": observed, "verdict": verdict, "checks": checks}


GOOD = [
    case("a01-ok", ["delivered-dane"], "delivered-dane", "pass"),
    case("d16-bad", ["deferred"], "deferred", "pass"),
    case("f30-two", ["delivered-dane"], "delivered-dane", "pass",
         kinds=("hosts", "envelope")),
    case("k44-canary", ["deferred"], "deferred", "pass"),
]


def test_a_sender_that_holds_every_negative_case() -> None:
    s = sender_summary(GOOD)
    assert s["authenticates"] == "yes"
    assert (s["negative_cases"], s["negative_cases_held"]) == (2, 2)
    assert s["envelope_to_unauthenticated"]["answer"] == "no"
    assert headline(s).startswith("authenticates DANE hosts")


def test_delivery_with_a_dane_label_does_not_make_it_authenticate() -> None:
    """a01 passes with delivered-dane, but d16 shows it checks nothing."""
    cases = [GOOD[0],
             case("d16-bad", ["deferred"], "delivered-tls", "fail",
                  failed=("outcome",)),
             case("k44-canary", ["deferred"], "delivered-tls", "fail",
                  failed=("outcome",))]
    s = sender_summary(cases)
    assert s["authenticates"] == "no"
    assert s["delivered_where_forbidden"] == ["d16-bad", "k44-canary"]
    assert "does NOT authenticate" in headline(s)
    assert "canary" in headline(s)


def test_envelope_and_cleartext_are_reported_with_their_cases() -> None:
    cases = GOOD + [
        case("f32b-eq", ["delivered-dane"], "delivered-dane", "fail",
             failed=("envelope",)),
        case("e24-plain", ["deferred"], "deferred", "fail",
             failed=("cleartext",))]
    s = sender_summary(cases)
    assert s["authenticates"] == "yes"
    assert s["envelope_to_unauthenticated"] == {"answer": "yes",
                                                "cases": ["f32b-eq"]}
    assert s["cleartext_fallback"] == {"answer": "yes",
                                       "cases": ["e24-plain"]}


def test_no_negative_case_means_unknown() -> None:
    s = sender_summary([GOOD[0]])
    assert s["authenticates"] == "unknown"
    assert s["envelope_to_unauthenticated"]["answer"] == "unknown"


def test_summaries_per_sender() -> None:
    cases = GOOD + [dict(c, sender="t") for c in GOOD[:1]]
    out = summaries(cases)
    assert set(out) == {"s", "t"}
    assert out["t"]["authenticates"] == "unknown"


def test_cases_not_graded_say_nothing() -> None:
    """An MTA-STS case a DANE-only sender is not graded on (info, with a
    `not-graded` check) keeps its failed checks in the record; they must
    not make the sender look as if it delivered where DANE forbids it."""
    gated = case("i39-enforce-no-starttls", ["deferred"], "delivered-plain",
                 "info", failed=("outcome", "hosts", "cleartext"))
    gated["checks"].append({"level": "MAY", "ok": False, "kind": "not-graded",
                            "text": "not graded: the sender does not "
                                    "implement mta-sts"})
    s = sender_summary(GOOD + [gated])
    assert s == sender_summary(GOOD)
    assert s["authenticates"] == "yes"
