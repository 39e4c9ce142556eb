"""The TLSRPT report checks on the way in: a good report passes by mail and
by HTTPS, and each defect of the mail or the POST (bad gzip, no or broken
DKIM, wrong type or file name, a submitter that is not contact-info's
domain) is caught at its level; defects of the JSON document are caught
through the mail too.  The document checks one by one: the mutation
corpus, test_tlsrpt_mutations.py."""
from __future__ import annotations

import base64
import copy
import gzip
import json
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any, Callable

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from danelab.tlsrpt_check import Problem, check_https, check_json, \
    check_mail

KEY = rsa.generate_private_key(65537, 2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM,
                        serialization.PrivateFormat.TraditionalOpenSSL,
                        serialization.NoEncryption())
PUB = base64.b64encode(KEY.public_key().public_bytes(
    serialization.Encoding.DER,
    serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
    if name == b"lab._domainkey.sender.test.":
        return f"v=DKIM1; k=rsa; s=tlsrpt; p={PUB}".encode()
    return None


GOOD: dict[str, Any] = {
    "organization-name": "danelab reference sender",
    "date-range": {"start-datetime": "2026-11-22T00:00:00Z",
                   "end-datetime": "2026-11-23T00:00:00Z"},
    "contact-info": "tlsrpt@sender.test",
    "report-id": "2026-11-22T00:00:00Z_d16.test",
    "policies": [{
        "policy": {"policy-type": "tlsa",
                   "policy-string": ["3 1 1 " + "ab" * 32],
                   "policy-domain": "d16.test",
                   "mx-host": ["mx1.d16.test"]},
        "summary": {"total-successful-session-count": 0,
                    "total-failure-session-count": 2},
        "failure-details": [{"result-type": "validation-failure",
                             "sending-mta-ip": "127.0.0.1",
                             "receiving-ip": "127.25.1.1",
                             "receiving-mx-hostname": "mx1.d16.test",
                             "failed-session-count": 2,
                             "failure-reason-code": "no TLSA record "
                             "matched"}]}]}


def texts(problems: list[Problem], level: str | None = None) -> list[str]:
    return [p.text for p in problems if level in (None, p.level)]


def mail(doc: dict[str, Any], sign: bool = True, gz: bool = True,
         filename: str = "sender.test!d16.test!1795305600!1795392000"
         ".json.gz", ctype: str = "tlsrpt+gzip",
         submitter: str = "sender.test") -> bytes:
    m = MIMEMultipart("report", report_type="tlsrpt")
    m["From"] = "tlsrpt@sender.test"
    m["To"] = "tlsrpt@reports.test"
    m["Subject"] = ("Report Domain: d16.test Submitter: sender.test "
                    "Report-ID: <x@sender.test>")
    m["TLS-Report-Domain"] = "d16.test"
    m["TLS-Report-Submitter"] = submitter
    m.attach(MIMEText("TLS report"))
    body = json.dumps(doc).encode()
    part = MIMEApplication(gzip.compress(body) if gz else body, ctype)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    m.attach(part)
    raw = m.as_bytes().replace(b"\n", b"\r\n")
    if sign:
        sig = dkim.sign(raw, b"lab", b"sender.test", PEM,
                        include_headers=[b"from", b"to", b"subject",
                                         b"tls-report-domain",
                                         b"tls-report-submitter"])
        raw = sig + raw
    return raw


def test_good_report_passes() -> None:
    doc, problems = check_mail(mail(GOOD), dnsfunc, "sender.test")
    assert texts(problems) == []
    assert doc == GOOD
    doc, problems = check_https(gzip.compress(json.dumps(GOOD).encode()),
                                "application/tlsrpt+gzip")
    assert problems == [] and doc == GOOD


def mutate(f: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    d = copy.deepcopy(GOOD)
    f(d)
    return d


JSON_DEFECTS = [
    ("mx-host as a string", mutate(lambda d: d["policies"][0]["policy"]
                                   .__setitem__("mx-host", "mx1.d16.test")),
     "mx-host is not an array"),
    ("no policy-domain", mutate(lambda d: d["policies"][0]["policy"]
                                .pop("policy-domain")),
     "policy-domain missing"),
    ("counts disagree", mutate(lambda d: d["policies"][0]["summary"]
                               .__setitem__("total-failure-session-count",
                                            1)),
     "even where types overlap, its summary only 1"),
    ("unknown result type", mutate(lambda d: d["policies"][0]
                                   ["failure-details"][0]
                                   .__setitem__("result-type", "oops")),
     "is not a registered result type"),
    ("no report-id", mutate(lambda d: d.pop("report-id")),
     "report-id missing"),
    ("bad date", mutate(lambda d: d["date-range"]
                        .__setitem__("start-datetime", "yesterday")),
     "is not an RFC 3339 date-time"),
    ("policy-string not array", mutate(lambda d: d["policies"][0]["policy"]
                                       .__setitem__("policy-string",
                                                    "3 1 1 ab")),
     "policy-string is not an array"),
    ("summary count negative", mutate(lambda d: d["policies"][0]["summary"]
                                      .__setitem__(
                                          "total-successful-session-count",
                                          -1)),
     "not a count"),
]


@pytest.mark.parametrize("doc,why", [d[1:] for d in JSON_DEFECTS],
                         ids=[d[0] for d in JSON_DEFECTS])
def test_json_defect_caught(doc: dict[str, Any], why: str) -> None:
    assert any(why in p for p in texts(check_json(doc), "MUST")), \
        check_json(doc)
    _, problems = check_mail(mail(doc), dnsfunc, "sender.test")
    assert any(why in p for p in texts(problems, "MUST"))


def test_bad_gzip_caught() -> None:
    _, problems = check_mail(mail(GOOD, gz=False), dnsfunc, "sender.test")
    assert any("not valid gzip" in p for p in texts(problems, "MUST"))


def test_no_dkim_caught() -> None:
    _, problems = check_mail(mail(GOOD, sign=False), dnsfunc, "sender.test")
    assert "no DKIM-Signature (RFC 8460 §3)" in texts(problems, "MUST")


def test_broken_dkim_caught() -> None:
    raw = mail(GOOD).replace(b"TLS report", b"TLS rep0rt")
    _, problems = check_mail(raw, dnsfunc, "sender.test")
    assert "DKIM signature does not verify (RFC 8460 §3)" in \
        texts(problems, "MUST")


def test_wrong_file_name_and_type_caught() -> None:
    _, problems = check_mail(mail(GOOD, filename="report.json.gz"),
                             dnsfunc, "sender.test")
    # §5.1: the file name is RECOMMENDED, so a SHOULD.
    assert [p for p in texts(problems, "SHOULD") if "file name" in p]
    assert texts(problems, "MUST") == []
    _, problems = check_mail(mail(GOOD, ctype="gzip"), dnsfunc,
                             "sender.test")
    assert any("application/tlsrpt+gzip parts" in p
               for p in texts(problems, "MUST"))


def test_submitter_is_the_contact_domain() -> None:
    """§5.3: TLS-Report-Submitter MUST match contact-info's domain."""
    _, problems = check_mail(mail(GOOD, submitter="other.test"), dnsfunc,
                             "sender.test")
    assert texts(problems) == [
        "TLS-Report-Submitter other.test is not the domain of contact-info "
        "(sender.test) (RFC 8460 §5.3: MUST match)"]
    assert problems[0].level == "MUST"


def test_duplicate_keys_are_not_ijson() -> None:
    body = b'{"report-id": "a", "report-id": "b"}'
    _, problems = check_https(gzip.compress(body), "application/tlsrpt+gzip")
    assert any("duplicate member names" in p
               for p in texts(problems, "MUST"))


def test_https_wrong_content_type() -> None:
    _, problems = check_https(gzip.compress(json.dumps(GOOD).encode()),
                              "application/json")
    assert any("Content-Type" in p for p in texts(problems, "MUST"))


def test_gzip_bomb_is_refused_not_inflated() -> None:
    """A report that inflates past the limit is a MUST problem, found
    without decompressing it all (the sender under test wrote it)."""
    import gzip as gz

    from danelab.tlsrpt_check import MAX_REPORT, check_https
    bomb = gz.compress(b"\0" * (MAX_REPORT + 1024 * 1024), 9)
    assert len(bomb) < 100_000
    doc, probs = check_https(bomb, "application/tlsrpt+gzip")
    assert doc is None
    assert [p.level for p in probs] == ["MUST"]
    assert "gzip bomb" in probs[0].text


def test_corrupt_and_multi_member_gzip() -> None:
    import gzip as gz

    from danelab.tlsrpt_check import _gunzip
    raw = gz.compress(b'{"a": 1}')
    assert _gunzip(raw[:-6])[0] is None               # truncated
    bad = bytearray(raw)
    bad[12] ^= 0xFF
    out, probs = _gunzip(bytes(bad))
    assert out is None and "not valid gzip" in probs[0].text
    two = gz.compress(b'{"a": ') + gz.compress(b'1}')
    assert _gunzip(two) == (b'{"a": 1}', [])          # RFC 1952 members
