"""What bench.py and crash.py share: a scratch folder, and the local SMTP
sink (tests/smtpsink.py) on a free port of 127.0.0.1, which refsend reaches
through its test-only static_route knob (recipient domain sink.test)."""
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPL = Path(__file__).resolve().parent.parent
PY = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def scratch(keep, prefix):
    """The folder KEEP (made if need be, left in place), or a new
    temporary one named PREFIX..., removed at the end."""
    work = Path(keep or tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield work
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def sink(work, who, *options):
    """The sink, logging to WORK/sink.jsonl, with smtpsink.py's OPTIONS;
    yields its port, stops it at the end.  WHO names the caller in the
    message when it does not start."""
    port = free_port()
    pidfile = work / "sink.pid"
    proc = subprocess.Popen([PY, str(IMPL / "tests" / "smtpsink.py"),
                             "--port", str(port), "--log",
                             str(work / "sink.jsonl"), "--pidfile",
                             str(pidfile), *options],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not pidfile.exists():
            if proc.poll() is not None or time.time() > deadline:
                sys.exit(f"{who}: smtpsink did not start")
            time.sleep(0.02)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)


def route_to_sink(work, port):
    """refsend configuration lines that send mail for sink.test to the
    sink on PORT (the trust anchor is a dummy: nothing is validated)."""
    (work / "ta.ds").write_text(". IN DS 1 8 2 " + "00" * 32 + "\n")
    return (f"resolver = 127.0.0.1\n"
            f"trust_anchor = {work / 'ta.ds'}\n"
            f"static_route = sink.test 127.0.0.1:{port}\n")
