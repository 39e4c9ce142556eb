"""Run pytest once per test folder (each folder's conftest.py stays its own)
and print one closing line with the totals: `pytest: N passed, N failed`."""
from __future__ import annotations

import re
import subprocess
import sys

PY = "/usr/bin/python3"


def main(dirs: list[str]) -> int:
    totals = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    rc = 0
    for d in dirs:
        print(f"== pytest {d}", flush=True)
        p = subprocess.Popen([PY, "-m", "pytest", "-q", d],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout
        last = ""
        for line in p.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.strip():
                last = line
        code = p.wait()
        if code not in (0, 5):          # 5: no test collected in a folder
            rc = 1
        for n, what in re.findall(r"(\d+) (passed|failed|skipped|errors?)",
                                  last):
            totals["error" if what.startswith("error") else what] += int(n)
        if code not in (0, 5) and not re.search(r"\d+ (failed|errors?)",
                                                last):
            totals["error"] += 1
    failed = totals["failed"] + totals["error"]
    print(f"pytest: {totals['passed']} passed, {failed} failed, "
          f"{totals['skipped']} skipped")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
