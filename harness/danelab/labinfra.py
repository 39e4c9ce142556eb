"""The lab's own hosts in the universe, beside the scenarios:

  reports.test.  where TLSRPT reports go: `mx.reports.test` (127.43.0.25, a
                 fake-mx report sink) for mailto: rua, and
                 `tlsrpt.reports.test` (127.43.0.43:443, the HTTPS receiver)
                 for https: rua;
  sender.test.   the sender's own domain: the DKIM key its reports are signed
                 with (`lab._domainkey.sender.test`, service type tlsrpt),
                 and its MX `mx.sender.test` (127.43.0.26, a fake-mx sink)
                 where delivery status notifications to the envelope sender
                 arrive (what the smtp:// black-box adapter reads).

The addresses are those of the loopback plan; an exposed lab uses routable
ones (labnet.py).

Under --zone-parent NAME (apex.py) `test` above reads NAME.

Every scenario domain publishes default_tlsrpt() at `_smtp._tls` unless its
file says otherwise.
"""
from __future__ import annotations

import base64
import functools
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import apex
from .dns.zonespec import Record, ZoneSpec
from .labnet import LOOPBACK_INFRA, InfraAddrs
from .pki import CertSpec, Issued, LabPKI, rsa_key_later

SINK_MX_ADDR = LOOPBACK_INFRA.sink_mx
HTTPS_ADDR = LOOPBACK_INFRA.https
SENDER_LISTENER = "lab:sender-mx"
DKIM_SELECTOR = "lab"
SINK_LISTENER = "lab:reports-mx"
# fake-mx's catch-all listeners: port 25 of every address nobody serves
CATCH_ALL_LISTENERS = {"catch-all": "0.0.0.0", "catch-all~v6": "::"}


# The lab's host names, under the lab apex (apex.py; `test.` by default):
def reports_domain() -> str:
    """reports.<apex> (absolute)."""
    return apex.reports_domain()


def sender_domain() -> str:
    """sender.<apex> (absolute)."""
    return apex.sender_domain()


def sink_mx() -> str:
    return f"mx.{apex.bare(apex.reports_domain())}"


def https_host() -> str:
    return f"tlsrpt.{apex.bare(apex.reports_domain())}"


def sender_mx() -> str:
    return f"mx.{apex.bare(apex.sender_domain())}"


def report_mailbox() -> str:
    return f"tlsrpt@{apex.bare(apex.reports_domain())}"


def sender_address() -> str:
    """The envelope sender of the lab's messages (its DSNs come back to
    the sender mailbox)."""
    return f"tester@{apex.bare(apex.sender_domain())}"


def default_tlsrpt() -> str:
    """The TLSRPT record every scenario domain publishes unless its file
    says otherwise."""
    return (f"v=TLSRPTv1; rua=mailto:{report_mailbox()},"
            f"https://{https_host()}/report")


def txt_rdata(text: str) -> str:
    """TEXT as TXT rdata: quoted, escaped, split into 255-octet strings."""
    esc = text.replace("\\", "\\\\").replace('"', '\\"')
    chunks = [esc[i:i + 250] for i in range(0, len(esc), 250)] or [""]
    return " ".join(f'"{c}"' for c in chunks)


@dataclass
class LabInfra:
    dkim_key: "Future[rsa.RSAPrivateKey]"      # being made (dkim_key_later)
    sink_cert: Issued
    https_cert: Issued
    sender_cert: Issued

    @property
    def dkim_key_pem(self) -> bytes:
        return self.dkim_key.result().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())

    @property
    def dkim_public_b64(self) -> str:
        return base64.b64encode(self.dkim_key.result().public_key()
                                .public_bytes(
                                    serialization.Encoding.DER,
                                    serialization.PublicFormat
                                    .SubjectPublicKeyInfo)).decode()

    def dkim_txt(self) -> str:
        return f"v=DKIM1; k=rsa; s=tlsrpt; p={self.dkim_public_b64}"

    def zones(self, addrs: InfraAddrs = LOOPBACK_INFRA) -> list[ZoneSpec]:
        return [
            ZoneSpec(reports_domain(), [
                Record("@", "MX", f"10 {sink_mx()}."),
                Record(sink_mx() + ".", "A", addrs.sink_mx),
                Record(https_host() + ".", "A", addrs.https)],
                where="lab infrastructure"),
            ZoneSpec(sender_domain(), [
                Record(f"{DKIM_SELECTOR}._domainkey", "TXT",
                       txt_rdata(self.dkim_txt())),
                Record("@", "MX", f"10 {sender_mx()}."),
                Record(sender_mx() + ".", "A", addrs.sender_mx)],
                     where="lab infrastructure"),
        ]

    def write(self, folder: Path) -> Path:
        """Write the DKIM private key; return its path."""
        folder.mkdir(parents=True, exist_ok=True)
        p = folder / "dkim-sender.test.pem"
        p.write_bytes(self.dkim_key_pem)
        p.chmod(0o600)
        return p


@functools.lru_cache(maxsize=1)
def dkim_key_later() -> "Future[rsa.RSAPrivateKey]":
    """One DKIM key per process, loaded or made in the background from
    the first call on: RSA keys are slow to make."""
    return rsa_key_later(2048, "dkim")


def make_infra(pki: LabPKI) -> LabInfra:
    """The lab's own certificates, and its DKIM key (still being made
    when this returns: what needs it waits)."""
    key = dkim_key_later()
    sink = pki.issue(CertSpec("lab--reports-mx", [sink_mx()]))
    https = pki.issue(CertSpec("lab--tlsrpt-https", [https_host()]))
    sender = pki.issue(CertSpec("lab--sender-mx", [sender_mx()]))
    return LabInfra(key, sink, https, sender)
