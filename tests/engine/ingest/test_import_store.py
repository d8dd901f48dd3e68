"""Imports into a real encrypted store: dedupe, pending, transfers, atomicity, undo."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources, list_imports, undo_import
from finanalytics_cli.engine.ledger import list_accounts, list_transactions
from tests.engine.ingest.ofx_fixtures import SGML_CHECKING, XML_TWO_STATEMENTS

JAN = (
    "Date,Description,Amount\n"
    "2024-01-02,COFFEE SHOP,-3.50\n"
    "2024-01-02,COFFEE SHOP,-3.50\n"  # two identical purchases on one day: both real
    "2024-01-03,GROCER,-40.00\n"
    "2024-01-05,SALARY,2000.00\n"
)
JAN_FEB_OVERLAP = (
    "Date,Description,Amount\n2024-01-03,GROCER,-40.00\n2024-01-05,SALARY,2000.00\n2024-02-01,RENT,-900.00\n"
)


def run(store: Any, text: str | bytes, name: str = "export.csv", **opts: Any):
    data = text.encode("utf-8") if isinstance(text, str) else text
    options = ImportOptions(account=opts.pop("account", "Checking"), **opts)
    [result] = import_sources(store, [Source(name, data)], options)
    return result


def count(store: Any) -> int:
    return store.con.execute("SELECT count(*) FROM transactions").fetchone()[0]


def test_identical_purchases_kept_and_reimport_adds_nothing(store: Any) -> None:
    first = run(store, JAN)
    assert (first.read, first.added, first.duplicate) == (4, 4, 0)
    again = run(store, JAN)
    assert (again.read, again.added, again.duplicate) == (4, 0, 4)
    assert count(store) == 4
    overlap = run(store, JAN_FEB_OVERLAP)
    assert (overlap.added, overlap.duplicate) == (1, 2)
    assert count(store) == 5


def test_money_is_decimal_and_signs_kept(store: Any) -> None:
    run(store, JAN)
    rows = store.con.execute("SELECT amount, typeof(amount), posted_date FROM transactions ORDER BY tx_id").fetchall()
    assert rows[0][0] == Decimal("-3.50") and rows[0][1] == "DECIMAL(18,2)"
    assert rows[3][0] == Decimal("2000.00")


def test_ofx_fitid_dedupe_and_balance(store: Any) -> None:
    r = run(store, SGML_CHECKING.encode("cp1252"), "bank.ofx", account=None)
    assert (r.format, r.added) == ("ofx", 4)  # two identical coffees with distinct FITIDs both kept
    assert run(store, SGML_CHECKING.encode("cp1252"), "bank.ofx", account=None).added == 0
    [acct] = list_accounts(store.con)
    assert acct["balance"] == Decimal("1503.33") and acct["balance_source"] == "statement"
    assert acct["name"].startswith("First Test Bank")


def test_ofx_multiple_accounts_and_transfer_match(store: Any) -> None:
    checking = "Date,Description,Amount\n2024-03-01,ONLINE TRANSFER TO SAVINGS,-500.00\n2024-03-02,GROCER,-50.00\n"
    run(store, checking, account="Checking")
    r = run(store, XML_TWO_STATEMENTS, "both.ofx", account=None)
    assert len(r.accounts) == 2
    assert r.transfers_matched == 1
    transfers = store.con.execute(
        "SELECT a.name, t.amount, t.category FROM transactions t JOIN accounts a USING (account_id) "
        "WHERE is_transfer ORDER BY amount"
    ).fetchall()
    assert [(t[1], t[2]) for t in transfers] == [(Decimal("-500.00"), "Transfers"), (Decimal("500.00"), "Transfers")]
    # Identical amounts without transfer wording are not transfers.
    assert store.con.execute("SELECT count(*) FROM transactions WHERE NOT is_transfer").fetchone()[0] == 3


def test_pending_that_posts_with_other_amount_and_date_is_not_doubled(store: Any) -> None:
    run(store, "Date,Status,Description,Amount\n2024-01-10,Pending,DINER 42,-20.00\n2024-01-09,Posted,GROCER,-9.00\n")
    later = run(
        store, "Date,Status,Description,Amount\n2024-01-12,Posted,DINER 42,-24.00\n2024-01-09,Posted,GROCER,-9.00\n"
    )
    assert later.pending_matched == 1 and later.added == 1 and later.duplicate == 1
    rows = store.con.execute("SELECT amount, is_pending FROM transactions ORDER BY posted_date").fetchall()
    assert rows == [(Decimal("-9.00"), False), (Decimal("-24.00"), False)]
    # Undoing the later import brings the pending row back.
    undo_import(store, later.import_id)
    rows = store.con.execute("SELECT amount, is_pending FROM transactions ORDER BY posted_date").fetchall()
    assert rows == [(Decimal("-9.00"), False), (Decimal("-20.00"), True)]


def test_rejected_rows_are_stored_with_raw_text(store: Any) -> None:
    r = run(store, "Date,Description,Amount\n2024-01-02,A,-1.00\n2024-02-30,B,-2.00\n")
    assert (r.added, r.rejected) == (1, 1)
    assert store.con.execute("SELECT line_no, reason, raw_row FROM rejected_rows").fetchall() == [
        (3, "invalid date 2024-02-30", "2024-02-30,B,-2.00")
    ]
    assert store.con.execute("SELECT raw_row FROM transactions").fetchone()[0] == "2024-01-02,A,-1.00"


def test_strict_refuses_the_whole_file(store: Any) -> None:
    with pytest.raises(InvalidInput, match="--strict"):
        run(store, "Date,Description,Amount\n2024-01-02,A,-1.00\n2024-02-30,B,-2.00\n", strict=True)
    assert count(store) == 0
    assert store.con.execute("SELECT count(*) FROM imports").fetchone()[0] == 0
    assert store.con.execute("SELECT count(*) FROM rejected_rows").fetchone()[0] == 0


def test_dry_run_stores_nothing_but_reports(store: Any) -> None:
    r = run(store, JAN, dry_run=True)
    assert (r.status, r.added) == ("dry-run", 4)
    assert count(store) == 0 and store.con.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary"),
        (b"Payee,Amount\nA,-1\n", "no date column"),
        (SGML_CHECKING[: SGML_CHECKING.index("<OFX>")].encode(), "not an OFX file"),
        (SGML_CHECKING[: SGML_CHECKING.index("<BANKTRANLIST>")].encode(), "truncated"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"!Type:Invst\nD01/02/2024\nNBuy\nT-1.00\n^\n", "QIF investment"),
    ],
)
def test_bad_input_names_the_file_and_changes_nothing(store: Any, data: bytes, match: str) -> None:
    run(store, JAN)
    before = store.con.execute("SELECT count(*), (SELECT count(*) FROM imports) FROM transactions").fetchone()
    with pytest.raises(InvalidInput, match=match) as info:
        run(store, data, name="bad-file.dat")
    assert "bad-file.dat" in str(info.value)
    assert store.con.execute("SELECT count(*), (SELECT count(*) FROM imports) FROM transactions").fetchone() == before


def test_many_files_one_bad_the_rest_land(store: Any) -> None:
    results = import_sources(
        store,
        [Source("a.csv", JAN.encode()), Source("b.csv", b"garbage\x00\x01" * 100)],
        ImportOptions(account="Checking"),
    )
    assert [r.status for r in results] == ["imported", "failed"]
    assert results[1].error["code"] == "INVALID_INPUT"
    assert count(store) == 4


def test_csv_needs_an_account_when_ambiguous(store: Any) -> None:
    with pytest.raises(InvalidInput, match="--account"):
        run(store, JAN, account=None)
    run(store, JAN, account="Checking", currency="USD")
    # The store's one account takes a file only when the file's currency is known and the same...
    with pytest.raises(InvalidInput, match="--account"):
        run(store, JAN_FEB_OVERLAP, account=None)
    with pytest.raises(InvalidInput, match="--account"):
        run(store, JAN_FEB_OVERLAP, account=None, currency="EUR")
    result = run(store, JAN_FEB_OVERLAP, account=None, currency="USD")
    assert result.accounts == ["Checking"]
    assert any("the store's one USD account" in w for w in result.warnings)


def test_undo_and_history(store: Any) -> None:
    a = run(store, JAN)
    b = run(store, JAN_FEB_OVERLAP)
    assert [h["added"] for h in list_imports(store.con)] == [4, 1]
    out = undo_import(store, b.import_id)
    assert out["transactions_removed"] == 1
    assert count(store) == 4
    assert [h["status"] for h in list_imports(store.con)] == ["done", "undone"]
    with pytest.raises(InvalidInput, match="already undone"):
        undo_import(store, b.import_id)
    with pytest.raises(InvalidInput, match="no import 99"):
        undo_import(store, 99)
    undo_import(store, a.import_id)
    assert count(store) == 0


def test_save_map_is_reused_for_the_account(store: Any, tmp_path: Path) -> None:
    weird = "Booked;Who;Value\n01/02/2024;Shop;-1,50\n01/02/2024;Cafe;-2,00\n"
    maps = tmp_path / "maps"
    m = tmp_path / "m.toml"
    m.write_text(
        '[csv]\ndate_column = "Booked"\ndate_format = "%m/%d/%Y"\namount_column = "Value"\npayee_column = "Who"\n'
    )
    r = run(store, weird, map=str(m), save_map="mybank", maps_dir=maps)
    assert r.added == 2 and (maps / "mybank.toml").exists()
    assert oct((maps / "mybank.toml").stat().st_mode & 0o777) == "0o600"
    # Later exports of the account use the saved map without --map.
    r2 = run(store, weird.replace("01/02/2024", "01/03/2024"), maps_dir=maps)
    assert r2.added == 2
    assert r2.layout["map"].endswith("mybank.toml")
    dates = {t["date"].isoformat() for t in list_transactions(store.con)}
    assert dates == {"2024-01-02", "2024-01-03"}


def test_transactions_listing_filters(store: Any) -> None:
    run(store, JAN)
    assert len(list_transactions(store.con, search="coffee")) == 2
    assert len(list_transactions(store.con, search="100%")) == 0
    assert len(list_transactions(store.con, limit=1)) == 1
    import datetime as dt

    assert len(list_transactions(store.con, date_from=dt.date(2024, 1, 3))) == 2
    with pytest.raises(InvalidInput, match="no account named"):
        list_transactions(store.con, account="Nope")
    rows = list_transactions(store.con, account="Checking", limit=None)
    assert [r["merchant"] for r in rows if r["payee"] == "COFFEE SHOP"] == ["Coffee Shop", "Coffee Shop"]


def test_currency_flag_fills_in_but_never_overrules_the_file(store: Any) -> None:
    eur = "Datum;Empfänger;Betrag (EUR)\n02.01.2024;REWE;-12,50\n"
    with pytest.raises(InvalidInput, match="the file is in EUR"):
        run(store, eur, account="Giro", currency="USD")
    result = run(store, eur, account="Giro", currency="EUR")
    assert (result.currency, result.currency_source) == ("EUR", "the column header")
    plain = "Date,Description,Amount\n2024-01-03,Shop,-5.00\n"
    result = run(store, plain, account="Cash", currency="GBP")
    assert (result.currency, result.currency_source) == ("GBP", "--currency")


def test_transaction_ids_stay_unique_through_imports_supersedes_and_undo(store: Any) -> None:
    # No key enforces it (m006): the loader numbers rows after every id in use.
    def ids() -> list[int]:
        return [
            r[0]
            for r in store.con.execute(
                "SELECT tx_id FROM transactions UNION ALL SELECT tx_id FROM superseded_transactions"
            ).fetchall()
        ]

    run(store, "Date,Status,Description,Amount\n2024-01-10,Pending,DINER 42,-20.00\n2024-01-09,Posted,GROCER,-9.00\n")
    later = run(
        store, "Date,Status,Description,Amount\n2024-01-12,Posted,DINER 42,-24.00\n2024-01-11,Posted,BAKERY,-3.00\n"
    )
    assert later.pending_matched == 1
    run(store, JAN, account="Savings")
    undo_import(store, later.import_id)  # the pending row comes back with its own id
    run(store, JAN_FEB_OVERLAP, account="Savings")
    run(store, "Date,Description,Amount\n2024-01-12,DINER 42,-24.00\n")
    all_ids = ids()
    assert (
        len(all_ids) == count(store) + store.con.execute("SELECT count(*) FROM superseded_transactions").fetchone()[0]
    )
    assert len(all_ids) == len(set(all_ids)) == 8
