"""A household that lives close to zero: the data the risk_scorer learns shortfalls from."""

from __future__ import annotations

import datetime as dt
import random


def tight_household_csv(seed: int = 7, start: dt.date = dt.date(2023, 1, 1), days: int = 900) -> str:
    """Checking-account CSV: biweekly pay, rent, utilities, a quarterly tax payment, daily
    spending and random large bills; what stays above 3,000 at a month's end is swept to savings and an overdraft
    past 600 brings 1,200 back, so the balance wanders near zero and goes below it now
    and then, all through the history."""
    rng = random.Random(seed)
    rows = []
    balance = 400.0
    for i in range(days):
        d = start + dt.timedelta(days=i)
        day = []
        if i % 14 == 4:
            day.append(("ACME PAYROLL DIRECT DEP", 2000.00))
        if d.day == 1:
            day.append(("OAKWOOD PROPERTY RENT", -1500.00))
        if d.day == 5:
            day.append(("CITY POWER & WATER", -round(rng.uniform(90, 150), 2)))
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            day.append(
                (
                    rng.choice(("SAFEWAY #12", "SHELL OIL 5512", "CHIPOTLE 1123", "TARGET T-19")),
                    -round(rng.expovariate(1 / 38), 2),
                )
            )
        if d.day == 10 and d.month % 3 == 1:  # quarterly tax prepayment: known in advance
            day.append(("IRS USATAXPYMT", -900.00))
        if rng.random() < 1 / 40:
            day.append(("AUTO REPAIR CENTER", -round(rng.uniform(350, 1300), 2)))
        nxt = d + dt.timedelta(days=1)
        for payee, amount in day:
            balance += amount
            rows.append((d, payee, amount))
        if balance < -600:  # an overdraft notice: money comes back from savings
            balance += 1200.0
            rows.append((d, "TRANSFER FROM SAVINGS", 1200.00))
        if nxt.day == 1 and balance > 3000:
            sweep = round(balance - 3000, 2)
            balance -= sweep
            rows.append((d, "TRANSFER TO SAVINGS", -sweep))
    lines = ["Date,Description,Amount"]
    lines += [f"{d:%Y-%m-%d},{p},{a:.2f}" for d, p, a in rows]
    return "\n".join(lines) + "\n"
