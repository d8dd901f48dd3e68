"""QIF statements (fixtures written here): exact rows, the date order and decimal mark by
the file's evidence, opening balances, splits, several accounts, refusals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources

QUICKEN = """!Option:AutoSwitch
!Account
NEveryday Checking
TBank
^
NVisa Card
TCCard
^
!Clear:AutoSwitch
!Account
NEveryday Checking
TBank
^
!Type:Bank
D1/ 2'25
T1,250.00
POpening Balance
L[Everyday Checking]
^
D1/15'25
T-1,043.27
PCITY APARTMENTS
MJanuary rent
LHousing:Rent
^
D1/31'25
T3,120.55
PACME CORP PAYROLL
LSalary
^
D2/3'25
T-86.40
PCORNER GROCER
SGroceries
$-60.40
SHousehold
EBulbs
$-26.00
^
!Account
NVisa Card
TCCard
^
!Type:CCard
D2/14'25
T-54.10
PTRATTORIA ROMA
^
D2/20'25
U-19.99
T-19.99
PSTREAMFLIX
^
"""


def _rows(store: Any, account: str) -> list[tuple]:
    return store.con.execute(
        "SELECT posted_date, amount, payee_raw, t.currency FROM transactions t JOIN accounts a USING (account_id) "
        "WHERE a.name = ? ORDER BY posted_date, tx_id",
        [account],
    ).fetchall()


def test_quicken_file_with_two_accounts_opening_balance_and_splits(store: Any) -> None:
    [r] = import_sources(store, [Source("export.qif", QUICKEN.encode())], ImportOptions(currency="USD"))
    assert r.format == "qif" and r.status == "imported" and r.rejected == 0
    assert r.accounts == ["Everyday Checking", "Visa Card"] and r.added == 5
    checking = _rows(store, "Everyday Checking")
    assert checking == [
        (dt.date(2025, 1, 15), Decimal("-1043.27"), "CITY APARTMENTS", "USD"),
        (dt.date(2025, 1, 31), Decimal("3120.55"), "ACME CORP PAYROLL", "USD"),
        (dt.date(2025, 2, 3), Decimal("-86.40"), "CORNER GROCER", "USD"),
    ]
    assert _rows(store, "Visa Card")[1] == (dt.date(2025, 2, 20), Decimal("-19.99"), "STREAMFLIX", "USD")
    types = dict(store.con.execute("SELECT name, account_type FROM accounts").fetchall())
    assert types == {"Everyday Checking": "checking", "Visa Card": "credit_card"}
    # The opening balance is no transaction: it anchors the balance after the last row.
    [(as_of, amount)] = store.con.execute(
        "SELECT as_of, amount FROM balances b JOIN accounts a USING (account_id) WHERE a.name = 'Everyday Checking'"
    ).fetchall()
    assert as_of == dt.date(2025, 2, 3) and amount == Decimal("1250.00") - Decimal("1043.27") + Decimal(
        "3120.55"
    ) - Decimal("86.40")
    assert not any("splits" in w for w in r.warnings)
    again = import_sources(store, [Source("export.qif", QUICKEN.encode())], ImportOptions(currency="USD"))[0]
    assert again.added == 0 and again.duplicate == 5  # the same file twice adds nothing


def test_day_first_dates_and_decimal_commas_are_read_from_the_evidence(store: Any) -> None:
    text = "!Type:Bank\nD03.02.2025\nT-1.234,50\nPMIETE\n^\nD15.02.2025\nT2.000,00\nPGEHALT\n^\n"
    [r] = import_sources(store, [Source("konto.qif", text.encode())], ImportOptions(account="Giro", currency="EUR"))
    assert _rows(store, "Giro") == [
        (dt.date(2025, 2, 3), Decimal("-1234.50"), "MIETE", "EUR"),
        (dt.date(2025, 2, 15), Decimal("2000.00"), "GEHALT", "EUR"),
    ]
    assert r.currency == "EUR" and r.currency_source == "--currency"


def test_month_first_when_nothing_says_is_warned(store: Any) -> None:
    text = "!Type:Bank\nD03/02/2025\nT-10.00\nPA\n^\nD04/05/2025\nT-12.00\nPB\n^\n"
    [r] = import_sources(store, [Source("a.qif", text.encode())], ImportOptions(account="A"))
    assert [d for d, *_ in _rows(store, "A")] == [dt.date(2025, 3, 2), dt.date(2025, 4, 5)]
    assert any("month first" in w for w in r.warnings)
    assert r.currency == "XXX" and any("--currency" in w for w in r.warnings)


def test_refusals_are_clear_and_store_nothing(store: Any) -> None:
    contradict = "!Type:Bank\nD13/02/2025\nT-1.00\nPA\n^\nD02/14/2025\nT-2.00\nPB\n^\n"
    with pytest.raises(InvalidInput, match="contradict"):
        import_sources(store, [Source("a.qif", contradict.encode())], ImportOptions(account="A"))
    invest = "!Type:Invst\nD1/2/25\nNBuy\nYACME\nI10.00\nQ5\nT50.00\n^\n"
    with pytest.raises(InvalidInput, match="investment QIF is not supported yet"):
        import_sources(store, [Source("b.qif", invest.encode())], ImportOptions(account="B"))
    categories = "!Type:Cat\nNGroceries\nE\n^\n"
    with pytest.raises(InvalidInput, match="not a statement"):
        import_sources(store, [Source("c.qif", categories.encode())], ImportOptions(account="C"))
    with pytest.raises(InvalidInput, match="which account"):
        import_sources(store, [Source("d.qif", b"!Type:Bank\nD1/2/25\nT-1.00\n^\n")], ImportOptions())
    assert store.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 0


def test_bad_rows_are_rejected_splits_checked_and_investments_skipped(store: Any) -> None:
    text = (
        "!Type:Bank\nD1/2/25\nT-5.00\nPGOOD\n^\nDsoon\nT-6.00\nPBAD DATE\n^\nD1/3/25\nT-9.00\nPSPLIT\n"
        "SA\n$-4.00\nSB\n$-4.00\n^\n!Type:Invst\nD1/2/25\nNBuy\nYACME\nT50.00\n^\n"
    )
    [r] = import_sources(store, [Source("mixed.txt", text.encode())], ImportOptions(account="A", currency="USD"))
    assert r.format == "qif" and r.added == 2 and r.rejected == 1  # detected by content, not the name
    assert "date" in r.rejected_rows[0]["reason"]
    assert any("do not add up" in w for w in r.warnings) and any("investment" in w for w in r.warnings)
