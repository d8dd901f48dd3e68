"""CSV layouts from many kinds of bank, written here as fixtures (no real exports)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest.csv_reader import read_csv_export
from finanalytics_cli.engine.ingest.decode import decode_export
from finanalytics_cli.engine.ingest.layout import load_map


def parse(data: bytes | str, overrides=None, encoding: str = "utf-8"):
    raw = data.encode(encoding) if isinstance(data, str) else data
    text, enc = decode_export(raw, "test.csv")
    return read_csv_export(text, "test.csv", enc, overrides)


def rows(parsed):
    return [(r["posted_date"], r["amount"], r["payee_raw"]) for r in parsed.frame.iter_rows(named=True)]


def test_us_checking_with_dollar_signs_and_parentheses() -> None:
    p = parse(
        "Date,Description,Amount,Balance\n"
        '01/15/2024,PAYROLL ACME,"$2,450.00","$3,450.00"\n'
        '01/16/2024,WHOLE FOODS,($84.12),"$3,365.88"\n'
        '01/31/2024,NETFLIX.COM,-15.49,"$3,350.39"\n'
    )
    assert rows(p) == [
        (dt.date(2024, 1, 15), Decimal("2450.00"), "PAYROLL ACME"),
        (dt.date(2024, 1, 16), Decimal("-84.12"), "WHOLE FOODS"),
        (dt.date(2024, 1, 31), Decimal("-15.49"), "NETFLIX.COM"),
    ]
    assert p.layout["date_format"] == "%m/%d/%Y"
    assert p.checks["balance"]["mismatches"] == 0
    assert p.frame["currency"].to_list() == ["USD"] * 3


GERMAN = (
    "Kontoauszug;;;;\n"
    "Konto;DE12 3456 7890 1234 5678 90;;;\n"
    "Zeitraum;01.02.2024 - 29.02.2024;;;\n"
    "\n"
    "Buchungstag;Valuta;Auftraggeber/Empfänger;Verwendungszweck;Soll;Haben\n"
    "01.02.2024;01.02.2024;Stadtwerke München;Strom Februar;89,50;\n"
    "13.02.2024;13.02.2024;Arbeitgeber GmbH;Gehalt;;3.210,55\n"
    "14.02.2024;14.02.2024;Bäckerei Müller;Kartenzahlung;4,20;\n"
    "29.02.2024;29.02.2024;Vermieter;Miete;1.000,00;\n"
    "Kontostand am 29.02.2024;;;;;2.116,85\n"
)


def test_german_semicolon_latin1_debit_credit_with_preamble_and_summary() -> None:
    p = parse(GERMAN.encode("cp1252"))
    assert p.layout["encoding"] == "cp1252"
    assert p.layout["delimiter"] == ";"
    assert p.layout["header_line"] == 5
    assert p.layout["date_format"] == "%d.%m.%Y"
    assert p.layout["decimal_mark"] == ","
    assert rows(p) == [
        (dt.date(2024, 2, 1), Decimal("-89.50"), "Stadtwerke München"),
        (dt.date(2024, 2, 13), Decimal("3210.55"), "Arbeitgeber GmbH"),
        (dt.date(2024, 2, 14), Decimal("-4.20"), "Bäckerei Müller"),
        (dt.date(2024, 2, 29), Decimal("-1000.00"), "Vermieter"),
    ]
    assert p.skipped_lines == 1  # the closing-balance line is a summary, not a reject
    assert p.rejected == []
    assert p.frame["memo"].to_list()[0] == "Strom Februar"


def test_thousands_point_settled_by_the_whole_column() -> None:
    # "1.000" alone could be one; the column also holds "2,50": it is one thousand.
    p = parse("Datum;Omschrijving;Bedrag\n01-03-2024;Huur;-1.000\n02-03-2024;Koffie;-2,50\n")
    assert [r[1] for r in rows(p)] == [Decimal("-1000.00"), Decimal("-2.50")]


def test_thousands_comma_with_decimal_point() -> None:
    p = parse('Date,Payee,Amount\n2024-03-01,Rent,"-1,000"\n2024-03-02,Coffee,-2.50\n')
    assert [r[1] for r in rows(p)] == [Decimal("-1000.00"), Decimal("-2.50")]


def test_conflicting_decimal_marks_are_an_error() -> None:
    with pytest.raises(InvalidInput, match="decimal comma"):
        parse('Date,Payee,Amount\n2024-03-01,A,"2,50"\n2024-03-02,B,3.75\n')


def test_trailing_minus_and_cr_dr_suffixes() -> None:
    p = parse("Date|Description|Amount\n2024-01-02|Shop|12.00-\n2024-01-03|Refund|5.00 CR\n2024-01-04|Fee|3.00 DR\n")
    assert p.layout["delimiter"] == "|"
    assert [r[1] for r in rows(p)] == [Decimal("-12.00"), Decimal("5.00"), Decimal("-3.00")]


def test_direction_column() -> None:
    p = parse("Date,Label,Amount,D/C\n12/15/2018,Supplier,33.50,D\n12/16/2018,Customer,1533.50,C\n")
    assert [r[1] for r in rows(p)] == [Decimal("-33.50"), Decimal("1533.50")]


def test_dutch_af_bij() -> None:
    p = parse(
        "Datum,Naam / Omschrijving,Rekening,Af Bij,Bedrag (EUR)\n"
        '20240105,Albert Heijn,NL01,Af,"23,45"\n'
        '20240125,Werkgever BV,NL01,Bij,"2500,00"\n'.replace("Af Bij", "Af/Bij")
    )
    assert p.layout["date_format"] == "%Y%m%d"
    assert rows(p) == [
        (dt.date(2024, 1, 5), Decimal("-23.45"), "Albert Heijn"),
        (dt.date(2024, 1, 25), Decimal("2500.00"), "Werkgever BV"),
    ]


@pytest.mark.parametrize(
    "text, expected_format",
    [
        (
            "Date d'opération;Libellé;Montant\n03/04/2024;CB CARREFOUR;-45,10\n15/04/2024;VIR SALAIRE;2100,00\n",
            "%d/%m/%Y",
        ),
        ("Fecha;Concepto;Importe\n03/04/2024;MERCADONA;-45,10\n15/04/2024;NOMINA;2100,00\n", "%d/%m/%Y"),
        (
            "Data operazione;Descrizione;Importo\n03/04/2024;ESSELUNGA;-45,10\n15/04/2024;STIPENDIO;2100,00\n",
            "%d/%m/%Y",
        ),
    ],
)
def test_french_spanish_italian_headers(text: str, expected_format: str) -> None:
    p = parse(text)
    assert p.layout["date_format"] == expected_format
    assert rows(p)[0] == (dt.date(2024, 4, 3), Decimal("-45.10"), rows(p)[0][2])
    assert rows(p)[1][1] == Decimal("2100.00")


def test_two_digit_years_and_month_names() -> None:
    assert rows(parse("Date,Description,Amount\n31/12/23,A,-1.00\n01/01/24,B,-2.00\n"))[0][0] == dt.date(2023, 12, 31)
    p = parse("Date,Description,Amount\n12 Jan 2024,A,-1.00\n3 Feb 2024,B,-2.00\n")
    assert [r[0] for r in rows(p)] == [dt.date(2024, 1, 12), dt.date(2024, 2, 3)]


def test_iso_datetime_values() -> None:
    p = parse("Datetime,To,Amount (total)\n2024-01-05T10:22:01,Alice,- $20.00\n2024-01-06T08:00:00,Bob,+ $5.00\n")
    assert rows(p) == [(dt.date(2024, 1, 5), Decimal("-20.00"), "Alice"), (dt.date(2024, 1, 6), Decimal("5.00"), "Bob")]


def test_day_month_order_settled_by_one_value_in_the_column() -> None:
    # Only the last row has a day over 12; it decides the whole column.
    p = parse("Date,Description,Amount\n01/02/2024,A,-1\n03/02/2024,B,-2\n25/02/2024,C,-3\n")
    assert p.layout["date_format"] == "%d/%m/%Y"
    assert rows(p)[0][0] == dt.date(2024, 2, 1)


def test_ambiguous_dates_explain_and_a_map_resolves() -> None:
    text = "Date,Description,Amount\n01/02/2024,A,-1\n01/02/2024,B,-2\n"
    with pytest.raises(InvalidInput) as info:
        parse(text)
    message = str(info.value)
    assert "day/month" in message and "month/day" in message
    toml = info.value.details["suggested_map"]
    assert 'date_format = "%d/%m/%Y"' in toml
    # The suggested map, as printed, makes the file import.
    overrides = load_map(toml.replace("%d/%m/%Y", "%m/%d/%Y"), "suggested")
    p = parse(text, overrides)
    assert rows(p)[0][0] == dt.date(2024, 1, 2)


def test_encodings_bom_and_utf16() -> None:
    text = "Date\tDescription\tAmount\n2024-01-02\tCafé Crème\t-3.50\n2024-01-03\tÜber\t-4.00\n"
    for raw in (b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("utf-16"), text.encode("utf-16-le")):
        p = parse(raw)
        assert p.layout["delimiter"] == "tab"
        assert rows(p)[0] == (dt.date(2024, 1, 2), Decimal("-3.50"), "Café Crème")


def test_rejected_rows_have_line_numbers() -> None:
    p = parse(
        "Date,Description,Amount\n2024-01-02,A,-1.00\n2024-13-45,B,-2.00\nnot a date,C,-3\n2024-01-05,D,abc\n"
        "2024-01-06,E,\n2024-01-07,F,-4.00\n"
    )
    assert [r[2] for r in rows(p)] == ["A", "F"]
    assert [(r.line_no, r.reason.split(" ")[0]) for r in p.rejected] == [
        (3, "invalid"),
        (4, "invalid"),
        (5, "invalid"),
        (6, "no"),
    ]
    assert "2024-13-45" in p.rejected[0].reason


def test_credit_card_with_inverted_signs_is_caught_by_the_balance() -> None:
    # Purchases listed positive; the balance owed grows with them.
    p = parse(
        "Date,Description,Amount,Balance\n2024-01-02,Shop,50.00,-50.00\n2024-01-03,Cafe,5.00,-55.00\n"
        "2024-01-10,Payment,-55.00,0.00\n2024-01-12,Shop,20.00,-20.00\n"
    )
    assert p.layout["invert_sign"] is True
    assert "signs flipped" in p.layout["evidence"]["amount"]
    assert [r[1] for r in rows(p)] == [Decimal("-50.00"), Decimal("-5.00"), Decimal("55.00"), Decimal("-20.00")]


def test_headerless_file() -> None:
    p = parse("2024-01-02,Grocer,-12.50,987.50\n2024-01-03,Salary,1000.00,1987.50\n")
    assert p.layout["columns_used"]["date"] == "column_1"
    assert rows(p) == [
        (dt.date(2024, 1, 2), Decimal("-12.50"), "Grocer"),
        (dt.date(2024, 1, 3), Decimal("1000.00"), "Salary"),
    ]


@pytest.mark.parametrize(
    "text, match",
    [
        ("Name,Email\nAlice,a@example.com\n", "not a transaction export"),
        ("Symbol,Quantity,Market Value\nAAPL,10,1900.00\n", "not a transaction export"),
        ("Date,Description\n2024-01-01,A\n", "no amount column"),
    ],
)
def test_not_a_transaction_export(text: str, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse(text)


def test_map_names_missing_column() -> None:
    with pytest.raises(InvalidInput, match="columns the map names"):
        parse("Date,Description,Amount\n2024-01-02,A,-1\n", {"amount_column": "Betrag"})
    with pytest.raises(InvalidInput, match="does not have"):
        parse("Date,Description,Amount\n2024-01-02,A,-1\n", {"header_line": 1, "amount_column": "Betrag"})


def test_unknown_map_keys_rejected() -> None:
    with pytest.raises(InvalidInput, match="unknown keys"):
        load_map('[csv]\ndate_colum = "Date"\n', "m.toml")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        load_map("[csv\n", "m.toml")


def test_pending_status_column() -> None:
    p = parse("Date,Status,Description,Amount\n2024-01-02,Pending,Cafe,-4.00\n2024-01-01,Posted,Shop,-9.00\n")
    assert p.frame["is_pending"].to_list() == [True, False]


@pytest.mark.parametrize("raw", [b"", b"   \n\n", b"\x00\x01\x02\x03binary\x00\x00" * 50])
def test_empty_and_binary(raw: bytes) -> None:
    with pytest.raises(InvalidInput, match="test.csv"):
        parse(raw)


# -- layouts from a probe of other banks (written here from their published layouts) ----------
def test_fee_beside_the_amount_is_charged_when_the_balance_shows_it() -> None:
    p = parse(
        "Type,Product,Started Date,Completed Date,Description,Amount,Fee,Currency,State,Balance\n"
        "TOPUP,Current,2024-01-02 10:00:00,2024-01-02 10:01:00,Top-up,200.00,0.00,GBP,COMPLETED,500.00\n"
        "EXCHANGE,Current,2024-01-08 09:00:00,2024-01-08 09:00:05,To EUR,-100.00,0.50,GBP,COMPLETED,399.50\n"
        "CARD_PAYMENT,Current,2024-01-09 12:00:00,2024-01-10 08:00:00,Tesco,-12.40,0.00,GBP,COMPLETED,387.10\n"
        "CARD_PAYMENT,Current,2024-01-11 12:00:00,2024-01-12 08:00:00,Amazon,-30.00,0.00,GBP,REVERTED,387.10\n"
        "CARD_PAYMENT,Current,2024-01-13 12:00:00,2024-01-14 08:00:00,Pret,-4.20,0.00,GBP,COMPLETED,382.90\n"
    )
    assert [r[1] for r in rows(p)] == [Decimal("200.00"), Decimal("-100.50"), Decimal("-12.40"), Decimal("-4.20")]
    assert "fee" in p.layout["evidence"]["amount"]
    assert [r["kind"] for r in p.excluded] == ["cancelled"]
    assert any("canceled" in w for w in p.warnings)


def test_card_exports_that_list_charges_positive() -> None:
    amex = parse(
        "Date,Description,Card Member,Account #,Amount\n"
        "01/05/2024,AMAZON.COM AMZN.COM/BILL WA,JOHN DOE,-71006,45.67\n"
        "01/09/2024,AUTOPAY PAYMENT - THANK YOU,JOHN DOE,-71006,-512.30\n"
        "01/12/2024,UBER TRIP,JOHN DOE,-71006,18.20\n"
    )
    assert [r[1] for r in rows(amex)] == [Decimal("-45.67"), Decimal("512.30"), Decimal("-18.20")]
    assert "American Express" in amex.layout["evidence"]["sign"]
    # An unknown card export of the same shape is imported as written, with a warning.
    other = parse(
        "Posted,Merchant,Value\n2024-01-05,SHOP A,45.67\n2024-01-06,SHOP B,12.00\n2024-01-07,SHOP C,8.10\n"
        "2024-01-08,SHOP D,3.00\n2024-01-09,PAYMENT THANK YOU,-68.77\n"
    )
    assert [r[1] for r in rows(other)][-1] == Decimal("-68.77")
    assert any("invert_sign = true" in w for w in other.warnings)


def test_direction_flags_in_a_column_without_a_header_name() -> None:
    p = parse(
        '"Buchungstag";"Valuta";"Empfänger/Zahlungspflichtiger";"Verwendungszweck";"Währung";"Umsatz";" "\n'
        '"02.01.2024";"02.01.2024";"REWE";"Einkauf";"EUR";"45,67";"S"\n'
        '"05.01.2024";"05.01.2024";"Arbeitgeber";"Gehalt";"EUR";"2.500,00";"H"\n'
        '"08.01.2024";"08.01.2024";"Stadtwerke";"Strom";"EUR";"89,00";"S"\n'
    )
    assert [r[1] for r in rows(p)] == [Decimal("-45.67"), Decimal("2500.00"), Decimal("-89.00")]


def test_repeated_thousands_separators_settle_the_decimal_mark() -> None:
    p = parse(
        'Fecha,Detalle,Cargo,Abono\n"03/01/2024","COMPRA LIDER","12.500",""\n"05/01/2024","SUELDO","","1.250.000"\n'
    )
    assert [r[1] for r in rows(p)] == [Decimal("-12500.00"), Decimal("1250000.00")]


def test_a_merchant_called_total_is_a_transaction() -> None:
    p = parse("Date,Description,Amount\n2024-01-02,Total,-62.10\n2024-01-03,Shop,-5.00\n")
    assert [r[2] for r in rows(p)] == ["Total", "Shop"]
