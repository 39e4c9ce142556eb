"""Preflight checks of a sender's resolver path (case 44 in docs/cases.md).

A sender that relies on the stub resolver (glibc) for DNSSEC status only
sees the AD bit when the path to the validating resolver keeps it:

  * /etc/resolv.conf, as the sender sees it inside the lab namespace, must
    name the lab's validating resolver (ctx.resolver) first;
  * glibc (2.31 and later) clears the AD bit of every answer unless
    resolv.conf says `options trust-ad`; Exim then sees no secure answer
    and silently does no DANE at all (it delivers where the TLSA does not
    match);
  * the answer to a query for a name the lab signs must come back with AD
    set through the very library call the sender uses (res_query with
    RES_USE_DNSSEC, run inside the namespace).

check_resolver_path() returns a list of problems (empty: all is well); the
adapters call it from preflight(), and the runner turns any problem into a
set-up error, so that no grade is given for a run that means nothing.
The canary scenario k44-ad-bit-canary catches the same fault end to end
(a secure domain whose TLSA does not match: a sender doing no DANE
delivers there).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .adapters.base import LabContext
from .apex import lab_apex


# Runs inside the lab namespace: one res_query() through glibc with the
# flags a DNSSEC-aware MTA sets; prints "rcode ad ancount" or "error TEXT".
PROBE = r"""
import ctypes, sys
def fn(name):
    for lib in (ctypes.CDLL(None), ctypes.CDLL("libresolv.so.2")):
        for n in (name, "__" + name):
            if hasattr(lib, n):
                return getattr(lib, n)
    raise SystemExit("error no " + name + " in glibc")
state = fn("res_state")
state.restype = ctypes.c_void_p
st = ctypes.c_void_p(state())
if fn("res_ninit")(st) != 0:
    raise SystemExit("error res_ninit failed")
opts = ctypes.c_ulong.from_address(st.value + 8)
opts.value |= 0x00800000 | 0x00100000      # RES_USE_DNSSEC | RES_USE_EDNS0
if sys.argv[2] == "1":
    opts.value |= 0x04000000                 # RES_TRUSTAD, as Postfix sets it
buf = ctypes.create_string_buffer(4096)
n = fn("res_nquery")(st, sys.argv[1].encode(), 1, 6, buf, 4096)
if n < 12:
    print("error no answer"); sys.exit(0)
b = buf.raw
print(b[3] & 15, 1 if b[3] & 0x20 else 0, (b[6] << 8) | b[7])
"""


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def parse_resolv_conf(text: str) -> ResolvConf:
    rc = ResolvConf()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            rc.nameservers.append(words[1])
        elif words[0] == "options":
            rc.options += words[1:]
    return rc


def resolv_conf_problems(text: str, resolver: str,
                         needs_trust_ad: bool) -> list[str]:
    """What is wrong with TEXT (a resolv.conf) for a sender that uses the
    stub resolver to reach RESOLVER and trusts its AD bit."""
    rc = parse_resolv_conf(text)
    out = []
    if not rc.nameservers:
        out.append("resolv.conf names no nameserver")
    elif rc.nameservers[0] != resolver:
        out.append(f"resolv.conf names {rc.nameservers[0]} first, not the "
                   f"lab's validating resolver {resolver}")
    if needs_trust_ad and "trust-ad" not in rc.options:
        out.append("resolv.conf lacks `options trust-ad`: glibc clears the "
                   "AD bit of every answer, so the sender sees no DNSSEC "
                   "status and silently does no DANE")
    return out


def probe_ad_bit(ctx: LabContext, name: str | None = None,
                 sets_trust_ad: bool = False) -> str | None:
    """Ask glibc, inside the namespace, for NAME's SOA (default: the lab
    apex, signed with a DS in its parent: always secure) with DNSSEC OK
    (and RES_TRUSTAD when the sender sets it itself, as Postfix does); a
    problem text if the answer is missing or lacks the AD bit."""
    name = name or lab_apex()
    cp = ctx.ns.run(["/usr/bin/python3", "-c", PROBE, name,
                     "1" if sets_trust_ad else "0"], timeout=20)
    out = cp.stdout.decode(errors="replace").strip() or \
        cp.stderr.decode(errors="replace").strip()
    if not out.startswith("error") and (cp.returncode != 0 or not out):
        return ("the resolver-path probe did not run: "
                f"{cp.stderr.decode(errors='replace').strip()[-300:]}")
    if out.startswith("error"):
        return f"the stub resolver got no answer for {name} SOA ({out[6:]})"
    rcode, ad, _an = (int(x) for x in out.split())
    if rcode != 0:
        return f"the stub resolver's answer for {name} SOA has rcode {rcode}"
    if not ad:
        return (f"the stub resolver's answer for {name} (a secure zone of "
                "the lab) arrives without the AD bit: a sender trusting AD "
                "would see every domain as insecure and do no DANE")
    return None


def check_resolver_path(ctx: LabContext, sender: str,
                        needs_trust_ad: bool = True) -> list[str]:
    """Problems of SENDER's resolver path inside the lab; [] when sound.
    NEEDS_TRUST_AD: the sender relies on resolv.conf's `options trust-ad`
    for glibc to pass the AD bit on (Exim 4.96).  Otherwise the sender sets
    RES_TRUSTAD itself (Postfix 3.7 with smtp_dns_support_level = dnssec:
    measured, it does DANE with a resolv.conf lacking trust-ad), and the
    live probe asks the same way.  Either way the probe must see AD on a
    secure name: that proves the nameserver really validates."""
    cp = ctx.ns.run(["cat", "/etc/resolv.conf"], timeout=10)
    if cp.returncode != 0:
        return [f"{sender}: cannot read /etc/resolv.conf inside the lab"]
    probs = resolv_conf_problems(cp.stdout.decode(errors="replace"),
                                 ctx.resolver, needs_trust_ad)
    p = probe_ad_bit(ctx, sets_trust_ad=not needs_trust_ad)
    if p:
        probs.append(p)
    return [f"{sender}: {p}" for p in dict.fromkeys(probs)]
