"""MT940/MT942 statements (fixtures written here) through the mt-940 parser: signs,
reversals, German structured and free :86: details, balances checked, statements merged."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources

FEB = """:20:STARTUMS
:25:DE89370400440532013000
:28C:00001/001
:60F:C250201EUR1000,00
:61:2502030203C2500,00NTRFNONREF//B1
:86:166?00GUTSCHRIFT?20SALARY FEB?32ACME GMBH
:61:2502050205D500,00NDDTNONREF//B2
:86:105?00LASTSCHRIFT?20Miete Februar?32Vermieter KG
:61:2502070207RC20,00NMSCNONREF
:86:Storno Gutschrift Rueckbuchung
:62F:C250228EUR2980,00
-
"""
MAR = """:20:STARTUMS
:25:DE89370400440532013000
:28C:00002/001
:60M:C250301EUR2980,00
:61:2503040304D19,99NDDTNONREF//B3
:86:105?00LASTSCHRIFT?20Abo Maerz?32STREAMFLIX
:62M:C250331EUR2960,01
-
"""


def _rows(store: Any) -> list[tuple]:
    return store.con.execute(
        "SELECT posted_date, amount, payee_raw, memo, is_pending, currency FROM transactions ORDER BY tx_id"
    ).fetchall()


def test_a_statement_with_structured_details_and_a_reversal(store: Any) -> None:
    data = FEB.replace("\n", "\r\n").encode("latin-1")
    [r] = import_sources(store, [Source("umsatz.sta", data)], ImportOptions())
    assert r.format == "mt940" and r.added == 3 and r.currency == "EUR"
    assert _rows(store) == [
        (dt.date(2025, 2, 3), Decimal("2500.00"), "ACME GMBH", "SALARY FEB", False, "EUR"),
        (dt.date(2025, 2, 5), Decimal("-500.00"), "Vermieter KG", "Miete Februar", False, "EUR"),
        # RC: a credit reversed, so money left the account; free :86: text says who/what.
        (dt.date(2025, 2, 7), Decimal("-20.00"), "Storno Gutschrift Rueckbuchung", None, False, "EUR"),
    ]
    [(name, external)] = store.con.execute("SELECT name, external_id FROM accounts").fetchall()
    assert name.endswith("3000") and "0532013000" not in external
    assert store.con.execute("SELECT as_of, amount FROM balances").fetchall() == [
        (dt.date(2025, 2, 28), Decimal("2980.00"))
    ]


def test_statements_of_one_account_are_merged_and_imported_once(store: Any) -> None:
    [r] = import_sources(store, [Source("q1.mta", (FEB + MAR).encode())], ImportOptions(account="Giro"))
    assert r.accounts == ["Giro"] and r.added == 4
    assert store.con.execute("SELECT max(as_of), max(amount) FROM balances").fetchone() == (
        dt.date(2025, 3, 31),
        Decimal("2960.01"),
    )
    again = import_sources(store, [Source("q1.mta", (FEB + MAR).encode())], ImportOptions(account="Giro"))[0]
    assert again.added == 0 and again.duplicate == 4


def test_balances_that_disagree_are_refused(store: Any) -> None:
    with pytest.raises(InvalidInput, match="not its closing balance 3000.00"):
        import_sources(store, [Source("x.sta", FEB.replace("2980,00", "3000,00").encode())], ImportOptions())
    assert store.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 0


def test_an_mt942_interim_report_is_pending(store: Any) -> None:
    interim = (
        ":20:INTERIM\n:25:DE89370400440532013000\n:28C:1/1\n:34F:EUR0,00\n:13D:2503051200+0100\n"
        ":61:2503050305D12,50NMSCNONREF\n:86:Baeckerei Korn\n:90D:1EUR12,50\n:90C:0EUR0,00\n-\n"
    )
    [r] = import_sources(store, [Source("today.942", interim.encode())], ImportOptions(account="Giro"))
    assert r.format == "mt940"
    assert _rows(store) == [(dt.date(2025, 3, 5), Decimal("-12.50"), "Baeckerei Korn", None, True, "EUR")]
    assert any("MT942" in w for w in r.warnings)
