"""The sample household: deterministic, committed as generated, and true to its truth."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
from finanalytics_cli.engine.sample_household import EXPORT_ACCOUNTS, sample_files

SAMPLE = Path(__file__).parents[2] / "sample_data"


def test_generator_is_deterministic_and_matches_the_committed_files() -> None:
    a, b = sample_files(), sample_files()
    assert a == b
    for rel, data in a.items():
        assert (SAMPLE / rel).read_bytes() == data, f"{rel}: run python sample_data/generate.py"
    assert sum(len(d) for d in a.values()) < 5_000_000


def test_truth_is_complete_and_realistic() -> None:
    files = sample_files()
    rows = list(csv.DictReader(io.StringIO(files["truth/transactions.csv"].decode())))
    summary = json.loads(files["truth/summary.json"])
    assert len(rows) == summary["transactions"] >= 2500
    assert len({r["key"] for r in rows}) == len(rows)
    from finanalytics_cli.engine.taxonomy import taxonomy_rows

    valid = {name for name, *_ in taxonomy_rows()}
    assert {r["category"] for r in rows} <= valid
    assert len({r["category"].split("/")[0] for r in rows}) >= 18
    anomalies = list(csv.DictReader(io.StringIO(files["truth/anomalies.csv"].decode())))
    assert {a["kind"] for a in anomalies} == {
        "duplicate_charge",
        "amount_spike",
        "new_merchant_abroad",
        "fee_spike",
        "price_increase",
    }
    assert all(a["key"] for a in anomalies)
    series = list(csv.DictReader(io.StringIO(files["truth/recurring.csv"].decode())))
    notes = " ".join(s["note"] for s in series)
    assert "price increase" in notes and "started" in notes and "cancelled" in notes
    assert {s["cadence"] for s in series} >= {"monthly", "biweekly", "yearly", "bimonthly"}
    # Several spellings per merchant, so categorising is not a lookup.
    spellings = {}
    for r in rows:
        spellings.setdefault(r["merchant"], set()).add(r["payee"])
    assert sum(1 for v in spellings.values() if len(v) >= 3) >= 10


def test_importing_reproduces_the_truth(store: Any) -> None:
    files = sample_files()
    truth = json.loads(files["truth/summary.json"])
    for rel, account in EXPORT_ACCOUNTS.items():
        [r] = import_sources(store, [Source(rel, files[rel])], ImportOptions(account=account))
        assert r.rejected == 0
    con = store.con
    got = {
        name: (n, s)
        for name, n, s in con.execute(
            "SELECT a.name, count(*), sum(t.amount) FROM transactions t JOIN accounts a USING (account_id) GROUP BY 1"
        ).fetchall()
    }
    want = {name: (v["transactions"], Decimal(v["sum"])) for name, v in truth["accounts"].items()}
    assert got == want
    from finanalytics_cli.engine.ledger import list_accounts

    assert {a["name"]: a["balance"] for a in list_accounts(con)} == {
        name: Decimal(v["closing_balance"]) for name, v in truth["accounts"].items()
    }
    # Every truth transfer, and nothing else, is flagged as a transfer.
    rows = list(csv.DictReader(io.StringIO(files["truth/transactions.csv"].decode())))
    truth_transfers = sorted(
        (r["account"], r["date"], Decimal(r["amount"])) for r in rows if r["is_transfer"] == "true"
    )
    flagged = sorted(
        (a, d.isoformat(), amt)
        for a, d, amt in con.execute(
            "SELECT a.name, t.posted_date, t.amount FROM transactions t JOIN accounts a USING (account_id) "
            "WHERE t.is_transfer"
        ).fetchall()
    )
    assert flagged == truth_transfers
    # OFX rows carry the truth key as FITID.
    fitids = {r[0] for r in con.execute("SELECT fitid FROM transactions WHERE fitid IS NOT NULL").fetchall()}
    assert fitids == {r["key"] for r in rows if r["account"] in ("Credit card", "Savings")}
