"""ISO 20022 cash-management statements: CAMT.053 (statement), CAMT.052 (intraday report)
and CAMT.054 (debit/credit notification), every version's namespace.

Read with the standard library's XML parser, defused: a document type declaration (and so
any entity, external or internal) is refused before parsing. Per statement: the account
(IBAN or other id), its currency, the opening and closing balances, the entries with their
credit/debit indicator, booking date (else value date), status (PDNG is pending; INFO is
no movement), counterparty and remittance text. A batched entry whose transaction details
add up to it becomes one row per detail. Where the statement gives both balances, the
opening balance plus the booked entries must be the closing balance, or the file is
refused: exact or refused.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree import ElementTree as ET

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest.currency import UNKNOWN as UNKNOWN_CURRENCY
from finanalytics_cli.engine.ingest.ofx import OfxStatement

_CAMT = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.05[234]|<(?:\w+:)?BkToCstmr(?:Stmt|AcctRpt|DbtCdtNtfctn)\b")
_CONTAINERS = {"BkToCstmrStmt": "Stmt", "BkToCstmrAcctRpt": "Rpt", "BkToCstmrDbtCdtNtfctn": "Ntfctn"}
OPENING = ("OPBD", "PRCD", "ITBD")
CLOSING = ("CLBD",)


def looks_like_camt(data: bytes) -> bool:
    return _CAMT.search(data[:8192]) is not None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _kids(el: ET.Element | None, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name] if el is not None else []


def _at(el: ET.Element | None, path: str) -> ET.Element | None:
    for part in path.split("/"):
        if el is None:
            return None
        found = _kids(el, part)
        el = found[0] if found else None
    return el


def _text(el: ET.Element | None, path: str) -> str | None:
    node = _at(el, path)
    if node is None or node.text is None:
        return None
    return " ".join(node.text.split()) or None


def _amount(el: ET.Element | None) -> tuple[Decimal, str | None] | None:
    if el is None or el.text is None:
        return None
    try:
        value = Decimal(el.text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value) >= Decimal("1e16"):
        return None
    return value.quantize(Decimal("0.01")), (el.get("Ccy") or "").upper() or None


def _date(el: ET.Element | None) -> dt.date | None:
    text = _text(el, "Dt") or _text(el, "DtTm")
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _signed(value: Decimal, indicator: str | None) -> Decimal | None:
    if indicator == "DBIT":
        return -value
    if indicator == "CRDT":
        return value
    return None


def parse_document(data: bytes, name: str) -> ET.Element:
    head = data[:65536]
    if re.search(rb"<!DOCTYPE|<!ENTITY", head, re.IGNORECASE) or re.search(rb"<!ENTITY", data, re.IGNORECASE):
        raise InvalidInput(f"{name}: the XML declares a document type or entities; a bank statement needs none")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise InvalidInput(f"{name}: not well-formed XML ({exc}); the file is damaged or truncated") from None


def _party(tx: ET.Element | None, side: str) -> str | None:
    """The counterparty's name: the creditor of a debit, the debtor of a credit."""
    parties = _at(tx, "RltdPties")
    for path in (f"{side}/Nm", f"{side}/Pty/Nm", f"Ultmt{side}/Nm", f"Ultmt{side}/Pty/Nm"):
        found = _text(parties, path)
        if found:
            return found
    return None


def _remittance(tx: ET.Element | None) -> str | None:
    rmt = _at(tx, "RmtInf")
    parts = [" ".join((u.text or "").split()) for u in _kids(rmt, "Ustrd")]
    for strd in _kids(rmt, "Strd"):
        ref = _text(strd, "CdtrRefInf/Ref")
        if ref:
            parts.append(ref)
    parts.append(_text(tx, "AddtlTxInf") or "")
    text = " ".join(p for p in parts if p)
    return text or None


def read_camt(data: bytes, name: str) -> list[OfxStatement]:
    root = parse_document(data, name)
    if _local(root.tag) != "Document":
        raise InvalidInput(f"{name}: an ISO 20022 file without its Document root; not a CAMT statement")
    statements: list[OfxStatement] = []
    for container in root:
        item = _CONTAINERS.get(_local(container.tag))
        if item is None:
            continue
        for st in _kids(container, item):
            statements.append(_statement(st, name, item))
    if not statements:
        raise InvalidInput(f"{name}: an ISO 20022 message with no statement, report or notification in it")
    return statements


def _statement(st: ET.Element, name: str, item: str) -> OfxStatement:
    acct = _at(st, "Acct")
    account_id = _text(acct, "Id/IBAN") or _text(acct, "Id/Othr/Id")
    currency = (_text(acct, "Ccy") or "").upper() or None
    org = (
        _text(acct, "Svcr/FinInstnId/Nm") or _text(acct, "Svcr/FinInstnId/BICFI") or _text(acct, "Svcr/FinInstnId/BIC")
    )
    balances: dict[str, tuple[Decimal, dt.date | None]] = {}
    for bal in _kids(st, "Bal"):
        code = _text(bal, "Tp/CdOrPrtry/Cd") or _text(bal, "Tp/CdOrPrtry/Prtry")
        amount = _amount(_at(bal, "Amt"))
        if code is None or amount is None:
            continue
        signed = _signed(amount[0], _text(bal, "CdtDbtInd"))
        if signed is None:
            raise InvalidInput(f"{name}: balance {code} has no credit/debit indicator (CRDT or DBIT)")
        balances.setdefault(code.upper(), (signed, _date(_at(bal, "Dt"))))
        currency = currency or amount[1]
    txs: list[dict[str, Any]] = []
    rejected: list[tuple[int, str, str]] = []
    warnings: list[str] = []
    info = 0
    for i, entry in enumerate(_kids(st, "Ntry"), start=1):
        status = (_text(entry, "Sts/Cd") or _text(entry, "Sts") or "BOOK").upper()
        amount = _amount(_at(entry, "Amt"))
        indicator = _text(entry, "CdtDbtInd")
        raw = ET.tostring(entry, encoding="unicode")[:2000]
        if status == "INFO":
            info += 1  # information only: no money moved
            continue
        if amount is None:
            rejected.append((i, f"entry {i}: invalid or missing amount", raw))
            continue
        signed = _signed(amount[0], indicator)
        if signed is None:
            rejected.append((i, f"entry {i}: credit/debit indicator {indicator!r} is neither CRDT nor DBIT", raw))
            continue
        posted = _date(_at(entry, "BookgDt")) or _date(_at(entry, "ValDt"))
        if posted is None:
            rejected.append((i, f"entry {i}: no booking or value date", raw))
            continue
        row_currency = amount[1] or currency or UNKNOWN_CURRENCY
        ref = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
        details = [tx for d in _kids(entry, "NtryDtls") for tx in _kids(d, "TxDtls")]
        parts: list[tuple[Decimal, ET.Element | None]] = []
        if len(details) > 1:
            for tx in details:
                amt = _amount(_at(tx, "Amt")) or _amount(_at(tx, "AmtDtls/TxAmt/Amt"))
                if amt is None:
                    parts = []
                    break
                part = _signed(amt[0], _text(tx, "CdtDbtInd") or indicator)
                if part is None:
                    parts = []
                    break
                parts.append((part, tx))
            if parts and sum(p for p, _ in parts) != signed:
                warnings.append(
                    f"{name}: entry {i} ({signed} on {posted}): its {len(details)} transaction details do not add "
                    "up to it; imported as one row"
                )
                parts = []
        if not parts:
            parts = [(signed, details[0] if details else None)]
        for k, (part, tx) in enumerate(parts):
            side = "Cdtr" if part < 0 else "Dbtr"
            payee = _party(tx, side) or _text(entry, "AddtlNtryInf")
            memo = _remittance(tx) if tx is not None else None
            if memo is None and payee != _text(entry, "AddtlNtryInf"):
                memo = _text(entry, "AddtlNtryInf")
            tx_ref = _text(tx, "Refs/AcctSvcrRef") if tx is not None else None
            fitid = tx_ref or (f"{ref}/{k + 1}" if ref and len(parts) > 1 else ref)
            txs.append(
                {
                    "line_no": i,
                    "posted_date": posted,
                    "amount": part,
                    "payee_raw": payee or memo,
                    "memo": memo if payee else None,
                    "fitid": fitid,
                    "currency": row_currency,
                    "balance": None,
                    "is_pending": status == "PDNG",
                    "raw_row": raw,
                }
            )
    opening = next((balances[c] for c in OPENING if c in balances), None)
    closing = next((balances[c] for c in CLOSING if c in balances), None)
    if opening is not None and closing is not None and not rejected:
        booked = sum((t["amount"] for t in txs if not t["is_pending"]), Decimal("0"))
        if opening[0] + booked != closing[0]:
            raise InvalidInput(
                f"{name}: the statement's opening balance {opening[0]} plus its booked entries {booked} is "
                f"{opening[0] + booked}, not its closing balance {closing[0]}: entries are missing or misread; "
                "nothing was imported"
            )
    if info:
        warnings.append(f"{name}: {info} information-only entr{'y' if info == 1 else 'ies'} (status INFO) left out")
    return OfxStatement(
        kind="bank",
        account_id=account_id,
        bank_id=None,
        account_type="checking",
        currency=currency or UNKNOWN_CURRENCY,
        org=org,
        ledger_balance=closing[0] if closing else None,
        ledger_date=closing[1] if closing else None,
        transactions=txs,
        rejected=rejected,
        warnings=warnings,
        name=None,  # Acct/Nm is the holder's name, not the account's: named by bank and number
        currency_source=f"the CAMT {item} (Ccy)" if currency else None,
    )
