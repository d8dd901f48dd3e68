"""Spending by category and period (the first analytics; grows in later issues)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput

PERIODS = ("week", "month", "quarter", "year")


@dataclass(frozen=True)
class CategoryPeriodTotal:
    period: str
    category: str
    total: Decimal
    count: int


@dataclass(frozen=True)
class SpendingSummary:
    period: str
    rows: list[CategoryPeriodTotal]
    income: Decimal
    spending: Decimal
    transfers_excluded: int


def spending_by_category(con: Any, period: str = "month") -> SpendingSummary:
    """Money out per category and period (positive totals); transfers excluded."""
    if period not in PERIODS:
        raise InvalidInput(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
    n = con.execute("SELECT count(*) FROM transactions").fetchone()[0]
    if n == 0:
        raise InsufficientData("the store holds no transactions yet; import a bank export first")
    kind = """coalesce((SELECT c.kind FROM categories c
                        WHERE c.name = coalesce(t.category, 'Uncategorized')), 'expense')"""
    rows = con.execute(
        f"""
        SELECT strftime(date_trunc('{period}', t.posted_date), '%Y-%m-%d') AS p,
               split_part(coalesce(t.category, 'Uncategorized'), '/', 1) AS cat,
               -sum(t.amount) AS total, count(*) AS n
        FROM transactions t
        WHERE NOT t.is_transfer AND t.amount < 0 AND {kind} = 'expense'
        GROUP BY ALL ORDER BY p, total DESC
        """
    ).fetchall()
    income, spending, transfers = con.execute(
        f"""
        SELECT coalesce(sum(amount) FILTER (WHERE amount > 0 AND NOT is_transfer AND {kind} <> 'transfer'), 0),
               coalesce(-sum(amount) FILTER (WHERE amount < 0 AND NOT is_transfer AND {kind} = 'expense'), 0),
               count(*) FILTER (WHERE is_transfer OR {kind} = 'transfer')
        FROM transactions t
        """
    ).fetchone()
    return SpendingSummary(
        period=period,
        rows=[CategoryPeriodTotal(p, c, Decimal(t), int(k)) for p, c, t, k in rows],
        income=Decimal(income),
        spending=Decimal(spending),
        transfers_excluded=int(transfers),
    )
