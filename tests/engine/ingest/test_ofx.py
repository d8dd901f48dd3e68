from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest.decode import decode_export
from finanalytics_cli.engine.ingest.ofx import declared_encoding, read_statements
from tests.engine.ingest.ofx_fixtures import (
    BANK_AND_BROKERAGE,
    BROKERAGE_ONLY,
    CASH_IN_AN_INVESTMENT_STATEMENT,
    POSITIONS_ONLY,
    SERVER_ERROR,
    SGML_CDATA,
    SGML_CHECKING,
    SGML_HEADER,
    SGML_NOTE_ROWS,
    XML_CDATA_AND_COMMENTS,
    XML_COMMENTED_OUT_ACCOUNT,
    XML_TWO_STATEMENTS,
    sgml_bank,
)


def statements(raw: bytes):
    text, _ = decode_export(raw, "t.ofx", declared_encoding(raw))
    return read_statements(text, "t.ofx")


def test_sgml_with_unclosed_elements_and_cp1252() -> None:
    [st] = statements(SGML_CHECKING.encode("cp1252"))
    assert (st.kind, st.account_id, st.currency, st.org) == ("bank", "0001234567", "USD", "First Test Bank")
    assert st.ledger_balance == Decimal("1503.33") and st.ledger_date == dt.date(2024, 1, 31)
    assert [(t["posted_date"], t["amount"], t["fitid"]) for t in st.transactions][:2] == [
        (dt.date(2024, 1, 5), Decimal("-42.17"), "T0001"),
        (dt.date(2024, 1, 15), Decimal("2450.00"), "T0002"),
    ]
    assert st.transactions[2]["payee_raw"] == "Café Olé"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: "\n\n\n" + s,  # leading blank lines
        lambda s: s.replace("OFXHEADER:100", "ofxheader:100").replace("DATA:OFXSGML", "data:ofxsgml"),
        lambda s: s[s.index("<OFX>") :],  # no header at all
        lambda s: s.replace(s[s.index("<SIGNONMSGSRSV1>") : s.index("</SIGNONMSGSRSV1>") + 17], ""),  # no SIGNON
        lambda s: s + "\n\x00junk after the end<<<>>>\n",  # junk after </OFX>
        lambda s: s.replace("\n", "\r\n"),
    ],
)
def test_real_world_quirks(mutate) -> None:
    raw = mutate(SGML_CHECKING).encode("cp1252")
    [st] = statements(raw)
    assert len(st.transactions) == 4
    assert st.transactions[0]["amount"] == Decimal("-42.17")


def test_utf8_bom_before_a_cp1252_file() -> None:
    [st] = statements(b"\xef\xbb\xbf" + SGML_CHECKING.encode("cp1252"))
    assert len(st.transactions) == 4


def test_xml_two_statements_bank_and_card() -> None:
    sts = statements(XML_TWO_STATEMENTS.encode("utf-8"))
    assert [(s.kind, s.account_id, len(s.transactions)) for s in sts] == [
        ("bank", "DE001122", 2),
        ("creditcard", "4111111111111111", 1),
    ]
    bank = sts[0]
    assert bank.transactions[0]["amount"] == Decimal("500.00")  # decimal comma in TRNAMT
    assert bank.transactions[1]["payee_raw"] == "Interest & bonus"
    assert bank.transactions[1]["posted_date"] == dt.date(2024, 3, 31)


def test_server_error_is_clear() -> None:
    with pytest.raises(InvalidInput, match="server returned an error.*Signon invalid"):
        statements(SERVER_ERROR.encode())


def test_truncated_file() -> None:
    cut = SGML_CHECKING[: SGML_CHECKING.index("<BANKTRANLIST>")]
    with pytest.raises(InvalidInput, match="truncated"):
        statements(cut.encode("cp1252"))


def test_bad_transaction_values_are_rejected_not_fatal() -> None:
    raw = SGML_CHECKING.replace("<TRNAMT>2450.00", "<TRNAMT>lots").replace(
        "<DTPOSTED>20240120<TRNAMT>-4.50<FITID>T0003", "<DTPOSTED>2024xx<TRNAMT>-4.50<FITID>T0003"
    )
    [st] = statements(raw.encode("cp1252"))
    assert len(st.transactions) == 2
    assert ["TRNAMT" in r[1] for r in st.rejected] == [True, False]
    assert "DTPOSTED" in st.rejected[1][1]


def test_entities_are_not_expanded() -> None:
    hostile = SGML_CHECKING.replace("ACME CORP PAYROLL", "&lol9;&lol9;").replace(
        "OFXHEADER:100", '<!DOCTYPE x [<!ENTITY lol9 "&lol8;&lol8;">]>\nOFXHEADER:100'
    )
    [st] = statements(hostile.encode("cp1252"))
    assert st.transactions[1]["payee_raw"] == "&lol9;&lol9;"


# -- encodings: what the header declares against what the bytes are ------------------


def test_charset_1252_header_on_utf8_bytes_reads_utf8() -> None:
    raw = SGML_CHECKING.encode("utf-8")  # the header still says CHARSET:1252
    assert declared_encoding(raw) == "cp1252"
    assert decode_export(raw, "t.ofx", declared_encoding(raw))[1] == "utf-8"
    [st] = statements(raw)
    assert st.transactions[2]["payee_raw"] == "Café Olé"


def test_encoding_utf8_header_wins_over_charset() -> None:
    raw = SGML_CHECKING.replace("ENCODING:USASCII", "ENCODING:UTF-8").encode("utf-8")
    assert declared_encoding(raw) == "utf-8"
    [st] = statements(raw)
    assert st.transactions[2]["payee_raw"] == "Café Olé"


@pytest.mark.parametrize("declared", ["UTF-16", "utf-16le", "ISO-8859-1", "windows-1252", "US-ASCII"])
def test_xml_declaration_the_bytes_contradict(declared: str) -> None:
    xml = XML_TWO_STATEMENTS.replace('encoding="UTF-8"', f'encoding="{declared}"').replace(
        "Transfer from checking", "Überweisung Zürich"
    )
    raw = xml.encode("utf-8")
    assert declared_encoding(raw) == declared
    sts = statements(raw)
    assert sts[0].transactions[0]["payee_raw"] == "Überweisung Zürich"
    assert [len(s.transactions) for s in sts] == [2, 1]


def test_a_central_european_code_page_under_a_1252_or_1250_header() -> None:
    payees = "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105<TRNAMT>-1234.50<FITID>Z1<NAME>Žďárský Potraviny s.r.o.\n"
    rows = "".join(
        f"<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>202401{10 + i}<TRNAMT>-{i}.00<FITID>Z{i + 2}<NAME>{n}\n"
        for i, n in enumerate(["Lékárna U Černého orla", "Čerpací stanice Říčany", "Bytové družstvo Šumava"])
    )
    for header in (SGML_HEADER, SGML_HEADER.replace("CHARSET:1252", "CHARSET:1250")):
        raw = sgml_bank(payees + rows, header=header).encode("cp1250")
        text, encoding = decode_export(raw, "t.ofx", declared_encoding(raw))
        assert encoding == "cp1250"
        [st] = read_statements(text, "t.ofx")
        assert [t["payee_raw"] for t in st.transactions][:2] == ["Žďárský Potraviny s.r.o.", "Lékárna U Černého orla"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ENCODING:USASCII\nCHARSET:1252\n", "cp1252"),
        ("ENCODING:USASCII\nCHARSET:NONE\n", None),
        ("ENCODING:UTF-8\nCHARSET:1252\n", "utf-8"),
        ("ENCODING:USASCII\nCHARSET:ISO-8859-1\n", "ISO-8859-1"),
        ("ENCODING:USASCII\nCHARSET:8859-1\n", "latin-1"),
        ("ENCODING:USASCII\nCHARSET:1257\n", "cp1257"),
        ("ENCODING:USASCII\n", None),
    ],
)
def test_declared_encoding_of_ofx1_headers(header: str, expected: str | None) -> None:
    raw = f"OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n{header}\n<OFX><NAME>CHARSET:437</OFX>".encode()
    assert declared_encoding(raw) == expected


# -- CDATA and comments ---------------------------------------------------------------


def test_cdata_in_sgml_without_closing_tags() -> None:
    [st] = statements(SGML_CDATA.encode("ascii"))
    assert [(t["payee_raw"], t["memo"]) for t in st.transactions] == [
        ("AMAZON & CO", "Order <123-456> shipped"),
        ("CORNER CAFE 42", "CORNER CAFE 42"),  # no NAME: the payee is the memo, which is kept
        ("PARKING GARAGE", "PARKING GARAGE"),  # an empty SGML <NAME> does not swallow the MEMO
    ]


def test_cdata_and_comments_in_xml() -> None:
    [st] = statements(XML_CDATA_AND_COMMENTS.encode("utf-8"))
    assert st.currency == "EUR" and st.account_id == "DE445566"
    assert [(t["fitid"], t["payee_raw"], t["memo"]) for t in st.transactions] == [
        ("X1", "AMAZON & CO", "<b>not markup</b>"),
        ("X3", "Refund R&D ltd", "Refund R&D ltd"),
    ]  # X2 is inside a comment: not in the statement
    assert st.rejected == []


def test_comments_that_remove_account_and_currency_refuse_the_file() -> None:
    with pytest.raises(InvalidInput) as info:
        statements(XML_COMMENTED_OUT_ACCOUNT.encode())
    message = info.value.message
    assert message.startswith("t.ofx: a bank statement has no account (BANKACCTFROM) and no currency (CURDEF)")
    assert "nothing was imported" in message and "\n" not in message


def test_an_unclosed_comment_hides_the_rest_and_is_a_clear_error() -> None:
    cut = SGML_CHECKING.replace("<BANKTRANLIST>", "<!-- <BANKTRANLIST>")
    cut = cut[: cut.index("</OFX>")]
    with pytest.raises(InvalidInput, match=r"^t\.ofx: the OFX file is truncated"):
        statements(cut.encode("cp1252"))


def test_zero_amount_note_rows_are_dropped_with_a_warning() -> None:
    [st] = statements(SGML_NOTE_ROWS.encode("ascii"))
    assert [(t["fitid"], t["amount"]) for t in st.transactions] == [("N1", Decimal("123.45")), ("N3", Decimal("0.00"))]
    assert st.warnings == ["t.ofx: 1 zero-amount note row(s) dated like the transaction before them were skipped"]


def test_a_statement_without_curdef_is_not_guessed_and_says_so() -> None:
    ofx = sgml_bank("<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105<TRNAMT>-1.00<FITID>A</STMTTRN>\n", currency="")
    [st] = statements(ofx.encode())
    assert st.currency == "XXX" and len(st.transactions) == 1
    assert st.warnings == [
        "t.ofx: a bank statement has no currency (CURDEF): amounts are stored with currency XXX (unknown)"
    ]


# -- investment statements --------------------------------------------------------------


@pytest.mark.parametrize("ofx", [BROKERAGE_ONLY, POSITIONS_ONLY])
def test_brokerage_statements_are_refused(ofx: str) -> None:
    with pytest.raises(InvalidInput) as info:
        statements(ofx.encode())
    assert info.value.message == (
        "t.ofx: an investment (brokerage) statement, not a bank or card statement, so nothing was imported"
    )


def test_a_cash_account_sent_as_an_investment_statement_is_imported() -> None:
    [st] = statements(CASH_IN_AN_INVESTMENT_STATEMENT.encode())
    assert (st.kind, st.account_id, st.currency) == ("investment", "C00067890", "USD")
    assert [(t["payee_raw"], t["amount"]) for t in st.transactions] == [
        ("Check Paid #1001", Decimal("-250.00")),
        ("PAYROLL ACME", Decimal("1200.00")),
    ]


def test_a_brokerage_statement_next_to_a_bank_statement_is_skipped_and_reported() -> None:
    sts = statements(BANK_AND_BROKERAGE.encode())
    assert [(s.kind, s.account_id, len(s.transactions)) for s in sts] == [("bank", "9876543210", 1)]
    assert sts[0].warnings == [
        "t.ofx: 1 investment (brokerage) statement(s) (account ending 2345) skipped; "
        "only the bank and card statements were imported"
    ]
