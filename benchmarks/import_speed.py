"""Import speed: a generated 1,000,000-row card CSV into a fresh encrypted store.

The file is a credit-card export (Transaction Date, Post Date, Description, Category,
Type, Amount; purchases negative) with 300 merchants whose descriptions carry store
numbers and towns ("STARBUCKS #1234 SEATTLE WA"). Three commands run, each in a new
process, and each is measured whole (interpreter start, imports, store creation, the
work, the final checkpoint): wall and CPU time and peak RSS (``os.wait4`` of that child).

1. ``finanalytics import FILE --account Card`` in a fresh FINANALYTICS_HOME
   (FINANALYTICS_PASSPHRASE set, FINANALYTICS_NO_KEYRING=1);
2. DuckDB's own ``read_csv`` of the file into a table of an in-memory database;
3. DuckDB's own ``read_csv`` into a table of a fresh *encrypted* DuckDB file, opened the
   way the store opens its file (httpfs's OpenSSL module loaded, AES-GCM, a random key,
   encrypted temp files), then CHECKPOINT.

The ratios compare runs of the same invocation (``--repeat N`` takes each one's best).
Targets: import <= 3x read_csv into an encrypted file, peak RSS <= 800 MB.

Run: python benchmarks/import_speed.py [--rows 1000000] [--merchants 300] [--stores 0] [--repeat 1]
     [--keep DIR]   (keep the CSV in DIR, and reuse one already there)
     [--cli PATH]   (another finanalytics executable, e.g. an older checkout's)

On a shared machine, wall times vary with the load (printed): compare the ratios of one
run, and the CPU ratio, which the load disturbs less.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = "Transaction Date,Post Date,Description,Category,Type,Amount\n"
CATEGORIES = [
    "Food & Drink",
    "Groceries",
    "Gas",
    "Shopping",
    "Travel",
    "Entertainment",
    "Bills & Utilities",
    "Health & Wellness",
    "Personal",
    "Home",
    "Automotive",
    "Professional Services",
]
_WORDS = [
    "STARBUCKS",
    "SHELL",
    "CHEVRON",
    "SAFEWAY",
    "KROGER",
    "TARGET",
    "WALGREENS",
    "CVS",
    "HOME DEPOT",
    "LOWES",
    "MCDONALDS",
    "CHIPOTLE",
    "PANERA",
    "COSTCO",
    "WHOLE FOODS",
    "TRADER JOE S",
    "BEST BUY",
    "PETCO",
    "REI",
    "IKEA",
    "SUBWAY",
    "DUNKIN",
    "WENDYS",
    "EXXONMOBIL",
    "ARCO",
    "RALPHS",
    "ALBERTSONS",
    "MACYS",
    "NORDSTROM",
    "GAP",
    "OLD NAVY",
    "AUTOZONE",
    "JIFFY LUBE",
    "AMC",
    "REGAL",
    "SPROUTS",
    "ALDI",
    "PUBLIX",
    "WEGMANS",
    "HEB",
]
_SUFFIX = ["", " MARKET", " STORE", " CAFE", " GRILL", " EXPRESS", " OUTLET"]
_TOWNS = [
    ("SEATTLE", "WA"),
    ("PORTLAND", "OR"),
    ("SAN FRANCISCO", "CA"),
    ("OAKLAND", "CA"),
    ("LOS ANGELES", "CA"),
    ("AUSTIN", "TX"),
    ("DALLAS", "TX"),
    ("DENVER", "CO"),
    ("CHICAGO", "IL"),
    ("BOSTON", "MA"),
    ("NEW YORK", "NY"),
    ("BROOKLYN", "NY"),
    ("MIAMI", "FL"),
    ("ATLANTA", "GA"),
    ("PHOENIX", "AZ"),
    ("SALT LAKE CTY", "UT"),
    ("MINNEAPOLIS", "MN"),
    ("DETROIT", "MI"),
    ("NASHVILLE", "TN"),
    ("RALEIGH", "NC"),
]


def describe(name: str, style: int, num: int, town: str, state: str) -> str:
    """A card description as issuers print them: the merchant, a store number, the town."""
    if style == 0:
        return f"{name} #{num % 10000} {town} {state}"
    if style == 1:
        return f"{name} {num:05d} {town} {state}"
    if style == 2:
        return f"SQ *{name} {town} {state}"
    if style == 3:
        return f"TST* {name} #{num % 1000} {town} {state}"
    return f"{name} STORE {num % 10000} {town} {state}"


def merchants(n: int, rng: random.Random) -> list[tuple[str, str, int]]:
    """(name, category, description style) of ``n`` merchants."""
    out = []
    for i in range(n):
        name = _WORDS[i % len(_WORDS)] + _SUFFIX[(i // len(_WORDS)) % len(_SUFFIX)]
        name = name if i < len(_WORDS) * len(_SUFFIX) else f"{name} {chr(65 + i % 26)}"
        out.append((name, rng.choice(CATEGORIES), i % 5))
    return out


def generate(path: Path, rows: int, n_merchants: int = 300, stores: int = 0, seed: int = 1) -> None:
    """Newest first, like a card issuer's export; ~275 rows a day over ten years.

    ``stores``: 0 draws each row's store number and town afresh (most descriptions are
    distinct, as in a business card's export); N gives each merchant up to N stores.
    """
    rng = random.Random(seed)
    shops = merchants(n_merchants, rng)
    pools = (
        [
            [describe(name, style, rng.randint(1, 99999), *rng.choice(_TOWNS)) for _ in range(rng.randint(1, stores))]
            for name, _, style in shops
        ]
        if stores
        else None
    )
    weights = [1.0 / (k + 1) ** 0.5 for k in range(len(shops))]  # some merchants far more often
    picks = rng.choices(range(len(shops)), weights=weights, k=rows)
    end = dt.date(2026, 10, 31)
    per_day = 275
    lines = []
    for i in range(rows):
        day = end - dt.timedelta(days=i // per_day)
        post = day + dt.timedelta(days=rng.randint(0, 2))
        d1, d2 = day.strftime("%m/%d/%Y"), post.strftime("%m/%d/%Y")
        r = rng.random()
        if r < 0.01:
            lines.append(f"{d1},{d2},Payment Thank You-Mobile,,Payment,{rng.randint(200, 3000)}.00\n")
            continue
        k = picks[i]
        name, category, style = shops[k]
        if pools:
            desc = rng.choice(pools[k])
        else:
            desc = describe(name, style, rng.randint(1, 99999), *rng.choice(_TOWNS))
        cents = rng.randint(100, 25000)
        if r < 0.03:
            lines.append(f"{d1},{d2},{desc},{category},Return,{cents // 100}.{cents % 100:02d}\n")
        else:
            lines.append(f"{d1},{d2},{desc},{category},Sale,-{cents // 100}.{cents % 100:02d}\n")
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        fh.writelines(lines)


# The baselines bind no parameters: the duckdb client imports pandas (~0.5 s) the first
# time a statement binds one, and DuckDB's own read_csv needs none.
_READ_CSV_MEMORY = """
import duckdb, sys
con = duckdb.connect(":memory:")
con.execute("SET enable_progress_bar = false")
path = sys.argv[1].replace("'", "''")
con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}')")
print(con.execute("SELECT count(*) FROM t").fetchone()[0])
"""

# Opened as finanalytics_cli.engine.store opens the store: _connect (no autoloading,
# encrypted temp files, httpfs's OpenSSL module loaded from the package), the ATTACH of
# _attach (a random 32-byte key, ENCRYPTION_KEY), checked to be AES-GCM, then a
# CHECKPOINT, as an import ends with one.
_READ_CSV_ENCRYPTED = """
import os, sys
from finanalytics_cli.engine.store import _connect
con = _connect(need_write=True)
path, db = (a.replace("'", "''") for a in sys.argv[1:3])
con.execute(f"ATTACH '{db}' AS fa (ENCRYPTION_KEY '{os.urandom(32).hex()}')")
row = con.execute("SELECT encrypted, cipher FROM duckdb_databases() WHERE database_name = 'fa'").fetchone()
assert row == (True, "GCM"), row
con.execute("USE fa")
con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}')")
n = con.execute("SELECT count(*) FROM t").fetchone()[0]
con.execute("CHECKPOINT")
con.close()
assert "pandas" not in sys.modules
print(n)
"""


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float | str]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one new process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stdout}\n{stderr}")
    return {
        "seconds": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
        "stdout": stdout,
    }


def run_once(csv_path: Path, work: Path, i: int, exe: str) -> dict[str, dict]:
    home = work / f"home-{i}"
    shutil.rmtree(home, ignore_errors=True)
    env = dict(
        os.environ,
        FINANALYTICS_HOME=str(home),
        FINANALYTICS_PASSPHRASE="benchmark passphrase",
        FINANALYTICS_NO_KEYRING="1",
    )
    ours = measure([exe, "--format", "json", "import", str(csv_path), "--account", "Card"], env)
    added = json.loads(ours["stdout"])["data"]["totals"]["added"]
    shutil.rmtree(home, ignore_errors=True)
    bare = measure([exe, "--format", "json", "import", str(csv_path), "--account", "Card", "--no-categorize"], env)
    enc_db = work / f"read_csv-{i}.duckdb"
    for leftover in (enc_db, enc_db.with_name(enc_db.name + ".wal")):
        leftover.unlink(missing_ok=True)
    mem = measure([sys.executable, "-c", _READ_CSV_MEMORY, str(csv_path)])
    enc = measure([sys.executable, "-c", _READ_CSV_ENCRYPTED, str(csv_path), str(enc_db)])
    shutil.rmtree(home, ignore_errors=True)
    enc_db.unlink(missing_ok=True)
    if not added == int(mem["stdout"]) == int(enc["stdout"]):
        raise SystemExit(f"row counts differ: import added {added}, read_csv read {mem['stdout']}/{enc['stdout']}")
    return {"import": ours, "bare": bare, "memory": mem, "encrypted": enc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=300)
    parser.add_argument(
        "--stores", type=int, default=0, help="stores per merchant (0: a store number drawn for every row)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command; the best of each counts")
    parser.add_argument("--keep", type=Path, help="a directory for the CSV (reused when already there)")
    parser.add_argument("--cli", default=shutil.which("finanalytics") or "finanalytics", help="the finanalytics to run")
    args = parser.parse_args()
    tmpdir = None
    if args.keep:
        work = args.keep
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmpdir = tempfile.TemporaryDirectory(prefix="fa-import-bench-")
        work = Path(tmpdir.name)
    try:
        csv_path = work / f"card-{args.rows}-{args.merchants}-{args.stores}.csv"
        if not csv_path.exists():
            t = time.perf_counter()
            generate(csv_path, args.rows, args.merchants, args.stores)
            print(f"generated {csv_path} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        size = csv_path.stat().st_size / 2**20
        load = os.getloadavg()[0]
        runs = [run_once(csv_path, work, i, args.cli) for i in range(args.repeat)]
        load = max(load, os.getloadavg()[0])
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()
    kinds = ("import", "bare", "memory", "encrypted")
    best = {k: min((r[k] for r in runs), key=lambda m: m["seconds"]) for k in kinds}
    peak = {k: max(r[k]["peak_mb"] for r in runs) for k in kinds}
    command = (
        f"python benchmarks/import_speed.py --rows {args.rows} --merchants {args.merchants} --stores {args.stores} "
        f"--repeat {args.repeat}" + (f" --cli {args.cli}" if args.cli != shutil.which("finanalytics") else "")
    )
    print(f"command: {command}")
    print(
        f"machine: {os.cpu_count()} cores, load average up to {load:.1f}, python {sys.version.split()[0]}; "
        f"each command in a new process, best of {args.repeat}"
    )
    stores = f"{args.stores} stores each" if args.stores else "a store number per row"
    print(f"file: {args.rows:,} rows, {args.merchants} merchants ({stores}), {size:,.0f} MiB")
    labels = {
        "import": "finanalytics import --account Card",
        "bare": "  ... --no-categorize",
        "memory": "duckdb read_csv -> in-memory table",
        "encrypted": "duckdb read_csv -> encrypted file",
    }
    for k, label in labels.items():
        print(f"{label:<38} {best[k]['seconds']:6.2f} s wall {best[k]['cpu']:6.2f} s cpu  peak {peak[k]:7,.0f} MB")
    ours, cpu = best["import"]["seconds"], best["import"]["cpu"]
    r_mem, r_enc = ours / best["memory"]["seconds"], ours / best["encrypted"]["seconds"]
    c_mem, c_enc = cpu / best["memory"]["cpu"], cpu / best["encrypted"]["cpu"]
    print(f"ratio import / read_csv in memory:       {r_mem:5.2f}x wall  {c_mem:5.2f}x cpu")
    verdict = "OK" if r_enc <= 3 else "OVER"
    print(f"ratio import / read_csv encrypted file:  {r_enc:5.2f}x wall  {c_enc:5.2f}x cpu  (target <= 3x: {verdict})")
    print(
        f"  (--no-categorize: {best['bare']['seconds'] / best['encrypted']['seconds']:5.2f}x wall; the import "
        "categorises what it adds by default)"
    )
    verdict = "OK" if peak["import"] <= 800 else "OVER"
    print(f"import peak RSS: {peak['import']:,.0f} MB  (target <= 800 MB -> {verdict})")


if __name__ == "__main__":
    main()
