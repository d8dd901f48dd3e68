"""The built-in merchant table and matcher (engine/merchants.py): the shipped table, the
real matcher, bank descriptors as banks write them."""

from __future__ import annotations

import gzip
import importlib.util
import sys
from pathlib import Path

import pytest

from finanalytics_cli.engine import merchants
from finanalytics_cli.engine.merchants import clean_descriptor, match_categories
from finanalytics_cli.engine.taxonomy import taxonomy_rows

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "merchants"


def one(payee: str | None, memo: str | None = None, currency: str | None = None, mcc: str | None = None) -> str | None:
    return match_categories([payee], [memo], [currency], [mcc])[0]


@pytest.mark.parametrize(
    ("descriptor", "category"),
    [
        # US card formats: store numbers, towns and states, truncation
        ("MCDONALD'S F1234 SAN FR", "Dining"),
        ("WHOLEFDS MKT 10234", "Groceries"),
        ("STARBUCKS STORE 0", "Dining"),
        ("TRADER JOE S #552 QPS", "Groceries"),
        ("WAL-MART #1234", "Groceries"),
        ("WM SUPERCENTER #123", "Groceries"),
        ("SHELL OIL 57442 HOUSTON TX", "Transport/Fuel"),
        ("POS DEBIT 03/12 1234 CHEVRON 0012345", "Transport/Fuel"),
        ("CHECKCARD 0312 TARGET T-1234 AUSTIN TX", "Shopping"),
        ("CVS/PHARMACY #01234", "Health"),
        ("WALGREENS #1234 CHICAGO IL", "Health"),
        ("HOME DEPOT #1234", "Shopping"),
        ("THE HOME DEPOT 0456", "Shopping"),
        ("DUNKIN #345678", "Dining"),
        ("CHIPOTLE MEXICAN GRIL", "Dining"),  # cut at 21 characters
        ("BED BATH & BEYON", "Shopping"),
        # processors and marketplaces before the merchant
        ("SQ *BLUE BOTTLE COFFEE", "Dining"),
        ("TST* SHAKE SHACK 1234", "Dining"),
        ("PAYPAL *NETFLIX", "Subscriptions"),
        ("AMZN MKTP US*2K3L45RT1", "Shopping"),
        ("DD *DOORDASH BURGERKIN", "Dining"),
        ("UBER *TRIP HELP.UBER.COM", "Transport/Rideshare"),
        ("UBER *EATS", "Dining"),
        ("APPLE.COM/BILL 866-712-7753 CA", "Subscriptions"),
        ("SPOTIFY P1234ABCD", "Subscriptions"),
        ("GOOGLE *YOUTUBE PREMIUM", "Subscriptions"),
        ("AT&T*BILL PAYMENT", "Utilities"),
        ("PG&E WEB ONLINE", "Utilities"),
        ("MTA*NYCT PAYGO", "Transport/Public transit"),
        ("DELTA AIR 0062345", "Travel"),
        # European formats: the bank's words first, accents, legal forms, towns
        ("KARTENZAHLUNG REWE Markt GmbH Berlin DE", "Groceries"),
        ("LASTSCHRIFT Vodafone GmbH", "Utilities"),
        ("SEPA-LASTSCHRIFT E.ON Energie Deutschland", "Utilities"),
        ("DB Vertrieb GmbH", "Transport/Public transit"),
        ("MUELLER DROGERIE 1234", "Personal care"),
        ("Müller Handels GmbH", "Personal care"),
        ("ACHAT CB CARREFOUR 12/03 PARIS", "Groceries"),
        ("PAIEMENT PAR CARTE MONOPRIX", "Groceries"),
        ("PRLV SEPA EDF CLIENTS PARTICULIERS", "Utilities"),
        ("COMPRA MERCADONA MADRID", "Groceries"),
        ("CARD PAYMENT TO TESCO STORES 3344 ON 12 MAR", "Groceries"),
        ("BP 1234 LONDON GB", "Transport/Fuel"),
        ("HMRC GOV.UK SA", "Taxes"),
        ("ALBERT HEIJN 1234 AMSTERDAM", "Groceries"),
        ("ESSELUNGA MILANO", "Groceries"),
        ("H&M 123 BERLIN", "Shopping"),
        ("IKEA DEUTSCHLAND", "Shopping"),
        # salary and rent words stand anywhere; a salary word beats a merchant's name
        ("ACME MARKETS PAYROLL", "Income/Salary"),
        ("LOHN/GEHALT 03.2024", "Income/Salary"),
        ("DAUERAUFTRAG MIETE WOHNUNG", "Housing/Rent"),
        ("AVIS RENT A CAR", "Travel"),
        ("IRS USATAXPYMT", "Taxes"),
        ("ACME CORP BONUS PPD ID: 987", "Income/Bonus"),  # a bonus word beats Acme the grocer
        # a payment app is no merchant: the payee after it is
        ("ZELLE TO SHAKE SHACK 1123", "Dining"),
        # cut at the networks' 22 or 25 characters, and leading words of a longer name
        ("CONTACTLESS POS WAITRO", "Groceries"),
        ("PAGAMENTO POS ESSELUNG", "Groceries"),
        ("CKO*WEGMANS FOOD MARKETS", "Groceries"),
        ("ACHAT CB ZETTLE_*ESSO", "Transport/Fuel"),
    ],
)
def test_messy_descriptors(descriptor: str, category: str) -> None:
    assert one(descriptor) == category


@pytest.mark.parametrize(
    "descriptor",
    [
        "PAYMENT TO JOHN EXPRESS",  # 'Express' is a clothes brand
        "CENTRAL PARK CONSERVANCY DONATION",  # 'Central' is a shop
        "SHELLFISH SHACK",  # Shell only as a whole word
        "PAYMENT TO JOHN SHELL",  # ... and only where the merchant's name stands
        "BEST WISHES FROM GRANDMA",
        "OK",
        "PIZZA",
        "REAL ESTATE TAX",
        "PARIS",
        "TRANSFER TO SAVINGS",
        "ATM WITHDRAWAL",
        "WELLS FARGO",  # a bank, not 'Wells' the pharmacy
        "SANTANDER",  # a bank, not its bike share
        "TESCO BANK",
        "INTEREST PAYMENT",
        "STEAM CLEANING CO",
        "ZELLE PAYMENT TO JOHN DOE",  # money to a person: a rule or label says what for
        "VENMO",
        "CONTACTLESS POS WAITR",  # 21 characters: not where networks cut, and too short
    ],
)
def test_common_words_do_not_match(descriptor: str) -> None:
    assert one(descriptor) is None


def test_short_names_of_brands_abroad_are_no_evidence() -> None:
    # ITM is a New Zealand hardware chain; on a euro card ITM INTERMARCHE is not it.
    assert one("ITM INTERMARCHE", currency="NZD") == "Shopping"
    assert one("ITM INTERMARCHE", currency="EUR") is None
    assert one("BP 1234", currency="EUR") == "Transport/Fuel"  # BP is a brand in the eurozone too


def test_short_names_match_only_as_whole_tokens() -> None:
    assert one("BP 1234") == "Transport/Fuel"
    assert one("B P HARDWARE") is None  # 'bp' squashed from two tokens is not BP
    assert one("BPX SOLUTIONS") is None


def test_truncation_needs_most_of_one_name() -> None:
    assert one("CHIPOTLE MEXICAN GRIL") == "Dining"
    assert one("INTERNATIONAL HOUSE OF") == "Dining"
    assert one("CHIPOTL") is None  # too short to be told from other names
    assert one("BARCLAYS") is None  # a whole word, not the start of 'Barclays Bikes'


def test_mcc_wins_over_the_name() -> None:
    assert one("SHELL OIL 57442", mcc="5411") == "Groceries"
    assert one("SHELL OIL 57442", mcc="5812") == "Dining"
    assert one("FOO BAR", mcc="0742") == "Pets"
    assert one("FOO BAR", mcc="742") == "Pets"  # an OFX <SIC> without its zero
    # no MCC, an unknown one or not a code: the name decides
    assert one("SHELL OIL 57442", mcc=None) == "Transport/Fuel"
    assert one("SHELL OIL 57442", mcc="9999") == "Transport/Fuel"
    assert one("SHELL OIL 57442", mcc="ab12") == "Transport/Fuel"


def test_currency_breaks_ties_between_countries() -> None:
    # Coles: supermarkets in Australia, bookshops in Canada.
    assert one("COLES 1234 SYDNEY", currency="AUD") == "Groceries"
    assert one("COLES 1234 SYDNEY", currency="CAD") == "Shopping"
    assert one("COLES 1234 SYDNEY", currency="aud ") == "Groceries"
    assert one("COLES 1234 SYDNEY") is None  # no currency, no majority
    # Sprint: phones in the US, fuel in Germany.
    assert one("SPRINT 1234", currency="USD") == "Utilities"
    assert one("SPRINT 1234", currency="EUR") == "Transport/Fuel"


def test_payee_before_memo_and_memo_when_payee_names_nothing() -> None:
    got = match_categories(
        ["REWE Markt GmbH", "Max Mustermann", None, "STARBUCKS 123"],
        ["Kartenzahlung girocard", "Netflix.com", "Kartenzahlung EDEKA CENTER", "SHELL 7744"],
    )
    assert got == ["Groceries", "Subscriptions", "Groceries", "Dining"]


def test_none_and_empty_input() -> None:
    assert match_categories([], []) == []
    assert match_categories([None, "", "   ", "#1234 12/03"], [None, None, "", None]) == [None] * 4
    assert match_categories(["SHELL"], [None], None, None) == ["Transport/Fuel"]
    assert clean_descriptor(None) == ""
    assert clean_descriptor("") == ""
    with pytest.raises(ValueError, match="memos"):
        match_categories(["SHELL", "BP"], [None])


def test_many_rows_agree_with_one_by_one() -> None:
    payees = ["STARBUCKS STORE 0", "COLES 1", None, "WHOLEFDS MKT 1", "JOHN EXPRESS"] * 200
    currencies = ["USD", "AUD", "USD", None, "EUR"] * 200
    got = match_categories(payees, [None] * len(payees), currencies)
    assert got == [one(p, currency=c) for p, c in zip(payees[:5], currencies[:5], strict=True)] * 200


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("SQ *BLUE BOTTLE #123 SAN FRANCISCO CA", "blue bottle san francisco"),
        ("KARTENZAHLUNG Café Müller 12.03.2024 10:11", "cafe muller"),
        ("AMZN MKTP US*2K3L45RT1", "amzn mktp"),
        ("Straße & Söhne", "strasse sohne"),
        ("POS 1234 WALGREENS #5678 CHICAGO IL", "walgreens chicago"),
        ("+44 20 7946 0958 THAMES WATER", "thames water"),
    ],
)
def test_clean_descriptor(raw: str, clean: str) -> None:
    assert clean_descriptor(raw) == clean


def test_shipped_table_loads_and_is_large() -> None:
    table = merchants.load_table()
    assert table.size > 5_000
    assert len(table.mcc) > 300
    assert merchants.TABLE_PATH.stat().st_size < 1_500_000
    notice = gzip.decompress(merchants.TABLE_PATH.read_bytes()).decode("utf-8")[:400]
    assert "name-suggestion-index" in notice and "BSD-3-Clause" in notice
    assert "BSD 3-Clause" in (merchants.DATA_DIR / "NSI-LICENSE.md").read_text(encoding="utf-8")
    assert "public domain" in (merchants.DATA_DIR / "MCC-LICENSE.txt").read_text(encoding="utf-8")


def test_every_category_is_in_the_taxonomy() -> None:
    valid = {name for name, *_ in taxonomy_rows()}
    lines = gzip.decompress(merchants.TABLE_PATH.read_bytes()).decode("utf-8").splitlines()
    rows = [line.split("\t") for line in lines if not line.startswith("#")]
    assert rows[0] == ["name", "category", "countries", "weight", "where"]
    in_table = {r[1] for r in rows[1:]}
    assert in_table - {merchants.NOT_A_MERCHANT} <= valid, in_table - valid
    assert set(merchants.load_table().mcc.values()) <= valid
    assert len(in_table) > 20  # the mapping reaches most of the taxonomy


def _build_module():
    spec = importlib.util.spec_from_file_location("build_merchant_table", ROOT / "tools" / "build_merchant_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


@pytest.mark.skipif(not (SHARED / "nsi" / "data").is_dir(), reason="the shared merchant data is not beside the repo")
def test_shipped_table_is_what_the_build_script_writes(tmp_path: Path) -> None:
    _build_module().build(SHARED, tmp_path)
    for name in ("mcc.tsv", "NSI-LICENSE.md", "MCC-LICENSE.txt"):
        assert (tmp_path / name).read_bytes() == (merchants.DATA_DIR / name).read_bytes(), name
    built = gzip.decompress((tmp_path / "merchants.tsv.gz").read_bytes())
    shipped = gzip.decompress(merchants.TABLE_PATH.read_bytes())
    assert built == shipped, "run: python tools/build_merchant_table.py"


def test_extra_list_wins_over_nsi() -> None:
    # NSI has Walmart as a fuel brand and a department store; our list says Groceries.
    # 'Delta' is a fuel brand in NSI; our list says Travel (the airline).
    assert one("WALMART 1234") == "Groceries"
    assert one("DELTA 0062345678") == "Travel"
    extra = _build_module().read_extra(ROOT / "tools" / "merchant_extra.toml")
    assert len(extra) > 300


def test_money_back_from_a_shop_is_a_refund() -> None:
    got = match_categories(
        ["AMZN MKTP US*2K3L45", "AMZN MKTP US*2K3L45", "ACME CORP PAYROLL"], [None] * 3, None, None, [False, True, True]
    )
    assert got == ["Shopping", "Income/Refunds", "Income/Salary"]  # income stays income


def test_series_and_list_forms_agree_and_builtin_falls_back_to_keywords() -> None:
    """categorize passes polars Series (no list round trips); the answer is the list
    form's, and the built-in guess is the merchant table's, else the keyword rules'."""
    import polars as pl

    from finanalytics_cli.engine.categorize import builtin_categories
    from finanalytics_cli.engine.models.category import KEYWORD_COLUMN

    payees = ["SHELL OIL 57442", "ZORBLAT 12", None, "ZZQX 99", "AMZN MKTP US*2K3L45"]
    memos = [None, "MONTHLY SERVICE FEE", "NETFLIX.COM", None, None]
    amounts = [-40.0, -5.0, -9.99, -1.0, 12.0]
    frame = pl.DataFrame(
        {
            "payee_raw": payees,
            "memo": memos,
            "currency": ["USD"] * 5,
            "mcc": [None, None, None, "5411", None],
            "amount": amounts,
        },
        schema_overrides={"payee_raw": pl.String, "memo": pl.String, "mcc": pl.String},
    )
    listed = match_categories(payees, memos, ["USD"] * 5, [None, None, None, "5411", None], [a > 0 for a in amounts])
    assert merchants.match_series(frame["payee_raw"], frame["memo"], frame["currency"], frame["mcc"]).len() == 5
    guess, source = builtin_categories(frame)
    assert listed == ["Transport/Fuel", None, "Subscriptions", "Groceries", "Income/Refunds"]
    assert guess.to_list() == ["Transport/Fuel", "Fees & charges", "Subscriptions", "Groceries", "Income/Refunds"]
    assert source.to_list() == ["merchant", "keyword", "merchant", "merchant", "merchant"]
    # a keyword column computed once (as categorize does) gives the same answer
    from finanalytics_cli.engine.categories import keyword_series

    with_kw = frame.with_columns(keyword_series(frame["payee_raw"], frame["memo"]).alias(KEYWORD_COLUMN))
    assert [s.to_list() for s in builtin_categories(with_kw)] == [guess.to_list(), source.to_list()]


def test_served_refuses_unlearned_low_confidence_and_uninformed_votes() -> None:
    from finanalytics_cli.engine.categorize import served

    pred = ["Dining", "Dining", "Groceries", "Dining", "Dining"]
    conf = [0.9, 0.4, 0.9, 0.9, 0.9]
    builtin = [None, None, None, "Housing/Rent", "Dining"]
    learned = {"Dining", "Transport/Fuel"}
    assert served(pred, conf, builtin, learned, 0.5).to_list() == [True, False, False, False, True]
    assert served(pred, conf, builtin, None, 0.5).to_list() == [True, False, True, True, True]
