"""The scenario format's presentation and fault fields: a bad value is
refused naming the file, the field and the reason; a good file turns into
the certificates, chain files and fake-mx profiles it describes, and
fake-mx itself accepts that config."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from danelab import fakemx
from danelab.errors import SpecError
from danelab.labplan import make_plan
from danelab.scenario import Scenario, load_scenario

HEAD = ('title = "t"\nsection = "D"\ncase = 18\nrfc = "x"\n'
        'explain = "x"\n')
EXPECT = '[expect]\noutcome = ["deferred"]\n' \
    '[expect.ground]\noutcome = "7672-no-unauthenticated"\n'


def write(tmp_path: Path, body: str, name: str = "d99-x") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(HEAD + body + EXPECT)
    return p


# (file body, the field named, words of the reason)
BAD = [
    ('[[host]]\nname = "mx1"\ncert = []\n', "host[0].cert",
     "a list holds 1 to 3 certificate names"),
    ('[[cert]]\nname = "a"\n[[cert]]\nname = "b"\nkey = "ec-p384"\n'
     '[[host]]\nname = "mx1"\ncert = ["a", "b"]\n', "host[0].cert",
     "'a' and 'b' both have ec keys"),
    ('[[cert]]\nname = "a"\n[[host]]\nname = "mx1"\ncert = ["a", "zz"]\n',
     "host[0].cert", "no [[cert]] named 'zz'"),
    ('[[cert]]\nname = "a"\nkey = "rsa-512"\n', "cert[0].key",
     "'rsa-512' is not one of"),
    ('[[cert]]\nname = "a"\nnot_after = "soon"\n', "cert[0].not_after",
     "expected 'now', an offset like '+30d'"),
    ('[[cert]]\nname = "a"\nnot_before = "+3w"\n', "cert[0].not_before",
     "expected 'now'"),
    ('[[cert]]\nname = "a"\nvalidity = "expired"\nnot_after = "-1d"\n',
     "cert[0].not_after", "give validity or not_before/not_after"),
    ('[[cert]]\nname = "a"\nnot_before = 1\n', "cert[0].not_before",
     "must be str or datetime or date"),
    ('[[cert]]\nname = "a"\ncn = ""\n', "cert[0].cn", "1 to 64 characters"),
    ('[[host]]\nname = "mx1"\ntls_alert = "internal_error"\n',
     "host[0].tls_alert", 'needs tls_fault = "alert"'),
    ('[[host]]\nname = "mx1"\ntls_fault = "alert"\ntls_alert = "oops"\n',
     "host[0].tls_alert", "'oops' is not one of"),
    ('[[host]]\nname = "mx1"\nclose_after = "quit"\n',
     "host[0].close_after", "'quit' is not one of"),
    ('[[host]]\nname = "mx1"\nstarttls_reply = "250 ok"\n',
     "host[0].starttls_reply", "or a 4xx/5xx reply line"),
    ('[[host]]\nname = "mx1"\nreplies = { rset = "250 ok" }\n',
     "host[0].replies.rset", "unknown stage"),
    ('[[host]]\nname = "mx1"\nreplies = { mail = "Drop" }\n',
     "host[0].replies.mail", 'or is "drop"'),
    ('[[host]]\nname = "mx1"\nreplies = { data = "250 ok" }\n',
     "host[0].replies.data", "DATA is answered 354, 4xx or 5xx"),
    ('[[host]]\nname = "mx1"\nreplies = { ehlo = "354 go" }\n',
     "host[0].replies.ehlo", "other stages never 3xx"),
    ('[[host]]\nname = "mx1"\n[[host.connections]]\ncount = 0\n',
     "host[0].connections[0].count", "0: 1..5"),
    ('[[host]]\nname = "mx1"\n[[host.connections]]\ncount = 3\n'
     '[[host.connections]]\ncount = 3\n', "host[0].connections",
     "cover 6 connections; at most 5"),
    ('[[host]]\nname = "mx1"\n[[host.connections]]\ncert = "x"\n',
     "host[0].connections[0].cert", "unknown key"),
    ('[[host]]\nname = "mx1"\n[[host.connections]]\n'
     'tls_alert = "internal_error"\n', "host[0].connections[0].tls_alert",
     'needs tls_fault = "alert"'),
    ('[[host]]\nname = "mx1"\n[[host.connections]]\n'
     'starttls_reply = "220 hi"\n',
     "host[0].connections[0].starttls_reply", "or a 4xx/5xx reply line"),
    ('[[host]]\nname = "mx1"\n[[host]]\nname = "mx2"\nmode = "strip-relay"\n'
     'relay_to = "mx1"\n[[host.connections]]\n', "host[1].connections",
     "a strip-relay has no profile"),
    ('refs = []\n', "refs", "lists nothing"),
    ('refs = [""]\n', "refs[0]", "is empty"),
    ('refs = [" https://a.example/x"]\n', "refs[0]", "leading, trailing"),
    ('refs = ["http://a.example/x"]\n', "refs[0]", "https only"),
    ('refs = ["https://a.example/x y"]\n', "refs[0]", "no spaces"),
    ('refs = ["see https://a.example/x"]\n', "refs[0]",
     "a citation cannot hold one"),
    ('refs = ["Exim ChangeLog 4.97 JH/21"]\n', "refs[0]",
     "neither an https address nor a citation"),
    ('refs = ["Exim ChangeLog, 5 Jan 2023, JH/21"]\n', "refs[0]",
     "DATE as YYYY-MM-DD"),
    ('refs = ["https://a.example/x", "https://a.example/x"]\n', "refs[1]",
     "listed twice"),
    ('refs = ["https://a.example/x", 3]\n', "refs[1]", "must be a string"),
]


@pytest.mark.parametrize("body,field,why", BAD,
                         ids=[f"{b[1]}:{b[2][:24]}" for b in BAD])
def test_bad_value_names_file_field_reason(tmp_path: Path, body: str,
                                           field: str, why: str) -> None:
    p = write(tmp_path, body)
    with pytest.raises(SpecError) as ex:
        load_scenario(p)
    assert ex.value.where == str(p)
    assert ex.value.field == field
    assert why in ex.value.why


def test_refs_are_kept_as_written(tmp_path: Path) -> None:
    refs = ["https://git.example/exim.git/commitdiff/4b0f?ds=inline",
            "Postfix HISTORY, 2026-05-31, panic on a three-byte TLSA record",
            "Some list, 2019, a report"]
    body = "refs = [" + ", ".join(f'"{r}"' for r in refs) + "]\n"
    assert load_scenario(write(tmp_path, body)).refs == refs
    assert load_scenario(write(tmp_path, "")).refs == []


def test_inherited_alert_fault_is_accepted(tmp_path: Path) -> None:
    """A connection's tls_alert may rest on the host's tls_fault."""
    sc = load_scenario(write(tmp_path, (
        '[[host]]\nname = "mx1"\ntls_fault = "alert"\n'
        '[[host.connections]]\ntls_alert = "unrecognized_name"\n')))
    assert sc.hosts[0].connections[0].tls_alert == "unrecognized_name"
    assert sc.retry_passes == 1


FULL = '''
[[cert]]
name = "rsa"
names = ["mx1"]
key = "rsa-3072"
chain = ["lab-root", "lab-int", "lab-int"]

[[cert]]
name = "ec"
names = ["mx1"]
not_before = "+2d"
not_after = "-2d"
chain = ["lab-root", "lab-int", "lab-int"]

[[cert]]
name = "ed"
key = "ed25519"
names = ["mx1"]
chain = ["lab-root", "lab-int", "lab-int"]

[[cert]]
name = "fake-int"
ca = true
issuer = "rogue-root"
cn = "danelab Intermediate CA"

[[cert]]
name = "cnonly"
cn = "mx1.{domain}"
key = "ec-p384"
not_before = 2020-01-01
not_after = "2031-06-30T12:00:00Z"
chain = []

[[host]]
name = "mx1"
mx = 10
cert = ["rsa", "ec", "ed"]
tls_fault = "alert"
tls_alert = "internal_error"
starttls_reply = "554 5.7.0 go away"
replies = { banner = "421 4.3.2 busy", ehlo = "drop", rcpt = "452 4.5.3 x" }
close_after = "mail"

[[host.connections]]
count = 2
starttls_reply = "454"
tls_fault = "none"

[[host.connections]]
replies = { mail = "drop" }
tls_alert = "unrecognized_name"

[[host]]
name = "mx2"
mx = 20
cert = "cnonly"
'''


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[Scenario, Path, dict]:
    d = tmp_path_factory.mktemp("full")
    sc = load_scenario(write(d, FULL, "d98-full"))
    plan = make_plan([sc])
    plan.pki.write(d / "pki")
    conf = fakemx.write_config(plan, d, ipv6=False)
    return sc, conf, json.loads(conf.read_text())


def test_fake_mx_accepts_the_config(full: tuple[Scenario, Path, dict]
                                    ) -> None:
    _, conf, _ = full
    cp = subprocess.run([str(fakemx.binary("fake-mx", "fake-mx")), "-c",
                         str(conf), "-t"], capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 0, cp.stderr


def test_profiles_in_the_config(full: tuple[Scenario, Path, dict]) -> None:
    sc, _, cfg = full
    assert sc.retry_passes == 3
    mx1 = next(x for x in cfg["listeners"] if x["name"] == "d98-full:mx1")
    assert mx1["banner"] == "421 4.3.2 busy"
    assert mx1["replies"] == {"ehlo": "drop", "rcpt": "452 4.5.3 x"}
    assert mx1["starttls_reply"] == "554 5.7.0 go away"
    assert mx1["close_after"] == "mail"
    tls = mx1["tls"]
    assert (tls["fault"], tls["alert"]) == ("alert", "internal_error")
    assert mx1["connections"] == [
        {"count": 2, "starttls_reply": "454", "tls": {"fault": "none"}},
        {"count": 1, "replies": {"mail": "drop"},
         "tls": {"alert": "unrecognized_name"}}]


def pem_chain(path: str) -> list[x509.Certificate]:
    text = Path(path).read_bytes()
    return [x509.load_pem_x509_certificate(m) for m in re.findall(
        rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
        text, re.S)]


def test_certificates_and_chains(full: tuple[Scenario, Path, dict]) -> None:
    _, _, cfg = full
    mx1 = next(x for x in cfg["listeners"] if x["name"] == "d98-full:mx1")
    entry = mx1["tls"]["certs"][0]
    pairs = [entry] + entry["also"]
    leaves = []
    for pair in pairs:
        chain = pem_chain(pair["chain"])
        leaf = chain[0]
        leaves.append(leaf)
        cn = [c.subject.rfc4514_string() for c in chain[1:]]
        # leaf, root, intermediate twice: as each [[cert]] chain says
        assert cn == ["O=danelab,CN=danelab Root CA",
                      "O=danelab,CN=danelab Intermediate CA",
                      "O=danelab,CN=danelab Intermediate CA"]
        key = serialization.load_pem_private_key(
            Path(pair["key"]).read_bytes(), None)
        assert key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo) == \
            leaf.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo)
    kinds = [type(c.public_key()) for c in leaves]
    assert issubclass(kinds[0], rsa.RSAPublicKey)
    assert leaves[0].public_key().key_size == 3072
    assert issubclass(kinds[1], ec.EllipticCurvePublicKey)
    assert issubclass(kinds[2], ed25519.Ed25519PublicKey)
    # inverted dates, kept as written
    assert leaves[1].not_valid_before > leaves[1].not_valid_after
    mx2 = next(x for x in cfg["listeners"] if x["name"] == "d98-full:mx2")
    chain = pem_chain(mx2["tls"]["certs"][0]["chain"])
    assert len(chain) == 1                       # the leaf alone
    leaf = chain[0]
    assert leaf.subject.rfc4514_string() == \
        "O=danelab,CN=mx1.d98-full.test"
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert leaf.not_valid_before == dt.datetime(2020, 1, 1)
    assert leaf.not_valid_after == dt.datetime(2031, 6, 30, 12)
    assert leaf.public_key().curve.name == "secp384r1"


def test_impostor_ca_has_the_real_ones_name(
        full: tuple[Scenario, Path, dict]) -> None:
    sc, _, _ = full
    plan = make_plan([sc])
    fake = plan.pki.issued["d98-full--fake-int"].cert
    real = plan.pki.issued["lab-int"].cert
    assert fake.subject == real.subject
    assert fake.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo) != \
        real.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
