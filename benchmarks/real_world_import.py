"""Import every real bank export of ../shared/realdata and compare with its truth.

Each corpus file has a truth record (`truth/<path>.json`: rows, signed sum per currency,
first/last date, sample rows, currency, or "refuse"). Every file is imported into its own
throw-away encrypted store, in this process, the way `finanalytics import FILE --account
x` would, and the stored rows are compared with the truth:

- exact: the true row count, the true signed sum (per currency where the truth has
  several), the true first/last dates, every sample row present with its date and
  signed amount, and the true currency where the truth names one;
- wrong money: imported, but any of those differs -- the worst outcome;
- refused: a clear error for a file that should import (unless the truth accepts it);
- imported-should-refuse: rows stored from a file that is not a transaction export;
- bug: anything but a clear error (a traceback).

The corpus is read in place, never copied. Files the truth marks `unsure` are listed,
not scored. Targets: >= 95% of transaction files exact, 0 wrong money, 0 bugs.

Run: python benchmarks/real_world_import.py [--root ../shared/realdata] [SUBSTRING...] [-v]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

CENTS = Decimal("0.01")


def compare(truth: dict[str, Any], rows: list[tuple[str, Decimal, str | None]]) -> list[str]:
    """What differs between stored rows (date, amount, currency) and a transaction truth."""
    problems = []
    if len(rows) != truth["rows"]:
        problems.append(f"rows {len(rows)} want {truth['rows']}")
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for _, amount, currency in rows:
        sums[currency or "?"] += amount
    if truth.get("sums"):
        ok = sorted(v.quantize(CENTS) for v in sums.values()) == sorted(
            Decimal(v).quantize(CENTS) for v in truth["sums"].values()
        )
    else:
        total = sum(sums.values(), Decimal(0)).quantize(CENTS)
        wanted = {Decimal(truth["sum"]).quantize(CENTS)}
        if truth.get("sum_cents"):
            wanted.add(Decimal(truth["sum_cents"]).quantize(CENTS))
        ok = total in wanted and (truth.get("currency") is None or len(sums) <= 1)
    if not ok:
        problems.append(f"sums { ({k: str(v) for k, v in sums.items()}) } want {truth.get('sums') or truth['sum']}")
    dates = sorted(d for d, _, _ in rows)
    if rows and truth.get("first") and (dates[0], dates[-1]) != (truth["first"], truth["last"]):
        problems.append(f"dates {dates[0]}..{dates[-1]} want {truth['first']}..{truth['last']}")
    have = {(d, a.quantize(CENTS)) for d, a, _ in rows}
    for d, a, _desc in truth.get("sample", []):
        if (d, Decimal(a).quantize(CENTS)) not in have:
            problems.append(f"sample row {d} {a} not found")
            break
    if truth.get("currency") and rows and {c for _, _, c in rows} != {truth["currency"]}:
        problems.append(f"currency {sorted({str(c) for _, _, c in rows})} want {truth['currency']}")
    return problems


def import_one(path: Path, home: str) -> tuple[list[tuple[str, Decimal, str | None]] | None, str]:
    """Rows stored from one file (None: refused with a clear error) and a note."""
    os.environ["FINANALYTICS_HOME"] = home
    from finanalytics_cli.engine.errors import AnalyticsError
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    try:
        with Store.create(resolve_paths()) as store:
            [result] = import_sources(store, [Source(str(path), path.read_bytes())], ImportOptions(account="x"))
            rows = [
                (d.isoformat(), Decimal(a), c)
                for d, a, c in store.con.execute(
                    "SELECT posted_date, amount, currency FROM transactions ORDER BY tx_id"
                ).fetchall()
            ]
    except AnalyticsError as err:
        return None, str(err).splitlines()[0][:200]
    warnings = "; ".join(result.warnings)
    return rows, (f"warnings: {warnings}" if warnings else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="score only paths containing one of these")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "realdata"))
    parser.add_argument("-v", "--verbose", action="store_true", help="list every file with its outcome")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    if not (root / "truth").is_dir():
        sys.exit(f"no truth/ under {root}")
    os.environ["FINANALYTICS_PASSPHRASE"] = "real world benchmark"
    os.environ["FINANALYTICS_NO_KEYRING"] = "1"
    truths = [json.loads(p.read_text()) for p in sorted((root / "truth").rglob("*.json"))]
    if args.only:
        truths = [t for t in truths if any(s in t["file"] for s in args.only)]
    tally: Counter = Counter()
    lines: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fa-truth-") as tmp:
        for i, truth in enumerate(truths):
            kind = truth["kind"]
            try:
                rows, note = import_one(root / truth["file"], os.path.join(tmp, f"h{i}"))
            except Exception as exc:  # noqa: BLE001 - counting tracebacks is the point
                status, note = "bug", f"{type(exc).__name__}: {exc}"
                if args.verbose:
                    traceback.print_exc()
            else:
                if kind == "unsure":
                    status = "unsure-refused" if rows is None else "unsure-imported"
                elif kind != "transactions":
                    status = "ok-refused" if not rows else "imported-should-refuse"
                elif rows is None or not rows:
                    acceptable = truth.get("rows") == 0 or truth.get("acceptable_alternative")
                    status = "ok-refused" if acceptable else "refused"
                else:
                    problems = compare(truth, rows)
                    status = "wrong-money" if problems else "exact"
                    note = "; ".join(problems) or note
            group = {"transactions": "tx", "unsure": "unsure"}.get(kind, "refuse")
            tally[(group, status)] += 1
            label = f"{kind}{'/' + truth['refuse_class'] if truth.get('refuse_class') else ''}"
            if args.verbose or status not in ("exact", "ok-refused") or (status == "exact" and note):
                lines.append(f"{status:>23}  [{label}] {truth['file']}  {note}")
    elapsed = time.perf_counter() - started
    n_tx = sum(v for (g, _), v in tally.items() if g == "tx")
    exact = tally[("tx", "exact")] + tally[("tx", "ok-refused")]
    wrong = tally[("tx", "wrong-money")]
    bugs = sum(v for (_, s), v in tally.items() if s == "bug")
    n_refuse = sum(v for (g, _), v in tally.items() if g == "refuse")
    print(f"command: python benchmarks/real_world_import.py --root {root} {' '.join(args.only)}".rstrip())
    print("\n".join(lines))
    print(f"files scored: {n_tx} transaction exports, {n_refuse} to refuse ({elapsed:.0f} s)")
    share = exact / n_tx if n_tx else 0.0
    print(f"transaction files exact: {exact}/{n_tx} = {share:.1%} (target 95%) -> {'OK' if share >= 0.95 else 'BELOW'}")
    print(f"wrong money: {wrong} (target 0) -> {'OK' if wrong == 0 else 'FAIL'}")
    print(f"refused transaction files: {tally[('tx', 'refused')]}")
    print(
        f"files to refuse: refused {tally[('refuse', 'ok-refused')]}/{n_refuse}, "
        f"imported {tally[('refuse', 'imported-should-refuse')]}"
    )
    print(f"bugs (tracebacks): {bugs} (target 0) -> {'OK' if bugs == 0 else 'FAIL'}")
    unsure = {s: v for (g, s), v in tally.items() if g == "unsure"}
    if unsure:
        print(f"unsure (not scored): {unsure}")
    return 1 if wrong or bugs else 0


if __name__ == "__main__":
    sys.exit(main())
