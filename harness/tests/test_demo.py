"""The teaching labs (`danelab demo`), as a class uses them: every demo
runs unattended and shows what it must (the attack succeeds against the
opportunistic sender, fails against the DANE senders), its handout page
renders in headless Chromium with the story, the attacker in the middle
of the diagram, the captured plaintext, the DNS answers, each sender's
outcome and three questions with their answers folded away; --step pauses
after each stage; two students run at once without clashing; `demo reset`
stops leftovers and removes the folders."""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

import pytest

from danelab.demo.demos import DEMOS
from danelab.demo.narrate import tell
from danelab.demo.place import reset, student_dir
from danelab.netns import LabNamespace, netns_id
from danelab.proc import pid_alive, wait_until

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
# Light senders (no Postfix) for the tests of the mechanics.
LIGHT = ["--sender", "broken-no-dane", "--sender", "reference"]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the demo's "
                                "senders besides refsend need root")


@pytest.fixture
def runs() -> Iterator[Path]:
    """A short folder for DANELAB_RUNS (pytest's tmp_path is too deep for
    the unix sockets the lab puts below a demo's run folder)."""
    d = Path(tempfile.mkdtemp(prefix="dl-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def danelab(*args: str, runs: Path, stdin: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DANELAB_RUNS=str(runs))
    return subprocess.run([str(ROOT / "bin" / "danelab"), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env=env, input=stdin)


def handout_of(out: str) -> Path:
    m = re.search(r"^handout: (\S+)$", out, re.M)
    assert m, out[-2000:]
    return Path(m.group(1))


def test_list_shows_the_demos(runs: Path) -> None:
    cp = danelab("demo", "list", runs=runs)
    assert cp.returncode == 0, cp.stderr
    rows = cp.stdout.splitlines()[1:]
    names = [r.split()[0] for r in rows]
    assert names == ["strip", "impostor", "spoof-mx", "tlsrpt", "mta-sts"]


@pytest.mark.parametrize("name", list(DEMOS))
def test_demo_scenarios_pass_the_linter(name: str) -> None:
    """Every scenario a demo runs is there and passes what `danelab lint`
    checks (the demo-only files too, which the catalog's lint does not
    see): a new rule of the scenario format reaches them."""
    from danelab.catalog import universe_errors
    from danelab.demo.run import scenarios_of
    scs = scenarios_of(DEMOS[name])
    assert [s.id for s in scs] == list(dict.fromkeys(
        p.scenario for p in DEMOS[name].parts))
    for sc in scs:
        assert universe_errors(sc) == [], sc.id


def test_unknown_demo_is_refused(runs: Path) -> None:
    cp = danelab("demo", "nosuch", runs=runs)
    assert cp.returncode == 2 and "demo list" in cp.stderr
    assert not (runs / "demo").exists()


def test_too_deep_a_folder_is_refused(tmp_path: Path) -> None:
    """A run folder so deep that the lab's unix sockets would not fit is
    refused before anything is made, with the way out."""
    deep = tmp_path / ("x" * 60)
    cp = danelab("demo", "strip", runs=deep)
    assert cp.returncode == 2 and "DANELAB_RUNS" in cp.stderr
    assert not deep.exists()


class Handout(HTMLParser):
    """What a reader of the handout sees: the outcome rows, the diagram
    lanes, the highlighted captured lines, the DNS answers and the
    checkpoint questions (summary and folded answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.lanes: list[str] = []
        self.marks: list[str] = []
        self.dns: list[str] = []
        self.questions: list[tuple[str, str]] = []
        self.stages = 0
        self._in: list[str] = []
        self._text: list[str] = []
        self._q: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        cls = a.get("class") or ""
        if tag == "tr" and "data-read" in a:
            self.rows.append(a)
        elif tag == "text" and "lane" in cls:
            self._in.append("lane")
        elif tag == "mark":
            self._in.append("mark")
        elif tag == "td" and cls in ("secure", "insecure", "bogus"):
            self.dns.append(cls)
        elif tag == "details" and "q" in cls.split():
            self._q = []
            self._in.append("q")
        elif tag == "div" and "stage" in cls.split():
            self.stages += 1
        else:
            return
        self._text = []

    def handle_endtag(self, tag: str) -> None:
        if not self._in:
            return
        top = self._in[-1]
        if tag == "text" and top == "lane":
            self.lanes.append("".join(self._text))
        elif tag == "mark" and top == "mark":
            self.marks.append("".join(self._text))
        elif tag == "summary" and top == "q":
            self._q.append("".join(self._text).strip())
            self._text = []
            return
        elif tag == "details" and top == "q":
            self._q.append("".join(self._text).strip())
            self.questions.append((self._q[0], self._q[-1]))
        else:
            return
        self._in.pop()

    def handle_data(self, data: str) -> None:
        self._text.append(data)


def render(page: Path, shot: Path) -> Handout:
    """The handout as Chromium renders it (a screenshot kept beside it)."""
    assert CHROMIUM, "chromium is installed by ci/deps"
    prof = page.parent / "chromium-profile"
    base = [str(CHROMIUM), *FLAGS, f"--user-data-dir={prof}"]
    subprocess.run(base + ["--window-size=1200,2400",
                           f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.exists() and shot.stat().st_size > 20_000
    dom = subprocess.run(base + ["--dump-dom", page.as_uri()],
                         capture_output=True, timeout=120, check=True,
                         text=True).stdout
    h = Handout()
    h.feed(dom)
    return h


@needs_root
@pytest.mark.parametrize("name", list(DEMOS))
def test_demo_runs_unattended(name: str, runs: Path) -> None:
    """The demo as CI runs it: no --step, default senders (Postfix at may,
    refsend, Postfix at dane); exit 0 means the run showed what it must;
    the handout shows it too, in a browser."""
    t0 = time.monotonic()
    cp = danelab("demo", name, runs=runs)
    wall = time.monotonic() - t0
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-2000:]
    demo = DEMOS[name]
    for i, st in enumerate(demo.stages, 1):
        assert f"== {name} {i}/{len(demo.stages)}: {st.title} " in cp.stdout
    page = handout_of(cp.stdout)
    assert page.parent.parent == runs / "demo"
    h = render(page, page.with_suffix(".png"))
    print(f"{name}: {wall:.1f} s wall; handout {page}; screenshot "
          f"{page.with_suffix('.png')}")
    assert h.stages == len(demo.stages)
    # each part: one outcome row per sender, the attacker read the message
    # exactly where the demo says it must
    per_part = len(h.rows) // len(demo.parts)
    assert per_part == 3
    for i, part in enumerate(demo.parts):
        rows = h.rows[i * per_part:(i + 1) * per_part]
        got = {r["data-sender"]: r["data-read"] for r in rows}
        for sender, kind in (("postfix-may", "opportunistic"),
                             ("reference", demo.kinds.get("reference",
                                                          "DANE")),
                             ("postfix", "DANE")):
            want = "yes" if part.expect[kind] else "no"
            assert got[sender] == want, (part.heading, sender, got)
    # the story's questions, answers folded away (a <details> each)
    assert len(h.questions) == 3
    for (q, a), (hq, ha) in zip(demo.questions, h.questions):
        assert hq.endswith(q) and ha == a
    assert h.dns, "the DNS answers each sender got"
    if name in ("strip", "impostor", "tlsrpt"):
        assert "attacker at mx1" in h.lanes, h.lanes
        assert any("Message-ID:" in m for m in h.marks), \
            "the captured plaintext is highlighted"
    if name == "strip":
        assert h.lanes[:3] == ["sender", "attacker at mx1", "real-mx1"]
    if name == "spoof-mx":
        assert {"insecure", "bogus"} <= set(h.dns)
    if name in ("tlsrpt", "mta-sts"):
        assert "starttls-not-supported" in page.read_text()


def test_step_pauses_after_each_stage() -> None:
    """--step: the story stops after every stage (before the run: the
    set-up; after it: the rest), never in the middle of one."""
    demo = DEMOS["strip"]
    out = io.StringIO()
    marks: list[str] = []
    tell(out, demo, None, True, lambda: marks.append(out.getvalue()))
    assert len(marks) == sum(st.before for st in demo.stages) == 1
    assert marks[0].rstrip().endswith(demo.stages[0].rfc.split()[-1])
    assert "2/5" not in marks[0]


@needs_root
def test_step_on_the_command_line(runs: Path) -> None:
    """The real command with --step, Enter typed five times: five
    prompts, each after its stage; stdin ending early does not hang."""
    cp = danelab("demo", "strip", "--step", *LIGHT, runs=runs,
                 stdin="\n" * 5)
    assert cp.returncode == 0, cp.stdout[-2000:] + cp.stderr[-2000:]
    prompts = [m.start() for m in re.finditer(r"\[Enter: next stage\]",
                                              cp.stdout)]
    heads = [m.start() for m in re.finditer(r"== strip \d/5", cp.stdout)]
    assert len(prompts) == len(heads) == 5
    assert all(h < p for h, p in zip(heads, prompts))
    assert all(p < h for p, h in zip(prompts, heads[1:]))
    cp = danelab("demo", "strip", "--step", *LIGHT, runs=runs,
                 stdin="")
    assert cp.returncode == 0 and cp.stdout.count("[Enter") == 5


@needs_root
def test_two_students_at_once(runs: Path) -> None:
    """Two students run the same demo at the same moment: each gets a
    folder of their own, both runs succeed on the very same lab addresses
    (each in its own namespaces), and neither sees the other's traffic."""
    with ThreadPoolExecutor(2) as ex:
        cps = list(ex.map(lambda n: danelab(
            "demo", "strip", "--student", str(n), *LIGHT, runs=runs),
            (1, 2)))
    pages = []
    for n, cp in zip((1, 2), cps):
        assert cp.returncode == 0, cp.stdout[-2000:] + cp.stderr[-2000:]
        page = handout_of(cp.stdout)
        assert page.parent.parent == runs / "demo" / f"student-{n}"
        assert f"student {n}" in page.read_text()
        pages.append(page)
    seen = []
    for page in pages:
        ev = (page.parent / "reference" / "fakemx-events.jsonl").read_text()
        assert '"local":"127.25.1.1:25"' in ev.replace(" ", "")
        seen.append(set(re.findall(r'"message_id":\s*"([^"]+)"', ev)))
    assert seen[0] and seen[1] and not seen[0] & seen[1]


def test_reset_stops_leftovers_and_removes_folders(tmp_path: Path,
                                                   monkeypatch) -> None:
    """A demo killed hard leaves its namespace's processes behind: reset
    finds them by the demo folder on their command line, stops every
    process of that namespace (the holder too), and removes the folder;
    another student's folder stays."""
    monkeypatch.setenv("DANELAB_RUNS", str(tmp_path))
    mine = student_dir(3) / "strip-x"
    other = student_dir(4) / "strip-y"
    mine.mkdir(parents=True)
    other.mkdir(parents=True)
    ns = LabNamespace(mine / "ns")
    ns.open()
    try:
        t = ns.spawn("leftover", ["sh", "-c", "sleep 300",
                                  str(mine / "fakemx.json")])
        assert ns.holder
        holder = ns.holder.pid
        # a leftover of a killed demo sits in its lab namespace; right
        # after spawn() nsenter may not have joined it yet
        assert wait_until(lambda: netns_id(t.pid) == ns.ns_id, 5)
        n, gone = reset(3)
        assert gone == student_dir(3) and not gone.exists()
        assert n >= 2
        assert not pid_alive(t.pid) and not pid_alive(holder)
        assert other.exists()
        assert reset(3)[0] == 0
    finally:
        ns.close()


def test_a_sender_whose_daemons_were_late_gets_a_second_try(
        runs: Path, monkeypatch) -> None:
    """A readiness time-out of the lab (a class on one busy machine) is
    retried once, in a fresh folder; the demo then goes on as usual."""
    from danelab.demo import run as demo_run
    from danelab.errors import DaemonError
    real = demo_run.LabRun.execute
    calls: list[Path] = []

    def flaky(self):  # type: ignore[no-untyped-def]
        calls.append(self.run)
        if len(calls) == 1:
            raise DaemonError("nsd not ready after 30 s (a test's doing)")
        return real(self)
    monkeypatch.setattr(demo_run.LabRun, "execute", flaky)
    folder = runs / "retry"
    r = demo_run.run_demo(DEMOS["strip"], ["reference"], folder,
                          lambda m: None)
    assert [p.name for p in calls] == ["reference", "reference.2"]
    assert r.errors == {} and list(r.runs) == ["reference"]
    assert r.seen("j41-starttls-stripped", "reference").outcome == \
        "deferred"
