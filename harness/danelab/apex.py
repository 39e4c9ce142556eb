"""The lab apex: the zone every lab name lies under, in one place.

By default it is `test.`, delegated from the lab's own root, and a
scenario's zone is `<id>.test.`.  `--zone-parent NAME` (docs/cli.md,
docs/internet-mode.md) puts the lab under NAME instead, say
`lab.example.net.`: scenario zones are `<id>.lab.example.net.`, the lab's
own domains `reports.lab.example.net.` and `sender.lab.example.net.`, and
the zones above NAME (the root, `net.`, `example.net.`) are the simulated
Internet (dns/internet.py), served from another namespace.

The apex is set once per process, before a plan is made (the CLI does it
from its options; a test uses `apex_set`), and read by every module that
names a lab host.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import dns.exception
import dns.name

from .errors import LabError

DEFAULT_APEX = "test."
# The simulated Internet's name server: one name for the root and every
# zone above the apex, in the apex's top-level domain.
INET_NS_LABEL = "sim-ns"
# A scenario zone `<id>.<apex>` must leave room below it for its hosts and
# their TLSA owners (`_25._tcp.mx1.sub.<id>.<apex>`) within 255 octets.
APEX_MAX = 128
# Top-level domains resolvers answer themselves or refuse (RFC 6761, 7686,
# 8375 and the reverse trees): a lab under them would never be asked.
SPECIAL_TLDS = ("localhost", "invalid", "onion", "local", "arpa")

_apex = DEFAULT_APEX


def check_parent(text: str) -> str:
    """TEXT as a lab apex for --zone-parent: an absolute name of two labels
    or more, outside `test.`, short enough; LabError saying why not."""
    what = f"--zone-parent {text!r}"
    if not text.endswith("."):
        raise LabError(f"{what}: give an absolute name, with the final dot "
                       f"(e.g. lab.example.net.)")
    try:
        name = dns.name.from_text(text)
    except dns.exception.DNSException as e:
        raise LabError(f"{what}: not a domain name ({e})") from e
    out = name.to_text().lower()
    labels = out.rstrip(".").split(".")
    if len(labels) < 2:
        raise LabError(f"{what}: needs two labels or more (a zone below a "
                       "top-level domain, e.g. lab.example.net.)")
    if any(not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", lb)
           for lb in labels):
        raise LabError(f"{what}: labels of letters, digits and inner '-' "
                       "only (a host name)")
    if labels[-1] in SPECIAL_TLDS:
        raise LabError(f"{what}: .{labels[-1]} is a special-use top-level "
                       "domain that resolvers answer themselves; choose "
                       "another")
    if out == DEFAULT_APEX or out.endswith("." + DEFAULT_APEX):
        raise LabError(f"{what}: lies under {DEFAULT_APEX}, the lab's own "
                       "top-level domain; leave --zone-parent out for it")
    if len(out) > APEX_MAX:
        raise LabError(f"{what}: {len(out)} characters, at most {APEX_MAX} "
                       "(a scenario zone <id>.NAME and the hosts below it "
                       "must fit the 255 octets of a domain name)")
    inet = f"{INET_NS_LABEL}.{labels[-1]}."
    if inet == out or inet.endswith("." + out) or out.endswith("." + inet):
        raise LabError(f"{what}: {inet} is the simulated Internet's name "
                       "server; choose a zone beside it")
    return out


def lab_apex() -> str:
    return _apex


def set_lab_apex(name: str | None) -> None:
    """Put the lab under NAME (None: the default, `test.`)."""
    global _apex
    _apex = check_parent(name) if name else DEFAULT_APEX


@contextmanager
def apex_set(name: str | None) -> Iterator[str]:
    """The lab apex is NAME while inside; the one before afterwards."""
    before = _apex
    set_lab_apex(name)
    try:
        yield _apex
    finally:
        globals()["_apex"] = before


def parent_mode() -> bool:
    """True when the lab hangs under a simulated parent (--zone-parent)."""
    return _apex != DEFAULT_APEX


def above_apex() -> list[str]:
    """The zones above the apex, from the root down to its parent:
    ['.', 'net.', 'example.net.'] for lab.example.net.; ['.'] for test."""
    labels = _apex.rstrip(".").split(".")
    return ["."] + [".".join(labels[i:]) + "." for i in
                    range(len(labels) - 1, 0, -1)]


def apex_parent() -> str:
    return above_apex()[-1]


def inet_ns_name() -> str:
    """The simulated Internet's name server (parent mode)."""
    return f"{INET_NS_LABEL}.{_apex.rstrip('.').split('.')[-1]}."


def lab_ns_name() -> str:
    """The lab name server's name: ns.<apex>."""
    return f"ns.{_apex}"


def bare(name: str) -> str:
    return name.rstrip(".")


def reports_domain() -> str:
    """Where TLSRPT reports go (absolute)."""
    return f"reports.{_apex}"


def sender_domain() -> str:
    """The sender's own domain (absolute): DKIM key, DSN mailbox."""
    return f"sender.{_apex}"


def localize(text: str) -> str:
    """TEXT (a scenario's TLSRPT record, written for `test.`) with the lab's
    report host names under the current apex."""
    if not parent_mode():
        return text
    return re.sub(r"\breports\.test\b(?!-)", bare(reports_domain()), text)
