"""Accounts and transactions: the writes and reads every command shares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput


@dataclass(frozen=True)
class NewTransaction:
    """A normalized transaction ready to store (money out is negative)."""

    posted_date: dt.date
    amount: Decimal
    currency: str
    payee_raw: str
    memo: str | None = None
    category: str | None = None
    category_source: str | None = None
    fitid: str | None = None
    is_pending: bool = False
    balance: Decimal | None = None
    raw_row: str | None = None


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
    """Store transactions through the importer's path (fingerprints, dedupe). Returns rows added."""
    from dataclasses import asdict

    from finanalytics_cli.engine.ingest.loader import batch_frame, load_batch

    frame = batch_frame([{"line_no": i, **asdict(t)} for i, t in enumerate(txs, start=1)])
    return load_batch(con, account_id, import_id, frame, "USD").added


def list_accounts(con: Any) -> list[dict[str, Any]]:
    """Accounts with their balance: the latest known statement balance carried forward
    by later transactions, or the sum of all transactions when none is known."""
    rows = con.execute(
        """
        WITH anchor AS (
            SELECT account_id, as_of, amount,
                   row_number() OVER (PARTITION BY account_id ORDER BY as_of DESC, created_at DESC) AS r
            FROM balances
        ),
        a AS (SELECT * FROM anchor WHERE r = 1)
        SELECT acc.account_id, acc.name, acc.account_type, acc.currency, acc.institution,
               count(t.tx_id) AS transactions, min(t.posted_date) AS first_date, max(t.posted_date) AS last_date,
               CASE WHEN any_value(a.as_of) IS NOT NULL
                    THEN any_value(a.amount) + coalesce(sum(t.amount) FILTER (WHERE t.posted_date > a.as_of), 0)
                    ELSE acc.opening_balance + coalesce(sum(t.amount), 0) END AS balance,
               CASE WHEN any_value(a.as_of) IS NOT NULL THEN 'statement' ELSE 'sum of transactions' END
                   AS balance_source
        FROM accounts acc
        LEFT JOIN transactions t ON t.account_id = acc.account_id
        LEFT JOIN a ON a.account_id = acc.account_id
        GROUP BY acc.account_id, acc.name, acc.account_type, acc.currency, acc.institution, acc.opening_balance
        ORDER BY acc.account_id
        """
    ).fetchall()
    keys = [
        "account_id",
        "name",
        "type",
        "currency",
        "institution",
        "transactions",
        "first_date",
        "last_date",
        "balance",
        "balance_source",
    ]
    return [dict(zip(keys, r, strict=True)) for r in rows]


TX_LIST_COLUMNS = ["id", "date", "amount", "currency", "payee", "merchant", "account", "category"]


def list_transactions(
    con: Any,
    *,
    account: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    search: str | None = None,
    limit: int | None = 100,
    category: str | None = None,
) -> list[dict[str, Any]]:
    """Transactions, newest first, filtered."""
    if limit is not None and limit < 0:
        raise InvalidInput("--limit must be 0 or more (0: no limit)")
    if date_from and date_to and date_from > date_to:
        raise InvalidInput(f"--from {date_from} is after --to {date_to}")
    where, params = [], []
    if account:
        if not con.execute("SELECT 1 FROM accounts WHERE name = ?", [account]).fetchone():
            names = [r[0] for r in con.execute("SELECT name FROM accounts ORDER BY name").fetchall()]
            raise InvalidInput(f"no account named {account!r} (accounts: {', '.join(names) or 'none yet'})")
        where.append("a.name = ?")
        params.append(account)
    if date_from:
        where.append("t.posted_date >= ?")
        params.append(date_from)
    if date_to:
        where.append("t.posted_date <= ?")
        params.append(date_to)
    if category:
        if category.lower() in ("none", "uncategorized", "uncategorised"):
            where.append("t.category IS NULL")
        else:
            from finanalytics_cli.engine.categories import resolve_category

            cat = resolve_category(con, category)
            where.append("(t.category = ? OR t.category LIKE ?)")
            params += [cat, f"{cat}/%"]
    if search:
        where.append(
            "(contains(lower(coalesce(t.payee_raw, '') || ' ' || coalesce(t.merchant, '') || ' ' || "
            "coalesce(t.memo, '')), lower(?)))"
        )
        params.append(search)
    sql = (
        "SELECT t.tx_id, t.posted_date, t.amount, t.currency, t.payee_raw, t.merchant, a.name, t.category "
        "FROM transactions t JOIN accounts a USING (account_id)"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY t.posted_date DESC, t.tx_id DESC"
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    return [dict(zip(TX_LIST_COLUMNS, r, strict=True)) for r in con.execute(sql, params).fetchall()]
