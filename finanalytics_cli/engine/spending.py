"""Spending by category and period (the first analytics; grows in later issues)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput

PERIODS = ("week", "month", "quarter", "year")

# The top-level category's kind (income / expense / transfer) decides what counts as spending.
_KIND = """coalesce((SELECT c.kind FROM categories c
                     WHERE c.name = coalesce(t.category, 'Uncategorized')), 'expense')"""


@dataclass(frozen=True)
class CategoryPeriodTotal:
    period: str
    category: str
    currency: str
    total: Decimal
    count: int


@dataclass(frozen=True)
class SpendingSummary:
    period: str
    rows: list[CategoryPeriodTotal]
    income: dict[str, Decimal]
    spending: dict[str, Decimal]
    transfers_excluded: int


def spending_by_category(con: Any, period: str = "month", since: dt.date | None = None) -> SpendingSummary:
    """Money out per category, period and currency (positive totals); transfers excluded."""
    if period not in PERIODS:
        raise InvalidInput(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
    n = con.execute("SELECT count(*) FROM transactions").fetchone()[0]
    if n == 0:
        raise InsufficientData("the store holds no transactions yet; import a bank export first")
    since_sql = "AND t.posted_date >= ?" if since else ""
    params = [since] if since else []
    rows = con.execute(
        f"""
        SELECT strftime(date_trunc('{period}', t.posted_date), '%Y-%m-%d') AS p,
               split_part(coalesce(t.category, 'Uncategorized'), '/', 1) AS cat, t.currency,
               -sum(t.amount) AS total, count(*) AS n
        FROM transactions t
        WHERE NOT t.is_transfer AND t.amount < 0 AND {_KIND} = 'expense' {since_sql}
        GROUP BY ALL ORDER BY p, t.currency, total DESC
        """,
        params,
    ).fetchall()
    totals = con.execute(
        f"""
        SELECT t.currency,
               coalesce(sum(amount) FILTER (WHERE amount > 0 AND NOT is_transfer AND {_KIND} <> 'transfer'), 0),
               coalesce(-sum(amount) FILTER (WHERE amount < 0 AND NOT is_transfer AND {_KIND} = 'expense'), 0),
               count(*) FILTER (WHERE is_transfer OR {_KIND} = 'transfer')
        FROM transactions t WHERE true {since_sql} GROUP BY t.currency ORDER BY t.currency
        """,
        params,
    ).fetchall()
    return SpendingSummary(
        period=period,
        rows=[CategoryPeriodTotal(p, c, cur, Decimal(t), int(k)) for p, c, cur, t, k in rows],
        income={cur: Decimal(i) for cur, i, _, _ in totals},
        spending={cur: Decimal(s) for cur, _, s, _ in totals},
        transfers_excluded=sum(int(x) for *_, x in totals),
    )
