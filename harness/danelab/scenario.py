"""One scenario = one TOML file in scenarios/: a DANE delivery case, the lab
set-up it needs, and what a conforming sender must do.  See docs/scenarios.md.

check_scenario() reads and validates a file and returns every error it
finds, each a SpecError that names the file, the field and the reason;
load_scenario() raises the first.
"""
from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import grounds as gr
from .apex import lab_apex
from .dns.zonespec import FAULT_KINDS
from .errors import SpecError
from .pki import BUILTIN_CAS, KEY_TYPES, LAB_INT, SELF_SIGNED, VALIDITIES, \
    CertSpec, key_family, parse_when

OUTCOMES = ("delivered-dane", "delivered-tls", "delivered-plain", "deferred",
            "bounced")
POLICIES = ("dane", "dane-only", "may", "exclude")
SECTIONS = "ABCDEFGHIJK"
# An RFC 3463 enhanced status code, digits or "x" for any: "x.7.x", "5.7.5"
DSN_PATTERN_RE = re.compile(r"[245x]\.(\d{1,3}|x)\.(\d{1,3}|x)")
LEVELS = ("MUST", "SHOULD", "MAY")
RESULT_TYPES = (
    "starttls-not-supported", "certificate-host-mismatch",
    "certificate-expired", "certificate-not-trusted", "validation-failure",
    "tlsa-invalid", "dnssec-invalid", "dane-required",
    "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid")
STARTTLS = ("offer", "withhold")
STARTTLS_REPLIES = ("220", "454", "drop")
TLS_FAULTS = ("none", "alert", "abort", "stall")
# The fatal alerts of RFC 8446 §6 that fake-mx can send (fake-mx/profile.c).
TLS_ALERTS = (
    "unexpected_message", "bad_record_mac", "record_overflow",
    "handshake_failure", "bad_certificate", "unsupported_certificate",
    "certificate_revoked", "certificate_expired", "certificate_unknown",
    "illegal_parameter", "unknown_ca", "access_denied", "decode_error",
    "decrypt_error", "protocol_version", "insufficient_security",
    "internal_error", "inappropriate_fallback", "missing_extension",
    "unsupported_extension", "unrecognized_name",
    "bad_certificate_status_response", "unknown_psk_identity",
    "certificate_required", "no_application_protocol")
TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
MODES = ("server", "strip-relay", "impostor")
# What a strip-relay does to STARTTLS (docs/scenarios.md, [[host]])
RELAY_ATTACKS = ("strip", "refuse-starttls", "inject")
# The plaintext an `inject` relay sends right after the server's 220 to
# STARTTLS: a reply a client must never read as the server's answer to its
# first command inside TLS (RFC 3207 §4.2; the CVE-2011-0411 class).
DEFAULT_INJECT = ("554 5.7.0 injected in plaintext by the on-path attacker "
                  "after STARTTLS\r\n")
REPLY_STAGES = ("banner", "ehlo", "mail", "rcpt", "data", "eom")
CLOSE_POINTS = ("banner", "ehlo", "starttls", "tls", "mail", "rcpt", "data",
                "eom")
MAX_CONNECTIONS = 5     # connection profiles a host's list may cover
# MTA-STS (docs/mta-sts.md): how the lab's policy server answers a fetch
STS_FAULTS = ("none", "not-found", "redirect", "content-type", "oversize",
              "oversize-chunked", "slow", "blackhole", "sni-required",
              "refused")
STS_MODES = ("enforce", "testing", "none")
# Which policy governs a delivery (expect.policy)
GOVERNING = ("dane", "sts-enforce", "sts-testing", "none")
# What a sender must implement for a scenario to be graded (requires)
FEATURES = ("mta-sts",)
ID_RE = re.compile(r"^[a-k][0-9]{2}[a-z]?-[a-z0-9]+(-[a-z0-9]+)*$")
# `refs`: public reports of the bug a scenario reproduces.  A web address
# (https only) or a citation "SOURCE, DATE, ENTRY" for a changelog entry
# that has no address of its own.
REF_URL_RE = re.compile(r"https://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:[0-9]+)?"
                        r"(/[!-~]*)?")
REF_CITE_RE = re.compile(r"[^,]+, (\d{4}(-\d{2}(-\d{2})?)?), .+")
REF_MAX = 300
TLSA_RE = re.compile(r"^(\d+) (\d+) (\d+)(?: (\S+?))?(!)?$")


@dataclass
class ZoneDecl:
    name: str = "@"                  # relative to the scenario domain
    signed: bool = True
    ds: bool = True
    denial: str = "nsec"
    records: list[str] = field(default_factory=list)
    faults: list[dict[str, str]] = field(default_factory=list)


@dataclass
class TlsaDecl:
    usage: int
    selector: int
    mtype: int
    ref: str | None = None          # a cert name, literal hex, or None
    damaged: bool = False


@dataclass
class ConnDecl:
    """The behaviour of some of a host's first connections: each key that is
    not None replaces the host's own."""
    count: int = 1
    starttls: str | None = None
    starttls_reply: str | None = None
    tls_fault: str | None = None
    tls_alert: str | None = None
    replies: dict[str, str] = field(default_factory=dict)
    close_after: str | None = None


@dataclass
class HostDecl:
    name: str
    mx: int | None = None
    address: bool = True
    tlsa: list[TlsaDecl] = field(default_factory=list)
    tlsa_owner: str | None = None
    cert: str | None = None
    sni_certs: dict[str, str] = field(default_factory=dict)
    starttls: str = "offer"
    starttls_reply: str = "220"
    tls_fault: str = "none"
    tls_versions: list[str] = field(default_factory=lambda: ["TLSv1.2",
                                                             "TLSv1.3"])
    replies: dict[str, str] = field(default_factory=dict)
    mode: str = "server"
    relay_to: str | None = None
    relay_attack: str = "strip"     # strip-relay: strip, refuse-starttls,
    relay_inject: str | None = None  # inject (with this text)
    listen: bool = True
    ipv6: bool = False              # also an AAAA record and a v6 listener
    cert_v6: str | None = None      # the certificate the v6 listener shows
    cert_also: list[str] = field(default_factory=list)  # other key types
    tls_alert: str | None = None    # the alert of tls_fault "alert"
    close_after: str | None = None  # close once that reply is sent
    connections: list[ConnDecl] = field(default_factory=list)

    @property
    def connection_count(self) -> int:
        """How many first connections have their own profile."""
        return sum(c.count for c in self.connections)


@dataclass
class StsDecl:
    """The recipient domain's MTA-STS set-up: the `_mta-sts` TXT RRset and
    the policy host `mta-sts.<domain>` with its policy file and fault."""
    txt: list[str] = field(default_factory=lambda: ["v=STSv1; id=1;"])
    mode: str | None = "enforce"    # None: no mode line
    mx: list[str] | None = None     # None: every host with an MX record
    max_age: str = "86400"
    policy: str | None = None       # literal policy text instead
    fault: str = "none"
    cert: str | None = None         # [[cert]] the policy host shows
    host: bool = True               # mta-sts.<domain> has an address


@dataclass
class Expect:
    outcome: list[str]
    prefer: list[str]
    choice: bool = False
    hosts: list[str] | None = None
    sni: str | None = None
    tlsrpt: str | None = None
    dsn: list[str] | None = None    # accepted status codes, "x" = any digit
    no_connection: list[str] = field(default_factory=list)  # never dialled
    policy: str | None = None       # which policy governs (GOVERNING)
    # [expect.ground]: check kind (grounds.SCENARIO_KEYS) -> its ground
    ground: dict[str, gr.Ground] = field(default_factory=dict)

    @property
    def bounded(self) -> bool:
        """Does `outcome` leave some outcome out (so a MUST bounds it)?"""
        return set(self.outcome) != set(OUTCOMES)

    @property
    def level(self) -> str:
        """The strongest level the expected outcome is graded at: MUST (the
        outcome must be one of `outcome`, which leaves some out), SHOULD (a
        preferred subset that only warns, of a choice or of every outcome),
        MAY (a recorded choice)."""
        if self.bounded and not self.choice:
            return "MUST"
        return "SHOULD" if self.prefer != self.outcome else "MAY"


@dataclass
class Scenario:
    id: str
    path: Path
    title: str
    section: str
    case: int
    rfc: str
    explain: str
    policy: str
    zones: list[ZoneDecl]
    certs: list[CertSpec]           # as declared: names relative
    hosts: list[HostDecl]
    expect: Expect
    fix_zones: list[ZoneDecl] | None = None
    expect_after_fix: Expect | None = None
    expect_after_limit: Expect | None = None    # after forced expiry
    tags: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)   # public bug reports
    tlsrpt_records: list[str] | None = None     # None: the lab default
    tlsrpt_due: bool = True                     # a report is expected
    rcpt_domain_rel: str = "@"                  # [message] domain
    sts: StsDecl | None = None                  # [sts]
    fix_sts: StsDecl | None = None              # [fix.sts]
    fix_advance: int = 0                        # [fix] advance: seconds
    requires: list[str] = field(default_factory=list)   # FEATURES

    @property
    def level(self) -> str:
        """The strongest level over every phase's expectation."""
        phases = [e for e in (self.expect, self.expect_after_fix,
                              self.expect_after_limit) if e is not None]
        return min((e.level for e in phases), key=LEVELS.index)

    @property
    def rcpt_domain(self) -> str:
        """The recipient domain (absolute): the scenario domain unless
        [message] names a zone below it."""
        return self.fqdn(self.rcpt_domain_rel)

    @property
    def domain(self) -> str:
        return f"{self.id}.{lab_apex()}"

    @property
    def retry_passes(self) -> int:
        """Queue passes after the first that the lab runs for this
        scenario's per-connection profiles (0: none)."""
        return max((h.connection_count for h in self.hosts), default=0)

    def fqdn(self, rel: str) -> str:
        """A scenario-relative name ("mx1", "@", "x.other.test.") absolute."""
        rel = rel.strip().lower()
        if rel in ("@", ""):
            return self.domain
        if rel.endswith("."):
            return rel
        return f"{rel}.{self.domain}"

    def host(self, name: str) -> HostDecl | None:
        for h in self.hosts:
            if h.name == name:
                return h
        return None


class _Fields:
    """Reads one TOML table, remembering which keys were used.  Errors go
    to ERRS (shared by every table of a file) and reading goes on: a bad
    value reads as the default, so one pass finds every error."""

    def __init__(self, path: Path, where: str, table: Any,
                 errs: list[SpecError]) -> None:
        self.path, self.where, self.errs = path, where, errs
        self.t: dict[str, Any] = {}
        if isinstance(table, dict):
            self.t = table
        else:
            errs.append(SpecError(str(path), where or "(top)",
                                  "must be a table"))
        self.used: set[str] = set()

    def err(self, key: str, why: str) -> SpecError:
        fld = f"{self.where}.{key}" if self.where else key
        return SpecError(str(self.path), fld, why)

    def bad(self, key: str, why: str) -> None:
        """Record an error of KEY and go on."""
        self.errs.append(self.err(key, why))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            required: bool = False, choices: tuple[str, ...] | None = None
            ) -> Any:
        self.used.add(key)
        if key not in self.t:
            if required:
                self.bad(key, "is required")
            return default
        v = self.t[key]
        if kind is int and isinstance(v, bool) or not isinstance(v, kind):
            names = kind.__name__ if isinstance(kind, type) else \
                " or ".join(k.__name__ for k in kind)
            self.bad(key, f"must be {names}, not {type(v).__name__}")
            return default
        if choices is not None:
            wrong = [x for x in (v if isinstance(v, list) else [v])
                     if x not in choices]
            for x in wrong:
                self.bad(key, f"{_short(x)} is not one of: "
                         f"{', '.join(choices)}")
            if wrong:
                return default
        return v

    def strings(self, key: str, default: list[str] | None = None,
                choices: tuple[str, ...] | None = None,
                required: bool = False) -> list[str]:
        dflt = default if default is not None else []
        v = self.get(key, list, dflt, required=required)
        out = []
        for i, x in enumerate(v):
            if not isinstance(x, str):
                self.bad(f"{key}[{i}]", "must be a string")
            elif choices is not None and x not in choices:
                self.bad(key, f"{x!r} is not one of: {', '.join(choices)}")
            else:
                out.append(x)
        return list(dflt) if len(out) != len(v) else out

    def tables(self, key: str) -> list["_Fields"]:
        v = self.get(key, list, [])
        out = []
        for i, x in enumerate(v):
            where = f"{key}[{i}]" if not self.where else \
                f"{self.where}.{key}[{i}]"
            if isinstance(x, dict):
                out.append(_Fields(self.path, where, x, self.errs))
            else:
                self.bad(f"{key}[{i}]", "must be a table")
        return out

    def finish(self) -> None:
        for k in sorted(set(self.t) - self.used):
            self.bad(k, "unknown key (a typo?)")


def _short(v: Any) -> str:
    """A value for an error message: its repr, cut short."""
    r = repr(v) if isinstance(v, (str, int, float, bool)) else \
        f"a {type(v).__name__}"
    return r if len(r) <= 60 else r[:57] + "..."


def _zone(f: _Fields) -> ZoneDecl:
    z = ZoneDecl(
        name=f.get("name", str, "@"),
        signed=f.get("signed", bool, True),
        ds=f.get("ds", bool, True),
        denial=f.get("denial", str, "nsec", choices=("nsec", "nsec3")),
        records=f.strings("records"))
    for i, rec in enumerate(z.records):
        if len(rec.split(None, 2)) < 3:
            f.bad(f"records[{i}]", f"{_short(rec)}: expected 'OWNER TYPE "
                  "RDATA'")
    z.records = [r for r in z.records if len(r.split(None, 2)) >= 3]
    for ff in f.tables("faults"):
        kind = ff.get("kind", str, required=True,
                      choices=tuple(sorted(FAULT_KINDS)))
        fault = {"kind": kind}
        for k in ("owner", "rtype"):
            v = ff.get(k, str)
            if v is not None:
                fault[k] = v
        ff.finish()
        if kind is not None:
            z.faults.append(fault)
    f.finish()
    return z


def _tlsa(f: _Fields, key: str, text: str) -> TlsaDecl | None:
    m = TLSA_RE.match(text.strip())
    if not m:
        f.bad(key, f"{_short(text)}: expected 'USAGE SELECTOR MTYPE "
              "[REF][!]'")
        return None
    u, s, mt = int(m[1]), int(m[2]), int(m[3])
    if max(u, s, mt) > 255:
        f.bad(key, f"{_short(text)}: fields are 0..255")
        return None
    return TlsaDecl(u, s, mt, m[4], bool(m[5]))


def _host(f: _Fields) -> HostDecl:
    h = HostDecl(name=f.get("name", str, "", required=True))
    h.mx = f.get("mx", int)
    h.address = f.get("address", bool, True)
    for i, text in enumerate(f.strings("tlsa")):
        t = _tlsa(f, f"tlsa[{i}]", text)
        if t is not None:
            h.tlsa.append(t)
    h.tlsa_owner = f.get("tlsa_owner", str)
    certs = f.get("cert", (str, list))
    if isinstance(certs, list):
        if not 1 <= len(certs) <= 3 or \
                not all(isinstance(c, str) for c in certs):
            f.bad("cert", "a list holds 1 to 3 certificate names (one per "
                  "key type)")
        else:
            h.cert, h.cert_also = certs[0], list(certs[1:])
    else:
        h.cert = certs
    sc = f.get("sni_certs", dict, {})
    for k, v in sc.items():
        if not isinstance(v, str):
            f.bad(f"sni_certs.{k}", "must be a certificate name")
    h.sni_certs = {k: v for k, v in sc.items() if isinstance(v, str)}
    h.starttls = f.get("starttls", str, "offer", choices=STARTTLS)
    h.starttls_reply = _starttls_reply(f, "220") or "220"
    h.tls_fault = f.get("tls_fault", str, "none", choices=TLS_FAULTS)
    h.tls_versions = f.strings("tls_versions", ["TLSv1.2", "TLSv1.3"],
                               choices=TLS_VERSIONS)
    if not h.tls_versions:
        f.bad("tls_versions", "needs at least one version")
    h.replies = _replies(f)
    h.tls_alert = _tls_alert(f, h.tls_fault)
    h.close_after = f.get("close_after", str, choices=CLOSE_POINTS)
    h.mode = f.get("mode", str, "server", choices=MODES)
    h.relay_to = f.get("relay_to", str)
    if h.mode == "strip-relay" and not h.relay_to:
        f.bad("relay_to", "a strip-relay needs relay_to (a host name)")
    h.relay_attack = f.get("relay_attack", str, "strip",
                           choices=RELAY_ATTACKS)
    h.relay_inject = f.get("relay_inject", str)
    for key in ("relay_attack", "relay_inject"):
        if key in f.t and h.mode != "strip-relay":
            f.bad(key, "only for mode = \"strip-relay\"")
    if h.relay_inject is not None and h.relay_attack != "inject":
        f.bad("relay_inject", "needs relay_attack = \"inject\"")
    elif h.relay_inject is not None and not 0 < len(
            h.relay_inject.encode()) <= 4096:
        f.bad("relay_inject", "must hold 1..4096 octets")
    if h.relay_attack == "inject" and h.relay_inject is None:
        h.relay_inject = DEFAULT_INJECT
    h.listen = f.get("listen", bool, True)
    h.ipv6 = f.get("ipv6", bool, False)
    h.cert_v6 = f.get("cert_v6", str)
    if h.cert_v6 and not h.ipv6:
        f.bad("cert_v6", "needs ipv6 = true")
    if h.mx is not None and not 0 <= h.mx <= 65535:
        f.bad("mx", f"{h.mx}: a preference is 0..65535")
    h.connections = [_connection(cf, h) for cf in f.tables("connections")]
    if h.connections and h.mode == "strip-relay":
        f.bad("connections", "a strip-relay has no profile of its own to "
              "vary")
    if h.connection_count > MAX_CONNECTIONS:
        f.bad("connections", f"the profiles cover {h.connection_count} "
              f"connections; at most {MAX_CONNECTIONS} (each may cost a "
              "queue pass)")
    f.finish()
    return h


def _replies(f: _Fields) -> dict[str, str]:
    """replies = { STAGE = "CODE text" or "drop" }; bad entries left out."""
    out = {}
    for k, v in f.get("replies", dict, {}).items():
        if k not in REPLY_STAGES:
            f.bad(f"replies.{k}", f"unknown stage; known: "
                  f"{', '.join(REPLY_STAGES)}")
        elif v == "drop":
            out[k] = v
        elif not isinstance(v, str) or \
                not re.match(r"^[2-5]\d\d( [ -~]*)?$", v):
            f.bad(f"replies.{k}", f"{_short(v)}: a reply starts with a "
                  "3-digit code (printable text after a space), or is "
                  "\"drop\" (close instead of answering)")
        elif k == "data" and v[0] == "2" or k != "data" and v[0] == "3":
            f.bad(f"replies.{k}", f"{_short(v)}: DATA is answered 354, "
                  "4xx or 5xx; other stages never 3xx")
        else:
            out[k] = v
    return out


def _starttls_reply(f: _Fields, default: str | None) -> str | None:
    """"220", "454", "drop", or any 4xx/5xx reply line."""
    v = f.get("starttls_reply", str, default)
    if v is None or v in STARTTLS_REPLIES:
        return v
    if not re.match(r"^[45]\d\d( [ -~]*)?$", v):
        f.bad("starttls_reply", f"{_short(v)} is not one of: "
              f"{', '.join(STARTTLS_REPLIES)}, or a 4xx/5xx reply line")
        return default
    return v


def _tls_alert(f: _Fields, fault: str | None) -> str | None:
    alert = f.get("tls_alert", str, choices=TLS_ALERTS)
    if alert is not None and fault != "alert":
        f.bad("tls_alert", "needs tls_fault = \"alert\"")
        return None
    return alert


def _connection(f: _Fields, h: HostDecl) -> ConnDecl:
    """One entry of a host's `connections`."""
    c = ConnDecl(count=f.get("count", int, 1))
    if not 1 <= c.count <= MAX_CONNECTIONS:
        f.bad("count", f"{c.count}: 1..{MAX_CONNECTIONS}")
        c.count = 1
    c.starttls = f.get("starttls", str, choices=STARTTLS)
    c.starttls_reply = _starttls_reply(f, None)
    c.tls_fault = f.get("tls_fault", str, choices=TLS_FAULTS)
    c.tls_alert = _tls_alert(f, c.tls_fault or h.tls_fault)
    c.replies = _replies(f)
    c.close_after = f.get("close_after", str, choices=CLOSE_POINTS)
    f.finish()
    return c


def _cert(f: _Fields) -> CertSpec:
    c = CertSpec(name=f.get("name", str, "", required=True),
                 names=f.strings("names"),
                 issuer=f.get("issuer", str, LAB_INT),
                 key=f.get("key", str, "ec", choices=KEY_TYPES),
                 validity=f.get("validity", str, "valid", choices=VALIDITIES),
                 ca=f.get("ca", bool, False),
                 where=f"{f.path}: {f.where}",
                 cn=f.get("cn", str))
    if "chain" in f.t:
        c.chain = f.strings("chain")
    for key in ("not_before", "not_after"):
        v = f.get(key, (str, dt.datetime, dt.date))
        if v is None:
            continue
        text = v if isinstance(v, str) else v.isoformat()
        try:
            parse_when(text, dt.datetime.now(dt.timezone.utc))
        except ValueError as e:
            f.bad(key, str(e))
            continue
        if "validity" in f.t:
            f.bad(key, "give validity or not_before/not_after, not both")
        setattr(c, key, text)
    if c.cn is not None and not 0 < len(c.cn) <= 64:
        f.bad("cn", "1 to 64 characters (RFC 5280 ub-common-name)")
        c.cn = None
    f.finish()
    return c


def _sts(f: _Fields) -> StsDecl:
    d = StsDecl()
    d.txt = f.strings("txt", d.txt)
    d.mode = f.get("mode", str, "enforce")
    if "mode" in f.t and d.mode == "":
        d.mode = None
    d.mx = f.strings("mx") if "mx" in f.t else None
    age = f.get("max_age", (int, str), 86400)
    d.max_age = str(age)
    d.policy = f.get("policy", str)
    d.fault = f.get("fault", str, "none", choices=STS_FAULTS)
    d.cert = f.get("cert", str)
    d.host = f.get("host", bool, True)
    f.finish()
    return d


def _expect(f: _Fields) -> Expect:
    outcome = f.strings("outcome", required=True, choices=OUTCOMES)
    if f.t.get("outcome") == []:
        f.bad("outcome", "needs at least one outcome")
    prefer = f.strings("prefer", outcome, choices=OUTCOMES)
    if not set(prefer) <= set(outcome):
        f.bad("prefer", "must be a subset of outcome")
    hosts = f.strings("hosts") if "hosts" in f.t else None
    e = Expect(outcome, prefer, f.get("choice", bool, False), hosts,
               f.get("sni", str),
               f.get("tlsrpt", str, choices=RESULT_TYPES))
    e.no_connection = f.strings("no_connection")
    e.policy = f.get("policy", str, choices=GOVERNING)
    gt = f.get("ground", dict)
    if gt is not None:
        for k, v in gt.items():
            if k not in gr.SCENARIO_KEYS:
                f.bad(f"ground.{k}", "not a check kind that takes a ground "
                      f"here; known: {', '.join(gr.SCENARIO_KEYS)}")
                continue
            g, why = gr.parse(v)
            for w in why:
                f.bad(f"ground.{k}", w)
            if g is not None:
                e.ground[k] = g
    if "dsn" in f.t:
        e.dsn = f.strings("dsn")
        for d in e.dsn:
            if not DSN_PATTERN_RE.fullmatch(d):
                f.bad("dsn", f"{_short(d)} is not an enhanced status code "
                      "pattern like '5.7.5' or 'x.7.x' (RFC 3463)")
    return e


def _read(path: Path) -> tuple[dict[str, Any] | None, SpecError | None]:
    """The file's TOML document, or the error that stops reading it."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        return None, SpecError(str(path), "(file)", e.strerror or str(e))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        return None, SpecError(str(path), "(file)", f"not UTF-8 text: "
                               f"byte 0x{raw[e.start]:02x} on line {line}")
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as e:
        return None, SpecError(str(path), "(syntax)", str(e))
    except RecursionError:
        return None, SpecError(str(path), "(syntax)", "arrays or tables "
                               "nested too deeply")


def check_scenario(path: Path) -> tuple[Scenario | None, list[SpecError]]:
    """Read and check one scenario file: the scenario and no error, or None
    and every error found (in file order, as far as one pass can tell)."""
    path = Path(path)
    data, err = _read(path)
    if err is not None:
        return None, [err]
    errs: list[SpecError] = []
    sc: Scenario | None = None
    try:
        sc = _scenario(path, data, errs)
    except RecursionError:
        # tomllib read it, but a value is nested so deeply that even
        # printing it recurses too far: report that, never a traceback.
        errs.append(SpecError(str(path), "(syntax)", "arrays or tables "
                              "nested too deeply"))
    return (sc if not errs else None), errs


def load_scenario(path: Path) -> Scenario:
    """Read and check one scenario file; raise its first error."""
    sc, errs = check_scenario(path)
    if errs:
        raise errs[0]
    assert sc is not None
    return sc


def _scenario(path: Path, data: Any, errs: list[SpecError]) -> Scenario:
    sid = path.stem
    if not ID_RE.match(sid) or len(sid) > 48:
        errs.append(SpecError(str(path), "(file name)",
                              f"{sid!r}: must look like 'a01-some-words' "
                              "(section letter, two digits, words; at most "
                              "48)"))
    top = _Fields(path, "", data, errs)
    section = top.get("section", str, required=True,
                      choices=tuple(SECTIONS))
    if section is not None and sid[:1].upper() != section:
        top.bad("section", f"{section} does not match the file "
                f"name's letter {sid[:1]!r}")
    sender = _Fields(path, "sender", top.get("sender", dict, {}), errs)
    policy = sender.get("policy", str, "dane", choices=POLICIES)
    sender.finish()
    zones = [_zone(z) for z in top.tables("zone")]
    if not any(z.name == "@" for z in zones):
        zones.insert(0, ZoneDecl())
    certs = [_cert(c) for c in top.tables("cert")]
    hosts = [_host(h) for h in top.tables("host")]
    ex = _Fields(path, "expect", top.get("expect", dict, {}, required=True),
                 errs)
    after = ex.get("after_fix", dict)
    limit = ex.get("after_limit", dict)
    expect = _expect(ex) if "expect" in top.t else Expect(["deferred"],
                                                          ["deferred"])
    ex.finish()
    fix_zones = None
    expect_after = None
    fix_sts, fix_advance = None, 0
    fix = top.get("fix", dict)
    if fix is not None:
        ff = _Fields(path, "fix", fix, errs)
        fix_zones = [_zone(z) for z in ff.tables("zones")]
        fs = ff.get("sts", dict)
        if fs is not None:
            fix_sts = _sts(_Fields(path, "fix.sts", fs, errs))
        fix_advance = ff.get("advance", int, 0)
        if fix_advance < 0:
            ff.bad("advance", "seconds to advance the sender's clock: "
                   "not negative")
        ff.finish()
        if after is None:
            errs.append(SpecError(str(path), "expect.after_fix",
                                  "a scenario with [fix] needs "
                                  "[expect.after_fix]"))
    if after is not None:
        af = _Fields(path, "expect.after_fix", after, errs)
        expect_after = _expect(af)
        af.finish()
    expect_limit = None
    if limit is not None:
        lf = _Fields(path, "expect.after_limit", limit, errs)
        expect_limit = _expect(lf)
        lf.finish()
        if fix is not None:
            errs.append(SpecError(str(path), "expect.after_limit",
                                  "a scenario has [fix] or "
                                  "[expect.after_limit], not both"))
        if expect.prefer != ["deferred"] or \
                not set(expect.outcome) <= {"deferred", "bounced"}:
            errs.append(SpecError(
                str(path), "expect.prefer", "with [expect.after_limit] the "
                "first attempt must be expected not to deliver and preferred "
                "to defer (prefer = [\"deferred\"]): only a queued message "
                "has a retry limit"))
    tlsrpt_records, tlsrpt_due = None, True
    tr = top.get("tlsrpt", dict)
    if tr is not None:
        tf = _Fields(path, "tlsrpt", tr, errs)
        if "records" in tr:
            tlsrpt_records = tf.strings("records")
        tlsrpt_due = tf.get("report_due", bool, True)
        tf.finish()
    rcpt_rel = "@"
    msg = top.get("message", dict)
    if msg is not None:
        mf = _Fields(path, "message", msg, errs)
        rcpt_rel = mf.get("domain", str, "@")
        mf.finish()
    sts = None
    st = top.get("sts", dict)
    if st is not None:
        sts = _sts(_Fields(path, "sts", st, errs))
    sc = Scenario(
        id=sid, path=path,
        title=top.get("title", str, "", required=True),
        section=section or "",
        case=top.get("case", int, 0, required=True),
        rfc=top.get("rfc", str, "", required=True),
        explain=top.get("explain", str, "", required=True).strip(),
        policy=policy, zones=zones, certs=certs, hosts=hosts,
        expect=expect, fix_zones=fix_zones, expect_after_fix=expect_after,
        expect_after_limit=expect_limit,
        tags=top.strings("tags"), refs=top.strings("refs"),
        tlsrpt_records=tlsrpt_records,
        tlsrpt_due=tlsrpt_due, rcpt_domain_rel=rcpt_rel, sts=sts,
        fix_sts=fix_sts, fix_advance=fix_advance,
        requires=top.strings("requires", choices=FEATURES))
    top.get("fix", dict)
    if top.t.get("refs") == []:
        top.bad("refs", "lists nothing: give at least one reference or "
                "leave it out")
    top.finish()
    _check_refs(sc, errs)
    _check_presented(sc, errs)
    _check_grounds(sc, errs)
    _check_citations(sc, errs)
    return sc


def ref_problem(ref: str) -> str | None:
    """Why REF is not a usable `refs` entry (None if it is): an https
    address, or "SOURCE, DATE, ENTRY" with DATE as YYYY[-MM[-DD]]."""
    if not ref.strip():
        return "is empty"
    if ref != ref.strip() or any(c in ref for c in "\n\r\t"):
        return "has leading, trailing or control whitespace"
    if len(ref) > REF_MAX:
        return f"is longer than {REF_MAX} characters"
    if "://" in ref or ref.lower().startswith(("http", "www.")):
        if not REF_URL_RE.fullmatch(ref):
            return (f"{_short(ref)} is not an address like "
                    "'https://host/path' (https only, no spaces); a "
                    "citation cannot hold one")
        return None
    if not REF_CITE_RE.fullmatch(ref):
        return (f"{_short(ref)} is neither an https address nor a citation "
                "'SOURCE, DATE, ENTRY' (DATE as YYYY-MM-DD, YYYY-MM or "
                "YYYY)")
    return None


def _check_citations(sc: Scenario, errs: list[SpecError]) -> None:
    """`refs`: each entry well-formed, none twice."""
    for i, r in enumerate(sc.refs):
        why = ref_problem(r)
        if why:
            errs.append(SpecError(str(sc.path), f"refs[{i}]", why))
        elif r in sc.refs[:i]:
            errs.append(SpecError(str(sc.path), f"refs[{i}]",
                                  f"{_short(r)} is listed twice"))


def _check_refs(sc: Scenario, errs: list[SpecError]) -> None:
    """Names that point elsewhere in the file must point at something."""
    p = str(sc.path)

    def bad(fld: str, why: str) -> None:
        errs.append(SpecError(p, fld, why))
    names = [h.name for h in sc.hosts]
    if len(set(names)) != len(names):
        bad("host", "two hosts have the same name")
    for i, h in enumerate(sc.hosts):
        if len(sc.id) + 1 + len(h.name) > 63:
            bad(f"host[{i}].name", "id and host name together must not "
                "exceed 63 characters")
    if len(sc.hosts) > 250:
        bad("host", "at most 250 hosts a scenario")
    certs = {c.name for c in sc.certs}
    zones = [z.name for z in sc.zones]
    if len(set(zones)) != len(zones):
        bad("zone", "two zones have the same name")
    if sc.rcpt_domain_rel != "@" and sc.rcpt_domain_rel not in zones:
        bad("message.domain", f"{_short(sc.rcpt_domain_rel)} is not a "
            "[[zone]] of this file")
    for i, h in enumerate(sc.hosts):
        for key, cn in (("cert", h.cert), ("cert_v6", h.cert_v6)):
            if cn and cn not in certs:
                bad(f"host[{i}].{key}", f"no [[cert]] named {_short(cn)}")
        for k, v in h.sni_certs.items():
            if v not in certs:
                bad(f"host[{i}].sni_certs.{k}",
                    f"no [[cert]] named {_short(v)}")
        if h.relay_to and h.relay_to not in names:
            bad(f"host[{i}].relay_to", f"no host named {_short(h.relay_to)}")
        for j, t in enumerate(h.tlsa):
            if t.ref and t.ref not in certs and t.ref not in BUILTIN_CAS \
                    and not re.fullmatch(r"[0-9a-fA-F]*", t.ref):
                bad(f"host[{i}].tlsa[{j}]", f"{_short(t.ref)} is neither a "
                    "[[cert]] name, a built-in CA nor hex data")
    for i, c in enumerate(sc.certs):
        if c.issuer not in certs | {SELF_SIGNED, *BUILTIN_CAS}:
            bad(f"cert[{i}].issuer", f"{_short(c.issuer)} is not a CA of "
                "this file or a built-in one")
        before = {x.name for x in sc.certs[:i]} | set(BUILTIN_CAS)
        for n in c.chain or []:
            if n not in before:
                bad(f"cert[{i}].chain", f"{_short(n)} is not a [[cert]] "
                    "declared before this one or a built-in CA")
    _check_sts(sc, certs, bad)
    for key, e in (("expect", sc.expect),
                   ("expect.after_fix", sc.expect_after_fix),
                   ("expect.after_limit", sc.expect_after_limit)):
        if e and e.hosts is not None:
            for hn in e.hosts:
                if hn not in names:
                    bad(f"{key}.hosts", f"no host named {_short(hn)}")
        for hn in e.no_connection if e else []:
            if hn not in names:
                bad(f"{key}.no_connection", f"no host named {_short(hn)}")
            elif e and e.hosts is not None and hn in e.hosts:
                bad(f"{key}.no_connection",
                    f"{_short(hn)} is also an allowed delivery host")


def _check_grounds(sc: Scenario, errs: list[SpecError]) -> None:
    """Every expectation names the grounds of its checks (ground_errors)."""
    names = [h.name for h in sc.hosts]
    for key, e in (("expect", sc.expect),
                   ("expect.after_fix", sc.expect_after_fix),
                   ("expect.after_limit", sc.expect_after_limit)):
        for fld, why in ground_errors(e, names) if e else []:
            errs.append(SpecError(str(sc.path), f"{key}.ground.{fld}", why))


def ground_errors(e: Expect, hosts: list[str]) -> list[tuple[str, str]]:
    """Every check an expectation makes must name a ground that fits its
    level (grounds.fits): (field, why) for each one missing or misfit.
    HOSTS: the names of the file's hosts."""
    out: list[tuple[str, str]] = []

    def need(key: str, level: str, why: str) -> None:
        g = e.ground.get(key)
        if g is None:
            out.append((key, f"is required: {why}"))
            return
        misfit = gr.fits(level, g)
        if misfit:
            out.append((key, misfit))

    if e.bounded:
        need("outcome", "MUST", "the outcome must be one of `outcome`, a "
             "MUST; name the MUST or MUST NOT it rests on")
    elif "outcome" in e.ground:
        out.append(("outcome", "`outcome` lists every outcome, so nothing "
                    "is checked at MUST level: leave it out"))
    if e.prefer != e.outcome:
        need("prefer", "SHOULD", "`prefer` is a SHOULD; name the SHOULD (or "
             "the MUST and its tension) it rests on")
    elif "prefer" in e.ground:
        out.append(("prefer", "no `prefer` subset, so no SHOULD check"))
    if e.choice:
        need("choice", "MAY", "`choice` records a choice; name the MAY (or "
             "the tension) that leaves it open")
    elif "choice" in e.ground:
        out.append(("choice", "only with choice = true"))
    restricts = e.hosts is not None and not set(hosts) <= set(e.hosts)
    if "hosts" in e.ground or (restricts and not e.bounded):
        need("hosts", "MUST", "`hosts` leaves hosts out, a MUST; name what "
             "forbids them")
    if "no-connection" in e.ground or (e.no_connection and not e.bounded):
        need("no-connection", "MUST", "`no_connection` is a MUST; name what "
             "forbids the connection")
    if "cleartext" in e.ground:
        if "delivered-plain" in e.outcome:
            out.append(("cleartext", "cleartext is an allowed outcome, so "
                        "no cleartext check is made"))
        else:
            need("cleartext", "MUST", "")
    return out


def _check_presented(sc: Scenario, errs: list[SpecError]) -> None:
    """Several certificates on one host need distinct key types: a TLS
    server holds one of each, and the client's signature algorithms pick."""
    decl = {c.name: c for c in sc.certs}
    for i, h in enumerate(sc.hosts):
        seen: dict[str, str] = {}
        for cn in [h.cert or ""] + h.cert_also if h.cert_also else []:
            if cn not in decl:
                errs.append(SpecError(str(sc.path), f"host[{i}].cert",
                                      f"no [[cert]] named {_short(cn)}"))
                continue
            fam = key_family(decl[cn].key)
            if fam in seen:
                errs.append(SpecError(
                    str(sc.path), f"host[{i}].cert", f"{seen[fam]!r} and "
                    f"{cn!r} both have {fam} keys: a server holds one "
                    "certificate per key type"))
            seen[fam] = cn


def _check_sts(sc: Scenario, certs: set[str], bad: Any) -> None:
    """[sts], [fix.sts], expect.policy and requires fit together."""
    for key, d in (("sts", sc.sts), ("fix.sts", sc.fix_sts)):
        if d is None:
            continue
        if d.cert and d.cert not in certs:
            bad(f"{key}.cert", f"no [[cert]] named {_short(d.cert)}")
        if d.policy is not None and (d.mx is not None or
                                     d.mode != "enforce"):
            bad(f"{key}.policy", "a literal policy replaces mode and mx: "
                "give one or the other")
    if sc.fix_sts is not None and sc.sts is None:
        bad("fix.sts", "changes an [sts] the scenario does not have")
    phases = [e for e in (sc.expect, sc.expect_after_fix,
                          sc.expect_after_limit) if e is not None]
    for e in phases:
        if e.policy in ("sts-enforce", "sts-testing") and sc.sts is None:
            bad("expect.policy", f"{e.policy} needs an [sts] table")
    if (sc.sts is not None or sc.section == "I") and \
            "mta-sts" not in sc.requires:
        bad("requires", 'an MTA-STS scenario says requires = ["mta-sts"]')
    if sc.section == "I" and any(e.policy is None for e in phases):
        bad("expect.policy", "section I says which policy governs each "
            "phase (dane, sts-enforce, sts-testing or none)")
