"""The household's money facts that budgets, goals and risk share: the main currency,
complete months of income and spending per category, essential categories, liquid money
and daily balances of spending accounts."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData

HISTORY_MONTHS = 12


@dataclass
class Household:
    currency: str
    as_of: dt.date  # the last transaction's date
    months: list[dt.date]  # complete months, oldest first
    income: list[float]  # per month, in ``currency``
    spending: dict[str, list[float]]  # per top-level expense category, per month
    essential: set[str]
    liquid: float  # checking and savings balances above zero, in ``currency``
    savings_balance: float  # savings accounts alone
    income_sources: dict[str, float] = field(default_factory=dict)  # payer -> income over the months
    other_currencies: list[str] = field(default_factory=list)

    fx_rates: dict[str, float] = field(default_factory=dict)  # other currency -> rate into ``currency``
    fx_surplus: float = 0.0  # other currencies' mean monthly net flow, converted (when positive)

    @property
    def monthly_income(self) -> float:
        """Monthly income over the months (months with a third paycheck or a bonus are real
        income too), plus what other currencies leave over, converted at the household's
        own exchange rate."""
        return (sum(self.income) / len(self.income) if self.income else 0.0) + self.fx_surplus

    @property
    def income_cv(self) -> float:
        """Month-to-month variation of income (coefficient of variation)."""
        if len(self.income) < 2 or not any(self.income):
            return 0.0
        return statistics.pstdev(self.income) / (sum(self.income) / len(self.income))

    def habitual(self, category: str) -> float:
        """A category's habitual monthly spending: the mean over the months (annual charges
        count at their monthly share)."""
        values = self.spending.get(category, [])
        return sum(values) / len(values) if values else 0.0

    @property
    def monthly_spending(self) -> float:
        return sum(self.habitual(c) for c in self.spending)

    @property
    def essential_monthly(self) -> float:
        return sum(self.habitual(c) for c in self.spending if c in self.essential)


def _month_add(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    return dt.date(y, m + 1, 1)


def main_currency(con: Any) -> str:
    """The currency most income arrives in (else the one with most transactions)."""
    row = con.execute(
        """
        SELECT currency FROM transactions
        GROUP BY currency
        ORDER BY coalesce(sum(amount) FILTER (WHERE amount > 0 AND NOT is_transfer), 0) DESC, count(*) DESC
        LIMIT 1
        """
    ).fetchone()
    if row is None:
        raise InsufficientData("the store holds no transactions yet; import a bank export first")
    return row[0]


def household(con: Any, currency: str | None = None, months: int = HISTORY_MONTHS) -> Household:
    """The last ``months`` complete months (fewer when the history is shorter, at least one)."""
    from finanalytics_cli.engine.ledger import list_accounts

    cur = currency or main_currency(con)
    first, last = con.execute(
        "SELECT min(posted_date), max(posted_date) FROM transactions WHERE currency = ?", [cur]
    ).fetchone()
    if last is None:
        raise InsufficientData(f"no transactions in {cur}")
    end = dt.date(last.year, last.month, 1)
    if _month_add(end, 1) - dt.timedelta(days=1) > last:  # the last month is not complete
        end = _month_add(end, -1)
    start = max(
        _month_add(end, -(months - 1)), _month_add(dt.date(first.year, first.month, 1), 1 if first.day > 1 else 0)
    )
    if start > end:
        raise InsufficientData(
            f"budgets, goals and risk need at least one complete month of history in {cur}; "
            f"the data runs from {first} to {last}"
        )
    periods = []
    p = start
    while p <= end:
        periods.append(p)
        p = _month_add(p, 1)
    rows = con.execute(
        """
        SELECT CAST(date_trunc('month', t.posted_date) AS DATE) AS m,
               split_part(coalesce(t.category, 'Uncategorized'), '/', 1) AS cat,
               coalesce(c.kind, 'expense') AS kind,
               coalesce(t.merchant, t.payee_raw, '') AS payer,
               sum(t.amount) AS total
        FROM transactions t
        LEFT JOIN categories c ON c.name = split_part(coalesce(t.category, 'Uncategorized'), '/', 1)
        WHERE t.currency = ? AND NOT t.is_transfer AND t.posted_date BETWEEN ? AND ?
        GROUP BY ALL
        """,
        [cur, start, _month_add(end, 1) - dt.timedelta(days=1)],
    ).fetchall()
    index = {p: i for i, p in enumerate(periods)}
    income = [0.0] * len(periods)
    spending: dict[str, list[float]] = {}
    sources: dict[str, float] = {}
    for m, cat, kind, payer, total in rows:
        v = float(total)
        if kind == "transfer":
            continue
        if v > 0 and (kind != "expense" or cat == "Uncategorized"):  # uncategorised deposits count as income
            income[index[m]] += v
            sources[payer] = sources.get(payer, 0.0) + v
        elif v < 0 and kind == "expense":
            spending.setdefault(cat, [0.0] * len(periods))[index[m]] -= v
        elif v > 0:  # refunds in an expense category reduce its spending
            spending.setdefault(cat, [0.0] * len(periods))[index[m]] -= v
    for cat in list(spending):
        spending[cat] = [max(0.0, v) for v in spending[cat]]
        if not any(spending[cat]):
            del spending[cat]
    essential = {n for (n,) in con.execute("SELECT name FROM categories WHERE is_essential").fetchall()}
    accounts = list_accounts(con)
    liquid = sum(
        float(a["balance"])
        for a in accounts
        if a["currency"] == cur
        and a["type"] in ("checking", "savings")
        and a["balance"] is not None
        and a["balance"] > 0
    )
    savings = sum(
        float(a["balance"])
        for a in accounts
        if a["currency"] == cur and a["type"] == "savings" and a["balance"] is not None and a["balance"] > 0
    )
    others = [
        c
        for (c,) in con.execute(
            "SELECT DISTINCT currency FROM transactions WHERE currency <> ? ORDER BY 1", [cur]
        ).fetchall()
    ]
    rates = fx_rates(con, cur)
    surplus = 0.0
    for other, rate in rates.items():
        net = con.execute(
            "SELECT coalesce(sum(amount), 0) FROM transactions WHERE currency = ? AND NOT is_transfer "
            "AND posted_date BETWEEN ? AND ?",
            [other, start, _month_add(end, 1) - dt.timedelta(days=1)],
        ).fetchone()[0]
        surplus += max(0.0, float(net) / len(periods) * rate)
    return Household(
        cur, last, periods, income, spending, essential, liquid, savings, sources, others, rates, round(surplus, 2)
    )


def fx_rates(con: Any, currency: str) -> dict[str, float]:
    """Exchange rates into ``currency`` from the household's own transfers between accounts
    in different currencies (the median of the last three), e.g. a quarterly EUR -> USD
    transfer. No rates are downloaded."""
    rows = con.execute(
        """
        SELECT a.currency, abs(b.amount) / abs(a.amount) AS rate, a.posted_date
        FROM transactions a JOIN transactions b ON b.tx_id = a.transfer_tx_id
        WHERE a.is_transfer AND b.currency = ? AND a.currency <> ? AND a.amount <> 0
        ORDER BY a.posted_date DESC
        """,
        [currency, currency],
    ).fetchall()
    by: dict[str, list[float]] = {}
    for cur, rate, _ in rows:
        if len(by.setdefault(cur, [])) < 3:
            by[cur].append(float(rate))
    return {c: statistics.median(r) for c, r in by.items()}


def daily_balances(con: Any, account_types: tuple[str, ...] = ("checking",)) -> dict[int, list[tuple[dt.date, float]]]:
    """End-of-day balances of the accounts of these types, from their first to their last
    transaction: the latest known balance (statement or running balance) minus what came
    after it, so the path ends where the bank says it does."""
    from finanalytics_cli.engine.ledger import list_accounts

    out: dict[int, list[tuple[dt.date, float]]] = {}
    for a in list_accounts(con):
        if a["type"] not in account_types:
            continue
        rows = con.execute(
            "SELECT posted_date, sum(amount) FROM transactions WHERE account_id = ? GROUP BY 1 ORDER BY 1",
            [a["account_id"]],
        ).fetchall()
        if not rows:
            continue
        total = sum(float(v) for _, v in rows)
        end_balance = float(a["balance"]) if a["balance"] is not None else total
        opening = end_balance - total
        path, running = [], opening
        d, i = rows[0][0], 0
        while d <= rows[-1][0]:
            while i < len(rows) and rows[i][0] == d:
                running += float(rows[i][1])
                i += 1
            path.append((d, running))
            d += dt.timedelta(days=1)
        out[a["account_id"]] = path
    return out
