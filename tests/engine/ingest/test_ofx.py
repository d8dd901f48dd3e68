from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest.decode import decode_export
from finanalytics_cli.engine.ingest.ofx import declared_encoding, read_statements
from tests.engine.ingest.ofx_fixtures import SERVER_ERROR, SGML_CHECKING, XML_TWO_STATEMENTS


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
