"""Recurring series: salaries, rent, bills and subscriptions found in the history.

Transactions are grouped by account and merchant root (the first word of the cleaned
merchant); roots the bank spells differently ("PGANDE", "PG&E") are merged when they
share the account, the category and the day of the month. Each group is split into
amount clusters (a salary and a bonus from the same payer are two series), and a cluster
is a series when its intervals follow one cadence. Bills and income may vary in amount
(utilities are seasonal); discretionary spending must be stable to count (a monthly
Costco trip is a habit, not a payment).
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

CADENCES: dict[str, tuple[int, int, int]] = {  # name: (typical days, min, max)
    "weekly": (7, 6, 8),
    "biweekly": (14, 13, 15),
    "monthly": (30, 26, 35),
    "bimonthly": (61, 55, 67),
    "quarterly": (91, 84, 98),
    "yearly": (365, 350, 380),
}
MONTHLY_FACTOR = {
    "weekly": 52 / 12,
    "biweekly": 26 / 12,
    "monthly": 1,
    "bimonthly": 0.5,
    "quarterly": 1 / 3,
    "yearly": 1 / 12,
}
BILL_CATEGORIES = (
    "Income",
    "Housing",
    "Utilities",
    "Insurance",
    "Subscriptions",
    "Kids",
    "Fees & charges",
    "Savings & investments",
    "Education",
    "Taxes",
    "Pets",
    "Health",
)
MIN_OCCURRENCES = {"yearly": 2, "quarterly": 3}
REGULARITY = 0.75  # share of intervals that must follow the cadence
_ROOT = re.compile(r"[^\W\d_][^\W\d_&]*(?:&[^\W\d_]+)?")


@dataclass
class RecurringSeries:
    series_id: str
    merchant: str
    account: str
    currency: str
    category: str | None
    cadence: str
    direction: str  # "out" or "in"
    typical_amount: Decimal
    last_amount: Decimal
    occurrences: int
    first_date: dt.date
    last_date: dt.date
    next_expected_date: dt.date | None
    next_expected_amount: Decimal | None
    status: str  # active | stopped
    monthly_equivalent: Decimal
    price_changes: list[dict[str, Any]] = field(default_factory=list)
    amount_drift: str = "stable"  # stable | increasing | decreasing | varies
    tx_ids: list[int] = field(default_factory=list)
    dates: list[dt.date] = field(default_factory=list)
    amounts: list[float] = field(default_factory=list)


@dataclass
class RecurringReport:
    as_of: dt.date
    series: list[RecurringSeries]
    monthly_commitment: dict[str, Decimal]
    monthly_income: dict[str, Decimal]


def _key(merchant: str | None, payee: str | None) -> str:
    """The cleaned merchant's words (store numbers and punctuation dropped)."""
    text = (merchant or payee or "").lower()
    words = _ROOT.findall(text)
    return " ".join(words) if words else text[:16]


def _main_category(rows: list[dict[str, Any]]) -> str | None:
    cats = [r["category"].split("/")[0] for r in rows if r["category"]]
    if not cats:
        return None
    return max({c: (cats.count(c), i) for i, c in enumerate(cats)}.items(), key=lambda kv: kv[1])[0]  # tie: latest


SEASONAL = ("Utilities",)  # energy and water bills swing with the seasons


def _clusters(rows: list[dict[str, Any]], tolerance: float = 0.2) -> list[list[dict[str, Any]]]:
    """Split by amount: a gap above ``tolerance`` between neighbouring amounts starts a new cluster."""
    rows = sorted(rows, key=lambda r: abs(r["amount"]))
    out: list[list[dict[str, Any]]] = []
    for r in rows:
        a = abs(float(r["amount"]))
        if out:
            prev = abs(float(out[-1][-1]["amount"]))
            if prev > 0 and (a - prev) / prev <= tolerance or abs(a - prev) <= 2:
                out[-1].append(r)
                continue
        out.append([r])
    return out


def _cadence(dates: list[dt.date]) -> tuple[str | None, float]:
    gaps = [(b - a).days for a, b in zip(dates, dates[1:], strict=False)]
    if not gaps:
        return None, 0.0
    best, best_share = None, 0.0
    for name, (_, lo, hi) in CADENCES.items():
        share = sum(lo <= g <= hi for g in gaps) / len(gaps)
        if share > best_share:
            best, best_share = name, share
    return best, best_share


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return dt.date(year, month, day)
        except ValueError:
            continue
    return dt.date(year, month, 28)


def _next_date(last: dt.date, cadence: str) -> dt.date:
    months = {"monthly": 1, "bimonthly": 2, "quarterly": 3, "yearly": 12}.get(cadence)
    if months:
        return _add_months(last, months)
    return last + dt.timedelta(days=CADENCES[cadence][0])


def _price_changes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps in a stable series' amount that hold for the following charges."""
    amounts = [abs(r["amount"]) for r in rows]
    changes = []
    for i in range(1, len(amounts)):
        before, after = amounts[i - 1], amounts[i]
        if before and abs(after - before) / before >= Decimal("0.02"):
            following = amounts[i : i + 3]
            if all(abs(x - after) / after < Decimal("0.02") for x in following) and (
                i < 2 or abs(amounts[i - 2] - before) / before < Decimal("0.02")
            ):
                changes.append(
                    {
                        "date": rows[i]["posted_date"],
                        "from": before,
                        "to": after,
                        "change_pct": round(float((after - before) / before * 100), 1),
                        "tx_id": rows[i]["tx_id"],
                    }
                )
    return changes


def _is_bill(category: str | None) -> bool:
    return category is not None and category.split("/")[0] in BILL_CATEGORIES


def detect_recurring(con: Any, as_of: dt.date | None = None) -> RecurringReport:
    """Find recurring series in the store (transfers between own accounts excluded)."""
    # Merchants seen more often than weekly over their span are habits (coffee, groceries),
    # not one payment series: they are left out before anything is loaded.
    rows = con.execute(
        """
        WITH g AS (
            SELECT account_id, amount > 0 AS inflow, lower(coalesce(merchant, payee_raw, '')) AS m,
                   count(*) AS n, max(posted_date) - min(posted_date) AS span
            FROM transactions WHERE NOT is_transfer GROUP BY ALL
        )
        SELECT t.tx_id, a.name AS account, t.account_id, t.posted_date, t.amount, t.currency, t.merchant,
               t.payee_raw, t.category
        FROM transactions t JOIN accounts a USING (account_id)
        JOIN g ON g.account_id = t.account_id AND g.inflow = (t.amount > 0)
              AND g.m = lower(coalesce(t.merchant, t.payee_raw, ''))
        WHERE NOT t.is_transfer AND g.n <= 1.5 * g.span / 7 + 5
        ORDER BY t.posted_date, t.tx_id
        """
    ).fetchall()
    keys = ["tx_id", "account", "account_id", "posted_date", "amount", "currency", "merchant", "payee_raw", "category"]
    txs = [dict(zip(keys, r, strict=True)) for r in rows]
    if as_of is None:
        as_of = con.execute("SELECT max(posted_date) FROM transactions").fetchone()[0] or dt.date.today()
    groups: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    for t in txs:
        direction = "in" if t["amount"] > 0 else "out"
        groups.setdefault((t["account_id"], direction, _key(t["merchant"], t["payee_raw"])), []).append(t)
    groups = _merge_spellings(groups)
    found: list[RecurringSeries] = []
    for (_, direction, _), members in groups.items():
        seasonal = _main_category(members) in SEASONAL
        for cluster in _clusters(members, tolerance=0.7 if seasonal else 0.2):
            series = _as_series(sorted(cluster, key=lambda r: (r["posted_date"], r["tx_id"])), direction, as_of)
            if series:
                found.append(series)
    found.sort(key=lambda s: (-float(s.monthly_equivalent), s.merchant))
    for i, s in enumerate(found, start=1):
        s.series_id = f"R{i:03d}"
    commitment: dict[str, Decimal] = {}
    income: dict[str, Decimal] = {}
    for s in found:
        if s.status != "active":
            continue
        target = commitment if s.direction == "out" else income
        target[s.currency] = target.get(s.currency, Decimal("0")) + s.monthly_equivalent
    return RecurringReport(as_of, found, commitment, income)


def _merge_spellings(groups: dict[tuple[int, str, str], list[dict[str, Any]]]) -> dict:
    """Roots of one payee spelled two ways: same account, direction, category, day of month."""
    keys = sorted(groups, key=lambda k: -len(groups[k]))
    merged: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
    for k in keys:
        members = groups[k]
        cats = {m["category"] for m in members if m["category"]}
        day = statistics.median(m["posted_date"].day for m in members)
        target = None
        for mk, mm in merged.items():
            if mk[0] != k[0] or mk[1] != k[1] or len(cats) != 1:
                continue
            mcats = {m["category"] for m in mm if m["category"]}
            mday = statistics.median(m["posted_date"].day for m in mm)
            amount = statistics.median(abs(float(m["amount"])) for m in members)
            mamount = statistics.median(abs(float(m["amount"])) for m in mm)
            close = abs(amount - mamount) / max(amount, mamount) <= 0.3 or next(iter(cats)).split("/")[0] in SEASONAL
            if mcats == cats and abs(mday - day) <= 2 and close:
                target = mk
                break
        if target:
            merged[target] = merged[target] + members
        else:
            merged[k] = list(members)
    return merged


def _as_series(rows: list[dict[str, Any]], direction: str, as_of: dt.date) -> RecurringSeries | None:
    dates = [r["posted_date"] for r in rows]
    cadence, share = _cadence(dates)
    if cadence is None or len(rows) < MIN_OCCURRENCES.get(cadence, 3) or share < REGULARITY:
        return None
    amounts = [abs(float(r["amount"])) for r in rows]
    mean = statistics.mean(amounts)
    cv = statistics.pstdev(amounts) / mean if mean else 0.0
    # The most used category (a named one before none); a tie goes to the latest, never to
    # the set's hash order (which changes from process to process).
    cats = [r["category"] for r in rows]
    category = max({c: (c is not None, cats.count(c), i) for i, c in enumerate(cats)}.items(), key=lambda kv: kv[1])[0]
    # How much the amount may vary: bills and income more than habits; yearly charges
    # with few occurrences must be near-identical (a membership), or they are chance.
    if cadence == "yearly":
        limit = 0.1 if _is_bill(category) else 0.02
    else:
        limit = 0.5 if _is_bill(category) else 0.15
    if cadence == "yearly" and len(rows) == 2 and cv > 0.001:
        return None  # two yearly charges prove a series only when they are identical (a renewal)
    changes = _price_changes(rows)
    stepwise = len(rows) >= 4 and 0 < len(changes) <= max(1, len(rows) // 6)
    if cv > limit and not stepwise:
        return None
    last = rows[-1]
    recent = [abs(r["amount"]) for r in rows[-3:]]
    typical = sorted(recent)[len(recent) // 2]
    nxt = _next_date(last["posted_date"], cadence)
    overdue = (as_of - last["posted_date"]).days > CADENCES[cadence][2] * 1.5
    first_amounts, last_amounts = amounts[: max(1, len(amounts) // 3)], amounts[-max(1, len(amounts) // 3) :]
    drift = "stable"
    if cv > 0.05:
        a, b = statistics.mean(first_amounts), statistics.mean(last_amounts)
        drift = "increasing" if b > a * 1.05 else "decreasing" if b < a * 0.95 else "varies"
    sign = Decimal("-1") if direction == "out" else Decimal("1")
    merchants = [r["merchant"] or r["payee_raw"] for r in rows]
    return RecurringSeries(
        series_id="",
        # The most used name; a tie goes to the latest (never to the set's hash order).
        merchant=max({m: (merchants.count(m), i) for i, m in enumerate(merchants)}.items(), key=lambda kv: kv[1])[0],
        account=last["account"],
        currency=last["currency"],
        category=category,
        cadence=cadence,
        direction=direction,
        typical_amount=sign * typical,
        last_amount=last["amount"],
        occurrences=len(rows),
        first_date=rows[0]["posted_date"],
        last_date=last["posted_date"],
        next_expected_date=None if overdue else nxt,
        next_expected_amount=None if overdue else sign * typical,
        status="stopped" if overdue else "active",
        monthly_equivalent=(typical * Decimal(str(MONTHLY_FACTOR[cadence]))).quantize(Decimal("0.01")),
        price_changes=changes,
        amount_drift=drift,
        tx_ids=[r["tx_id"] for r in rows],
        dates=[r["posted_date"] for r in rows],
        amounts=[float(r["amount"]) for r in rows],
    )
