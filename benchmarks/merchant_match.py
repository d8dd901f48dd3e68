"""Built-in merchant matching speed: loading the shipped table, and matching 1,000,000 rows
with about 300,000 distinct descriptors.

The descriptors are made from the table's own names (so most of them match) in the shapes
banks write: processor prefixes (SQ *, PAYPAL *), store numbers, dates, towns with state
codes, reference codes, cut at 22 characters now and then, plus descriptors that name no
merchant. Memos are empty on most rows, a bank's booking text on the rest; a fifth of the
rows carry an MCC. Times are in-process, after polars is imported:

- load: ``load_table()`` the first time (the gzip table and the MCC table);
- match: ``match_categories`` over all rows.

Targets: load <= 0.3 s, match 1,000,000 rows <= 2 s.

Run: python benchmarks/merchant_match.py [--rows 1000000] [--distinct 300000]
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGETS = {"load": 0.3, "match": 2.0}
PREFIXES = ["", "", "", "SQ *", "TST* ", "PAYPAL *", "POS ", "CARD PAYMENT TO ", "KARTENZAHLUNG ", "ACHAT CB "]
TOWNS = ["SAN FRANCISCO CA", "NEW YORK NY", "BERLIN DE", "LONDON GB", "PARIS FR", "MADRID", "AUSTIN TX", ""]
OTHER = ["PAYMENT TO JOHN SMITH", "TRANSFER FROM SAVINGS", "ATM WITHDRAWAL", "INTEREST PAID", "CHECK 1042"]


def descriptors(names: list[str], distinct: int, seed: int = 7) -> list[str]:
    """``distinct`` different bank descriptors, most of them naming one of ``names``."""
    rng = random.Random(seed)
    out: set[str] = set()
    while len(out) < distinct:
        if rng.random() < 0.15:
            text = f"{rng.choice(OTHER)} {rng.randrange(10**6)}"
        else:
            name = rng.choice(names).upper()
            store = rng.choice(
                ["", f" #{rng.randrange(10000)}", f" F{rng.randrange(100000)}", f" {rng.randrange(10**6)}"]
            )
            date = rng.choice(["", f" {rng.randrange(1, 13):02d}/{rng.randrange(1, 29):02d}"])
            ref = rng.choice(["", "", f"*{rng.randrange(16**6):06X}"])
            text = f"{rng.choice(PREFIXES)}{name}{ref}{store}{date} {rng.choice(TOWNS)}".strip()
            if rng.random() < 0.2:
                text = text[:22]
        out.add(text)
    return sorted(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=300_000)
    args = parser.parse_args()
    import polars  # noqa: F401 (imported before timing: start-up is not this benchmark's)

    from finanalytics_cli.engine import merchants

    start = time.perf_counter()
    table = merchants.load_table()
    load = time.perf_counter() - start

    lines = gzip.decompress(merchants.TABLE_PATH.read_bytes()).decode("utf-8").splitlines()
    names = [line.split("\t")[0] for line in lines if line and not line.startswith("#")][1:]
    texts = descriptors(names, args.distinct)
    rng = random.Random(11)
    payees = [texts[rng.randrange(len(texts))] for _ in range(args.rows)]
    memos = [None if rng.random() < 0.8 else "Kartenzahlung girocard" for _ in range(args.rows)]
    currencies = [rng.choice(["USD", "EUR", "GBP"]) for _ in range(args.rows)]
    mccs = [rng.choice(["5411", "5812", "5541"]) if rng.random() < 0.2 else None for _ in range(args.rows)]

    start = time.perf_counter()
    got = merchants.match_categories(payees, memos, currencies, mccs)
    match = time.perf_counter() - start

    matched = sum(g is not None for g in got)
    print(f"table: {table.size:,} names, {merchants.TABLE_PATH.stat().st_size:,} bytes")
    print(f"load: {load:.3f} s (target {TARGETS['load']})")
    print(
        f"match: {match:.3f} s for {args.rows:,} rows, {len(set(payees)):,} distinct descriptors, "
        f"{matched / args.rows:.0%} matched (target {TARGETS['match']})"
    )


if __name__ == "__main__":
    main()
