"""One scenario = one TOML file in scenarios/: a DANE delivery case, the lab
set-up it needs, and what a conforming sender must do.  See docs/scenarios.md.

load_scenario() reads and validates a file; every error is a SpecError that
names the file, the field and the reason.
"""
from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpecError
from .pki import BUILTIN_CAS, KEY_TYPES, VALIDITIES, key_family, \
    parse_when
from .zonespec import FAULT_KINDS

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
REPLY_STAGES = ("banner", "ehlo", "mail", "rcpt", "data", "eom")
CLOSE_POINTS = ("banner", "ehlo", "starttls", "tls", "mail", "rcpt", "data",
                "eom")
MAX_CONNECTIONS = 5     # connection profiles a host's list may cover
ID_RE = re.compile(r"^[a-k][0-9]{2}[a-z]?-[a-z0-9]+(-[a-z0-9]+)*$")
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
class CertDecl:
    name: str
    names: list[str] = field(default_factory=list)
    issuer: str = "lab-int"
    key: str = "ec"
    validity: str = "valid"
    ca: bool = False
    not_before: str | None = None   # overrides validity (pki.parse_when)
    not_after: str | None = None
    cn: str | None = None           # subject CN; {domain} expanded


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
    listen: bool = True
    ipv6: bool = False              # also an AAAA record and a v6 listener
    cert_v6: str | None = None      # the certificate the v6 listener shows
    cert_also: list[str] = field(default_factory=list)  # other key types
    chain: list[str] | None = None  # what is sent: "leaf", then CAs
    tls_alert: str | None = None    # the alert of tls_fault "alert"
    close_after: str | None = None  # close once that reply is sent
    connections: list[ConnDecl] = field(default_factory=list)

    @property
    def connection_count(self) -> int:
        """How many first connections have their own profile."""
        return sum(c.count for c in self.connections)


@dataclass
class Expect:
    outcome: list[str]
    prefer: list[str]
    choice: bool = False
    hosts: list[str] | None = None
    sni: str | None = None
    tlsrpt: str | None = None
    dsn: list[str] | None = None    # accepted status codes, "x" = any digit


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
    certs: list[CertDecl]
    hosts: list[HostDecl]
    expect: Expect
    fix_zones: list[ZoneDecl] | None = None
    expect_after_fix: Expect | None = None
    expect_after_limit: Expect | None = None    # after forced expiry
    tags: list[str] = field(default_factory=list)
    tlsrpt_records: list[str] | None = None     # None: the lab default
    tlsrpt_due: bool = True                     # a report is expected
    rcpt_domain_rel: str = "@"                  # [message] domain

    @property
    def rcpt_domain(self) -> str:
        """The recipient domain (absolute): the scenario domain unless
        [message] names a zone below it."""
        return self.fqdn(self.rcpt_domain_rel)

    @property
    def domain(self) -> str:
        return f"{self.id}.test."

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
    """Reads one TOML table, remembering which keys were used."""

    def __init__(self, path: Path, where: str, table: Any) -> None:
        self.path, self.where = path, where
        if not isinstance(table, dict):
            raise SpecError(str(path), where or "(top)", "must be a table")
        self.t = table
        self.used: set[str] = set()

    def err(self, key: str, why: str) -> SpecError:
        fld = f"{self.where}.{key}" if self.where else key
        return SpecError(str(self.path), fld, why)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            required: bool = False, choices: tuple[str, ...] | None = None
            ) -> Any:
        self.used.add(key)
        if key not in self.t:
            if required:
                raise self.err(key, "is required")
            return default
        v = self.t[key]
        if kind is int and isinstance(v, bool) or not isinstance(v, kind):
            names = kind.__name__ if isinstance(kind, type) else \
                " or ".join(k.__name__ for k in kind)
            raise self.err(key, f"must be {names}, not {type(v).__name__}")
        if choices is not None:
            for x in (v if isinstance(v, list) else [v]):
                if x not in choices:
                    raise self.err(key, f"{x!r} is not one of: "
                                   f"{', '.join(choices)}")
        return v

    def strings(self, key: str, default: list[str] | None = None,
                choices: tuple[str, ...] | None = None,
                required: bool = False) -> list[str]:
        v = self.get(key, list, default if default is not None else [],
                     required=required, choices=choices)
        for i, x in enumerate(v):
            if not isinstance(x, str):
                raise self.err(f"{key}[{i}]", "must be a string")
        return list(v)

    def tables(self, key: str) -> list["_Fields"]:
        v = self.get(key, list, [])
        return [_Fields(self.path, f"{key}[{i}]" if not self.where else
                        f"{self.where}.{key}[{i}]", x)
                for i, x in enumerate(v)]

    def finish(self) -> None:
        extra = sorted(set(self.t) - self.used)
        if extra:
            raise self.err(extra[0], "unknown key (a typo?)")


def _zone(f: _Fields) -> ZoneDecl:
    z = ZoneDecl(
        name=f.get("name", str, "@"),
        signed=f.get("signed", bool, True),
        ds=f.get("ds", bool, True),
        denial=f.get("denial", str, "nsec", choices=("nsec", "nsec3")),
        records=f.strings("records"))
    for i, rec in enumerate(z.records):
        if len(rec.split(None, 2)) < 3:
            raise f.err(f"records[{i}]",
                        f"{rec!r}: expected 'OWNER TYPE RDATA'")
    for ff in f.tables("faults"):
        kind = ff.get("kind", str, required=True,
                      choices=tuple(sorted(FAULT_KINDS)))
        fault = {"kind": kind}
        for k in ("owner", "rtype"):
            v = ff.get(k, str)
            if v is not None:
                fault[k] = v
        ff.finish()
        z.faults.append(fault)
    f.finish()
    return z


def _tlsa(f: _Fields, key: str, text: str) -> TlsaDecl:
    m = TLSA_RE.match(text.strip())
    if not m:
        raise f.err(key, f"{text!r}: expected 'USAGE SELECTOR MTYPE [REF][!]'")
    u, s, mt = int(m[1]), int(m[2]), int(m[3])
    if max(u, s, mt) > 255:
        raise f.err(key, f"{text!r}: fields are 0..255")
    return TlsaDecl(u, s, mt, m[4], bool(m[5]))


def _host(f: _Fields) -> HostDecl:
    h = HostDecl(name=f.get("name", str, required=True))
    h.mx = f.get("mx", int)
    h.address = f.get("address", bool, True)
    h.tlsa = [_tlsa(f, f"tlsa[{i}]", t)
              for i, t in enumerate(f.strings("tlsa"))]
    h.tlsa_owner = f.get("tlsa_owner", str)
    certs = f.get("cert", (str, list))
    if isinstance(certs, list):
        if not 1 <= len(certs) <= 3 or \
                not all(isinstance(c, str) for c in certs):
            raise f.err("cert", "a list holds 1 to 3 certificate names "
                        "(one per key type)")
        h.cert, h.cert_also = certs[0], list(certs[1:])
    else:
        h.cert = certs
    if "chain" in f.t:
        h.chain = f.strings("chain")
        if not h.chain or h.chain[0] != "leaf":
            raise f.err("chain", "must start with \"leaf\" (the server's "
                        "own certificate comes first), then the "
                        "certificates sent after it, in order")
        if len(h.chain) > 10:
            raise f.err("chain", "at most 10 certificates")
    sc = f.get("sni_certs", dict, {})
    for k, v in sc.items():
        if not isinstance(v, str):
            raise f.err(f"sni_certs.{k}", "must be a certificate name")
    h.sni_certs = dict(sc)
    h.starttls = f.get("starttls", str, "offer", choices=STARTTLS)
    h.starttls_reply = _starttls_reply(f, "220") or "220"
    h.tls_fault = f.get("tls_fault", str, "none", choices=TLS_FAULTS)
    h.tls_versions = f.strings("tls_versions", ["TLSv1.2", "TLSv1.3"],
                               choices=TLS_VERSIONS)
    if not h.tls_versions:
        raise f.err("tls_versions", "needs at least one version")
    h.replies = _replies(f)
    h.tls_alert = _tls_alert(f, h.tls_fault)
    h.close_after = f.get("close_after", str, choices=CLOSE_POINTS)
    h.mode = f.get("mode", str, "server", choices=MODES)
    h.relay_to = f.get("relay_to", str)
    if h.mode == "strip-relay" and not h.relay_to:
        raise f.err("relay_to", "a strip-relay needs relay_to (a host name)")
    h.listen = f.get("listen", bool, True)
    h.ipv6 = f.get("ipv6", bool, False)
    h.cert_v6 = f.get("cert_v6", str)
    if h.cert_v6 and not h.ipv6:
        raise f.err("cert_v6", "needs ipv6 = true")
    if h.mx is not None and not 0 <= h.mx <= 65535:
        raise f.err("mx", f"{h.mx}: a preference is 0..65535")
    h.connections = [_connection(cf, h) for cf in f.tables("connections")]
    if h.connections and h.mode == "strip-relay":
        raise f.err("connections", "a strip-relay has no profile of its "
                    "own to vary")
    if h.connection_count > MAX_CONNECTIONS:
        raise f.err("connections", f"the profiles cover "
                    f"{h.connection_count} connections; at most "
                    f"{MAX_CONNECTIONS} (each may cost a queue pass)")
    f.finish()
    return h


def _replies(f: _Fields) -> dict[str, str]:
    """replies = { STAGE = "CODE text" or "drop" }."""
    rp = f.get("replies", dict, {})
    for k, v in rp.items():
        if k not in REPLY_STAGES:
            raise f.err(f"replies.{k}", f"unknown stage; known: "
                        f"{', '.join(REPLY_STAGES)}")
        if v == "drop":
            continue
        if not isinstance(v, str) or \
                not re.match(r"^[2-5]\d\d( [ -~]*)?$", v):
            raise f.err(f"replies.{k}", f"{v!r}: a reply starts with "
                        "a 3-digit code (printable text after a space), "
                        "or is \"drop\" (close instead of answering)")
        if k == "data" and v[0] == "2" or k != "data" and v[0] == "3":
            raise f.err(f"replies.{k}", f"{v!r}: DATA is answered 354, "
                        "4xx or 5xx; other stages never 3xx")
    return dict(rp)


def _starttls_reply(f: _Fields, default: str | None) -> str | None:
    """"220", "454", "drop", or any 4xx/5xx reply line."""
    v = f.get("starttls_reply", str, default)
    if v is None or v in STARTTLS_REPLIES:
        return v
    if not re.match(r"^[45]\d\d( [ -~]*)?$", v):
        raise f.err("starttls_reply", f"{v!r} is not one of: "
                    f"{', '.join(STARTTLS_REPLIES)}, or a 4xx/5xx reply "
                    "line")
    return v


def _tls_alert(f: _Fields, fault: str | None) -> str | None:
    alert = f.get("tls_alert", str, choices=TLS_ALERTS)
    if alert is not None and fault != "alert":
        raise f.err("tls_alert", "needs tls_fault = \"alert\"")
    return alert


def _connection(f: _Fields, h: HostDecl) -> ConnDecl:
    """One entry of a host's `connections`."""
    c = ConnDecl(count=f.get("count", int, 1))
    if not 1 <= c.count <= MAX_CONNECTIONS:
        raise f.err("count", f"{c.count}: 1..{MAX_CONNECTIONS}")
    c.starttls = f.get("starttls", str, choices=STARTTLS)
    c.starttls_reply = _starttls_reply(f, None)
    c.tls_fault = f.get("tls_fault", str, choices=TLS_FAULTS)
    c.tls_alert = _tls_alert(f, c.tls_fault or h.tls_fault)
    c.replies = _replies(f)
    c.close_after = f.get("close_after", str, choices=CLOSE_POINTS)
    f.finish()
    return c


def _cert(f: _Fields) -> CertDecl:
    c = CertDecl(name=f.get("name", str, required=True),
                 names=f.strings("names"),
                 issuer=f.get("issuer", str, "lab-int"),
                 key=f.get("key", str, "ec", choices=KEY_TYPES),
                 validity=f.get("validity", str, "valid", choices=VALIDITIES),
                 ca=f.get("ca", bool, False),
                 cn=f.get("cn", str))
    for key in ("not_before", "not_after"):
        v = f.get(key, (str, dt.datetime, dt.date))
        if v is None:
            continue
        text = v.isoformat() if not isinstance(v, str) else v
        try:
            parse_when(text, dt.datetime.now(dt.timezone.utc))
        except ValueError as e:
            raise f.err(key, str(e))
        if "validity" in f.t:
            raise f.err(key, "give validity or not_before/not_after, not "
                        "both")
        setattr(c, key, text)
    if c.cn is not None and not 0 < len(c.cn) <= 64:
        raise f.err("cn", "1 to 64 characters (RFC 5280 ub-common-name)")
    f.finish()
    return c


def _expect(f: _Fields) -> Expect:
    outcome = f.strings("outcome", required=True, choices=OUTCOMES)
    if not outcome:
        raise f.err("outcome", "needs at least one outcome")
    prefer = f.strings("prefer", outcome, choices=OUTCOMES)
    if not set(prefer) <= set(outcome):
        raise f.err("prefer", "must be a subset of outcome")
    hosts = f.get("hosts", list)
    e = Expect(outcome, prefer, f.get("choice", bool, False),
               [str(h) for h in hosts] if hosts is not None else None,
               f.get("sni", str),
               f.get("tlsrpt", str, choices=RESULT_TYPES))
    dsn = f.get("dsn", list)
    if dsn is not None:
        e.dsn = [str(d) for d in dsn]
        for d in e.dsn:
            if not DSN_PATTERN_RE.fullmatch(d):
                raise f.err("dsn", f"{d!r} is not an enhanced status code "
                            "pattern like '5.7.5' or 'x.7.x' (RFC 3463)")
    return e


def load_scenario(path: Path) -> Scenario:
    """Read and check one scenario file."""
    path = Path(path)
    sid = path.stem
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise SpecError(str(path), "(syntax)", str(e))
    except OSError as e:
        raise SpecError(str(path), "(file)", e.strerror or str(e))
    if not ID_RE.match(sid) or len(sid) > 48:
        raise SpecError(str(path), "(file name)",
                        f"{sid!r}: must look like 'a01-some-words' "
                        "(section letter, two digits, words; at most 48)")
    top = _Fields(path, "", data)
    section = top.get("section", str, required=True,
                      choices=tuple(SECTIONS))
    if sid[0].upper() != section:
        raise top.err("section", f"{section} does not match the file "
                      f"name's letter {sid[0]!r}")
    sender = _Fields(path, "sender", top.get("sender", dict, {}))
    policy = sender.get("policy", str, "dane", choices=POLICIES)
    sender.finish()
    zones = [_zone(z) for z in top.tables("zone")]
    if not any(z.name == "@" for z in zones):
        zones.insert(0, ZoneDecl())
    certs = [_cert(c) for c in top.tables("cert")]
    hosts = [_host(h) for h in top.tables("host")]
    ex = _Fields(path, "expect", top.get("expect", dict, required=True))
    after = ex.get("after_fix", dict)
    limit = ex.get("after_limit", dict)
    expect = _expect(ex)
    ex.finish()
    fix_zones = None
    expect_after = None
    fix = top.get("fix", dict)
    if fix is not None:
        ff = _Fields(path, "fix", fix)
        fix_zones = [_zone(z) for z in ff.tables("zones")]
        ff.finish()
        if after is None:
            raise SpecError(str(path), "expect.after_fix",
                            "a scenario with [fix] needs [expect.after_fix]")
    if after is not None:
        af = _Fields(path, "expect.after_fix", after)
        expect_after = _expect(af)
        af.finish()
    expect_limit = None
    if limit is not None:
        lf = _Fields(path, "expect.after_limit", limit)
        expect_limit = _expect(lf)
        lf.finish()
        if fix is not None:
            raise SpecError(str(path), "expect.after_limit",
                            "a scenario has [fix] or [expect.after_limit], "
                            "not both")
        if expect.outcome != ["deferred"]:
            raise SpecError(str(path), "expect.outcome",
                            "with [expect.after_limit] the first attempt "
                            "must be expected to defer (outcome = "
                            "[\"deferred\"]): only a queued message has a "
                            "retry limit")
    tlsrpt_records, tlsrpt_due = None, True
    tr = top.get("tlsrpt", dict)
    if tr is not None:
        tf = _Fields(path, "tlsrpt", tr)
        if "records" in tr:
            tlsrpt_records = tf.strings("records")
        tlsrpt_due = tf.get("report_due", bool, True)
        tf.finish()
    rcpt_rel = "@"
    msg = top.get("message", dict)
    if msg is not None:
        mf = _Fields(path, "message", msg)
        rcpt_rel = mf.get("domain", str, "@")
        mf.finish()
    sc = Scenario(
        id=sid, path=path,
        title=top.get("title", str, required=True),
        section=section,
        case=top.get("case", int, required=True),
        rfc=top.get("rfc", str, required=True),
        explain=top.get("explain", str, required=True).strip(),
        policy=policy, zones=zones, certs=certs, hosts=hosts,
        expect=expect, fix_zones=fix_zones, expect_after_fix=expect_after,
        expect_after_limit=expect_limit,
        tags=top.strings("tags"), tlsrpt_records=tlsrpt_records,
        tlsrpt_due=tlsrpt_due, rcpt_domain_rel=rcpt_rel)
    top.get("fix", dict)
    top.finish()
    _check_refs(sc)
    _check_presented(sc)
    return sc


def _check_refs(sc: Scenario) -> None:
    """Names that point elsewhere in the file must point at something."""
    p = str(sc.path)
    names = [h.name for h in sc.hosts]
    if len(set(names)) != len(names):
        raise SpecError(p, "host", "two hosts have the same name")
    for i, h in enumerate(sc.hosts):
        if len(sc.id) + 1 + len(h.name) > 63:
            raise SpecError(p, f"host[{i}].name", "id and host name together "
                            "must not exceed 63 characters")
    if len(sc.hosts) > 250:
        raise SpecError(p, "host", "at most 250 hosts a scenario")
    certs = {c.name for c in sc.certs}
    zones = [z.name for z in sc.zones]
    if len(set(zones)) != len(zones):
        raise SpecError(p, "zone", "two zones have the same name")
    if sc.rcpt_domain_rel != "@" and sc.rcpt_domain_rel not in zones:
        raise SpecError(p, "message.domain", f"{sc.rcpt_domain_rel!r} is "
                        "not a [[zone]] of this file")
    for i, h in enumerate(sc.hosts):
        for key, cn in (("cert", h.cert), ("cert_v6", h.cert_v6)):
            if cn and cn not in certs:
                raise SpecError(p, f"host[{i}].{key}", f"no [[cert]] named "
                                f"{cn!r}")
        for k, v in h.sni_certs.items():
            if v not in certs:
                raise SpecError(p, f"host[{i}].sni_certs.{k}",
                                f"no [[cert]] named {v!r}")
        if h.relay_to and h.relay_to not in names:
            raise SpecError(p, f"host[{i}].relay_to",
                            f"no host named {h.relay_to!r}")
        for j, t in enumerate(h.tlsa):
            if t.ref and t.ref not in certs and \
                    t.ref not in ("lab-root", "lab-int", "rogue-root",
                                  "rogue-int") and \
                    not re.fullmatch(r"[0-9a-fA-F]*", t.ref):
                raise SpecError(p, f"host[{i}].tlsa[{j}]",
                                f"{t.ref!r} is neither a [[cert]] name, a "
                                "built-in CA nor hex data")
    for i, c in enumerate(sc.certs):
        if c.issuer not in certs | {"self", "lab-root", "lab-int",
                                    "rogue-root", "rogue-int"}:
            raise SpecError(p, f"cert[{i}].issuer",
                            f"{c.issuer!r} is not a CA of this file or a "
                            "built-in one")
    for key, e in (("expect", sc.expect),
                   ("expect.after_fix", sc.expect_after_fix),
                   ("expect.after_limit", sc.expect_after_limit)):
        if e and e.hosts is not None:
            for hn in e.hosts:
                if hn not in names:
                    raise SpecError(p, f"{key}.hosts",
                                    f"no host named {hn!r}")


def _check_presented(sc: Scenario) -> None:
    """What hosts present: several certificates need distinct key types
    (a TLS server holds one of each), and a chain names certificates the
    file or the lab has."""
    p = str(sc.path)
    decl = {c.name: c for c in sc.certs}
    for i, h in enumerate(sc.hosts):
        seen: dict[str, str] = {}
        for cn in [h.cert or ""] + h.cert_also if h.cert_also else []:
            if cn not in decl:
                raise SpecError(p, f"host[{i}].cert",
                                f"no [[cert]] named {cn!r}")
            fam = key_family(decl[cn].key)
            if fam in seen:
                raise SpecError(p, f"host[{i}].cert", f"{seen[fam]!r} and "
                                f"{cn!r} both have {fam} keys: a server "
                                "holds one certificate per key type")
            seen[fam] = cn
        for j, n in enumerate(h.chain or []):
            if n != "leaf" and n not in decl and n not in BUILTIN_CAS:
                raise SpecError(p, f"host[{i}].chain[{j}]", f"{n!r} is "
                                "neither \"leaf\", a [[cert]] name nor a "
                                "built-in CA")
