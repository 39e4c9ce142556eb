"""Sender adapters: how the lab drives a sender under test.

Every adapter implements the Adapter interface in base.py.  get_adapter()
maps the names the CLI accepts to them.
"""
from __future__ import annotations

from .base import Adapter, LabContext, SenderOutcome, Submission


def get_adapter(name: str, hooks: dict[str, str] | None = None,
                pass_seconds: float = 60.0) -> Adapter:
    """The adapter for NAME; LabError for an unknown name, or for a
    command:SCRIPT whose script is not an executable file.  HOOKS and
    PASS_SECONDS are for the smtp:// black-box adapter only."""
    from ..errors import LabError
    if hooks and not name.startswith("smtp://"):
        raise LabError("--hook is for an smtp:// sender only")
    if name.startswith("smtp://"):
        from .smtp import SmtpAdapter
        return SmtpAdapter(name, hooks, pass_seconds)
    if name == "reference":
        from .reference import ReferenceAdapter
        return ReferenceAdapter()
    if name.startswith("command:"):
        from .command import CommandAdapter
        cmd = CommandAdapter(name.split(":", 1)[1])
        cmd.check()
        return cmd
    if name in POSTFIX:
        from .postfix import PostfixAdapter
        return PostfixAdapter(name, POSTFIX[name])
    if name == "postfix-mta-sts":
        from .postfix_sts import PostfixStsAdapter
        return PostfixStsAdapter(name)
    if name == "chasquid":
        from .chasquid import ChasquidAdapter
        return ChasquidAdapter(name)
    if name in EXIM:
        from .exim import EximAdapter
        return EximAdapter(name, EXIM[name])
    if name in NAIVE:
        from .naive import NaiveAdapter
        return NaiveAdapter(name)
    if name in BROKEN_DANE:
        from .danebroken import BrokenDaneAdapter
        return BrokenDaneAdapter(name)
    if name in BROKEN_STS:
        from .stsbroken import BrokenStsAdapter
        return BrokenStsAdapter(name)
    raise LabError(f"unknown sender {name!r}; known: "
                   f"{', '.join(sorted(KNOWN))}, command:SCRIPT, "
                   "smtp://[USER:PASS@]HOST[:PORT]")


NAIVE = ("broken-no-dane", "broken-plaintext-fallback", "broken-no-tls",
         "broken-require-tls", "broken-stray")
# danebroken.FLAWS (kept apart so that naming a sender imports no pyOpenSSL)
BROKEN_DANE = ("broken-envelope-leak", "broken-any-ca", "broken-ee-dates",
               "broken-servfail-no-tlsa", "broken-ta-needs-sent-anchor",
               "broken-every-usage")
# stsbroken.py: the same DANE sender with MTA-STS, each wrong in one way
BROKEN_STS = ("broken-sts-overrides-dane", "broken-sts-enforce-as-testing",
              "broken-sts-follows-redirect", "broken-sts-wildcard-base")
POSTFIX = {"postfix": "dane", "postfix-dane-only": "dane-only",
           "postfix-may": "may"}
EXIM = {"exim": False, "exim-require-dane": True}
KNOWN = ("reference",) + NAIVE + BROKEN_DANE + BROKEN_STS + \
    tuple(POSTFIX) + ("postfix-mta-sts",) + tuple(EXIM) + ("chasquid",)

__all__ = ["Adapter", "LabContext", "SenderOutcome", "Submission",
           "get_adapter", "KNOWN", "BROKEN_DANE", "BROKEN_STS"]
