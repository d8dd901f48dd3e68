"""Import every real bank export in ../shared/realdata into throw-away stores.

Prints, per format, how many files imported cleanly, how many got a clear error, and how
many raised anything else (a traceback: a bug), then the list of failures. Files are
classified first (see CLASSIFY): bank/card/payment transaction exports count toward the
targets; brokerage positions, crypto logs, address books, self-tracking data and
non-CSV formats (QIF, GPC, MT940-like) should get a clear error instead.

For OFX, "correct signs and dates" is checked against an independent, naive scan of the
file's <TRNAMT> and <DTPOSTED> values; for CSV, against the file's running balance
where it has one.

Run: python benchmarks/real_world_import.py [--root ../shared/realdata] [-v]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import traceback
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

# Files that are not bank/card/payment transaction exports, by path fragment, with why.
NOT_TRANSACTIONS = {
    "positions": "brokerage positions",
    "/lots/": "brokerage tax lots",
    "balances.csv": "balance snapshots",
    "cctax/": "crypto tax log",
    "ccexchanges/": "crypto exchange log",
    "ccwallets/": "crypto wallet log",
    "self-tracking/": "self-tracking data",
    "_address_book": "address book",
    "_blockchain-accounts": "address book",
    "utrade": "brokerage trades",
    "UTrade": "brokerage trades",
    "Brokerage_Transactions": "brokerage trades",
    "schwab_csv_brokerage": "brokerage trades",
    "investment-transactions": "brokerage trades",
    "fidelity_csv_all_accounts": "brokerage trades",
    "History_for_Account": "brokerage trades",
    "Intelligent_Transactions": "brokerage trades",
    "amazon": "order history",
    "sample.journal.csv": "ledger journal",
    "koinly": "crypto tax log",
    "stripe.csv": "payment-processor balance log",
    "hledger/examples/csv/sample.": "hledger sample with a non-date first field",
}
UNSUPPORTED_FORMATS = {
    ".qif": "QIF",
    ".gpc": "GPC",
    ".dat": "fixed-width",
    ".txt": "fixed-width text",
    ".acc": "fixed-width",
    ".md": "documentation",
}
# OFX files that are deliberately not statements (server errors, investment-only).
OFX_NOT_BANK = {"profrs.ofx": "server error response"}


def classify(path: Path, root: Path) -> tuple[str, str]:
    rel = str(path.relative_to(root))
    if rel.endswith(".rules") or path.name == "README.md":
        return "skip", "layout description"
    kind = "ofx" if rel.startswith("ofx/") else "csv"
    if path.suffix.lower() in UNSUPPORTED_FORMATS:
        return f"{kind}:unsupported", UNSUPPORTED_FORMATS[path.suffix.lower()]
    if kind == "csv":
        for frag, why in NOT_TRANSACTIONS.items():
            if frag in rel:
                return "csv:not-transactions", why
        return "csv:transactions", ""
    if path.name in OFX_NOT_BANK:
        return "ofx:not-bank", OFX_NOT_BANK[path.name]
    text = path.read_bytes()[:200_000].upper()
    if b"<INVSTMTRS>" in text and b"<STMTRS>" not in text and b"<CCSTMTRS>" not in text:
        return "ofx:investment", "investment statement"
    return "ofx:bank", ""


_TRNAMT = re.compile(rb"<TRNAMT>\s*([^<\s]+)", re.I)
_DTPOSTED = re.compile(rb"<DTPOSTED>\s*(\d{8})", re.I)


def ofx_expected(data: bytes) -> Counter:
    amounts = [a.replace(b",", b".").decode() for a in _TRNAMT.findall(data)]
    dates = [d.decode() for d in _DTPOSTED.findall(data)]
    out: Counter = Counter()
    for a, d in zip(amounts, dates, strict=False):
        try:
            out[(f"{d[:4]}-{d[4:6]}-{d[6:]}", Decimal(a).quantize(Decimal("0.01")))] += 1
        except Exception:  # noqa: BLE001 - the naive scan skips what it cannot read
            pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "realdata"))
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    if not root.is_dir():
        sys.exit(f"no such directory: {root}")
    os.environ["FINANALYTICS_PASSPHRASE"] = "real world benchmark"
    os.environ["FINANALYTICS_NO_KEYRING"] = "1"
    from finanalytics_cli.engine.errors import AnalyticsError
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    tally: dict[str, Counter] = defaultdict(Counter)
    failures: list[str] = []
    listing: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fa-realworld-") as tmp:
        for i, path in enumerate(sorted(p for p in root.rglob("*") if p.is_file())):
            group, why = classify(path, root)
            if group == "skip":
                continue
            rel = str(path.relative_to(root))
            listing.append(f"  {group:22} {rel}" + (f"  ({why})" if why else ""))
            os.environ["FINANALYTICS_HOME"] = os.path.join(tmp, f"h{i}")
            data = path.read_bytes()
            try:
                with Store.create(resolve_paths()) as store:
                    [r] = import_sources(store, [Source(rel, data)], ImportOptions(account="Account"))
                    stored = Counter(
                        (d.isoformat(), a)
                        for d, a in store.con.execute("SELECT posted_date, amount FROM transactions").fetchall()
                    )
                outcome = "imported"
                note = f"{r.added} rows, {r.rejected} rejected"
                if group.startswith("ofx"):
                    expected = ofx_expected(data)
                    if expected and stored != expected:
                        outcome, note = (
                            "wrong values",
                            f"stored {sum(stored.values())} vs file {sum(expected.values())}",
                        )
                elif r.checks.get("balance", {}).get("checked"):
                    b = r.checks["balance"]
                    note += f", balance agrees {b['agree_as_stored']}/{b['checked']}"
                    # Some exports' balances are scrambled; signs are wrong only if flipping
                    # them would agree better with the running balance.
                    if b["agree_if_flipped"] > b["agree_as_stored"]:
                        outcome = "wrong values"
                if r.added == 0 and r.read == 0:
                    note += " (empty statement)"
            except AnalyticsError as err:
                outcome, note = "clear error", str(err).splitlines()[0][:160]
            except Exception as exc:  # noqa: BLE001 - counting tracebacks is the point
                outcome, note = "TRACEBACK", f"{type(exc).__name__}: {exc}"
                if args.verbose:
                    traceback.print_exc()
            tally[group][outcome] += 1
            wanted = "imported" if group in ("csv:transactions", "ofx:bank") else "clear error"
            if outcome != wanted and not (wanted == "clear error" and outcome == "imported"):
                failures.append(f"  [{group}] {outcome}: {rel}: {note}")
            elif args.verbose:
                print(f"  ok [{group}] {outcome}: {rel}: {note}")

    print(f"command: python benchmarks/real_world_import.py --root {root}")
    print(f"{'group':24}{'files':>6}{'imported':>10}{'clear error':>13}{'wrong values':>14}{'TRACEBACK':>11}")
    for group in sorted(tally):
        c = tally[group]
        print(
            f"{group:24}{sum(c.values()):>6}{c['imported']:>10}{c['clear error']:>13}{c['wrong values']:>14}"
            f"{c['TRACEBACK']:>11}"
        )
    for group, target in (("ofx:bank", 0.95), ("csv:transactions", 0.90)):
        c = tally[group]
        n = sum(c.values())
        share = c["imported"] / n if n else 0.0
        print(
            f"{group}: {share:.0%} imported with correct signs and dates (target {target:.0%}) -> "
            f"{'OK' if share >= target else 'BELOW TARGET'}"
        )
    tracebacks = sum(c["TRACEBACK"] for c in tally.values())
    print(f"tracebacks: {tracebacks} (target 0) -> {'OK' if tracebacks == 0 else 'FAIL'}")
    print("failures:" if failures else "failures: none")
    print("\n".join(failures))
    print("classification:")
    print("\n".join(listing))


if __name__ == "__main__":
    main()
