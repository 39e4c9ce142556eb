"""An honest summary of one sender, from its graded cases (results.json
records): does it authenticate DANE hosts at all, does it ever give the
envelope to a host it could not authenticate, does it ever fall back to
cleartext.  Each answer rests on the negative cases (those where DNSSEC
or DANE forbids any delivery, and the allowed-host lists), not on the label
of a delivery: "delivered-dane" only says what the server presented, never
what the sender checked.

Answers are "yes", "no" or "unknown" (the run had no case that could tell),
each with the case ids behind it.
"""
from __future__ import annotations

from typing import Any

# What an outcome label says was observed; none claims the sender checked.
OUTCOME_TEXT = {
    "delivered-dane": "delivered over TLS; the presented chain matches the "
                      "TLSA RRset",
    "delivered-tls": "delivered over TLS; the chain does not authenticate "
                     "the host by DANE (or DANE did not apply)",
    "delivered-plain": "delivered without TLS",
    "deferred": "not delivered; the sender holds it for retry",
    "bounced": "not delivered; the sender returned it",
}

CANARY = "k44"          # the scenario whose resolver path strips the AD bit


def _failed(c: dict[str, Any], kind: str) -> bool:
    return any(not ch["ok"] and ch.get("level") == "MUST"
               and ch.get("kind") == kind for ch in c.get("checks", []))


def _forbids_delivery(c: dict[str, Any]) -> bool:
    return not any(o.startswith("delivered") for o in c.get("expected", []))


def _graded(c: dict[str, Any]) -> bool:
    """False for a record the lab did not grade (a feature the sender
    lacks, a phase it could not be driven to): its failed checks say
    nothing about what the sender does."""
    return not any(ch.get("kind") == "not-graded"
                   for ch in c.get("checks", []))


def sender_summary(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary of one sender's case records (those not graded left
    out)."""
    cases = [c for c in cases if _graded(c)]
    neg = [c for c in cases if _forbids_delivery(c)
           and c["verdict"] != "info"]
    leaked = sorted({c["id"] for c in neg
                     if c["observed"].startswith("delivered")} |
                    {c["id"] for c in cases if _failed(c, "hosts")})
    envelope = sorted({c["id"] for c in cases if _failed(c, "envelope")})
    plain = sorted({c["id"] for c in cases if _failed(c, "cleartext")})
    canary = next((c["verdict"] for c in cases
                   if c["id"].startswith(CANARY)), None)
    if leaked or canary == "fail":
        auth = "no"
    elif neg and canary in (None, "pass", "info", "warn"):
        auth = "yes"
    else:
        auth = "unknown"
    passed_neg = sorted({c["id"] for c in neg} - set(leaked))
    return {
        "authenticates": auth,
        "negative_cases": len({c["id"] for c in neg}),
        "negative_cases_held": len(passed_neg),
        "delivered_where_forbidden": leaked,
        "ad_bit_canary": canary or "not run",
        "envelope_to_unauthenticated": {
            "answer": "yes" if envelope else ("no" if neg else "unknown"),
            "cases": envelope},
        "cleartext_fallback": {
            "answer": "yes" if plain else ("no" if neg else "unknown"),
            "cases": plain},
    }


def summaries(cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """sender_summary() per sender of a (merged) list of case records."""
    by: dict[str, list[dict[str, Any]]] = {}
    for c in cases:
        by.setdefault(c["sender"], []).append(c)
    return {s: sender_summary(cs) for s, cs in sorted(by.items())}


def headline(s: dict[str, Any]) -> str:
    """One sentence for the top of a report."""
    if s["authenticates"] == "no":
        why = []
        if s["delivered_where_forbidden"]:
            why.append(f"delivered where DANE forbids it in "
                       f"{len(s['delivered_where_forbidden'])} case(s)")
        if s["ad_bit_canary"] == "fail":
            why.append("the AD-bit canary (k44) failed, so its DNS answers "
                       "are not validated")
        return "does NOT authenticate DANE hosts: " + "; ".join(why)
    if s["authenticates"] == "unknown":
        return "no case in this run could tell whether it authenticates"
    return (f"authenticates DANE hosts: it delivered in none of the "
            f"{s['negative_cases']} cases where DNSSEC or DANE forbids "
            f"delivery, and only to allowed hosts everywhere")
