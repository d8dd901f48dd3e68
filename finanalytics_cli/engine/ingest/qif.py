"""QIF (Quicken Interchange Format) bank, card and cash statements.

A tolerant reader: ``!Type:`` sections (Bank, Cash, CCard, Oth A, Oth L; investment,
category, class and memorized-transaction lists are not statements), ``!Account`` blocks
naming the account the next section belongs to, records of ``D`` date, ``T``/``U``
amount, ``P`` payee, ``M`` memo, ``L`` category, ``N`` number, ``S``/``E``/``$`` splits,
ended by ``^``. The date order (month or day first) and the decimal mark are decided from
all the file's values, never per row; a file that contradicts itself is refused. A
Quicken "Opening Balance" record is the account's opening balance, not a transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest.currency import UNKNOWN as UNKNOWN_CURRENCY
from finanalytics_cli.engine.ingest.ofx import OfxStatement

CASH_TYPES = {"bank": "checking", "cash": "cash", "ccard": "credit_card", "oth a": "asset", "oth l": "liability"}
LIST_TYPES = {"cat", "class", "memorized", "prices", "security", "budget", "invitem", "template"}
INVESTMENT_TYPES = {"invst", "port"}
_DATE = re.compile(r"^(\d{1,4})\s*[/.\-]\s*(\d{1,2})\s*(?:[/.\-']\s*(\d{1,4}))?$")


def looks_like_qif(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    return head.startswith((b"!TYPE:", b"!ACCOUNT", b"!OPTION:", b"!CLEAR:"))


def _records(text: str) -> list[tuple[str, str | None, list[tuple[int, dict[str, Any]]]]]:
    """(section type, account name, records) per section, each record (line, fields)."""
    sections: list[tuple[str, str | None, list[tuple[int, dict[str, Any]]]]] = []
    kind: str | None = None
    account: str | None = None
    account_block = False
    autoswitch = False
    fields: dict[str, Any] = {}
    start = 0
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("!"):
            head = line[1:].strip().lower()
            if head.startswith("option:autoswitch"):
                autoswitch = True
            elif head.startswith("clear:autoswitch"):
                autoswitch = False
            elif head == "account":
                account_block = True
                fields = {}
            elif head.startswith("type:"):
                kind = head[5:].strip()
                sections.append((kind, None if autoswitch else account, []))
                fields = {}
            continue
        code, value = line[0], line[1:].strip()
        if not fields:
            start = no
        if code == "^":
            if account_block:
                account_block = False
                if not autoswitch and fields.get("N"):
                    account = fields["N"]
            elif kind is not None and fields and sections:
                sections[-1][2].append((start, fields))
            fields = {}
            continue
        if account_block:
            fields[code] = value
            continue
        if code in "S":
            fields.setdefault("splits", []).append({"S": value})
        elif code in "E$" and fields.get("splits"):
            fields["splits"][-1][code] = value
        elif code == "A":
            fields.setdefault("A", []).append(value)
        else:
            fields[code] = value
    if fields and kind is not None and not account_block and sections:  # a last record without its ^
        sections[-1][2].append((start, fields))
    return sections


def _decide_dates(texts: list[str], name: str) -> str:
    """'ymd', 'mdy' or 'dmy' for the whole file, by the evidence of its dates."""
    first_big = second_big = dots = iso = 0
    for t in texts:
        m = _DATE.match(t.strip())
        if not m:
            continue
        a, b = int(m.group(1)), int(m.group(2))
        if len(m.group(1)) == 4:
            iso += 1
            continue
        dots += "." in t
        first_big += a > 12
        second_big += b > 12
    if iso:
        return "ymd"
    if first_big and second_big:
        raise InvalidInput(
            f"{name}: the QIF dates contradict each other (some read day first, others month first); "
            "export the file again or convert it to CSV"
        )
    if first_big or (dots and not second_big):
        return "dmy"
    return "mdy"


def _parse_date(text: str, order: str) -> dt.date | None:
    m = _DATE.match(text.strip())
    if not m:
        return None
    a, b, c = m.group(1), m.group(2), m.group(3)
    try:
        if order == "ymd":
            if c is None:
                return None
            return dt.date(int(a), int(b), int(c))
        if c is None:
            return None
        year = int(c)
        if len(c) <= 2:
            # Quicken writes years from 2000 on after an apostrophe (1/2'05); files from
            # other tools use 2 digits for 20xx as well.
            year += 2000 if ("'" in text or year < 70) else 1900
        month, day = (int(a), int(b)) if order == "mdy" else (int(b), int(a))
        return dt.date(year, month, day)
    except ValueError:
        return None


def _decide_decimal(texts: list[str]) -> str:
    """',' when the file writes decimal commas (12,50 and no 1,234.56), else '.'."""
    comma = point = 0
    for t in texts:
        t = t.replace(" ", "")
        if "," in t and "." in t:
            if t.rfind(",") > t.rfind("."):
                comma += 1
            else:
                point += 1
        elif re.search(r",\d{1,2}$", t):
            comma += 1
        elif re.search(r"\.\d{1,2}$", t):
            point += 1
    return "," if comma > point else "."


def _parse_amount(text: str | None, decimal: str) -> Decimal | None:
    if text is None:
        return None
    t = re.sub(r"[\s$€£¥]", "", text)
    thousands = "." if decimal == "," else ","
    t = t.replace(thousands, "").replace(decimal, ".")
    negative = t.startswith("(") and t.endswith(")")
    t = t.strip("()")
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", t):
        return None
    try:
        value = Decimal(t)
    except InvalidOperation:
        return None
    if abs(value) >= Decimal("1e16"):
        return None
    return (-value if negative else value).quantize(Decimal("0.01"))


def read_qif(text: str, name: str, currency: str | None = None) -> list[OfxStatement]:
    """The bank, card and cash statements of a QIF file (one per account section)."""
    sections = _records(text)
    if not sections:
        raise InvalidInput(f"{name}: a QIF file without a !Type: section: nothing to import")
    cash = [s for s in sections if s[0] in CASH_TYPES]
    skipped = sorted({s[0] for s in sections if s[0] in INVESTMENT_TYPES and s[2]})
    if not cash:
        if skipped:
            raise InvalidInput(
                f"{name}: a QIF investment account (!Type:{skipped[0].capitalize()}): investment QIF is not "
                "supported yet; import the brokerage's OFX or CSV, or its cash account's QIF"
            )
        kinds = ", ".join(sorted({s[0] for s in sections}))
        raise InvalidInput(f"{name}: a QIF list ({kinds}), not a statement: no transactions in it")
    all_fields = [f for _, _, recs in cash for _, f in recs]
    order = _decide_dates([f["D"] for f in all_fields if f.get("D")], name)
    decimal = _decide_decimal([f.get("T") or f.get("U") or "" for f in all_fields])
    merged: dict[tuple[str, str | None], OfxStatement] = {}
    for kind, account, recs in cash:
        key = (kind, account)
        st = merged.get(key)
        if st is None:
            st = OfxStatement(
                kind="creditcard" if kind == "ccard" else "bank",
                account_id=None,
                bank_id=None,
                account_type=CASH_TYPES[kind],
                currency=currency or UNKNOWN_CURRENCY,
                org=None,
                ledger_balance=None,
                ledger_date=None,
                transactions=[],
                rejected=[],
                name=account,
                currency_source="--currency" if currency else None,
            )
            merged[key] = st
        opening: Decimal | None = None
        for line, f in recs:
            raw = "; ".join(f"{k}={v}" for k, v in f.items() if k not in ("splits", "A") and v) + "".join(
                f"; S={s.get('S')} ${s.get('$')}" for s in f.get("splits", [])
            )
            date = _parse_date(f.get("D", ""), order)
            amount = _parse_amount(f.get("T") or f.get("U"), decimal)
            if date is None:
                st.rejected.append((line, f"invalid or missing date (D) {f.get('D')!r}", raw))
                continue
            if amount is None:
                st.rejected.append((line, f"invalid or missing amount (T) {f.get('T') or f.get('U')!r}", raw))
                continue
            payee = f.get("P") or None
            category = f.get("L") or ""
            if (payee or "").strip().lower() == "opening balance" and category.startswith("["):
                opening = amount  # the account's starting balance, not money that moved
                continue
            splits = f.get("splits", [])
            if splits:
                parts = [_parse_amount(s.get("$"), decimal) for s in splits]
                if None in parts or sum(p for p in parts if p is not None) != amount:
                    st.warnings.append(
                        f"{name}: line {line}: the splits of {payee or 'a transaction'} do not add up to its "
                        f"amount {amount}; the amount is kept"
                    )
            st.transactions.append(
                {
                    "line_no": line,
                    "posted_date": date,
                    "amount": amount,
                    "payee_raw": payee or f.get("M") or None,
                    "memo": f.get("M") if payee else None,
                    "fitid": None,
                    "currency": st.currency,
                    "balance": None,
                    "is_pending": False,
                    "raw_row": raw,
                }
            )
        if opening is not None and st.transactions:
            # The opening balance and the rows give the balance after the last one.
            st.ledger_balance = opening + sum((t["amount"] for t in st.transactions), Decimal("0"))
            st.ledger_date = max(t["posted_date"] for t in st.transactions)
    statements = [st for st in merged.values() if st.transactions or st.rejected]
    if not statements:
        raise InvalidInput(f"{name}: the QIF file holds no transactions")
    if skipped:
        statements[0].warnings.append(
            f"{name}: its investment account section was skipped (investment QIF is not supported yet)"
        )
    if order == "mdy" and not any(
        (m := _DATE.match(f.get("D", "").strip())) and int(m.group(2)) > 12 for f in all_fields
    ):
        statements[0].warnings.append(
            f"{name}: no date in the file says whether the month or the day comes first; read month first "
            "(as Quicken writes them): check a date you know"
        )
    return statements
