"""End-to-end tests of refsend-tlsrpt: canned refsend events in, RFC 8460
reports out, by mail (plain SMTP, DKIM-signed) and by HTTPS POST.

Run with: /usr/bin/python3 -m pytest reference-impl/tlsrpt/tests
"""
import email
import email.policy
import gzip
import json
import os
import pathlib
import re
import subprocess
import time

import dkim
import pytest
from danelab import tlsrpt_check
# The RFC 8460 result types: the harness's list, which
# harness/tests/test_result_types.py holds equal to the C table.
from danelab.scenario import RESULT_TYPES

REQUIRED_TOP = {"organization-name", "date-range", "contact-info",
                "report-id", "policies"}
REQUIRED_FAILURE = {"result-type", "failed-session-count"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def ev(**kv):
    return json.dumps(kv) + "\n"


def dane_events(domain="a.test", qid="q1", ok=2, bad=1, t=None):
    """One DANE domain with one MX host: ok good sessions, bad sessions
    whose TLSA did not match."""
    t = t or time.time() - 60
    host = f"mx1.{domain}"
    out = [ev(ts=t, event="dns", queue_id=qid, qname=domain, qtype="MX",
              status="secure"),
           ev(ts=t, event="policy", queue_id=qid, domain=domain, host=host,
              level="dane", tlsa=["3 1 1 " + "ab" * 32, "2 1 1 " + "cd" * 32],
              usable=2, mode="dane")]
    for i in range(ok):
        out.append(ev(ts=t + 1, event="session", queue_id=qid, domain=domain,
                      host=host, address="127.25.1.1", tls=True,
                      authenticated=True, result_type=None, mode="dane",
                      outcome="ok"))
    for i in range(bad):
        out.append(ev(ts=t + 2, event="session", queue_id=qid, domain=domain,
                      host=host, address="127.25.1.1", tls=True,
                      authenticated=False, result_type="validation-failure",
                      detail="DANE verification failed: no TLSA record "
                      "matched",
                      mode="dane", reason="validation-failure",
                      state="handshake"))
    return "".join(out)


def check_report(rep, domain):
    assert REQUIRED_TOP <= set(rep)
    assert RFC3339.match(rep["date-range"]["start-datetime"])
    assert RFC3339.match(rep["date-range"]["end-datetime"])
    assert rep["date-range"]["start-datetime"] <= \
        rep["date-range"]["end-datetime"]
    assert rep["organization-name"] == "danelab reference sender"
    assert rep["contact-info"] == "tlsrpt-contact@sender.test"
    for p in rep["policies"]:
        pol = p["policy"]
        assert pol["policy-type"] in ("tlsa", "sts", "no-policy-found")
        assert pol["policy-domain"] == domain
        if "mx-host" in pol:
            assert isinstance(pol["mx-host"], list)
        if pol["policy-type"] == "tlsa":
            for s in pol["policy-string"]:
                assert re.match(r"^\d+ \d+ \d+ [0-9a-f]+$", s)
        assert set(p["summary"]) == {"total-successful-session-count",
                                     "total-failure-session-count"}
        assert isinstance(pol["policy-string"], list)
        nfail = 0
        for f in p["failure-details"]:
            assert REQUIRED_FAILURE <= set(f)
            assert f["result-type"] in RESULT_TYPES
            # The reason in failure-reason-code; additional-information
            # would have to be a URI, and we have none.
            assert isinstance(f["failure-reason-code"], str)
            assert f["failure-reason-code"]
            assert "additional-information" not in f
            nfail += f["failed-session-count"]
        assert nfail == p["summary"]["total-failure-session-count"]


def report_of(msg):
    """The RFC 8460 report attached to a report mail."""
    return json.loads(gzip.decompress(list(msg.iter_parts())[1]
                                      .get_content()))


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Mailto:
    """One flush of a.test's events (2 good sessions, 1 that failed DANE)
    to a mailto: rua over a static route, DKIM-signed."""

    def __init__(self, reporter, smtp_sink, dkim_key):
        key_path, self.key_record = dkim_key
        self.reporter, self.sink = reporter, smtp_sink
        reporter.configure(
            static_txt="_smtp._tls.a.test v=TLSRPTv1; "
                       "rua=mailto:tls-reports@reports.test",
            static_route="reports.test 127.0.0.1", smtp_port=smtp_sink.port,
            dkim_selector="s1", dkim_key=key_path)
        reporter.add_events(dane_events("a.test", ok=2, bad=1))
        reporter.run("flush")
        assert len(smtp_sink.messages) == 1
        self.envelope = smtp_sink.messages[0]
        self.raw = self.envelope["data"]
        self.msg = email.message_from_bytes(self.raw,
                                            policy=email.policy.default)
        (self.report_event,) = reporter.log("report")
        self.rid = self.report_event["report_id"]

    def dnsfunc(self, name, timeout=5):
        assert name == b"s1._domainkey.sender.test."
        return self.key_record.encode()


@pytest.fixture
def mailto(reporter, smtp_sink, dkim_key):
    return Mailto(reporter, smtp_sink, dkim_key)


def test_mailto_envelope(mailto):
    assert mailto.envelope["from"] == "tlsrpt@sender.test"
    assert mailto.envelope["to"] == ["tls-reports@reports.test"]
    # Report delivery never asks for TLS.
    assert not mailto.sink.starttls_asked


def test_mailto_headers(mailto):
    msg, rid = mailto.msg, mailto.rid
    assert msg["From"] == "tlsrpt@sender.test"
    assert msg["To"] == "tls-reports@reports.test"
    assert msg["TLS-Report-Domain"] == "a.test"
    assert msg["TLS-Report-Submitter"] == "sender.test"
    assert re.sub(r"\s+", " ", str(msg["Subject"])) == \
        f"Report Domain: a.test Submitter: sender.test Report-ID: <{rid}>"
    assert msg["Message-ID"] == f"<{rid}>"
    assert msg["Date"] is not None and msg["MIME-Version"] == "1.0"


def test_report_id_is_a_msg_id(mailto):
    """The Subject's Report-ID is a msg-id (RFC 8460 section 5.3)."""
    assert re.match(r"^[0-9a-f-]{36}@sender\.test$", mailto.rid)


def test_mailto_mime_structure(mailto):
    msg = mailto.msg
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "tlsrpt"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == \
        ["text/plain", "application/tlsrpt+gzip"]
    assert re.match(r"^sender\.test!a\.test!(\d+)!(\d+)\.json\.gz$",
                    parts[1].get_filename())


def test_mailto_report_content(mailto):
    rep = report_of(mailto.msg)
    check_report(rep, "a.test")
    assert rep["report-id"] == mailto.rid
    (p,) = rep["policies"]
    assert p["policy"]["policy-type"] == "tlsa"
    assert p["policy"]["policy-string"] == \
        sorted(["3 1 1 " + "ab" * 32, "2 1 1 " + "cd" * 32])
    assert p["policy"]["mx-host"] == ["mx1.a.test"]
    assert p["summary"] == {"total-successful-session-count": 2,
                            "total-failure-session-count": 1}
    (f,) = p["failure-details"]
    assert f["result-type"] == "validation-failure"
    assert f["sending-mta-ip"] == "127.0.0.1"
    assert f["receiving-mx-hostname"] == "mx1.a.test"
    assert f["receiving-ip"] == "127.25.1.1"
    assert f["failure-reason-code"] == \
        "DANE verification failed: no TLSA record matched"


def test_mailto_file_name_is_the_date_range(mailto):
    rep = report_of(mailto.msg)
    fname = list(mailto.msg.iter_parts())[1].get_filename()
    begin, end = map(int, fname[:-len(".json.gz")].split("!")[2:4])
    assert iso(begin) == rep["date-range"]["start-datetime"]
    assert iso(end) == rep["date-range"]["end-datetime"]


def test_report_kept_and_logged(mailto):
    kept = json.loads((mailto.reporter.state / "reports" /
                       f"{mailto.rid}.json").read_text())
    assert kept == report_of(mailto.msg)
    assert mailto.report_event["sessions_ok"] == 2
    assert mailto.report_event["sessions_failed"] == 1


def test_mailto_dkim_verifies(mailto):
    """Signed by the reporting domain, with a key restricted to TLSRPT."""
    assert dkim.verify(mailto.raw, dnsfunc=mailto.dnsfunc, tlsrpt="strict")
    assert "d=sender.test" in mailto.msg["DKIM-Signature"]


def test_mailto_dkim_signs_the_headers_that_matter(mailto):
    sig = re.sub(r"\s+", "", mailto.msg["DKIM-Signature"])
    h = re.search(r"(?:^|;)h=([^;]*)", sig).group(1).lower().split(":")
    for name in ("from", "to", "subject", "date", "message-id",
                 "tls-report-domain", "tls-report-submitter",
                 "mime-version", "content-type"):
        assert name in h


def test_mailto_dkim_fails_on_a_tampered_mail(mailto):
    tampered = mailto.raw.replace(b"Report Domain: a.test",
                                  b"Report Domain: b.test")
    assert tampered != mailto.raw
    assert not dkim.verify(tampered, dnsfunc=mailto.dnsfunc,
                           tlsrpt="strict")


def test_mailto_record_and_delivery_events(mailto):
    (rec,) = mailto.reporter.log("record")
    assert rec["decision"] == "ok" and rec["rua"] == \
        ["mailto:tls-reports@reports.test"]
    (d,) = mailto.reporter.log("delivery")
    assert d["status"] == "sent" and d["transport"] == "mailto"
    assert d["code"] == 250 and d["report_id"] == mailto.rid


def test_flush_without_new_events_reports_nothing(mailto):
    mailto.reporter.run("flush")
    assert len(mailto.sink.messages) == 1
    assert len(mailto.reporter.log("report")) == 1


def test_next_report_starts_at_the_previous_flush(mailto):
    """A report covers from the previous flush on, an empty flush too.
    The reporter's clock between runs is state.json's last_flush: moved
    an hour back, the first flush happened an hour ago."""
    r = mailto.reporter
    path = r.state / "state.json"
    state = json.loads(path.read_text())
    state["last_flush"] -= 3600
    path.write_text(json.dumps(state))
    r.run("flush")                  # nothing new: no report
    assert len(r.log("report")) == 1
    empty = json.loads(path.read_text())["last_flush"]
    assert empty >= state["last_flush"] + 3600
    r.add_events(dane_events("a.test", qid="q2", ok=1, bad=0,
                             t=time.time()))
    r.run("flush")
    assert len(mailto.sink.messages) == 2
    rep2 = json.loads((r.state / "reports" /
                       (r.log("report")[1]["report_id"] + ".json"))
                      .read_text())
    # From the empty flush on, not from the first (an hour earlier).
    assert rep2["date-range"]["start-datetime"] == iso(empty)
    assert rep2["policies"][0]["summary"] == \
        {"total-successful-session-count": 1,
         "total-failure-session-count": 0}


def test_flush_https(reporter, https_sink, pki):
    sink = https_sink()
    url = f"https://reports.example.test:{sink.port}/v1/tlsrpt"
    reporter.configure(
        static_txt=f"_smtp._tls.a.test v=TLSRPTv1;rua={url}",
        static_route="reports.example.test 127.0.0.1",
        https_ca=pki["ca"])
    reporter.add_events(dane_events("a.test", ok=1, bad=2))
    reporter.run("flush")
    assert len(sink.posts) == 1
    post = sink.posts[0]
    assert post["path"] == "/v1/tlsrpt"
    assert post["headers"]["Content-Type"] == "application/tlsrpt+gzip"
    rep = json.loads(gzip.decompress(post["body"]))
    check_report(rep, "a.test")
    assert rep["policies"][0]["summary"] == \
        {"total-successful-session-count": 1,
         "total-failure-session-count": 2}
    (d,) = reporter.log("delivery")
    assert (d["status"], d["transport"], d["code"]) == ("sent", "https", 200)
    assert rep["report-id"] == d["report_id"]


def test_https_503_then_200(reporter, https_sink, pki):
    sink = https_sink(codes=[503])
    url = f"https://reports.example.test:{sink.port}/r"
    reporter.configure(
        static_txt=f"_smtp._tls.a.test v=TLSRPTv1; rua={url}",
        static_route="reports.example.test 127.0.0.1",
        https_ca=pki["ca"], retry_schedule="0")
    reporter.add_events(dane_events("a.test"))
    reporter.run("flush")
    (d,) = reporter.log("delivery")
    assert (d["status"], d["code"]) == ("pending", 503)
    pending = list((reporter.state / "pending").glob("*.json"))
    assert len(pending) == 1
    reporter.run("retry")
    d = reporter.log("delivery")[-1]
    assert (d["status"], d["code"], d["attempts"]) == ("sent", 200, 2)
    assert list((reporter.state / "pending").glob("*")) == []
    assert [p["answered"] for p in sink.posts] == [503, 200]
    assert sink.posts[0]["body"] == sink.posts[1]["body"]


def test_retry_not_due(reporter, https_sink, pki):
    sink = https_sink(codes=[500])
    url = f"https://reports.example.test:{sink.port}/r"
    reporter.configure(
        static_txt=f"_smtp._tls.a.test v=TLSRPTv1; rua={url}",
        static_route="reports.example.test 127.0.0.1",
        https_ca=pki["ca"], retry_schedule="3600")
    reporter.add_events(dane_events("a.test"))
    reporter.run("flush")
    reporter.run("retry")          # not due: nothing happens
    assert len(sink.posts) == 1
    assert len(reporter.log("delivery")) == 1
    reporter.run("retry", "--all")
    assert len(sink.posts) == 2
    assert reporter.log("delivery")[-1]["status"] == "sent"


def test_https_untrusted_server(reporter, https_sink, pki):
    sink = https_sink()
    url = f"https://reports.example.test:{sink.port}/r"
    reporter.configure(
        static_txt=f"_smtp._tls.a.test v=TLSRPTv1; rua={url}",
        static_route="reports.example.test 127.0.0.1",
        https_ca=pki["other_ca"])
    reporter.add_events(dane_events("a.test"))
    reporter.run("flush")
    (d,) = reporter.log("delivery")
    assert d["status"] == "pending" and d["code"] == 0
    assert "certificate" in d["detail"].lower() or "ssl" in \
        d["detail"].lower()
    assert sink.posts == []


def test_give_up(reporter, smtp_sink):
    reporter.configure(
        static_txt="_smtp._tls.a.test v=TLSRPTv1; "
                   "rua=mailto:r@reports.test",
        static_route="reports.test 127.0.0.1",
        smtp_port=1, retry_schedule="60", retry_give_up=0)
    reporter.add_events(dane_events("a.test"))
    reporter.run("flush")
    (d,) = reporter.log("delivery")
    assert d["status"] == "failed" and "connect" in d["detail"]
    assert not (reporter.state / "pending").exists() or \
        list((reporter.state / "pending").iterdir()) == []


def test_static_route_port(reporter, smtp_sink):
    """static_route = NAME ADDRESS:PORT (refsend's syntax): the route's port
    is used, not smtp_port (where nothing listens)."""
    reporter.configure(
        static_txt="_smtp._tls.a.test v=TLSRPTv1; rua=mailto:r@reports.test",
        static_route=f"Reports.Test. 127.0.0.1:{smtp_sink.port}",
        smtp_port=1)
    reporter.add_events(dane_events("a.test"))
    reporter.run("flush")
    assert len(smtp_sink.messages) == 1
    (d,) = reporter.log("delivery")
    assert (d["status"], d["code"]) == ("sent", 250)


def test_mailto_and_https_together(reporter, smtp_sink, https_sink, pki):
    sink = https_sink()
    url = f"https://reports.example.test:{sink.port}/r"
    reporter.configure(
        static_txt="_smtp._tls.a.test v=TLSRPTv1 ; ext=1 ; "
                   f"rua=mailto:r@reports.test , {url}",
        static_route=["reports.test 127.0.0.1",
                      "reports.example.test 127.0.0.1"],
        smtp_port=smtp_sink.port, https_ca=pki["ca"])
    reporter.add_events(dane_events("a.test"))
    reporter.run("flush")
    assert len(smtp_sink.messages) == 1 and len(sink.posts) == 1
    assert sorted(d["transport"] for d in reporter.log("delivery")) == \
        ["https", "mailto"]
    # One report, sent twice: the same bytes.
    msg = email.message_from_bytes(smtp_sink.messages[0]["data"],
                                   policy=email.policy.default)
    gz = list(msg.iter_parts())[1].get_content()
    assert gz == sink.posts[0]["body"]


@pytest.mark.parametrize("txts,decision", [
    ([], "no-record"),
    (["v=spf1 -all"], "no-record"),
    (["v=TLSRPTv1; rua=mailto:a@reports.test",
      "v=TLSRPTv1; rua=mailto:b@reports.test"], "several-records"),
    (["v=TLSRPTv1; rua=ftp://reports.test/"], "malformed"),
    (["v=TLSRPTv1;"], "malformed"),
])
def test_no_reporting(reporter, smtp_sink, dns_sink, txts, decision):
    dns = dns_sink({})
    reporter.configure(
        static_txt=[f"_smtp._tls.a.test {t}" for t in txts] or
        ["_smtp._tls.other.test v=TLSRPTv1; rua=mailto:x@reports.test"],
        static_route="reports.test 127.0.0.1", smtp_port=smtp_sink.port,
        resolver=f"127.0.0.1@{dns.port}")
    reporter.add_events(dane_events("a.test"))
    reporter.run("flush")
    (rec,) = reporter.log("record")
    assert rec["decision"] == decision
    # static_txt answers without DNS; otherwise DNS is asked.
    assert (("_smtp._tls.a.test", "TXT") in dns.queries) == (not txts)
    assert reporter.log("report") == []
    assert smtp_sink.messages == []


def test_insecure_domain_no_policy_found(reporter, smtp_sink):
    reporter.configure(
        static_txt="_smtp._tls.b.test v=TLSRPTv1; rua=mailto:r@reports.test",
        static_route="reports.test 127.0.0.1", smtp_port=smtp_sink.port)
    t = time.time() - 30
    reporter.add_events(
        ev(ts=t, event="policy", queue_id="q7", domain="b.test",
           host="mx.b.test", level="dane", tlsa=[], usable=0, mode="may")
        + ev(ts=t, event="session", queue_id="q7", host="mx.b.test",
             address="127.25.2.1", tls=True, result_type=None, mode="may")
        + ev(ts=t, event="session", queue_id="q7", host="mx.b.test",
             address="127.25.2.1", tls=False, result_type=None, mode="may",
             outcome="ok"))
    reporter.run("flush")
    msg = email.message_from_bytes(smtp_sink.messages[0]["data"],
                                   policy=email.policy.default)
    rep = json.loads(gzip.decompress(list(msg.iter_parts())[1].get_content()))
    check_report(rep, "b.test")
    (p,) = rep["policies"]
    assert p["policy"]["policy-type"] == "no-policy-found"
    assert p["policy"]["policy-string"] == []
    assert p["summary"] == {"total-successful-session-count": 1,
                            "total-failure-session-count": 1}
    assert p["failure-details"][0]["result-type"] == "starttls-not-supported"


def test_config_errors(binary, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("events = /x\nstate_dir = /y\nreporting_domain = s\n"
                    "colour = blue\n")
    r = subprocess.run([str(binary), "-c", str(conf), "flush"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "bad.conf:4: colour: unknown key" in r.stderr
    r = subprocess.run([str(binary), "-c", str(conf), "frobnicate"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "usage" in r.stderr


def test_through_dns(reporter, smtp_sink, dns_sink):
    """No static knobs: the TXT record (two character-strings, joined),
    the rua domain's MX and its address come through libunbound."""
    dns = dns_sink({
        ("_smtp._tls.a.test", "TXT"): ['"v=TLSRPTv1; rua=mailto:r@rep" '
                                       '"orts.test" "; x=1"', '"v=spf1 -all"'],
        ("reports.test", "MX"): ["10 mx.reports.test."],
        ("mx.reports.test", "A"): ["127.0.0.1"],
        ("_smtp._tls.c.test", "TXT"): ['"v=TLSRPTv1; rua=mailto:a@c.test"',
                                       '"v=TLSRPTv1; rua=mailto:b@c.test"'],
    })
    reporter.configure(resolver=f"127.0.0.1@{dns.port}",
                       smtp_port=smtp_sink.port)
    reporter.add_events(dane_events("a.test") + dane_events("b.test") +
                        dane_events("c.test"))
    reporter.run("flush")
    recs = {r["policy_domain"]: r for r in reporter.log("record")}
    assert recs["a.test"]["decision"] == "ok"
    assert recs["a.test"]["rua"] == ["mailto:r@reports.test"]
    assert recs["b.test"]["decision"] == "no-record"
    assert recs["c.test"]["decision"] == "several-records"
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.messages[0]["to"] == ["r@reports.test"]
    assert ("reports.test", "MX") in dns.queries
    assert ("mx.reports.test", "A") in dns.queries
    (d,) = reporter.log("delivery")
    assert d["status"] == "sent"


REFSEND = pathlib.Path(__file__).resolve().parents[2] / \
    os.environ.get("DANELAB_BUILD", "build") / "refsend"


@pytest.mark.skipif(not REFSEND.exists(), reason="refsend is not built")
def test_real_refsend_events(reporter, smtp_sink, tmp_path):
    """Real refsend events, not canned ones: refsend delivers to an SMTP
    sink without STARTTLS through its static_route knob (level static, no
    DANE), then the reporter reports that session as a cleartext one."""
    anchor = tmp_path / "anchor.ds"
    anchor.write_text(". IN DS 20326 8 2 e06d44b80b8f1d39a95c0b0d7c65d084"
                      "58e880409bbc683457104237c7f8ec8d\n")
    rconf = tmp_path / "refsend.conf"
    rconf.write_text("\n".join([
        f"queue_dir = {tmp_path / 'queue'}", f"events = {reporter.events}",
        f"dsn_dir = {tmp_path / 'dsn'}", "resolver = 127.0.0.1",
        f"trust_anchor = {anchor}", "helo_name = refsend.test.invalid",
        f"static_route = sink.test 127.0.0.1:{smtp_sink.port}",
        "retry_schedule = 0", "connect_timeout = 5",
        "command_timeout = 10"]) + "\n")

    def refsend(*args, data=None):
        r = subprocess.run([str(REFSEND), "-c", str(rconf), *args],
                           input=data, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
    refsend("submit", "-f", "a@refsend.test", "u@sink.test",
            data=b"Subject: t\n\nhello\n")
    refsend("run", "--all")
    assert len(smtp_sink.messages) == 1
    reporter.configure(
        static_txt="_smtp._tls.sink.test v=TLSRPTv1; "
                   "rua=mailto:r@reports.test",
        static_route="reports.test 127.0.0.1", smtp_port=smtp_sink.port,
        sending_mta_ip=None)
    reporter.run("flush")
    assert len(smtp_sink.messages) == 2
    msg = email.message_from_bytes(smtp_sink.messages[1]["data"],
                                   policy=email.policy.default)
    rep = json.loads(gzip.decompress(list(msg.iter_parts())[1].get_content()))
    (p,) = rep["policies"]
    assert p["policy"]["policy-type"] == "no-policy-found"
    assert p["policy"]["policy-domain"] == "sink.test"
    assert p["summary"] == {"total-successful-session-count": 0,
                            "total-failure-session-count": 1}
    assert p["failure-details"][0]["result-type"] == "starttls-not-supported"
    assert p["failure-details"][0]["receiving-ip"] == "127.0.0.1"
    # Not configured: the address the kernel uses to reach the MX.
    assert p["failure-details"][0]["sending-mta-ip"] == "127.0.0.1"


def test_lab_grader_checks(reporter, smtp_sink, https_sink, pki, dkim_key):
    """The lab's own receiver-side checks (harness/danelab/tlsrpt_check.py)
    find nothing wrong, MUST or SHOULD, with our mail and HTTPS reports in
    the default set-up: yesterday's UTC day, reported after midnight."""
    key_path, key_record = dkim_key
    sink = https_sink()
    url = f"https://reports.example.test:{sink.port}/r"
    reporter.configure(
        static_txt=f"_smtp._tls.a.test v=TLSRPTv1; "
                   f"rua=mailto:r@reports.test,{url}",
        static_route=["reports.test 127.0.0.1",
                      "reports.example.test 127.0.0.1"],
        smtp_port=smtp_sink.port, https_ca=pki["ca"],
        dkim_selector="s1", dkim_key=key_path, period=None)
    day = int(time.time()) // 86400 * 86400 - 86400
    reporter.add_events(dane_events("a.test", ok=3, bad=2, t=day + 7200))
    reporter.run("flush")

    def dnsfunc(name, timeout=5):
        return key_record.encode()
    doc, problems = tlsrpt_check.check_mail(smtp_sink.messages[0]["data"],
                                            dnsfunc, "sender.test")
    assert [str(p) for p in problems] == [] and doc is not None
    doc2, problems = tlsrpt_check.check_https(
        sink.posts[0]["body"], sink.posts[0]["headers"]["Content-Type"])
    assert [str(p) for p in problems] == [] and doc2 == doc


def test_odd_domain_not_reported(reporter, smtp_sink):
    """A policy domain that is not a host name never reaches a header."""
    reporter.configure(
        static_txt="_smtp._tls.a.test v=TLSRPTv1; rua=mailto:r@reports.test",
        static_route="reports.test 127.0.0.1", smtp_port=smtp_sink.port)
    reporter.add_events(dane_events("a.test\r\nBcc: x@evil.test"))
    r = reporter.run("flush")
    assert "not a host name" in r.stderr
    assert reporter.log() == [] and smtp_sink.messages == []


def _reports(reporter):
    return [json.loads((reporter.state / "reports" /
                        (e["report_id"] + ".json")).read_text())
            for e in reporter.log("report")]


def _utc_day(t):
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def test_period_daily_is_the_default(reporter, smtp_sink):
    """No period key: complete UTC days only, one report per day, each
    from its 00:00:00Z to the next day's 00:00:00Z (RFC 8460 section 4.1's
    00:00-24:00); today's events wait for tomorrow."""
    reporter.configure(
        static_txt="_smtp._tls.a.test v=TLSRPTv1; rua=mailto:r@reports.test",
        static_route="reports.test 127.0.0.1", smtp_port=smtp_sink.port,
        period=None)
    today = int(time.time()) // 86400 * 86400
    reporter.add_events(dane_events("a.test", qid="y2", ok=1, bad=0,
                                    t=today - 2 * 86400 + 100) +
                        dane_events("a.test", qid="y1", ok=2, bad=1,
                                    t=today - 86400 + 100) +
                        dane_events("a.test", qid="t0", ok=5, bad=0,
                                    t=today + 1))
    reporter.run("flush")
    reps = _reports(reporter)
    assert len(reps) == 2 and len(smtp_sink.messages) == 2
    assert reps[1]["date-range"] == {
        "start-datetime": f"{_utc_day(today - 86400)}T00:00:00Z",
        "end-datetime": f"{_utc_day(today)}T00:00:00Z"}
    assert reps[1]["policies"][0]["summary"] == \
        {"total-successful-session-count": 2,
         "total-failure-session-count": 1}
    assert reps[0]["policies"][0]["summary"][
        "total-successful-session-count"] == 1
    # The file name says the same range in Unix seconds.
    msg = email.message_from_bytes(smtp_sink.messages[1]["data"],
                                   policy=email.policy.default)
    assert list(msg.iter_parts())[1].get_filename() == \
        f"sender.test!a.test!{today - 86400}!{today}.json.gz"
    # Today's events are still unread.
    state = json.loads((reporter.state / "state.json").read_text())
    assert 0 < state["offset"] < reporter.events.stat().st_size
    reporter.run("flush")
    assert len(reporter.log("report")) == 2


def test_day_boundary_with_the_clock_advanced(reporter, smtp_sink):
    """Sessions in the last half second of a UTC day and the first of the
    next: each day's report holds its own, inside its date-range, and the
    later day is only reported once the (advanced) clock has left it."""
    reporter.configure(
        static_txt="_smtp._tls.a.test v=TLSRPTv1; rua=mailto:r@reports.test",
        static_route="reports.test 127.0.0.1", smtp_port=smtp_sink.port,
        period=None)
    day = (int(time.time()) // 86400 + 3) * 86400     # in the future
    reporter.add_events(
        dane_events("a.test", qid="d1", ok=1, bad=1, t=day - 2.6) +
        dane_events("a.test", qid="d2", ok=2, bad=0, t=day - 1.2))
    reporter.run("flush", clock=day - 1)   # the day is not over yet
    assert reporter.log("report") == []
    reporter.run("flush", clock=day + 43200)
    (first,) = _reports(reporter)
    assert first["date-range"] == {
        "start-datetime": f"{_utc_day(day - 86400)}T00:00:00Z",
        "end-datetime": f"{_utc_day(day)}T00:00:00Z"}
    # d1's sessions at day-1.6 and day-0.6, d2's at day-0.2: all of the
    # old day (the last 0.2 s after the end's second 23:59:59).
    assert first["policies"][0]["summary"] == \
        {"total-successful-session-count": 3,
         "total-failure-session-count": 1}
    reporter.add_events(dane_events("a.test", qid="d3", ok=1, bad=0,
                                    t=day + 0.1))
    reporter.run("flush", clock=day + 43300)     # still that next day
    assert len(reporter.log("report")) == 1
    reporter.run("flush", clock=day + 86400 + 5)
    second = _reports(reporter)[1]
    assert second["date-range"] == {
        "start-datetime": f"{_utc_day(day)}T00:00:00Z",
        "end-datetime": f"{_utc_day(day + 86400)}T00:00:00Z"}
    assert second["policies"][0]["summary"][
        "total-successful-session-count"] == 1
    (d,) = {e["status"] for e in reporter.log("delivery")}
    assert d == "sent"


def test_period_flush_end_covers_the_last_session(reporter, smtp_sink):
    """period = flush: a session logged at T+0.25 is inside a report made
    at T: the end is rounded up to the next second, not truncated."""
    reporter.configure(
        static_txt="_smtp._tls.a.test v=TLSRPTv1; rua=mailto:r@reports.test",
        static_route="reports.test 127.0.0.1", smtp_port=smtp_sink.port)
    t = int(time.time()) - 100
    reporter.add_events(dane_events("a.test", ok=1, bad=0, t=t - 0.75))
    reporter.run("flush", clock=t)
    (rep,) = _reports(reporter)
    assert rep["date-range"] == {"start-datetime": iso(t - 1),
                                 "end-datetime": iso(t + 1)}
    state = json.loads((reporter.state / "state.json").read_text())
    assert state["last_flush"] == t + 1


def test_contact_info_is_an_address(reporter, binary):
    reporter.configure(contact_info="mailto:tlsrpt@sender.test")
    r = reporter.run("flush", check=False)
    assert r.returncode == 1
    assert "not a mailto: URI" in r.stderr
    reporter.configure(contact_info="tlsrpt@elsewhere.test")
    r = reporter.run("flush", check=False)
    assert r.returncode == 1 and "TLS-Report-Submitter" in r.stderr
