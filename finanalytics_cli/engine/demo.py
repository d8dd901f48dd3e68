"""A small built-in household for `finanalytics demo` (until sample_data lands)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from finanalytics_cli.engine.ledger import NewTransaction, ensure_account, insert_transactions


def builtin_transactions(start: dt.date = dt.date(2026, 1, 1), months: int = 6, seed: int = 7) -> list[NewTransaction]:
    """Six months of one checking account: salary, rent, bills, food, a subscription."""
    rng = random.Random(seed)
    out: list[NewTransaction] = []

    def add(day: dt.date, amount: float, payee: str, category: str) -> None:
        out.append(
            NewTransaction(
                posted_date=day,
                amount=Decimal(f"{amount:.2f}"),
                currency="USD",
                payee_raw=payee,
                category=category,
                category_source="demo",
            )
        )

    end = _add_months(start, months)
    day = start
    while day < end:
        if day.weekday() == 4 and (day - start).days % 14 < 7:
            add(day, 2450.00, "ACME CORP PAYROLL", "Income/Salary")
        if day.day == 1:
            add(day, -1650.00, "OAKWOOD APARTMENTS RENT", "Housing/Rent")
            add(day, -15.49, "NETFLIX.COM", "Subscriptions")
            add(day, -300.00, "TRANSFER TO SAVINGS", "Transfers")
        if day.day == 12:
            winter = day.month in (1, 2, 12)
            add(day, -round(rng.uniform(120, 160) if winter else rng.uniform(60, 90), 2), "PG&E UTILITY", "Utilities")
        if day.weekday() == 5:
            add(day, -round(rng.uniform(70, 140), 2), "WHOLE FOODS MKT #102", "Groceries")
        if rng.random() < 0.18:
            add(
                day,
                -round(rng.uniform(12, 65), 2),
                rng.choice(["SQ *BLUE BOTTLE", "CHIPOTLE 1234", "TST* PIZZERIA"]),
                "Dining",
            )
        if rng.random() < 0.08:
            add(day, -round(rng.uniform(35, 60), 2), "SHELL OIL 5744", "Transport/Fuel")
        day += dt.timedelta(days=1)
    return out


def _add_months(d: dt.date, n: int) -> dt.date:
    y, m = divmod(d.month - 1 + n, 12)
    return d.replace(year=d.year + y, month=m + 1, day=1)


def load_builtin(con: Any) -> int:
    """Store the built-in household in one transaction; returns the number of rows."""
    con.execute("BEGIN TRANSACTION")
    try:
        account = ensure_account(con, "Demo checking", currency="USD")
        txs = builtin_transactions()
        n = insert_transactions(con, account, None, txs)
        con.execute("UPDATE transactions SET is_transfer = true WHERE category = 'Transfers'")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return n
