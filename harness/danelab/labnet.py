"""Where the lab's services live: on loopback (the default), or on
routable private addresses when the lab is exposed to a sender under test
in another network stack (`--expose`, docs/remote.md).

Loopback plan (the sender runs inside the lab namespace):
  scenario S, host H   127.25.S.H (127.26.S-250.H past 250), fd25::S:H
  report sink MX       127.43.0.25     sender.test's MX (DSNs)  127.43.0.26
  HTTPS report sink    127.43.0.43     validating resolver      127.53.0.53

Exposed plan, range V4 (a /16 or wider, default 10.25.0.0/16) and V6 (a /48
or wider, default fd25::/48), one to one with the loopback plan:
  scenario S, host H   V4 + S*256 + H   (10.25.S.H),  V6 + S*65536 + H
                       (fd25::S:H): S up to 254 per run
  the lab's own hosts  V4 + 25, 26, 43, 53  (10.25.0.25, .26, .43, .53)
  the link to the SUT  V4's last /24 (10.25.255.0/24): the lab .1, the SUT
                       .2 and up; V6 + ffff:: /64 (fd25:0:0:ffff::/64)

NSD stays on 127.53.0.1: only the lab's Unbound asks it.  Under a
simulated parent (--zone-parent, dns/internet.py) the Internet asks it
too: it also listens on V4 + 1 (10.25.0.1, the glue of ns.<apex>), and
the simulated Internet's name server and validating resolver are V4's last
/24 + 253 and + 254 (10.25.255.253, .254), on the SUT's end of the link.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .errors import LabError

V4 = ipaddress.IPv4Network
V6 = ipaddress.IPv6Network
DEFAULT_RANGE = "10.25.0.0/16,fd25::/48"
MAX_EXPOSED_SCENARIOS = 254


@dataclass(frozen=True)
class InfraAddrs:
    """The lab's own service addresses."""

    resolver: str = "127.53.0.53"
    sink_mx: str = "127.43.0.25"
    sender_mx: str = "127.43.0.26"
    https: str = "127.43.0.43"


LOOPBACK_INFRA = InfraAddrs()


@dataclass(frozen=True)
class LabNet:
    """The exposed address plan: a private IPv4 and an IPv6 ULA range."""

    v4: V4
    v6: V6

    @classmethod
    def parse(cls, text: str = DEFAULT_RANGE) -> "LabNet":
        """`V4/LEN,V6/LEN`: a private IPv4 range (/16 or wider, inside
        10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16) and a ULA range
        (/48 or wider, inside fc00::/7)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2:
            raise LabError(f"lab range {text!r}: give V4/LEN,V6/LEN, e.g. "
                           f"{DEFAULT_RANGE}")
        try:
            v4 = ipaddress.IPv4Network(parts[0])
            v6 = ipaddress.IPv6Network(parts[1])
        except ValueError as e:
            raise LabError(f"lab range {text!r}: {e}") from e
        if v4.prefixlen > 16 or not any(
                v4.subnet_of(ipaddress.IPv4Network(p)) for p in
                ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")):
            raise LabError(f"lab range {v4}: needs a private IPv4 range of "
                           "/16 or wider (RFC 1918)")
        if v6.prefixlen > 48 or not v6.subnet_of(
                ipaddress.IPv6Network("fc00::/7")):
            raise LabError(f"lab range {v6}: needs an IPv6 ULA range "
                           "(fc00::/7) of /48 or wider")
        return cls(v4, v6)

    # -- addresses ----------------------------------------------------------
    def host(self, s_index: int, h_index: int) -> str:
        if not 1 <= s_index <= MAX_EXPOSED_SCENARIOS:
            raise LabError(f"an exposed lab holds at most "
                           f"{MAX_EXPOSED_SCENARIOS} scenarios per run "
                           f"(scenario {s_index})")
        return str(self.v4.network_address + s_index * 256 + h_index)

    def host6(self, s_index: int, h_index: int) -> str:
        return str(self.v6.network_address + (s_index << 16) + h_index)

    def scenario_index(self, address: str) -> int | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv4Address):
            if ip not in self.v4:
                return None
            s = (int(ip) - int(self.v4.network_address)) >> 8
        else:
            if ip not in self.v6:
                return None
            off = int(ip) - int(self.v6.network_address)
            if off >> 32:
                return None
            s = off >> 16
        return s if 1 <= s <= MAX_EXPOSED_SCENARIOS else None

    @property
    def infra(self) -> InfraAddrs:
        base = self.v4.network_address
        return InfraAddrs(str(base + 53), str(base + 25), str(base + 26),
                          str(base + 43))

    @property
    def link4(self) -> V4:
        """The /24 of the link(s) to the sender under test."""
        return ipaddress.IPv4Network(
            (int(self.v4.network_address) + 255 * 256, 24))

    @property
    def link6(self) -> V6:
        return ipaddress.IPv6Network(
            (int(self.v6.network_address) + (0xffff << 64), 64))

    @property
    def lab_nsd(self) -> str:
        """The lab NSD's routable address (a simulated parent's glue)."""
        return str(self.v4.network_address + 1)

    @property
    def inet_nsd(self) -> str:
        """The simulated Internet's name server, on the link."""
        return str(self.link4.network_address + 253)

    @property
    def inet_resolver(self) -> str:
        """The simulated Internet's validating resolver, on the link."""
        return str(self.link4.network_address + 254)

    def gateway(self) -> tuple[str, str]:
        """The lab's own addresses on the link (IPv4, IPv6)."""
        return (str(self.link4.network_address + 1),
                str(self.link6.network_address + 1))

    def sut(self, n: int = 0) -> tuple[str, str]:
        """The N-th address handed out to a sender under test."""
        if not 0 <= n < 250:
            raise LabError(f"SUT address {n}: at most 250 per lab")
        return (str(self.link4.network_address + 2 + n),
                str(self.link6.network_address + 2 + n))

    def describe(self) -> str:
        return f"{self.v4},{self.v6}"
