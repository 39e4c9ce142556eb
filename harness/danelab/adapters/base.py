"""The adapter interface between the lab and a sender under test."""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..apex import sender_domain
from ..netns import LabNamespace


@dataclass
class LabContext:
    """What the lab gives a sender: where to resolve, what to trust."""

    ns: LabNamespace
    run: Path                      # the adapter's own folder
    resolver: str                  # 127.53.0.53
    trust_anchor: Path             # our root's DS
    lab_ca: Path                   # PEM of the lab root CA
    policies: dict[str, str] = field(default_factory=dict)  # domain -> level
    dkim_key: Path | None = None   # PEM key for signing TLSRPT mail
    reporting_domain: str = field(      # sender.<apex>, no final dot
        default_factory=lambda: sender_domain().rstrip("."))
    dkim_selector: str = "lab"
    # the lab's WebPKI root as a CA bundle (MTA-STS, RFC 8461 §4.2); the
    # same bundle is bind-mounted over /etc/ssl/certs in the namespace
    webpki_ca: Path | None = None
    # an exposed lab (expose.py): the link, the SUT's addresses, the lab's
    # service addresses; None when everything is on loopback
    exposure: dict[str, Any] | None = None


@dataclass
class Submission:
    scenario: str
    message_id: str                # without <>
    sender: str
    rcpt: str
    data: bytes


@dataclass
class SenderOutcome:
    state: str                     # delivered | deferred | bounced | unknown
    reason: str = ""
    dsn: str = ""
    detail: str = ""


class Adapter(ABC):
    """One sender under test.  Methods are called in this order: start,
    submit, run_queue (one or more times, with reload after a DNS change),
    outcomes, stop (always, also after a failure)."""

    name = "?"
    # What the sender implements beyond DANE, from scenario.FEATURES: a
    # scenario that `requires` one it lacks is graded `info`, never pass.
    features: tuple[str, ...] = ()

    @abstractmethod
    def start(self, ctx: LabContext) -> None: ...

    @abstractmethod
    def submit(self, subs: list[Submission]) -> None: ...

    def stage(self, folder: Path, subs: list[Submission]) -> bool:
        """Queue SUBS before the lab is up, if this sender's queue needs
        nothing of it (no namespace, no DNS, no daemon): the runner calls
        this while it builds the universe, with FOLDER the adapter's own
        folder (start()'s ctx.run).  True: they are queued (start() keeps
        them, submit() is not called); False (the default): submit() is
        called after start() and preflight()."""
        return False

    @abstractmethod
    def run_queue(self) -> None:
        """One delivery attempt of every queued message; returns when each
        has reached delivered, deferred or bounced for this pass."""

    @abstractmethod
    def outcomes(self) -> dict[str, SenderOutcome]:
        """The sender's own view, by message id."""

    def preflight(self, ctx: LabContext) -> list[str]:
        """Check the sender's set-up before any message is submitted (e.g.
        that its resolver path keeps the AD bit, case 44 in docs/cases.md).
        Return problems; any problem makes the run a set-up error, not a
        grade."""
        return []

    def flush_reports(self) -> bool:
        """Send every TLSRPT report due now (the lab's receivers are up).
        Return False if this sender does not report (nothing is graded)."""
        return False

    def reload(self) -> None:
        """Forget cached DNS after the lab changed a zone."""

    def expire(self, message_ids: list[str]) -> bool:
        """Make these queued messages reach the sender's retry limit, by
        the sender's own means (an administrator's forced expiry, or a
        retry rule that has run out), so that the next run_queue() makes
        the last attempt and, if it fails, bounces them with a DSN
        (case 35 in docs/cases.md).  Return False if this sender cannot be
        driven there: the after-limit expectation is then not graded."""
        return False

    def advance_clock(self, seconds: int) -> bool:
        """Make the sender's clock run SECONDS ahead from now on (its
        policy caches then expire as they would that much later; RFC 8461
        §3.3 max_age).  Return False if the sender cannot be driven so:
        the phases that need it are then not graded."""
        return False

    def stop(self) -> None:
        """Stop whatever start() started."""

    def log_lines(self, message_id: str, domain: str) -> list[str]:
        """The sender's own log lines about the message MESSAGE_ID to
        DOMAIN (for people: the teaching demos show them); [] when the
        adapter cannot tell.  Callable after stop()."""
        return []

    def version(self) -> str:
        """The sender's name and version as the report shows it (for a
        real MTA, its own version string and the mode it runs in).  Called
        after start().  The default is the adapter's name."""
        return self.name

    def config_digest(self) -> str:
        """A digest of the sender's configuration ("sha256:HEX"), stable
        from run to run: what the lab writes for it, with the run folder's
        paths and the catalog's per-domain policies (which depend on the
        selection, not on the sender) left out.  Called after start().
        The default, "", means the adapter cannot tell."""
        return ""


RUN_DIR = "$RUN"           # what a run folder's path becomes in a digest


def text_digest(*parts: str) -> str:
    """"sha256:HEX" over PARTS (each followed by a NUL byte)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() + b"\0")
    return "sha256:" + h.hexdigest()
