"""Traffic to an address no scenario declared is a failure, not a silent
pass (as in Deckard): fake-mx's catch-all sees it, the grader fails the
scenario whose address range it hit, and traffic outside every range fails
the run itself (results.json `problems`, junit, report, exit status).
broken-stray dials both kinds; the reference sender's run of the whole
catalog (test_catalog.py) shows that `listen = false` hosts, which now land
in the catch-all too, are not counted against anyone."""
from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

from danelab.adapters.naive import STRAY_RELAY
from test_cli import danelab

IDS = ["a01-secure-dane-ee", "e25c-tls-handshake-alert",
       "f29-partial-mx1-down-mx2-no-tlsa"]


def test_stray_sender_fails_cases_and_run(tmp_path: Path) -> None:
    sel = [x for i in IDS for x in ("-s", i)]
    cp = danelab("run", "--sender", "broken-stray", *sel, "--run-dir",
                 str(tmp_path / "run"))
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert f"FAIL  run: 1 connection(s) to {STRAY_RELAY}:25" in cp.stdout
    out = tmp_path / "run" / "report"
    data = json.loads((out / "results.json").read_text())
    # outside every range: a problem of the run (e25c's undeliverable
    # message went to the fallback relay)
    assert [(p["kind"], p["address"], p["sender"])
            for p in data["problems"]] == [
        ("stray-traffic", f"{STRAY_RELAY}:25", "broken-stray")]
    for c in data["cases"]:
        caught = {e["local"]: e for t in c["transcript"]
                  if t["listener"] == "catch-all" for e in t["events"]
                  if e["event"] == "connect"}
        # inside a scenario's range: that scenario fails, for that reason
        probe = [a for a in caught if a.endswith(".250:25")]
        assert len(probe) == 1, c["transcript"]
        bad = [ch["text"] for ch in c["checks"] if not ch["ok"]]
        assert c["verdict"] == "fail"
        assert "connection(s) to address(es) the scenario never " \
            f"declared: {probe[0][:-3]}" in bad
        assert not any(STRAY_RELAY in t for t in bad)
        if c["id"].startswith("f29"):
            # mx1 (listen = false) was refused by the catch-all: evidence,
            # not an undeclared address
            mx1 = re.sub(r"\.250:25$", ".1:25", probe[0])
            assert mx1 in caught
            assert not any(mx1[:-3] in t for t in bad)
            assert c["observed"] == "delivered-tls"
    suites = ET.parse(out / "junit.xml").getroot()
    run = [tc for tc in suites.iter("testcase")
           if tc.get("classname") == "danelab.broken-stray.run"]
    assert [tc.get("name") for tc in run] == \
        [f"stray-traffic {STRAY_RELAY}:25"]
    assert run[0].find("failure") is not None
    assert f"{STRAY_RELAY}:25, an address no scenario declared" in \
        (out / "report.html").read_text()


def test_run_problems_alone_fail_the_report(tmp_path: Path) -> None:
    """A results file whose every case passed but that has a problem of
    the run: `danelab report` exits 1 and shows it."""
    prob = {"kind": "stray-traffic", "address": "127.99.9.9:25",
            "connections": 1, "session": "catch-all#1",
            "text": "1 connection(s) to 127.99.9.9:25, an address no "
                    "scenario declared"}
    for name, problems, status in (("bad", [prob], 1), ("good", [], 0)):
        f = tmp_path / f"{name}.json"
        f.write_text(json.dumps({"sender": "x", "problems": problems,
                                 "cases": []}))
        cp = danelab("report", str(f), "--out", str(tmp_path / name))
        assert cp.returncode == status, cp.stdout + cp.stderr
        junit = (tmp_path / name / "junit.xml").read_text()
        html = (tmp_path / name / "report.html").read_text()
        assert ('failures="1"' in junit) == bool(problems)
        assert ("127.99.9.9:25, an address no scenario declared" in html) \
            == bool(problems)
