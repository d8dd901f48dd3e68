"""Classes of real-world import failure, reproduced with fixtures written here (no real
exports), each run through the whole pipeline into a real encrypted store and checked
row by row: date, signed amount (money out is negative), payee, and the signed sum."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest import FileImport, ImportOptions, Source, import_sources
from finanalytics_cli.engine.ingest.layout import load_map

D = Decimal
IBAN_DE = "DE89370400440532013000"
IBAN_DE_SPACED = "DE89 3704 0044 0532 0130 00"
IBAN_NL = "NL91ABNA0417164300"


def day(y: int, m: int, d: int) -> dt.date:
    return dt.date(y, m, d)


def run(store: Any, text: str | bytes, name: str = "export.csv", encoding: str = "utf-8", **opts: Any) -> FileImport:
    data = text.encode(encoding) if isinstance(text, str) else text
    options = ImportOptions(account=opts.pop("account", "Giro"), **opts)
    [result] = import_sources(store, [Source(name, data)], options)
    return result


def stored(store: Any) -> list[tuple[Any, ...]]:
    return store.con.execute(
        "SELECT posted_date, amount, currency, payee_raw, is_pending FROM transactions ORDER BY tx_id"
    ).fetchall()


def total(store: Any) -> Decimal:
    return store.con.execute("SELECT coalesce(sum(amount), 0) FROM transactions").fetchone()[0]


def counts(store: Any) -> tuple[int, int]:
    return store.con.execute("SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM imports)").fetchone()


def write_map(tmp_path: Path, toml: str) -> str:
    load_map(toml, "m.toml")  # the map is valid as written
    path = tmp_path / "m.toml"
    path.write_text(toml, encoding="utf-8")
    return str(path)


# -- 1. headerless, booking date and value date, signed amount, text, running balance ------
HEADERLESS_TWO_DATES = (
    "02.01.2024;03.01.2024;-12,50;REWE Markt Berlin;987,50\n"
    "03.01.2024;03.01.2024;2.000,00;Gehalt ACME GmbH;2.987,50\n"
    "05.01.2024;08.01.2024;-45,00;Aral Tankstelle;2.942,50\n"
    "15.01.2024;16.01.2024;-1.000,00;Hausverwaltung Miete;1.942,50\n"
    "29.01.2024;30.01.2024;-7,99;Spotify AB;1.934,51\n"
)
HEADERLESS_ROWS = [
    (day(2024, 1, 2), D("-12.50"), "REWE Markt Berlin"),
    (day(2024, 1, 3), D("2000.00"), "Gehalt ACME GmbH"),
    (day(2024, 1, 5), D("-45.00"), "Aral Tankstelle"),
    (day(2024, 1, 15), D("-1000.00"), "Hausverwaltung Miete"),
    (day(2024, 1, 29), D("-7.99"), "Spotify AB"),
]


def _reorder(text: str, order: list[int]) -> str:
    return "".join(";".join(line.split(";")[i] for i in order) + "\n" for line in text.splitlines())


@pytest.mark.parametrize(
    "order",
    [
        pytest.param([0, 1, 2, 3, 4], id="booking-value-amount-text-balance"),
        pytest.param([1, 0, 3, 2, 4], id="value-booking-text-amount-balance"),
        pytest.param([0, 1, 3, 4, 2], id="balance-column-before-amount"),
    ],
)
def test_headerless_two_date_columns_amount_and_balance_by_content(store: Any, order: list[int]) -> None:
    text = _reorder(HEADERLESS_TWO_DATES, order)
    r = run(store, text, currency="EUR")
    # Value dates differ from booking dates on most rows: which date column is the posting
    # date is not the point here; the amount must never be a date and the balance never the amount.
    rows = stored(store)
    assert [(a, p) for _, a, _, p, _ in rows] == [(a, p) for _, a, p in HEADERLESS_ROWS]
    assert total(store) == D("934.51")
    assert r.checks["balance"]["mismatches"] == 0
    amount_col = r.layout["columns_used"]["amount"]
    balance_col = r.layout["columns_used"]["balance"]
    assert amount_col == f"column_{order.index(2) + 1}"
    assert balance_col == f"column_{order.index(4) + 1}"
    assert r.layout["columns_used"]["date"] in (f"column_{order.index(0) + 1}", f"column_{order.index(1) + 1}")
    assert not r.warnings or all("balance" not in w for w in r.warnings)


def test_headerless_booking_date_first_is_the_posted_date(store: Any) -> None:
    run(store, HEADERLESS_TWO_DATES, currency="EUR")
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == HEADERLESS_ROWS


# -- 2. the running balance arbitrates the amount column ----------------------------------
FX_CARD = (
    "Date,Description,Amount,Charged (EUR),Balance (EUR)\n"
    "2024-04-02,HOTEL NEW YORK USD,-271.00,-250.00,750.00\n"
    "2024-04-03,UBER TRIP USD,-21.68,-20.00,730.00\n"
    "2024-04-05,MOMA STORE USD,-54.20,-50.00,680.00\n"
    "2024-04-08,TOP-UP,500.00,500.00,1180.00\n"
    "2024-04-10,DELI NYC USD,-10.84,-10.00,1170.00\n"
)


def test_balance_reproducing_column_wins_over_the_header_named_amount(store: Any) -> None:
    r = run(store, FX_CARD)
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == [
        (day(2024, 4, 2), D("-250.00"), "HOTEL NEW YORK USD"),
        (day(2024, 4, 3), D("-20.00"), "UBER TRIP USD"),
        (day(2024, 4, 5), D("-50.00"), "MOMA STORE USD"),
        (day(2024, 4, 8), D("500.00"), "TOP-UP"),
        (day(2024, 4, 10), D("-10.00"), "DELI NYC USD"),
    ]
    assert total(store) == D("170.00")
    assert r.layout["columns_used"]["amount"] == "Charged (EUR)"
    assert "Charged (EUR)" in r.layout["evidence"]["amount"]
    assert r.currency == "EUR"


FEES_UNDER_AMOUNT = (
    "Date;Description;Amount;Total;Balance\n"
    "2024-05-02;Transfer to J. Smith;1,50;-101,50;898,50\n"
    "2024-05-06;Card ATM withdrawal;2,00;-52,00;846,50\n"
    "2024-05-09;Salary;0,00;1500,00;2346,50\n"
    "2024-05-14;Transfer to landlord;1,50;-801,50;1545,00\n"
    "2024-05-20;Card ATM withdrawal;2,00;-42,00;1503,00\n"
)


def test_balance_arbiter_prefers_the_total_over_a_fee_column_named_amount(store: Any) -> None:
    r = run(store, FEES_UNDER_AMOUNT, currency="EUR")
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == [
        (day(2024, 5, 2), D("-101.50"), "Transfer to J. Smith"),
        (day(2024, 5, 6), D("-52.00"), "Card ATM withdrawal"),
        (day(2024, 5, 9), D("1500.00"), "Salary"),
        (day(2024, 5, 14), D("-801.50"), "Transfer to landlord"),
        (day(2024, 5, 20), D("-42.00"), "Card ATM withdrawal"),
    ]
    assert total(store) == D("503.00")
    assert "Total" in r.layout["evidence"]["amount"]


def test_balance_that_agrees_with_no_candidate_is_a_warning_not_silence(store: Any) -> None:
    text = (
        "Date,Description,Amount,Balance\n"
        "2024-06-03,GROCER,-40.00,1000.00\n"
        "2024-06-04,PHARMACY,-12.00,812.34\n"
        "2024-06-07,SALARY,1800.00,77.10\n"
        "2024-06-10,RENT,-900.00,4410.00\n"
        "2024-06-12,CINEMA,-18.00,19.99\n"
    )
    r = run(store, text, currency="USD")
    assert r.status == "imported"
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == [
        (day(2024, 6, 3), D("-40.00"), "GROCER"),
        (day(2024, 6, 4), D("-12.00"), "PHARMACY"),
        (day(2024, 6, 7), D("1800.00"), "SALARY"),
        (day(2024, 6, 10), D("-900.00"), "RENT"),
        (day(2024, 6, 12), D("-18.00"), "CINEMA"),
    ]
    assert total(store) == D("830.00")
    assert any("running balance" in w and "disagrees" in w for w in r.warnings), r.warnings


# -- 3. Dutch Af/Bij (ING) ----------------------------------------------------------------
ING = (
    '"Datum","Naam / Omschrijving","Rekening","Tegenrekening","Code","Af Bij","Bedrag (EUR)","Mutatiesoort",'
    '"Mededelingen"\n'
    f'"20240105","Albert Heijn 1403","{IBAN_NL}","","BA","Af","23,45","Betaalautomaat",'
    '"Pasvolgnr: 003 05-01-2024 17:42 Transactie: 1A2B3C Term: XY1234"\n'
    f'"20240125","Werkgever BV","{IBAN_NL}","NL20INGB0001234567","GT","Bij","2500,00","Overschrijving",'
    '"Naam: Werkgever BV Omschrijving: Salaris januari IBAN: NL20INGB0001234567"\n'
    f'"20240128","Hr J de Vries","{IBAN_NL}","NL69INGB0123456789","GT","Af","1250,00","Online bankieren",'
    '"Naam: Hr J de Vries Omschrijving: Huur februari IBAN: NL69INGB0123456789"\n'
    f'"20240130","Bol.com","{IBAN_NL}","","ID","Bij","19,99","iDEAL","Terugbetaling bestelling 4021"\n'
)


def test_ing_af_bij_unsigned_decimal_comma_and_eur_from_header(store: Any) -> None:
    r = run(store, ING, "NL91ABNA0417164300_01-01-2024_31-01-2024.csv", account="ING")
    assert [(d, a, c, p) for d, a, c, p, _ in stored(store)] == [
        (day(2024, 1, 5), D("-23.45"), "EUR", "Albert Heijn 1403"),
        (day(2024, 1, 25), D("2500.00"), "EUR", "Werkgever BV"),
        (day(2024, 1, 28), D("-1250.00"), "EUR", "Hr J de Vries"),
        (day(2024, 1, 30), D("19.99"), "EUR", "Bol.com"),
    ]
    assert total(store) == D("1246.54")
    assert r.currency == "EUR"
    assert "header" in (r.currency_source or "")
    assert r.layout["columns_used"]["direction"] == "Af Bij"


# -- 4. German S/H ------------------------------------------------------------------------
SOLL_HABEN = (
    "Buchungstag;Valuta;Auftraggeber/Empfänger;Verwendungszweck;Betrag;S/H\n"
    "01.02.2024;01.02.2024;Stadtwerke München;Abschlag Strom Februar;89,50;S\n"
    "13.02.2024;13.02.2024;Arbeitgeber GmbH;Gehalt Februar;3.210,55;H\n"
    "14.02.2024;15.02.2024;Bäckerei Müller;Kartenzahlung;4,20;S\n"
    "29.02.2024;29.02.2024;Vermieter;Miete März;1.000,00;S\n"
)


def test_german_soll_haben_column(store: Any) -> None:
    r = run(store, SOLL_HABEN.encode("cp1252"), currency="EUR")
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == [
        (day(2024, 2, 1), D("-89.50"), "Stadtwerke München"),
        (day(2024, 2, 13), D("3210.55"), "Arbeitgeber GmbH"),
        (day(2024, 2, 14), D("-4.20"), "Bäckerei Müller"),
        (day(2024, 2, 29), D("-1000.00"), "Vermieter"),
    ]
    assert total(store) == D("2116.85")
    assert r.layout["columns_used"]["direction"] == "S/H"


@pytest.mark.parametrize("header", ["S/H", "Soll/Haben", "Af/Bij", "D/C"])
def test_direction_column_with_unknown_value_is_refused_and_stores_nothing(store: Any, header: str) -> None:
    text = SOLL_HABEN.replace(";S/H\n", f";{header}\n", 1).replace("4,20;S\n", "4,20;X\n")
    with pytest.raises(InvalidInput) as info:
        run(store, text, "umsaetze.csv", currency="EUR")
    assert "'x'" in str(info.value).lower() and "umsaetze.csv" in str(info.value)
    assert counts(store) == (0, 0)


# -- 5. "CR" suffix on a card export -------------------------------------------------------
def test_card_export_cr_suffix_marks_credits(store: Any) -> None:
    text = (
        "Posting Date,Description,Amount\n"
        "03/14/2024,AMAZON MKTPL*2K4L1,45.00\n"
        "03/16/2024,AMAZON REFUND,20.00 CR\n"
        "03/20/2024,SHELL OIL 5744,61.37\n"
        "03/28/2024,PAYMENT THANK YOU,86.37 CR\n"
    )
    r = run(store, text, account="Visa", currency="USD")
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == [
        (day(2024, 3, 14), D("-45.00"), "AMAZON MKTPL*2K4L1"),
        (day(2024, 3, 16), D("20.00"), "AMAZON REFUND"),
        (day(2024, 3, 20), D("-61.37"), "SHELL OIL 5744"),
        (day(2024, 3, 28), D("86.37"), "PAYMENT THANK YOU"),
    ]
    assert total(store) == D("0.00")
    assert "CR" in r.layout["evidence"]["sign"]


# -- 6. gendered German headers -------------------------------------------------------------
GENDERED_ROWS = (
    "02.04.2024;Stadtbibliothek Köln;Jahresgebühr Leseausweis Nr. 445120;-15,00\n"
    "05.04.2024;Muster GmbH;Lohn und Gehalt März 2024 Personalnummer 0815;2.480,00\n"
    "09.04.2024;Ökostrom AG;Abschlag April Vertragskonto 7788990011;-62,00\n"
)
GENDERED_EXPECTED = [
    (day(2024, 4, 2), D("-15.00"), "Stadtbibliothek Köln"),
    (day(2024, 4, 5), D("2480.00"), "Muster GmbH"),
    (day(2024, 4, 9), D("-62.00"), "Ökostrom AG"),
]


@pytest.mark.parametrize(
    "payee_header",
    [
        "Empfänger*in",
        "Zahlungsempfänger*in",
        "Zahlungsempfänger:in",
        "Empfänger:in",
        "Auftraggeber/-in",
        "Empfänger/-in",
        "ZahlungsempfängerIn",
    ],
)
def test_gendered_payee_headers(store: Any, payee_header: str) -> None:
    text = f"Buchungsdatum;{payee_header};Verwendungszweck;Betrag (€)\n" + GENDERED_ROWS
    r = run(store, text, currency="EUR")
    assert r.layout["columns_used"].get("payee") == payee_header, r.layout["columns_used"]
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == GENDERED_EXPECTED
    assert total(store) == D("2403.00")


def test_euro_sign_in_the_amount_header_is_currency_evidence(store: Any) -> None:
    r = run(store, "Buchungsdatum;Empfänger*in;Verwendungszweck;Betrag (€)\n" + GENDERED_ROWS)
    assert [(d, a, c, p) for d, a, c, p, _ in stored(store)] == [(d, a, "EUR", p) for d, a, p in GENDERED_EXPECTED]
    assert r.currency == "EUR"
    assert "header" in (r.currency_source or "")


# -- 7. cp1250 Czech export ----------------------------------------------------------------
CZECH = (
    "Datum;Částka;Měna;Protistrana;Zpráva pro příjemce\n"
    "05.03.2024;-1 234,50;CZK;Potraviny Dvořák s.r.o.;Nákup potravin\n"
    "07.03.2024;25 000,00;CZK;Zaměstnavatel Žďár a.s.;Mzda únor\n"
    "10.03.2024;-349,00;CZK;Lékárna U Bílého lva;Léky\n"
    "18.03.2024;-12 800,00;CZK;Bytové družstvo Ústí;Nájem březen\n"
)


def test_czech_cp1250_space_thousands_and_currency_column(store: Any) -> None:
    r = run(store, CZECH, "pohyby.csv", encoding="cp1250", account="Běžný účet")
    assert r.layout["encoding"] in ("cp1250", "iso8859-2")
    assert [(d, a, c, p) for d, a, c, p, _ in stored(store)] == [
        (day(2024, 3, 5), D("-1234.50"), "CZK", "Potraviny Dvořák s.r.o."),
        (day(2024, 3, 7), D("25000.00"), "CZK", "Zaměstnavatel Žďár a.s."),
        (day(2024, 3, 10), D("-349.00"), "CZK", "Lékárna U Bílého lva"),
        (day(2024, 3, 18), D("-12800.00"), "CZK", "Bytové družstvo Ústí"),
    ]
    assert total(store) == D("10616.50")
    assert r.currency == "CZK"
    assert "Měna" in (r.currency_source or "")
    memos = [m for (m,) in store.con.execute("SELECT memo FROM transactions ORDER BY tx_id").fetchall()]
    assert memos == ["Nákup potravin", "Mzda únor", "Léky", "Nájem březen"]


# -- 8. balance records inside the data -------------------------------------------------------
BALANCE_RECORDS_EN = (
    "Date,Description,Amount\n"
    "2024-03-01,Opening balance,1000.00\n"
    "2024-03-02,GROCER,-50.00\n"
    "2024-03-05,SALARY,2000.00\n"
    "2024-03-20,ELECTRICITY CO,-75.25\n"
    "2024-03-31,Total turnover,1874.75\n"
    "2024-03-31,Closing balance,{closing}\n"
)
BALANCE_RECORDS_DE = (
    "Buchungstag;Empfänger;Verwendungszweck;Betrag\n"
    "01.03.2024;;Anfangssaldo;1.000,00\n"
    "02.03.2024;REWE;Einkauf;-50,00\n"
    "05.03.2024;Muster GmbH;Gehalt;2.000,00\n"
    "20.03.2024;Stadtwerke;Strom;-75,25\n"
    "31.03.2024;;Umsatz gesamt;1.874,75\n"
    "31.03.2024;;Endsaldo;{closing}\n"
)


@pytest.mark.parametrize(
    "template, closing_ok, closing_bad, payees",
    [
        pytest.param(BALANCE_RECORDS_EN, "2874.75", "2900.00", ["GROCER", "SALARY", "ELECTRICITY CO"], id="english"),
        pytest.param(BALANCE_RECORDS_DE, "2.874,75", "2.900,00", ["REWE", "Muster GmbH", "Stadtwerke"], id="german"),
    ],
)
def test_balance_records_are_taken_out_and_checked(
    store: Any, template: str, closing_ok: str, closing_bad: str, payees: list[str]
) -> None:
    r = run(store, template.format(closing=closing_ok), "march.csv", currency="EUR")
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == [
        (day(2024, 3, 2), D("-50.00"), payees[0]),
        (day(2024, 3, 5), D("2000.00"), payees[1]),
        (day(2024, 3, 20), D("-75.25"), payees[2]),
    ]
    assert total(store) == D("1874.75")
    assert r.balance_records == 3
    assert not any("opening balance" in w for w in r.warnings), r.warnings

    # The same month, one row missing from the export: opening + rows != closing.
    bad = run(store, template.format(closing=closing_bad), "march-again.csv", currency="EUR")
    assert bad.balance_records == 3
    assert bad.added == 0 and bad.duplicate == 3
    assert any("opening balance" in w and "closing balance" in w for w in bad.warnings), bad.warnings
    assert total(store) == D("1874.75")


# -- 9. pending rows that post later ---------------------------------------------------------
PENDING_CASES = [
    pytest.param(
        "Date,Status,Description,Amount\n",
        "{d},{s},{p},{a}\n",
        "%Y-%m-%d",
        ("Pending", "Posted"),
        ("DINER 42", "-24.80"),
        id="english-pending",
    ),
    pytest.param(
        "Buchungstag;Umsatzstatus;Empfänger;Betrag\n",
        "{d};{s};{p};{a}\n",
        "%d.%m.%Y",
        ("vorgemerkt", "gebucht"),
        ("Café Rösterei", "-24,80"),
        id="german-vorgemerkt",
    ),
    pytest.param(
        "Buchungsdatum;Status;Zahlungsempfänger;Betrag (EUR)\n",
        "{d};{s};{p};{a}\n",
        "%d.%m.%Y",
        ("Ausstehend", "Gebucht"),
        ("Café Rösterei", "-24,80"),
        id="german-ausstehend",
    ),
]


@pytest.mark.parametrize("days_later", [2, 0])
@pytest.mark.parametrize("header, line, fmt, words, pending_row", PENDING_CASES)
def test_pending_row_is_flagged_then_replaced_when_it_posts(
    store: Any,
    header: str,
    line: str,
    fmt: str,
    words: tuple[str, str],
    pending_row: tuple[str, str],
    days_later: int,
) -> None:
    pending_word, posted_word = words
    payee, amount = pending_row
    amount_2 = "-9,00" if "," in amount else "-9.00"
    salary = "1500,00" if "," in amount else "1500.00"

    def ln(date: dt.date, status: str, who: str, value: str) -> str:
        return line.format(d=date.strftime(fmt), s=status, p=who, a=value)

    first = (
        header
        + ln(day(2024, 1, 10), pending_word, payee, amount)
        + ln(day(2024, 1, 9), posted_word, "GROCER", amount_2)
    )
    r1 = run(store, first, "first.csv", currency="EUR")
    assert r1.added == 2
    assert [(d, a, p, pend) for d, a, _, p, pend in stored(store)] == [
        (day(2024, 1, 10), D("-24.80"), payee, True),
        (day(2024, 1, 9), D("-9.00"), "GROCER", False),
    ]
    posted_on = day(2024, 1, 10 + days_later)
    later = (
        header
        + ln(day(2024, 1, 15), posted_word, "EMPLOYER", salary)
        + ln(posted_on, posted_word, payee, amount)
        + ln(day(2024, 1, 9), posted_word, "GROCER", amount_2)
    )
    r2 = run(store, later, "later.csv", currency="EUR")
    assert r2.pending_matched == 1, (r2.added, r2.duplicate, r2.pending_matched)
    rows = sorted((d, a, p, pend) for d, a, _, p, pend in stored(store))
    assert rows == sorted(
        [
            (day(2024, 1, 9), D("-9.00"), "GROCER", False),
            (posted_on, D("-24.80"), payee, False),
            (day(2024, 1, 15), D("1500.00"), "EMPLOYER", False),
        ]
    )
    assert total(store) == D("1466.20")


# -- 10. --map precedence -----------------------------------------------------------------------
def test_map_debit_credit_clears_the_auto_detected_amount_column(store: Any, tmp_path: Path) -> None:
    # "Amount" is unsigned; the bank's own split into Withdrawn/Deposited carries the direction.
    text = (
        "Date,Payee,Amount,Withdrawn,Deposited,Balance\n"
        "2024-02-01,RENT LLC,1200.00,1200.00,,800.00\n"
        "2024-02-02,PAYROLL,2500.00,,2500.00,3300.00\n"
        "2024-02-05,COSTCO,180.45,180.45,,3119.55\n"
    )
    m = write_map(tmp_path, '[csv]\ndebit_column = "Withdrawn"\ncredit_column = "Deposited"\n')
    r = run(store, text, map=m, currency="USD")
    assert "amount" not in r.layout["columns_used"]
    assert (r.layout["columns_used"]["debit"], r.layout["columns_used"]["credit"]) == ("Withdrawn", "Deposited")
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == [
        (day(2024, 2, 1), D("-1200.00"), "RENT LLC"),
        (day(2024, 2, 2), D("2500.00"), "PAYROLL"),
        (day(2024, 2, 5), D("-180.45"), "COSTCO"),
    ]
    assert total(store) == D("1119.55")


HEADERLESS_THREE_MONEY = (
    "02.01.2024;REWE Markt;12,50;;987,50\n"
    "03.01.2024;Gehalt ACME;;2.000,00;2.987,50\n"
    "05.01.2024;Aral;45,00;;2.942,50\n"
    "15.01.2024;Rückerstattung Amazon;;19,99;2.962,49\n"
)
HEADERLESS_THREE_MONEY_ROWS = [
    (day(2024, 1, 2), D("-12.50"), "REWE Markt"),
    (day(2024, 1, 3), D("2000.00"), "Gehalt ACME"),
    (day(2024, 1, 5), D("-45.00"), "Aral"),
    (day(2024, 1, 15), D("19.99"), "Rückerstattung Amazon"),
]


def test_headerless_three_money_columns_refused_without_a_map(store: Any) -> None:
    with pytest.raises(InvalidInput, match="look like amounts") as info:
        run(store, HEADERLESS_THREE_MONEY, "noheader.csv", currency="EUR")
    assert "noheader.csv" in str(info.value)
    assert counts(store) == (0, 0)


def test_map_on_headerless_file_applies_before_the_too_many_amounts_refusal(store: Any, tmp_path: Path) -> None:
    m = write_map(
        tmp_path,
        '[csv]\nheader_line = 0\ndate_column = "column_1"\ndate_format = "%d.%m.%Y"\npayee_column = "column_2"\n'
        'debit_column = "column_3"\ncredit_column = "column_4"\nbalance_column = "column_5"\n',
    )
    r = run(store, HEADERLESS_THREE_MONEY, "noheader.csv", map=m, currency="EUR")
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == HEADERLESS_THREE_MONEY_ROWS
    assert total(store) == D("1962.49")
    assert r.checks["balance"]["mismatches"] == 0


def test_map_named_direction_column_with_unknown_value_is_an_error(store: Any, tmp_path: Path) -> None:
    text = (
        "Date,Text,Amount,Kind\n"
        "2024-07-01,Supplier,33.50,D\n"
        "2024-07-02,Customer,1533.50,C\n"
        "2024-07-03,Adjustment,5.00,X\n"
    )
    m = write_map(tmp_path, '[csv]\ndirection_column = "Kind"\n')
    with pytest.raises(InvalidInput) as info:
        run(store, text, "ledger.csv", map=m, currency="EUR")
    assert "'x'" in str(info.value).lower() and "Kind" in str(info.value)
    assert counts(store) == (0, 0)
    # Without the map "Kind" is not a direction column: the amounts are taken as signed.
    r = run(store, text, "ledger.csv", currency="EUR")
    assert r.status == "imported"
    assert [a for _, a, _, _, _ in stored(store)] == [D("33.50"), D("1533.50"), D("5.00")]


def test_invert_sign_composes_with_direction_flags(store: Any, tmp_path: Path) -> None:
    # Documented order: the number's own sign, then the direction flag, then invert_sign flips.
    text = (
        "Date,Description,Amount,D/C\n"
        "2024-08-01,Purchase,10.00,D\n"
        "2024-08-02,Refund,25.00,C\n"
        "2024-08-03,Reversal,-4.00,C\n"
        "2024-08-04,Fee,-5.00,\n"
    )
    m = write_map(tmp_path, "[csv]\ninvert_sign = true\n")
    run(store, text, map=m, currency="EUR")
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == [
        (day(2024, 8, 1), D("10.00"), "Purchase"),  # D: -10, flipped
        (day(2024, 8, 2), D("-25.00"), "Refund"),  # C: +25, flipped
        (day(2024, 8, 3), D("-4.00"), "Reversal"),  # own '-', C makes it +4, flipped
        (day(2024, 8, 4), D("5.00"), "Fee"),  # own '-' only, flipped
    ]
    assert total(store) == D("-14.00")


def test_suggested_map_of_an_ambiguous_date_refusal_imports(store: Any, tmp_path: Path) -> None:
    # No currency either: --currency GBP or EUR would itself say day first.
    text = "Date,Description,Amount\n01/02/2024,COFFEE HOUSE,-3.50\n02/03/2024,BOOK STORE,-12.00\n"
    with pytest.raises(InvalidInput) as info:
        run(store, text, "ambiguous.csv")
    assert "ambiguous.csv" in str(info.value)
    toml = info.value.details["suggested_map"]
    assert counts(store) == (0, 0)
    m = write_map(tmp_path, toml)
    r = run(store, text, "ambiguous.csv", map=m)
    assert r.status == "imported"
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == [
        (day(2024, 2, 1), D("-3.50"), "COFFEE HOUSE"),
        (day(2024, 3, 2), D("-12.00"), "BOOK STORE"),
    ]
    assert total(store) == D("-15.50")


def test_suggested_map_of_a_headerless_refusal_imports(store: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        run(store, HEADERLESS_THREE_MONEY, "noheader.csv", currency="EUR")
    m = write_map(tmp_path, info.value.details["suggested_map"])
    run(store, HEADERLESS_THREE_MONEY, "noheader.csv", map=m, currency="EUR")
    assert [(d, a, p) for d, a, _, p, _ in stored(store)] == HEADERLESS_THREE_MONEY_ROWS
    assert total(store) == D("1962.49")


# -- 11. many files, mixed currencies -------------------------------------------------------------
CARD_USD_FIRST = "Date,Description,Amount\n2024-03-01,STARBUCKS 1123,-6.45\n2024-03-02,TARGET 0452,-38.10\n"
CARD_USD = (
    "Transaction Date,Description,Amount\n"
    "03/15/2024,WALGREENS #1187,-$12.99\n"
    "03/18/2024,NETFLIX.COM,-$15.49\n"
    "03/22/2024,AUTOPAY PAYMENT,$200.00\n"
)
GIRO_EUR_IBAN = (
    "Kontoinhaber;Erika Mustermann\n"
    f"IBAN;{IBAN_DE_SPACED}\n"
    "Zeitraum;01.03.2024 - 31.03.2024\n"
    "\n"
    "Buchungstag;Empfänger;Verwendungszweck;Betrag\n"
    "04.03.2024;Stadtwerke Köln;Abschlag März;-85,00\n"
    "15.03.2024;Arbeitgeber AG;Gehalt März;3.100,00\n"
    "28.03.2024;Edeka Süd;Kartenzahlung;-43,17\n"
)
GIRO_EUR_COLUMN = (
    "Buchungstag;Empfänger;Verwendungszweck;Betrag;Währung\n"
    "04.03.2024;Stadtwerke Köln;Abschlag März;-85,00;EUR\n"
    "15.03.2024;Arbeitgeber AG;Gehalt März;3.100,00;EUR\n"
    "28.03.2024;Edeka Süd;Kartenzahlung;-43,17;EUR\n"
)
EUR_ROWS = [
    (day(2024, 3, 4), D("-85.00"), "Stadtwerke Köln"),
    (day(2024, 3, 15), D("3100.00"), "Arbeitgeber AG"),
    (day(2024, 3, 28), D("-43.17"), "Edeka Süd"),
]
USD_ROWS = [
    (day(2024, 3, 15), D("-12.99"), "WALGREENS #1187"),
    (day(2024, 3, 18), D("-15.49"), "NETFLIX.COM"),
    (day(2024, 3, 22), D("200.00"), "AUTOPAY PAYMENT"),
]


def rows_by_account(store: Any) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for name, cur, d, a, p in store.con.execute(
        "SELECT a.name, t.currency, t.posted_date, t.amount, t.payee_raw FROM transactions t "
        "JOIN accounts a USING (account_id) ORDER BY t.tx_id"
    ).fetchall():
        out.setdefault(name, []).append((d, a, cur, p))
    return out


def card_in_usd(store: Any) -> None:
    run(store, CARD_USD_FIRST, "card-feb.csv", account="Card", currency="USD")
    assert store.con.execute("SELECT name, currency FROM accounts").fetchall() == [("Card", "USD")]


@pytest.mark.parametrize("usd_first", [True, False], ids=["usd-first", "eur-first"])
def test_folder_import_eur_file_with_iban_gets_its_own_account(store: Any, usd_first: bool) -> None:
    card_in_usd(store)
    sources = [Source("card-usd.csv", CARD_USD.encode()), Source("giro-eur.csv", GIRO_EUR_IBAN.encode())]
    if not usd_first:
        sources.reverse()
    results = import_sources(store, sources, ImportOptions(account=None))
    by_file = {r.file: r for r in results}
    assert set(by_file) == {"card-usd.csv", "giro-eur.csv"}
    eur = by_file["giro-eur.csv"]
    assert eur.status == "imported", eur.error
    [eur_account] = eur.accounts
    assert eur_account.startswith("Account ****") and eur_account.endswith("3000")
    assert eur.currency == "EUR"
    accounts = rows_by_account(store)
    assert accounts[eur_account] == [(d, a, "EUR", p) for d, a, p in EUR_ROWS]
    assert all(c == "USD" for _, _, c, _ in accounts["Card"])
    # The USD file names no account: it goes to the store's one USD account, or asks.
    usd = by_file["card-usd.csv"]
    if usd.status == "imported":
        assert usd.accounts == ["Card"]
        assert accounts["Card"][2:] == [(d, a, "USD", p) for d, a, p in USD_ROWS]
    else:
        assert usd.error is not None and "card-usd.csv" in usd.error["message"]
    assert sum(a for _, a, _, _ in accounts[eur_account]) == D("2971.83")


def test_folder_import_eur_file_without_iban_is_not_put_in_the_usd_account(store: Any) -> None:
    card_in_usd(store)
    results = import_sources(
        store,
        [Source("card-usd.csv", CARD_USD.encode()), Source("giro-eur.csv", GIRO_EUR_COLUMN.encode())],
        ImportOptions(account=None),
    )
    assert [r.file for r in results] == ["card-usd.csv", "giro-eur.csv"]
    usd, eur = results
    assert usd.status == "imported" and usd.accounts == ["Card"]
    assert eur.status == "failed"
    assert eur.error is not None and eur.error["code"] == "INVALID_INPUT"
    assert "giro-eur.csv" in eur.error["message"]
    accounts = rows_by_account(store)
    assert list(accounts) == ["Card"]
    assert accounts["Card"] == [
        (day(2024, 3, 1), D("-6.45"), "USD", "STARBUCKS 1123"),
        (day(2024, 3, 2), D("-38.10"), "USD", "TARGET 0452"),
        *[(d, a, "USD", p) for d, a, p in USD_ROWS],
    ]
    assert total(store) == D("126.97")


@pytest.mark.parametrize("giro", [GIRO_EUR_IBAN, GIRO_EUR_COLUMN], ids=["iban", "currency-column"])
def test_folder_import_into_a_usd_account_refuses_the_eur_file(store: Any, giro: str) -> None:
    card_in_usd(store)
    results = import_sources(
        store,
        [Source("giro-eur.csv", giro.encode()), Source("card-usd.csv", CARD_USD.encode())],
        ImportOptions(account="Card"),
    )
    assert [r.file for r in results] == ["giro-eur.csv", "card-usd.csv"]
    eur, usd = results
    assert eur.status == "failed"
    assert eur.error is not None
    message = eur.error["message"]
    assert "giro-eur.csv" in message and "EUR" in message and "'Card'" in message and "USD" in message
    assert usd.status == "imported" and usd.accounts == ["Card"] and usd.added == 3
    assert rows_by_account(store) == {
        "Card": [
            (day(2024, 3, 1), D("-6.45"), "USD", "STARBUCKS 1123"),
            (day(2024, 3, 2), D("-38.10"), "USD", "TARGET 0452"),
            *[(d, a, "USD", p) for d, a, p in USD_ROWS],
        ]
    }
    assert total(store) == D("126.97")


# -- 12. currency --------------------------------------------------------------------------------
NO_CURRENCY = "Date,Description,Amount\n2024-09-02,BAKERY,-4.10\n2024-09-03,REFUND SHOP,12.00\n"


def test_no_currency_evidence_is_xxx_with_a_warning(store: Any) -> None:
    r = run(store, NO_CURRENCY)
    assert [(d, a, c, p) for d, a, c, p, _ in stored(store)] == [
        (day(2024, 9, 2), D("-4.10"), "XXX", "BAKERY"),
        (day(2024, 9, 3), D("12.00"), "XXX", "REFUND SHOP"),
    ]
    assert total(store) == D("7.90")
    assert r.currency == "XXX"
    assert any("does not say its currency" in w and "XXX" in w for w in r.warnings), r.warnings


def test_currency_flag_when_the_file_does_not_say(store: Any) -> None:
    r = run(store, NO_CURRENCY, currency="EUR")
    assert [(d, a, c, p) for d, a, c, p, _ in stored(store)] == [
        (day(2024, 9, 2), D("-4.10"), "EUR", "BAKERY"),
        (day(2024, 9, 3), D("12.00"), "EUR", "REFUND SHOP"),
    ]
    assert total(store) == D("7.90")
    assert (r.currency, r.currency_source) == ("EUR", "--currency")
    assert not any("currency" in w for w in r.warnings), r.warnings
