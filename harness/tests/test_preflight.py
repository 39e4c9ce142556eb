"""Preflight (case 44 in docs/cases.md): a resolver path that loses the AD
bit is a set-up error, never a grade."""
from __future__ import annotations

from pathlib import Path

import pytest

from danelab.adapters.base import LabContext
from danelab.adapters.exim import EXIM_ROOT, EximAdapter
from danelab.catalog import load_catalog, select
from danelab.netns import LabNamespace, resolv_conf_text
from danelab.pki import LAB_ROOT, cert_file
from danelab.preflight import (check_resolver_path, probe_ad_bit,
                               resolv_conf_problems)
from danelab.runner import LabRun, SetupError

LAB = "127.53.0.53"
no_exim = pytest.mark.skipif(not (EXIM_ROOT / "usr/sbin/exim4").exists(),
                             reason="Exim not set up (ci/exim-install)")

# (resolv.conf text, needs trust-ad, expected problem substrings)
CASES = [
    (resolv_conf_text(LAB), True, []),
    (resolv_conf_text(LAB, trust_ad=False), True, ["trust-ad"]),
    (resolv_conf_text(LAB, trust_ad=False), False, []),
    ("nameserver 127.53.0.1\noptions trust-ad\n", True, ["127.53.0.1"]),
    ("# nothing\n", False, ["no nameserver"]),
    ("nameserver 127.53.0.53 # lab\noptions edns0\noptions trust-ad\n",
     True, []),
    ("nameserver 9.9.9.9\nnameserver 127.53.0.53\n", True,
     ["9.9.9.9", "trust-ad"]),
]


@pytest.mark.parametrize("text,needs,want", CASES)
def test_resolv_conf_table(text: str, needs: bool, want: list[str]) -> None:
    probs = resolv_conf_problems(text, LAB, needs)
    assert len(probs) == len(want), probs
    for p, w in zip(probs, want):
        assert w in p


class EximNoTrustAd(EximAdapter):
    """Exim behind a resolv.conf without `options trust-ad`."""

    def start(self, ctx: LabContext) -> None:
        ctx.ns.set_resolv_conf(resolv_conf_text(ctx.resolver,
                                                trust_ad=False))
        super().start(ctx)


class EximNoPreflight(EximNoTrustAd):
    def preflight(self, ctx: LabContext) -> list[str]:
        return []


def _canary() -> list:
    scs = load_catalog()
    ids = [s.id for s in scs if s.id.startswith("k44")] or \
        ["d16-dane-ee-wrong-digest"]
    return select(scs, ids[:1])


@no_exim
def test_exim_without_trust_ad_is_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(SetupError) as ei:
        LabRun(_canary(), EximNoTrustAd(), tmp_path).execute()
    text = str(ei.value)
    assert "trust-ad" in text and "AD bit" in text
    assert not list((tmp_path / "spool").glob("*.eml")), "nothing sent"
    assert not (tmp_path / "sender" / "log" / "mainlog").exists(), \
        "nothing submitted"


@no_exim
def test_canary_catches_what_preflight_would(tmp_path: Path) -> None:
    """Without the preflight, the same fault makes Exim deliver where the
    TLSA does not match: the canary scenario fails."""
    r = LabRun(_canary(), EximNoPreflight(), tmp_path).execute()
    assert [g.verdict for g in r.grades] == ["fail"]


def test_probe_sees_ad_only_from_a_validator(tmp_path: Path) -> None:
    """The live probe: AD through the lab's Unbound, none from NSD (an
    authoritative server never sets AD) even with trust-ad."""
    from danelab.labplan import make_plan
    from danelab.dns.universe import Universe
    scs = select(load_catalog(), ["a01-secure-dane-ee"])
    plan = make_plan(scs)
    plan.pki.write(tmp_path / "pki")
    with LabNamespace(tmp_path / "ns") as ns:
        u = Universe(plan.zones, tmp_path, ns)
        u.start()
        ctx = LabContext(ns, tmp_path / "sender", LAB, u.trust_anchor,
                         cert_file(tmp_path / "pki", LAB_ROOT))
        assert probe_ad_bit(ctx) is None
        assert check_resolver_path(ctx, "x") == []
        ns.set_resolv_conf(resolv_conf_text(LAB, trust_ad=False))
        assert "AD bit" in (probe_ad_bit(ctx) or "")
        assert probe_ad_bit(ctx, sets_trust_ad=True) is None
        assert check_resolver_path(ctx, "x", needs_trust_ad=False) == []
        ns.set_resolv_conf(resolv_conf_text("127.53.0.1"))
        assert "AD bit" in (probe_ad_bit(ctx) or "")
        probs = check_resolver_path(ctx, "x", needs_trust_ad=False)
        assert any("127.53.0.1" in p for p in probs)
