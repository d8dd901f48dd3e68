"""Scale: a 1,000,000-transaction store (a large household over four decades: 4 checking
and card accounts, 300 merchants, salaries, rent, bills and daily spending), and every
main command on it in a new process: wall time and peak RSS (targets: 10 s, 2 GB).

Run: python benchmarks/scale.py [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = [
    ["categorize"],
    ["spending", "--period", "month"],
    ["insights", "--refresh"],
    ["anomalies", "--since", "{recent}"],
    ["predict"],
    ["report", "weekly", "--format", "json"],
    ["spending", "--period", "month"],  # a second time: stored results, warm file cache
]


def generate(path: Path, rows: int, seed: int = 7) -> tuple[int, dt.date]:
    """CSV files, one per account, written with numpy (a few seconds for a million rows)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    start = dt.date(1986, 1, 1)
    days = (dt.date(2026, 10, 31) - start).days
    merchants = [
        f"{w} {i:03d}"
        for i, w in enumerate(
            [
                "SAFEWAY",
                "WHOLEFDS",
                "SHELL OIL",
                "CHIPOTLE",
                "AMAZON MKTP",
                "TARGET",
                "CVS PHARMACY",
                "UBER TRIP",
                "STARBUCKS",
                "HOME DEPOT",
            ]
            * 30
        )
    ]
    accounts = ["Checking", "Card A", "Card B", "Joint"]
    per = rows // len(accounts)
    written = 0
    for a, name in enumerate(accounts):
        n = per if a < len(accounts) - 1 else rows - per * (len(accounts) - 1)
        day = np.sort(rng.integers(0, days, n))
        amount = -np.round(rng.lognormal(3.3, 0.9, n), 2)
        payee = rng.integers(0, len(merchants), n)
        # Salaries and rent on the checking account.
        if name == "Checking":
            pay = np.arange(0, days, 14)
            day = np.concatenate([day[: n - 2 * len(pay)], pay, pay])
            amount = np.concatenate([amount[: n - 2 * len(pay)], np.full(len(pay), 4200.0), np.full(len(pay), -1100.0)])
            payee = np.concatenate([payee[: n - 2 * len(pay)], np.full(len(pay), -1), np.full(len(pay), -2)])
            order = np.argsort(day, kind="stable")
            day, amount, payee = day[order], amount[order], payee[order]
        base = np.datetime64(start.isoformat())
        dates = (base + day.astype("timedelta64[D]")).astype(str)
        names = np.array(merchants + ["OAKWOOD PROPERTY RENT", "ACME CORP PAYROLL"], dtype=object)[payee]
        with open(path / f"{name.replace(' ', '_').lower()}.csv", "w", encoding="utf-8") as f:
            f.write("Date,Description,Amount\n")
            f.writelines(f"{d},{p},{x:.2f}\n" for d, p, x in zip(dates, names, amount, strict=True))
        written += len(day)
    return written, dt.date(2026, 10, 31)


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "finanalytics_cli", *cmd, "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB, the largest child so far
    if proc.returncode not in (0, 10):
        print(f"  {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return wall, max(peak, before) / 1024, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    home = Path(args.keep or tempfile.mkdtemp(prefix="fa-scale-"))
    exports = home / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ, FINANALYTICS_HOME=str(home), FINANALYTICS_PASSPHRASE="scale benchmark", FINANALYTICS_NO_KEYRING="1"
    )
    t0 = time.perf_counter()
    n, last = generate(exports, args.rows)
    print(f"command: python benchmarks/scale.py --rows {args.rows}")
    print(f"generated {n:,} transactions in {time.perf_counter() - t0:.1f} s ({home})")
    results = []
    for f in sorted(exports.iterdir()):
        account = {"checking": "Checking", "card_a": "Card A", "card_b": "Card B", "joint": "Joint"}[f.stem]
        results.append((f"import {f.name}", *run(["import", str(f), "--account", account], env)))
    recent = (last - dt.timedelta(days=90)).isoformat()
    for cmd in COMMANDS:
        cmd = [c.replace("{recent}", recent) for c in cmd]
        results.append((" ".join(cmd), *run(cmd, env)))
    print(f"{'command':40} {'wall s':>8} {'peak RSS MB (running max)':>26}  target 10 s / 2048 MB")
    for name, wall, rss, code in results:
        flag = "OK" if wall <= 10 and rss <= 2048 and code in (0, 10) else "ABOVE TARGET"
        print(f"{name:40} {wall:8.2f} {rss:26.0f}  {flag}")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
