"""The loader's batch work, against its row-by-row definitions: merchants cleaned once per
distinct payee (up to its digits), fingerprints put together in DuckDB, occurrences,
dedupe against what the store holds, and Arrow batches of a row group."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from finanalytics_cli.engine.ingest import loader
from finanalytics_cli.engine.ingest.loader import _fingerprint_basis, batch_frame, load_batch
from finanalytics_cli.engine.ingest.payee import _clean_frame, clean_merchant, clean_merchant_series
from finanalytics_cli.engine.ledger import ensure_account

# Texts the fast paths must treat exactly as the definitions do: case, tabs, no-break and
# double spaces, "|" (the basis separator), digits of other scripts, empty and null.
ODD_TEXTS = [
    "STARBUCKS #1234 SEATTLE WA",
    "Starbucks #1235 Seattle WA",
    "  coffee\tshop  ",
    "x\u00a0y",
    "Tesco  Store 0042",
    "A|B",
    "A",
    "B|C",
    "ß straße",
    "٣٤ café 12",
    "７ＥＬＥＶＥＮ １２",
    "7ELEVEN 33012",
    "PAYPAL *FOO 1234",
    "POS 4417 SHELL 00231",
    "",
    " ",
    None,
]


def _rows(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "line_no": i + 1,
            "posted_date": dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 20)),
            "amount": Decimal(rng.randint(-300, 300)) / 100,
            "payee_raw": rng.choice(ODD_TEXTS),
            "memo": rng.choice([None, None, "ref 1", "A|B", "C", " x  y ", "b|c"]),
            "fitid": None,
            "currency": rng.choice([None, "eur", "USD"]),
            "balance": None,
            "is_pending": False,
            "raw_row": f"row {i}",
        }
        for i in range(n)
    ]


def _load(store: Any, frame: Any, account: str = "Checking", import_id: int = 1) -> Any:
    con = store.con
    con.execute("BEGIN")
    stats = load_batch(con, ensure_account(con, account, currency="USD"), import_id, frame, "USD")
    con.execute("COMMIT")
    return stats


def test_merchants_cleaned_per_digit_key_equal_row_by_row() -> None:
    rng = random.Random(3)
    alphabet = "AB CDE#*0123456789-/.XSQ\t"
    values = ODD_TEXTS + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(5000)]
    series = pl.Series(values, dtype=pl.String)
    direct = _clean_frame(pl.DataFrame({"payee": series}))["merchant"]
    assert clean_merchant_series(series).to_list() == direct.to_list()
    assert clean_merchant("7ELEVEN 33012") == "7Eleven"  # digits of its own survive the shared cleaning
    assert clean_merchant("STARBUCKS #1234 SEATTLE WA") == clean_merchant("STARBUCKS #9876 SEATTLE WA")
    assert clean_merchant(None) is None


def test_payee_patterns_never_name_a_digit() -> None:
    # clean_merchant_series cleans payees that differ only in their digits once: sound
    # while no pattern tells one ASCII digit from another (\\d and 0-9 are fine).
    import ast
    import inspect
    import re

    from finanalytics_cli.engine.ingest import payee

    tree = ast.parse(inspect.getsource(payee._clean_frame))
    patterns = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    patterns += [v for k, v in vars(payee).items() if k.startswith("_") and k.isupper() and isinstance(v, str)]
    for pattern in patterns:
        rest = re.sub(r"\{\d+(?:,\d*)?\}|0-9|\$\d", "", pattern)  # quantifiers, ranges, group references
        assert not re.search(r"\d", rest), pattern


def test_fingerprints_and_occurrences_match_their_definition(store: Any) -> None:
    frame = batch_frame(_rows(3000))
    stats = _load(store, frame)
    assert stats.added == 3000
    stored = store.con.execute(
        "SELECT tx_id, fingerprint, occurrence, merchant FROM transactions ORDER BY tx_id"
    ).fetchall()
    # The definition: md5 of the basis text (as a number: its bytes little-endian, DuckDB's
    # md5_number), identical rows numbered in file order.
    expected = frame.with_columns(pl.col("currency").fill_null("USD").str.to_uppercase()).select(
        _fingerprint_basis(1).alias("basis"),
        pl.int_range(pl.len()).over(_fingerprint_basis(1)).alias("occurrence"),
        pl.col("payee_raw"),
    )
    assert [r[0] for r in stored] == list(range(1, 3001))  # ids follow the file's lines
    assert [r[1] for r in stored] == [
        int.from_bytes(hashlib.md5(b.encode()).digest(), "little") for b in expected["basis"]
    ]
    assert [r[2] for r in stored] == expected["occurrence"].to_list()
    assert max(r[2] for r in stored) > 0
    assert [r[3] for r in stored] == [clean_merchant(p) for p in expected["payee_raw"]]


def test_pipes_in_texts_share_a_basis_and_are_numbered(store: Any) -> None:
    # "A|B" + "C" and "A" + "B|C" hash the same text: one fingerprint, occurrences 0 and 1.
    day, amount = dt.date(2024, 3, 1), Decimal("-5.00")
    rows = [
        {"line_no": 1, "posted_date": day, "amount": amount, "payee_raw": "A|B", "memo": "C", "is_pending": False},
        {"line_no": 2, "posted_date": day, "amount": amount, "payee_raw": "A", "memo": "B|C", "is_pending": False},
    ]
    assert _load(store, batch_frame(rows)).added == 2
    fps = store.con.execute("SELECT fingerprint, occurrence FROM transactions ORDER BY tx_id").fetchall()
    assert fps[0][0] == fps[1][0] and [f[1] for f in fps] == [0, 1]
    assert _load(store, batch_frame(rows), import_id=2).added == 0


def test_reimport_and_overlap_dedupe_against_the_store(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "_ROW_GROUP", 7)  # many Arrow batches per insert
    rows = _rows(500, seed=2)
    rows[250]["payee_raw"] = "ONE OF A KIND"
    assert _load(store, batch_frame(rows)).added == 500
    again = _load(store, batch_frame(rows), import_id=2)
    assert (again.added, again.duplicate) == (0, 500)
    # A later export overlapping the first: only rows the store lacks are added. A second
    # identical purchase of a day is new (occurrence 1), and so are rows of later dates.
    later = [dict(r, line_no=i + 1) for i, r in enumerate(rows[250:] + rows[250:251] + _rows(40, seed=9))]
    for r in later[-40:]:
        r["posted_date"] += dt.timedelta(days=60)
    stats = _load(store, batch_frame(later), import_id=3)
    assert stats.added == 41
    n, ids = store.con.execute("SELECT count(*), count(DISTINCT tx_id) FROM transactions").fetchone()
    assert n == ids == 541
    assert _load(store, batch_frame(later), import_id=4).added == 0


def test_repeated_fitids_in_one_file_are_kept_and_then_deduped(store: Any) -> None:
    rows = [
        {
            "line_no": i + 1,
            "posted_date": dt.date(2024, 5, 1 + i % 3),
            "amount": Decimal(-i),
            "payee_raw": "SHOP",
            "memo": None,
            "fitid": f"F{i % 4}",
            "is_pending": False,
        }
        for i in range(12)
    ]
    assert _load(store, batch_frame(rows)).added == 12  # the store had none of them
    renamed = [dict(r, payee_raw="SHOP RENAMED") for r in rows]  # other fingerprints, same FITIDs
    assert _load(store, batch_frame(renamed), import_id=2).added == 0
    fresh = [dict(r, fitid=f"G{r['line_no']}", payee_raw="OTHER") for r in rows]
    assert _load(store, batch_frame(fresh), import_id=3).added == 12


def test_arrow_batches_are_row_groups_without_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "_ROW_GROUP", 4)
    frame = pl.DataFrame({"a": list(range(10)), "s": [f"text number {i} long enough" for i in range(10)]})
    table = loader._arrow(frame)
    assert [b.num_rows for b in table.to_batches()] == [4, 4, 2]
    assert str(table.schema.field("s").type) == "string_view"
    assert table.column("a").to_pylist() == list(range(10))


def test_duckdb_writes_dates_and_amounts_as_polars_does() -> None:
    # The fingerprint's text is put together in DuckDB: its date and DECIMAL(18,2) text
    # must be polars' (the definition's), or re-imports would stop matching.
    import duckdb

    rng = random.Random(7)
    cents = list(range(-20000, 20001)) + [rng.randint(-(10**17), 10**17) for _ in range(20000)] + [10**18 - 1]
    amounts = pl.Series("a", [Decimal(c) / 100 for c in cents], dtype=pl.Decimal(18, 2))
    days = pl.Series("d", [dt.date(1, 1, 1) + dt.timedelta(days=i) for i in range(0, 3_652_059, 97)])
    con = duckdb.connect()
    con.register("amounts", amounts.to_frame().to_arrow())
    con.register("days", days.to_frame().to_arrow())
    got = con.execute("SELECT a::VARCHAR AS s FROM amounts").pl()["s"]
    assert got.to_list() == amounts.cast(pl.String).to_list()
    got = con.execute("SELECT strftime(d, '%Y-%m-%d') AS s FROM days").pl()["s"]
    assert got.to_list() == days.dt.strftime("%Y-%m-%d").to_list()


def test_transfers_match_across_the_window_edge_only(store: Any) -> None:
    # The other side of a pair is looked for only within the window around this import's
    # dates: a side four days before them pairs, five days before does not.
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources

    def run(text: str, account: str) -> Any:
        [result] = import_sources(store, [Source(f"{account}.csv", text.encode())], ImportOptions(account=account))
        return result

    checking = (
        "Date,Description,Amount\n"
        "2023-06-01,ONLINE TRANSFER TO SAVINGS,-300.00\n"
        "2024-03-01,ONLINE TRANSFER TO SAVINGS,-500.00\n"
        "2024-03-01,ONLINE TRANSFER TO SAVINGS,-700.00\n"
    )
    assert run(checking, "Checking").transfers_matched == 0
    savings = (
        "Date,Description,Amount\n2024-03-05,DEPOSIT,500.00\n2024-03-06,DEPOSIT,700.00\n2024-03-06,INTEREST,1.00\n"
    )
    assert run(savings, "Savings").transfers_matched == 1
    pairs = store.con.execute("SELECT amount FROM transactions WHERE is_transfer ORDER BY amount").fetchall()
    assert [p[0] for p in pairs] == [Decimal("-500.00"), Decimal("500.00")]
