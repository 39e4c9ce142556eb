"""Reports: results.json, junit.xml, and report.html as a browser renders
it (headless Chromium: a screenshot kept with the test's files, and the
rendered matrix checked)."""
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
