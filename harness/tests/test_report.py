"""Reports: results.json, junit.xml, and report.html as a browser renders
it (headless Chromium: a screenshot kept with the test's files, and the
rendered matrix checked), with a relayed session (j41: an on-path attacker
strips STARTTLS) drawn and transcribed with both legs."""
from __future__ import annotations

import json
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

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("report")
    scs = select(load_catalog(), ["a01-secure-dane-ee",
                                  "d16-dane-ee-wrong-digest",
                                  "e24-no-starttls",
                                  "j41-starttls-stripped"])
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
    suite = ET.parse(report / "out" / "junit.xml").getroot()[0]
    assert suite.get("tests") == "4"
    assert int(suite.get("failures") or 0) >= 2
    failed = [tc.get("name") for tc in suite if tc.find("failure")
              is not None]
    assert "d16-dane-ee-wrong-digest" in failed


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
    got = dict((v, 0) for _, v in p.cells)
    for _, v in p.cells:
        got[v] += 1
    data = json.loads((report / "results.json").read_text())
    assert got.get("fail", 0) == data["counts"].get("fail", 0)
    assert "<svg" in dom, "sequence diagrams are drawn"
    print(f"screenshot: {shot}")


def _case(report: Path, sid: str) -> dict:
    return next(c for c in load_results([report / "results.json"])
                if c["id"] == sid)


def test_relayed_session_kept_whole(report: Path) -> None:
    """results.json keeps both legs of the relayed session, joined, and
    every field fake-mx logged (the `stripped` flag among them)."""
    c = _case(report, "j41-starttls-stripped")
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


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by "
                    "ci/deps; without it this check cannot run")
def test_relay_drawn_in_chromium(report: Path) -> None:
    """As Chromium renders it: the attacker is a lane of its own between
    the sender and the real server, the removed STARTTLS is shown as
    removed (not as relayed), every client command of a normal session is
    an arrow, the SNI sent is shown, and the transcript says who spoke."""
    html = report / "out" / "report.html"
    prof = report / "chromium-profile-relay"
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
