"""Import speed: a generated 1,000,000-row CSV into a fresh encrypted store.

Prints rows/s, peak RSS, and the time DuckDB's own read_csv takes to load the same file
into a table in the same run (the ratio shows what our detection, validation, dedupe
and encryption cost). Targets: >= 200,000 rows/s on 2 cores, peak RSS < 2 GB.

Run: python benchmarks/import_speed.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MERCHANTS = [
    "SQ *BLUE BOTTLE {n} OAKLAND CA",
    "WHOLE FOODS MKT #{n}",
    "POS {n} SHELL 00231",
    "AMZN Mktp US*{n}K4LD9",
    "NETFLIX.COM",
    "UBER *TRIP {n}",
    "TRADER JOE S #{n}",
    "CHIPOTLE {n}",
    "PG&E UTILITY",
    "ACME PAYROLL",
]


def generate(path: Path, rows: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("Date,Description,Amount,Balance\n")
        balance = 10_000.0
        day = 0
        for i in range(rows):
            if i % 40 == 0:
                day += 1
            year, rest = divmod(day, 365)
            month, dom = divmod(rest % 336, 28)
            amount = round(rng.uniform(-250, 60), 2)
            balance = round(balance + amount, 2)
            payee = rng.choice(MERCHANTS).format(n=rng.randint(1, 9999))
            fh.write(f"{month + 1:02d}/{dom + 1:02d}/{1990 + year},{payee},{amount:.2f},{balance:.2f}\n")


def run_import(csv_path: Path, home: Path) -> dict:
    code = f"""
import json, resource, time
from finanalytics_cli.engine.paths import resolve_paths
from finanalytics_cli.engine.store import Store
from finanalytics_cli.engine.ingest import ImportOptions, import_sources, sources_from_paths
store = Store.create(resolve_paths())
t = time.perf_counter()
[r] = import_sources(store, sources_from_paths([{str(csv_path)!r}]), ImportOptions(account="Checking"))
store.con.execute("CHECKPOINT")
elapsed = time.perf_counter() - t
store.close()
print(json.dumps({{"seconds": elapsed, "added": r.added, "read": r.read, "rejected": r.rejected,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    env = dict(
        os.environ,
        FINANALYTICS_HOME=str(home),
        FINANALYTICS_PASSPHRASE="benchmark passphrase",
        FINANALYTICS_NO_KEYRING="1",
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_duckdb_read_csv(csv_path: Path, tmp: Path) -> float:
    code = f"""
import duckdb, time
con = duckdb.connect({str(tmp / "plain.duckdb")!r})
t = time.perf_counter()
con.execute("CREATE TABLE t AS SELECT * FROM read_csv({str(csv_path)!r})")
con.execute("CHECKPOINT")
print(time.perf_counter() - t)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fa-import-bench-") as tmpdir:
        tmp = Path(tmpdir)
        csv_path = tmp / "big.csv"
        t = time.perf_counter()
        generate(csv_path, args.rows)
        gen_s = time.perf_counter() - t
        ours = run_import(csv_path, tmp / "home")
        raw = run_duckdb_read_csv(csv_path, tmp)
    rate = ours["read"] / ours["seconds"]
    print(f"command: python benchmarks/import_speed.py --rows {args.rows}")
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"generated {args.rows:,} rows ({csv_path.name}) in {gen_s:.1f} s")
    print(
        f"finanalytics import: {ours['seconds']:.2f} s, {rate:,.0f} rows/s "
        f"(added {ours['added']:,}, rejected {ours['rejected']:,}); target >= 200,000 rows/s "
        f"-> {'OK' if rate >= 200_000 else 'BELOW TARGET'}"
    )
    print(
        f"peak RSS: {ours['peak_rss_mb']:,.0f} MB; target < 2,048 MB "
        f"-> {'OK' if ours['peak_rss_mb'] < 2048 else 'OVER TARGET'}"
    )
    print(f"duckdb read_csv into a plain table: {raw:.2f} s; ratio ours/read_csv: {ours['seconds'] / raw:.1f}x")
    _ = resource


if __name__ == "__main__":
    main()
