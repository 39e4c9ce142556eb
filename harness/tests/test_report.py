"""Reports: results.json, junit.xml, and report.html as a browser renders
it (headless Chromium: a screenshot kept with the test's files, and the
rendered matrix checked); the certification header, the filter with and
without script, a self-contained page, and the same verdicts from the same
sender run twice; a relayed session (j41: an on-path attacker strips
STARTTLS) drawn and transcribed with both legs."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from danelab.adapters import get_adapter
from danelab.catalog import load_catalog, select
from danelab.report import load_results, write_reports
from danelab.results import write_results
from danelab.runner import LabRun

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium")
D17_REFS = ["https://github.com/shuque/dane/issues/3"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("report")
    scs = select(load_catalog(), ["a01-secure-dane-ee",
                                  "d16-dane-ee-wrong-digest",
                                  "d17-dane-ee-expired-leaf",
                                  "e24-no-starttls"])
    r = LabRun(scs, get_adapter("broken-no-dane"), run / "run").execute()
    write_results(r, run / "results.json")
    write_reports([run / "results.json"], run / "out")
    return run


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str]] = []
        self.rows = 0
        self.in_matrix = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id") == "matrix":
            self.in_matrix = True
        if self.in_matrix and tag == "tr" and "data-id" in a:
            self.rows += 1
        if self.in_matrix and tag == "td" and "data-verdict" in a:
            self.cells.append((a["data-sender"], a["data-verdict"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.in_matrix = False


def test_results_and_junit(report: Path) -> None:
    cases = load_results([report / "results.json"])
    verdicts = {c["id"]: c["verdict"] for c in cases}
    assert verdicts["d16-dane-ee-wrong-digest"] == "fail"
    assert verdicts["e24-no-starttls"] == "fail"
    c = next(c for c in cases if c["id"].startswith("d16"))
    assert c["dns_records"] and c["transcript"] and c["explain"]
    assert c["evidence"]["dns"]["first"]["MX"]["status"] == "secure"
    assert c["evidence"]["dns"]["first"]["hosts"]["mx1"]["tlsa_status"] \
        == "secure"
    refs = {c["id"]: c["refs"] for c in cases}
    assert refs["d16-dane-ee-wrong-digest"] == []
    assert refs["d17-dane-ee-expired-leaf"] == D17_REFS
    suite = ET.parse(report / "out" / "junit.xml").getroot()[0]
    assert suite.get("tests") == "4"
    assert int(suite.get("failures") or 0) >= 2
    failed = [tc.get("name") for tc in suite if tc.find("failure")
              is not None]
    assert "d16-dane-ee-wrong-digest" in failed
    d16 = next(tc for tc in suite if tc.get("name") ==
               "d16-dane-ee-wrong-digest")
    assert "[RFC 7672 §3.2 MUST NOT]" in d16.find("failure").get("message")


def test_findings_per_document(report: Path) -> None:
    """Each failed MUST counts against the document its ground names; the
    report's certification header shows the same count per document."""
    data = json.loads((report / "results.json").read_text())
    rfc7672 = data["documents"]["RFC 7672"]
    assert {"d16-dane-ee-wrong-digest", "e24-no-starttls"} <= \
        set(rfc7672["fail_cases"])
    assert rfc7672["fail"] == len(rfc7672["fail_cases"])
    html = (report / "out" / "report.html").read_text()
    assert 'class="matrix docs"' in html
    assert f'data-document="RFC 7672" data-fail="{rfc7672["fail"]}"' in html
    assert 'data-document="RFC 7672" data-state="fail"' in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by "
                    "ci/deps; without it this check cannot run")
def test_html_renders_in_chromium(report: Path) -> None:
    html = report / "out" / "report.html"
    shot = report / "out" / "report.png"
    prof = report / "chromium-profile"
    base = [str(CHROMIUM), *FLAGS, f"--user-data-dir={prof}"]
    subprocess.run(base + ["--window-size=1400,1000",
                           f"--screenshot={shot}", html.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.exists() and shot.stat().st_size > 10_000
    dom = subprocess.run(base + ["--dump-dom", html.as_uri()],
                         capture_output=True, timeout=120, check=True,
                         text=True).stdout
    p = Cells()
    p.feed(dom)
    assert p.rows == 4
    for r in D17_REFS:      # a link beside the case's RFC sections
        assert f'<a href="{r}">{r}</a>' in dom
    got = dict((v, 0) for _, v in p.cells)
    for _, v in p.cells:
        got[v] += 1
    data = json.loads((report / "results.json").read_text())
    assert got.get("fail", 0) == data["counts"].get("fail", 0)
    assert "<svg" in dom, "sequence diagrams are drawn"
    print(f"screenshot: {shot}")


@pytest.fixture(scope="module")
def relayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """broken-no-dane through j41 (an on-path attacker strips STARTTLS: it
    falls for it) and a01 (a plain DANE host), reported."""
    run = tmp_path_factory.mktemp("relayed")
    scs = select(load_catalog(), ["a01-secure-dane-ee",
                                  "j41-starttls-stripped"])
    r = LabRun(scs, get_adapter("broken-no-dane"), run / "run").execute()
    write_results(r, run / "results.json")
    write_reports([run / "results.json"], run / "out")
    return run


def _case(report: Path, sid: str) -> dict:
    return next(c for c in load_results([report / "results.json"])
                if c["id"] == sid)


def test_relayed_session_kept_whole(relayed: Path) -> None:
    """results.json keeps both legs of the relayed session, joined, and
    every field fake-mx logged (the `stripped` flag among them)."""
    c = _case(relayed, "j41-starttls-stripped")
    roles = {t["role"]: t for t in c["transcript"]}
    assert set(roles) >= {"relay", "relayed"}
    relay, leg = roles["relay"], roles["relayed"]
    assert relay["upstream"] == leg["session"]
    assert leg["via"] == relay["session"]
    assert (relay["dialled"], leg["dialled"]) == ("mx1", "mx1")
    assert leg["host"] == "real-mx1"
    gone = [e for e in relay["events"] if e.get("stripped")]
    assert [e["line"] for e in gone] == ["250 STARTTLS"]
    up = next(e for e in relay["events"] if e["event"] == "upstream")
    assert next(e for e in leg["events"] if e["event"] == "connect"
                )["peer"] == up["local"]
    ehlo = next(e for e in leg["events"] if e["event"] == "ehlo")
    assert ehlo["esmtp"] is True and ehlo["starttls_offered"] is True
    # broken-no-dane fell for it: the grader names the host it dialled
    assert c["verdict"] == "fail" and c["observed"] == "delivered-plain"
    assert c["delivered_to"] == ["mx1"]


class Text(HTMLParser):
    """The text of each case section, its svg text apart, and the
    transcript rows with their classes."""

    def __init__(self) -> None:
        super().__init__()
        self.case = ""
        self.svg: dict[str, list[str]] = {}
        self.rows: dict[str, list[tuple[str, str]]] = {}
        self.in_svg = False
        self.row: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "section" and "case" in (a.get("class") or ""):
            self.case = a.get("id", "")
        elif tag == "svg":
            self.in_svg = True
        elif tag == "tr" and (a.get("class") or "").startswith("tx-"):
            self.row = (a["class"][3:], [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.in_svg = False
        elif tag == "tr" and self.row:
            self.rows.setdefault(self.case, []).append(
                (self.row[0], " ".join(self.row[1])))
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.in_svg and data.strip():
            self.svg.setdefault(self.case, []).append(data.strip())
        if self.row is not None:
            self.row[1].append(data.strip())


# The reference sender twice over a few scenarios, by the command line:
# pass, TLSRPT, a MAY choice.  The broken sender's report above ran three
# of them (and d17, with refs), so the merged report has rows every sender
# passed.
TWICE = ["a01-secure-dane-ee", "d16-dane-ee-wrong-digest", "e24-no-starttls",
         "h36b-report-validation-failure", "a04-mx-insecure-host-secure"]


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("twice")
    out = []
    for n in (1, 2):
        sel = [w for i in TWICE for w in ("-s", i)]
        cp = subprocess.run([str(ROOT / "bin" / "danelab"), "run",
                             "--sender", "reference", *sel,
                             "--report", str(base / f"report{n}"),
                             "--run-dir", str(base / f"run{n}")],
                            capture_output=True, text=True, timeout=600)
        assert cp.returncode == 0, cp.stderr[:3000]
        out.append(base / f"report{n}" / "results.json")
    return out


def _verdicts(path: Path) -> dict[tuple[str, str], tuple[str, str, str]]:
    data = json.loads(path.read_text())
    return {(c["id"], c.get("phase", "first")):
            (c["verdict"], c["observed"],
             (c.get("tlsrpt") or {}).get("verdict", "-"))
            for c in data["cases"]}


def test_same_sender_twice_same_verdicts(twice: list[Path]) -> None:
    """Determinism: the same sender over the same scenarios gives the same
    verdicts, outcomes and TLSRPT grades, and the same suite version,
    sender version and configuration digest; only dates and paths
    differ."""
    a, b = _verdicts(twice[0]), _verdicts(twice[1])
    assert a == b
    assert len(a) == len(TWICE)
    assert {v for v, _, _ in a.values()} <= {"pass", "info"}
    assert any(v == "info" for v, _, _ in a.values()), "a04 is a MAY"
    ra, rb = (json.loads(p.read_text())["run"] for p in twice)
    assert ra["suite"] == rb["suite"] and ra["sender"] == rb["sender"]
    assert ra["suite"]["catalog_files"] == len(load_catalog())
    assert ra["sender"]["version"].startswith("refsend (danelab reference")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}",
                        ra["sender"]["config_digest"])
    assert ra["scenarios"] == len(TWICE)
    # the commands differ in the two folders only
    ca, cb = (re.sub(r" --(report|run-dir) \S+", "", r["command"])
              for r in (ra, rb))
    assert ca == cb and ca.endswith(" run --sender reference "
                                    "-s a01-secure-dane-ee -s "
                                    "d16-dane-ee-wrong-digest -s "
                                    "e24-no-starttls -s "
                                    "h36b-report-validation-failure -s "
                                    "a04-mx-insecure-host-secure")


@pytest.fixture(scope="module")
def merged(report: Path, twice: list[Path]) -> Path:
    """The reference's first run and the broken sender's run, merged by
    `danelab report` as CI would merge shards or senders."""
    out = report / "merged"
    cp = subprocess.run([str(ROOT / "bin" / "danelab"), "report",
                         str(twice[0]), str(report / "results.json"),
                         "--out", str(out)],
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 1, cp.stdout + cp.stderr     # broken fails
    return out


def test_junit_carries_the_suite_and_sender(merged: Path,
                                            twice: list[Path]) -> None:
    run = json.loads(twice[0].read_text())["run"]
    suites = {s.get("name"): s for s in
              ET.parse(merged / "junit.xml").getroot()}
    props = {p.get("name"): p.get("value") for p in
             suites["danelab.reference"].iter("property")}
    assert props["danelab.suite"] == run["suite"]["label"]
    assert props["danelab.sender.version"] == run["sender"]["version"]
    assert props["danelab.sender.config_digest"] == \
        run["sender"]["config_digest"]
    assert props["danelab.command"] == run["command"]


class Page(HTMLParser):
    """What the certification report shows: the header of each sender,
    the tally rows, the filter, which case rows and sections are hidden,
    every address the page would load, and the links a reader may follow
    (a scenario's refs)."""

    def __init__(self) -> None:
        super().__init__()
        self.certs: dict[str, str] = {}
        self.lines: list[tuple[str, str]] = []
        self.tallies: list[str] = []
        self.filter_hidden: bool | None = None
        self.rows: dict[str, bool] = {}
        self.sections: dict[str, bool] = {}
        self.loads: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "section" and "cert" in (a.get("class") or ""):
            self.certs[a["data-sender"]] = a["data-passed"]
        if tag == "li" and "data-document" in a:
            self.lines.append((a["data-document"], a["data-state"]))
        if tag == "tr" and "data-section" in a:
            self.tallies.append(a["data-section"])
        if tag == "p" and a.get("id") == "filter":
            self.filter_hidden = "hidden" in a
        if tag == "tr" and "data-worst" in a:
            self.rows[a["data-id"]] = "hidden" in a
        if tag == "section" and "data-worst" in a:
            self.sections[a["id"]] = "hidden" in a
        for k in ("src", "href"):
            v = a.get(k) or ""
            if v and not v.startswith("#"):
                # a link is followed only when clicked; anything else loads
                (self.links if tag == "a" and k == "href" else
                 self.loads).append(v)
        if tag in ("link", "iframe", "object", "embed", "img"):
            self.loads.append(f"<{tag}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    return p


def test_report_is_self_contained_and_readable_without_script(
        merged: Path) -> None:
    """What a browser without script shows is the file itself: the filter
    stays hidden and no case is; nothing is loaded from anywhere, and the
    only links out are the cases' refs."""
    html = (merged / "report.html").read_text()
    p = _parse(html)
    assert p.loads == [], p.loads
    assert p.links and set(p.links) == set(D17_REFS), p.links
    assert "@import" not in html and "url(" not in html
    assert p.filter_hidden is True
    assert p.rows and not any(p.rows.values())
    assert p.sections and not any(p.sections.values())


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by "
                    "ci/deps; without it this check cannot run")
def test_relay_drawn_in_chromium(relayed: Path) -> None:
    """As Chromium renders it: the attacker is a lane of its own between
    the sender and the real server, the removed STARTTLS is shown as
    removed (not as relayed), every client command of a normal session is
    an arrow, the SNI sent is shown, and the transcript says who spoke."""
    html = relayed / "out" / "report.html"
    prof = relayed / "chromium-profile-relay"
    dom = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={prof}",
                          "--dump-dom", html.as_uri()],
                         capture_output=True, timeout=120, check=True,
                         text=True).stdout
    t = Text()
    t.feed(dom)
    j41 = t.svg["j41-starttls-stripped"]
    assert j41[:3] == ["sender", "attacker at mx1", "real-mx1"]
    assert "✂ removed: 250 STARTTLS" in j41
    assert not any(x.startswith("250 STARTTLS") for x in j41)
    assert "message IN CLEARTEXT (" in " ".join(j41)
    rows = t.rows["j41-starttls-stripped"]
    assert [x.split(" ", 2)[2] for c, x in rows if c == "stripped"] == [
        "attacker REMOVED from the server's reply: 250 STARTTLS"]
    assert any(c == "captured" and "MAIL FROM:" in x.upper()
               for c, x in rows)
    a01 = " | ".join(t.svg["a01-secure-dane-ee"])
    for cmd in ("EHLO ", "STARTTLS", "MAIL FROM:<", "RCPT TO:<", "DATA",
                "QUIT", "SNI (none)"):
        assert cmd in a01, (cmd, a01)
    assert all(x.split()[0].startswith("+") and x.split()[1] == "ms"
               for _, x in rows if x), rows[:3]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by "
                    "ci/deps; without it this check cannot run")
def test_certification_report_in_chromium(merged: Path,
                                          twice: list[Path]) -> None:
    """The merged report as Chromium renders it: the header of each
    sender (PASS for the reference, FAIL for the broken one, per RFC),
    the suite and sender facts, the tallies failures first, the failing
    cases first; the filter shown by its script and, with #show=fail,
    hiding exactly the rows and sections without a failure."""
    html = merged / "report.html"
    prof = merged.parent / "chromium-profile-cert"
    base = [str(CHROMIUM), *FLAGS, f"--user-data-dir={prof}"]
    for name, frag in (("top", ""), ("failures", "#show=fail")):
        shot = merged / f"report-{name}.png"
        subprocess.run(base + ["--window-size=1400,1400",
                               f"--screenshot={shot}", html.as_uri() + frag],
                       capture_output=True, timeout=120, check=True)
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
    dom = subprocess.run(base + ["--dump-dom", html.as_uri()],
                         capture_output=True, timeout=120, check=True,
                         text=True).stdout
    p = _parse(dom)
    assert p.certs == {"reference": "yes", "broken-no-dane": "no"}
    assert ("RFC 7672", "pass") in p.lines and \
        ("RFC 7672", "fail") in p.lines
    assert ("RFC 8460", "pass") in p.lines          # the reference reports
    assert ("RFC 8460", "not-graded") in p.lines    # the broken one not
    text = " ".join(p.text)
    run = json.loads(twice[0].read_text())["run"]
    for fact in (run["suite"]["label"], run["sender"]["version"],
                 run["sender"]["config_digest"], run["command"],
                 run["started"]):
        assert fact in text, fact
    assert "passes every MUST of RFC 7672 and RFC 8460 in 5 of the" in text
    # the broken sender's failures are the report's (the reference's
    # run passed every case)
    broken = json.loads((merged.parent / "results.json").read_text())
    bad = {c["id"] for c in broken["cases"] if c["verdict"] == "fail"}
    failed = sorted({c["section"] for c in broken["cases"]
                     if c["verdict"] == "fail"})
    assert bad and sorted(p.tallies[:len(failed)]) == failed
    assert set(p.tallies[len(failed):]).isdisjoint(failed)
    assert p.filter_hidden is False                 # the script shows it
    assert not any(p.rows.values())
    order = list(p.sections)
    assert set(order[:len(bad)]) == bad             # failures first
    dom = subprocess.run(base + ["--dump-dom", html.as_uri() + "#show=fail"],
                         capture_output=True, timeout=120, check=True,
                         text=True).stdout
    p = _parse(dom)
    assert {k for k, hid in p.rows.items() if not hid} == bad
    assert {k for k, hid in p.sections.items() if not hid} == bad
    assert len(p.rows) == len(set(TWICE) | {c["id"] for c in
                                            broken["cases"]})
    assert f"{len(bad)} case(s) shown" in dom
