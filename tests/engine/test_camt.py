"""CAMT.053/052 statements (fixtures written here): entries, batches, pending, balances
checked, defused XML."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources


def _entry(
    amount: str,
    ind: str,
    booked: str,
    party: str = "",
    status: str = "BOOK",
    ref: str = "",
    extra: str = "",
    v8: bool = False,
) -> str:
    side = "Cdtr" if ind == "DBIT" else "Dbtr"
    name = f"<Pty><Nm>{party}</Nm></Pty>" if v8 else f"<Nm>{party}</Nm>"
    parties = f"<RltdPties><{side}>{name}</{side}></RltdPties>" if party else ""
    sts = f"<Sts><Cd>{status}</Cd></Sts>" if v8 else f"<Sts>{status}</Sts>"
    details = (
        extra or f"<NtryDtls><TxDtls>{parties}<RmtInf><Ustrd>Ref {ref or booked}</Ustrd></RmtInf></TxDtls></NtryDtls>"
    )
    return (
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{ind}</CdtDbtInd>{sts}'
        f"<BookgDt><Dt>{booked}</Dt></BookgDt><ValDt><Dt>{booked}</Dt></ValDt>"
        + (f"<AcctSvcrRef>{ref}</AcctSvcrRef>" if ref else "")
        + f"{details}</Ntry>"
    )


def _doc(
    entries: list[str], opening: str = "1000.00", closing: str = "2911.50", version: str = "02", head: str = ""
) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{head}'
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>1</MsgId><CreDtTm>2025-03-01T08:00:00</CreDtTm></GrpHdr>"
        "<Stmt><Id>S1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy>"
        "<Nm>Erika Mustermann</Nm><Svcr><FinInstnId><BIC>COBADEFFXXX</BIC><Nm>Musterbank</Nm></FinInstnId></Svcr>"
        "</Acct>"
        f'<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{opening}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        "<Dt><Dt>2025-02-01</Dt></Dt></Bal>"
        f'<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        "<Dt><Dt>2025-02-28</Dt></Dt></Bal>" + "".join(entries) + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()


BATCH = (
    "<NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>"
    '<TxDtls><Amt Ccy="EUR">60.00</Amt><RltdPties><Cdtr><Nm>Stadtwerke</Nm></Cdtr></RltdPties>'
    "<RmtInf><Ustrd>Strom Feb</Ustrd></RmtInf></TxDtls>"
    '<TxDtls><Amt Ccy="EUR">28.50</Amt><RltdPties><Cdtr><Nm>Telekom</Nm></Cdtr></RltdPties>'
    "<RmtInf><Ustrd>Mobilfunk</Ustrd></RmtInf></TxDtls></NtryDtls>"
)
ENTRIES = [
    _entry("2500.00", "CRDT", "2025-02-03", "ACME GmbH", ref="R1"),
    _entry("500.00", "DBIT", "2025-02-05", "Vermieter KG", ref="R2"),
    _entry("88.50", "DBIT", "2025-02-10", ref="R3", extra=BATCH),
    _entry("42.00", "DBIT", "2025-02-27", "Cafe Luna", status="PDNG", ref="R4"),
    _entry("0.00", "CRDT", "2025-02-20", "Info", status="INFO"),
]


def _rows(store: Any) -> list[tuple]:
    return store.con.execute(
        "SELECT posted_date, amount, payee_raw, is_pending, currency FROM transactions ORDER BY tx_id"
    ).fetchall()


def test_a_statement_with_a_batch_and_a_pending_entry(store: Any) -> None:
    [r] = import_sources(store, [Source("feb.xml", _doc(ENTRIES))], ImportOptions())
    assert r.format == "camt" and r.added == 5 and r.rejected == 0
    assert _rows(store) == [
        (dt.date(2025, 2, 3), Decimal("2500.00"), "ACME GmbH", False, "EUR"),
        (dt.date(2025, 2, 5), Decimal("-500.00"), "Vermieter KG", False, "EUR"),
        (dt.date(2025, 2, 10), Decimal("-60.00"), "Stadtwerke", False, "EUR"),
        (dt.date(2025, 2, 10), Decimal("-28.50"), "Telekom", False, "EUR"),
        (dt.date(2025, 2, 27), Decimal("-42.00"), "Cafe Luna", True, "EUR"),
    ]
    assert r.currency == "EUR" and "CAMT" in r.currency_source and any("INFO" in w for w in r.warnings)
    [(name, external)] = store.con.execute("SELECT name, external_id FROM accounts").fetchall()
    assert name.endswith("3000") and "0532013000" not in external  # the IBAN is stored masked
    assert store.con.execute("SELECT as_of, amount FROM balances").fetchall() == [
        (dt.date(2025, 2, 28), Decimal("2911.50"))
    ]
    again = import_sources(store, [Source("feb.xml", _doc(ENTRIES))], ImportOptions())[0]
    assert again.added == 0 and again.duplicate == 5


def test_version_8_namespace_and_party_names(store: Any) -> None:
    entries = [_entry("10.00", "DBIT", "2025-02-03", "Backerei", v8=True, ref="A")]
    [r] = import_sources(store, [Source("x.camt", _doc(entries, "20.00", "10.00", version="08"))], ImportOptions())
    assert _rows(store) == [(dt.date(2025, 2, 3), Decimal("-10.00"), "Backerei", False, "EUR")]
    assert r.format == "camt"


def test_balances_that_do_not_agree_are_refused(store: Any) -> None:
    with pytest.raises(InvalidInput, match="not its closing balance 2900.00"):
        import_sources(store, [Source("feb.xml", _doc(ENTRIES, closing="2900.00"))], ImportOptions())
    assert store.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 0


def test_a_batch_whose_details_do_not_add_up_is_one_row_and_warned(store: Any) -> None:
    entries = [_entry("90.00", "DBIT", "2025-02-10", ref="B", extra=BATCH)]
    [r] = import_sources(store, [Source("b.xml", _doc(entries, "100.00", "10.00"))], ImportOptions())
    assert [row[1] for row in _rows(store)] == [Decimal("-90.00")]
    assert any("do not add up" in w for w in r.warnings)


def test_entities_and_document_types_are_refused(store: Any) -> None:
    evil = '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    with pytest.raises(InvalidInput, match="document type"):
        import_sources(store, [Source("e.xml", _doc(ENTRIES, head=evil))], ImportOptions())
    broken = _doc(ENTRIES)[:-40]
    with pytest.raises(InvalidInput, match="not well-formed"):
        import_sources(store, [Source("t.xml", broken)], ImportOptions())
    with pytest.raises(InvalidInput, match="neither CRDT nor DBIT|indicator"):
        bad = _doc([_entry("5.00", "XXXX", "2025-02-03", "A", ref="Z")], "5.00", "0.00")
        import_sources(store, [Source("i.xml", bad)], ImportOptions(strict=True))
