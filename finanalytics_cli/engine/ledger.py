"""Accounts and transactions: the writes every importer shares."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class NewTransaction:
    """A normalised transaction ready to store (money out is negative)."""

    posted_date: dt.date
    amount: Decimal
    currency: str
    payee_raw: str
    merchant: str | None = None
    memo: str | None = None
    category: str | None = None
    category_source: str | None = None
    fitid: str | None = None
    is_pending: bool = False
    balance: Decimal | None = None
    raw_row: str | None = None


def fingerprint(account_id: int, tx: NewTransaction) -> str:
    """Identity of a transaction without its per-day occurrence index."""
    basis = "|".join(
        [
            str(account_id),
            tx.posted_date.isoformat(),
            f"{tx.amount:.2f}",
            tx.currency,
            " ".join((tx.payee_raw or "").upper().split()),
            " ".join((tx.memo or "").upper().split()),
        ]
    )
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


def ensure_account(
    con: Any,
    name: str,
    *,
    currency: str = "USD",
    account_type: str = "checking",
    institution: str | None = None,
    external_id: str | None = None,
) -> int:
    """The id of the account called ``name``, created if it does not exist."""
    row = con.execute("SELECT account_id FROM accounts WHERE name = ?", [name]).fetchone()
    if row:
        return int(row[0])
    return int(
        con.execute(
            "INSERT INTO accounts (user_id, name, currency, account_type, institution, external_id) "
            "VALUES ('local', ?, ?, ?, ?, ?) RETURNING account_id",
            [name, currency, account_type, institution, external_id],
        ).fetchone()[0]
    )


def insert_transactions(con: Any, account_id: int, import_id: int | None, txs: Iterable[NewTransaction]) -> int:
    """Insert transactions, numbering identical ones on the same day. Returns the count."""
    seen: dict[str, int] = {}
    rows = []
    for tx in txs:
        fp = fingerprint(account_id, tx)
        occurrence = seen.get(fp, 0)
        seen[fp] = occurrence + 1
        rows.append(
            (
                account_id,
                import_id,
                tx.posted_date,
                tx.amount,
                tx.currency,
                tx.payee_raw,
                tx.merchant,
                tx.memo,
                tx.category,
                tx.category_source,
                tx.fitid,
                fp,
                occurrence,
                tx.is_pending,
                tx.balance,
                tx.raw_row,
            )
        )
    if rows:
        con.executemany(
            "INSERT INTO transactions (account_id, import_id, posted_date, amount, currency, payee_raw, "
            "merchant, memo, category, category_source, fitid, fingerprint, occurrence, is_pending, "
            "balance, raw_row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)
