"""Fast answers (issue 19): on the sample household, each answer command right after a new
import (the data changed: stored forecasts and insights are stale) and again with nothing
changed. Each command runs in a new process and is timed whole (interpreter start, the
key, the store, the work): what a person at the terminal waits for.

Targets: after a new import, `predict`, `goals progress`, `risk`, `insights` and
`report weekly` <= 2 s each; every read command <= 1 s when nothing changed.

The household has asked `predict` and `goals progress` once before the import (as a user
of them has): the import then recomputes those forecasts for the new data, so the import's
own time is printed too (the work moves there, where a cron job or a person importing
waits once, instead of every answer after it).

Run: python benchmarks/fast_answers.py [--cli PATH] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AFTER_IMPORT = [
    ["predict"],
    ["goals", "progress"],
    ["risk"],
    ["insights"],
    ["report", "weekly"],
]
READS = [
    ["status"],
    ["accounts"],
    ["tx", "list", "--limit", "50"],
    ["spending"],
    ["budget", "optimize"],
    ["recurring"],
    ["anomalies"],
    ["models", "monitor"],
    *AFTER_IMPORT,
]
NEW_ROWS = "Date,Description,Amount\n2026-10-30,CORNER BAKERY 0042,-8.40\n2026-10-31,SHELL OIL 5521,-41.07\n"


def run(cli: str, args: list[str], env: dict[str, str]) -> tuple[float, int]:
    t = time.perf_counter()
    r = subprocess.run([cli, "--profile", "s", "--json", *args], env=env, capture_output=True, text=True)
    return time.perf_counter() - t, r.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=shutil.which("finanalytics") or "finanalytics")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (a fresh import each); the best of them")
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fa-fast-"))
    env = {
        **os.environ,
        "FINANALYTICS_HOME": str(home),
        "FINANALYTICS_NO_KEYRING": "1",
        "FINANALYTICS_PASSPHRASE": "benchmark-passphrase",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    try:
        subprocess.run([a.cli, "demo", "--profile", "s", "--keep"], env=env, capture_output=True, check=True)
        subprocess.run(
            [a.cli, "--profile", "s", "goals", "add", "Holiday", "--target", "3000", "--by", "2027-08-31"],
            env=env,
            capture_output=True,
        )
        for args in (["predict"], ["goals", "progress"]):  # asked once before: the forecasts in use
            run(a.cli, args, env)
        after: dict[str, float] = {}
        steady: dict[str, float] = {}
        imports: list[float] = []
        failed: list[str] = []
        for round_ in range(a.repeat):
            csv = home / f"new-{round_}.csv"
            csv.write_text(NEW_ROWS.replace("2026-10-3", f"2026-10-{2 + round_}"))
            t = time.perf_counter()
            subprocess.run(
                [a.cli, "--profile", "s", "import", str(csv), "--account", "Checking"],
                env=env,
                capture_output=True,
                check=True,
            )
            imports.append(time.perf_counter() - t)
            for args in AFTER_IMPORT:
                took, code = run(a.cli, args, env)
                after[" ".join(args)] = min(took, after.get(" ".join(args), took))
                if code:
                    failed.append(" ".join(args))
            for args in READS:
                took, code = run(a.cli, args, env)
                steady[" ".join(args)] = min(took, steady.get(" ".join(args), took))
                if code:
                    failed.append(" ".join(args))
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}")
        print(f"the import of 2 rows (it updates the forecasts in use): {min(imports):.2f} s")
        print("after a new import (target <= 2 s):")
        for k, v in after.items():
            print(f"  {k:<22} {v:6.2f} s  {'ok' if v <= 2 else 'OVER'}")
        print("nothing changed (target <= 1 s):")
        for k, v in steady.items():
            print(f"  {k:<22} {v:6.2f} s  {'ok' if v <= 1 else 'OVER'}")
        if failed:
            print("failed:", ", ".join(sorted(set(failed))))
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
