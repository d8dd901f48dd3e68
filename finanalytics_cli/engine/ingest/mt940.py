"""SWIFT MT940 statements (and MT942 interim reports), the German, Dutch and Swiss
standard (.sta, .mta, .940), through the maintained ``mt-940`` parser.

Each statement (a ``:20:`` block) is read on its own: its account (``:25:``), the opening
balance (``:60F:``/``:60M:``), the entries (``:61:`` with their ``:86:`` details, German
structured ``?20``.. subfields into counterparty and purpose, free text as it is) and the
closing balance (``:62F:``/``:62M:``). Reversals count the way the money moved (RC out,
RD back in). The opening balance plus the entries must be the closing balance, or the
file is refused. MT942 rows (interim: not yet final) are pending.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest.currency import UNKNOWN as UNKNOWN_CURRENCY
from finanalytics_cli.engine.ingest.ofx import OfxStatement

_STATEMENT = re.compile(r"(?m)^:20:")


def looks_like_mt940(head: bytes) -> bool:
    return re.search(rb"(?m)^:20:", head) is not None and re.search(rb"(?m)^:(?:25|25P|60[FM]|28C):", head) is not None


def _chunks(text: str) -> list[str]:
    starts = [m.start() for m in _STATEMENT.finditer(text)]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _balance(data: dict[str, Any], *keys: str) -> tuple[Decimal, str | None, dt.date | None] | None:
    for key in keys:
        b = data.get(key)
        if b is not None:
            amount = b.amount
            return Decimal(str(amount.amount)).quantize(Decimal("0.01")), amount.currency, _plain_date(b.date)
    return None


def _plain_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    return dt.date(value.year, value.month, value.day)


def _clean(text: Any) -> str | None:
    if not text:
        return None
    return " ".join(str(text).split()) or None


def read_mt940(text: str, name: str) -> list[OfxStatement]:
    import mt940

    chunks = _chunks(text)
    if not chunks:
        raise InvalidInput(f"{name}: an MT940 file without a statement (:20:) in it")
    interim = re.search(r"(?m)^:(?:34F|13D?):", text) is not None and re.search(r"(?m)^:62[FM]:", text) is None
    statements: list[OfxStatement] = []
    line = 0  # entries numbered through the file (statements of one account are merged)
    for n, chunk in enumerate(chunks, start=1):
        try:
            parsed = mt940.parse(chunk, options=mt940.Options(reversal_sign=True))
        except Exception as exc:  # noqa: BLE001 - the parser's errors are many kinds; each means a damaged file
            raise InvalidInput(f"{name}: statement {n} cannot be read as MT940 ({exc})") from None
        data = parsed.data
        opening = _balance(data, "final_opening_balance", "intermediate_opening_balance")
        closing = _balance(data, "final_closing_balance", "intermediate_closing_balance")
        currency = (opening or closing or (None, None, None))[1]
        txs: list[dict[str, Any]] = []
        rejected: list[tuple[int, str, str]] = []
        for i, tr in enumerate(parsed, start=1):
            line += 1
            d = tr.data
            raw = "; ".join(f"{k}={v}" for k, v in d.items() if v not in (None, "") and k != "transaction_reference")
            amount = d.get("amount")
            posted = _plain_date(d.get("entry_date") or d.get("guessed_entry_date") or d.get("date"))
            if amount is None or posted is None:
                rejected.append((line, f"statement {n}, entry {i}: no amount or date", raw[:2000]))
                continue
            value = Decimal(str(amount.amount)).quantize(Decimal("0.01"))
            payee = _clean(d.get("applicant_name")) or _clean(d.get("recipient_name"))
            purpose = " ".join(p for p in (_clean(d.get("purpose")), _clean(d.get("additional_purpose"))) if p) or None
            details = _clean(d.get("transaction_details"))
            if payee is None:  # free :86: text: the first words say who, the rest what for
                payee = details or _clean(d.get("posting_text")) or purpose
                memo = purpose if purpose != payee else None
            else:
                memo = purpose or details
            ref = _clean(d.get("bank_reference"))
            txs.append(
                {
                    "line_no": line,
                    "posted_date": posted,
                    "amount": value,
                    "payee_raw": payee,
                    "memo": memo,
                    "fitid": None if ref in (None, "NONREF") else f"{posted}:{ref}:{value}",
                    "currency": (amount.currency or currency or UNKNOWN_CURRENCY).upper(),
                    "balance": None,
                    "is_pending": interim,
                    "raw_row": raw[:2000],
                }
            )
        if opening and closing and not rejected and not interim:
            moved = sum((t["amount"] for t in txs), Decimal("0"))
            if opening[0] + moved != closing[0]:
                raise InvalidInput(
                    f"{name}: statement {n}: the opening balance {opening[0]} plus its entries {moved} is "
                    f"{opening[0] + moved}, not its closing balance {closing[0]}: entries are missing or misread; "
                    "nothing was imported"
                )
        account = _clean(data.get("account_identification"))
        statements.append(
            OfxStatement(
                kind="bank",
                account_id=account,
                bank_id=None,
                account_type="checking",
                currency=(currency or UNKNOWN_CURRENCY).upper(),
                org=None,
                ledger_balance=closing[0] if closing else None,
                ledger_date=closing[2] if closing else None,
                transactions=txs,
                rejected=rejected,
                currency_source="the MT940 balance (:60F:)" if currency else None,
            )
        )
    # Consecutive statements of one account are one account's history: merged per account,
    # the last closing balance anchors it.
    merged: dict[str | None, OfxStatement] = {}
    for st in statements:
        if st.account_id in merged:
            first = merged[st.account_id]
            first.transactions.extend(st.transactions)
            first.rejected.extend(st.rejected)
            if st.ledger_balance is not None:
                first.ledger_balance, first.ledger_date = st.ledger_balance, st.ledger_date
        else:
            merged[st.account_id] = st
    out = list(merged.values())
    if not any(st.transactions or st.rejected for st in out):
        raise InvalidInput(f"{name}: the MT940 statements hold no entries")
    if interim:
        out[0].warnings.append(f"{name}: an MT942 interim report: its rows are pending until a statement posts them")
    return out
