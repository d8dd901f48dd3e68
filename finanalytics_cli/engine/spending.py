"""Spending by category and period (the first analytics; grows in later issues)."""

from __future__ import annotations

import datetime as dt
import re
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


# -- the full analysis (`finanalytics spending`) -----------------------------------------
MIN_MONTHS = 2
TREND_CONFIDENCE = 0.9
NEXT_PERIOD_METHOD = "heuristic: mean of the last 3 periods, blended 50/50 with the same period last year"


@dataclass(frozen=True)
class PeriodRow:
    period: str  # the first day
    label: str  # 2024-03, 2023-Q4, 2024, 2024-W05
    category: str
    currency: str
    total: Decimal
    count: int
    share_of_income: float | None  # a fraction (0.25), as since schema 1
    share_of_income_pct: float | None  # the same as a percentage (25.0), like the changes
    change_vs_previous_pct: float | None  # None when this or the previous period is partial
    change_vs_last_year_pct: float | None
    top_merchants: list[str]
    partial: bool = False  # the data covers only part of the period (its totals are not comparable)


@dataclass(frozen=True)
class CategorySummary:
    category: str
    currency: str
    total: Decimal
    average_per_period: Decimal
    trend: str  # increasing | decreasing | stable
    trend_slope_per_period: Decimal
    trend_confidence: float
    high_months: list[str]
    next_period: str
    next_period_prediction: Decimal
    prediction_method: str


@dataclass(frozen=True)
class SpendingAnalysis:
    period: str
    date_from: dt.date
    date_to: dt.date
    periods: list[str]
    categories: list[CategorySummary]
    rows: list[PeriodRow]
    income: dict[str, Decimal]
    recommendations: list[dict[str, Any]]
    excluded_transfers: int


def _period_starts(start: dt.date, end: dt.date, period: str) -> list[dt.date]:
    def trunc(d: dt.date) -> dt.date:
        if period == "week":
            return d - dt.timedelta(days=d.weekday())
        if period == "month":
            return d.replace(day=1)
        if period == "quarter":
            return d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1)
        return d.replace(month=1, day=1)

    out, cur = [], trunc(start)
    while cur <= end:
        out.append(cur)
        if period == "week":
            cur += dt.timedelta(days=7)
        else:
            step = {"month": 1, "quarter": 3, "year": 12}[period]
            y, m = divmod(cur.month - 1 + step, 12)
            cur = dt.date(cur.year + y, m + 1, 1)
    return out


def _trend(values: list[float]) -> tuple[str, float, float]:
    """Slope test (least squares): direction, slope per period, confidence (1 - p)."""
    if len(values) < 3 or len(set(values)) == 1:
        return "stable", 0.0, 0.0
    slope, pvalue = _ols_slope_test(values)
    confidence = 1 - pvalue
    if confidence >= TREND_CONFIDENCE and abs(slope) * len(values) >= 0.05 * (sum(values) / len(values) or 1):
        return ("increasing" if slope > 0 else "decreasing"), slope, confidence
    return "stable", slope, confidence


def _ols_slope_test(values: list[float]) -> tuple[float, float]:
    """Least-squares slope over 0..n-1 and the two-sided p-value of its t statistic (what
    scipy.stats.linregress gives, without importing scipy.stats: 0.4 s per command)."""
    import math

    n = len(values)
    mx, my = (n - 1) / 2, sum(values) / n
    sxx = sum((i - mx) ** 2 for i in range(n))
    sxy = sum((i - mx) * (v - my) for i, v in enumerate(values))
    slope = sxy / sxx
    residual = sum((v - my - slope * (i - mx)) ** 2 for i, v in enumerate(values))
    df = n - 2
    if residual <= 0:
        return slope, 0.0
    t = slope / math.sqrt(residual / df / sxx)
    return slope, _betainc(df / 2, 0.5, df / (df + t * t))


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (continued fraction, Lentz)."""
    import math

    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return front * h / a


def spending_categories(con: Any, names: list[str]) -> list[str]:
    """The top-level expense categories ``names`` mean, in the taxonomy's spelling (any
    case). A subcategory, an income or transfer category, or an unknown name is
    INVALID_INPUT saying why, with the valid names."""
    from finanalytics_cli.engine.categories import category_names, close_category_names

    rows = con.execute("SELECT name, parent, kind FROM categories").fetchall()
    info = {n.lower(): (n, parent, kind) for n, parent, kind in rows}
    valid = sorted(n for n, parent, kind in rows if parent is None and kind == "expense")
    out = []
    for typed in names:
        key = re.sub(r"\s*/\s*", "/", " ".join(typed.split())).lower()
        if key not in info:
            close = [c.split("/")[0] for c in close_category_names(typed, category_names(con))]
            close = [c for c in dict.fromkeys(close) if c in valid]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise InvalidInput(f"unknown category {typed.strip()!r}{hint}; valid: {', '.join(valid)}")
        name, parent, kind = info[key]
        if parent is not None:
            raise InvalidInput(f"{name} is a subcategory: spending is per top-level category, use {parent}")
        if kind != "expense":
            article = "an" if kind[0] in "aeiou" else "a"
            raise InvalidInput(
                f"{name} is {article} {kind} category: spending counts expense categories; valid: {', '.join(valid)}"
            )
        out.append(name)
    return out


def analyze_spending(
    con: Any,
    period: str = "month",
    categories: list[str] | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> SpendingAnalysis:
    """Per category and period: totals, shares, changes, merchants, trends, seasonality,
    next-period prediction and recommendations. Transfers are excluded."""
    if period not in PERIODS:
        raise InvalidInput(f"unknown period {period!r}; use one of {', '.join(PERIODS)}")
    first, last = con.execute("SELECT min(posted_date), max(posted_date) FROM transactions").fetchone()
    if first is None:
        raise InsufficientData("the store holds no transactions yet; import a bank export first")
    start, end = date_from or first, date_to or last
    if start > end:
        raise InvalidInput(f"--from {start} is after --to {end}")
    months = (end.year - start.year) * 12 + end.month - start.month + (1 if end.day >= start.day else 0)
    if months < MIN_MONTHS:
        raise InsufficientData(
            f"spending analysis needs at least {MIN_MONTHS} months of transactions; the data runs from {start} "
            f"to {end} ({max(months, 0)} month(s))",
            details={"from": str(start), "to": str(end)},
        )
    wanted = spending_categories(con, categories) if categories else None
    # Whole history feeds last year's comparison and seasonality; rows are reported in range.
    data = con.execute(
        f"""
        SELECT CAST(date_trunc('{period}', t.posted_date) AS DATE) AS p,
               split_part(coalesce(t.category, 'Uncategorized'), '/', 1) AS cat, t.currency,
               -sum(t.amount) AS total, count(*) AS n,
               list(coalesce(t.merchant, t.payee_raw) ORDER BY t.amount) AS merchants
        FROM transactions t
        WHERE NOT t.is_transfer AND t.amount < 0 AND {_KIND} = 'expense' AND t.posted_date <= ?
        GROUP BY ALL
        """,
        [end],
    ).fetchall()
    income_rows = con.execute(
        f"""
        SELECT CAST(date_trunc('{period}', posted_date) AS DATE) AS p, currency, sum(amount) FROM transactions t
        WHERE amount > 0 AND NOT is_transfer AND {_KIND} = 'income' GROUP BY ALL
        """
    ).fetchall()
    income = {(p, c): Decimal(v) for p, c, v in income_rows}
    starts = _period_starts(start, end, period)
    covered_to = min(end, last)
    partial = {s for s in starts if is_partial(s, period, first, covered_to)}
    labels = [s.isoformat() for s in starts]
    cells: dict[tuple[str, str], dict[dt.date, tuple[Decimal, int, list[str]]]] = {}
    for p, cat, cur, total, n, merchants in data:
        if wanted and cat not in wanted:
            continue
        counts: dict[str, int] = {}
        for m in merchants:
            counts[m] = counts.get(m, 0) + 1
        top = sorted(counts, key=lambda m: -counts[m])[:3]
        cells.setdefault((cat, cur), {})[p] = (Decimal(total), int(n), top)
    rows: list[PeriodRow] = []
    summaries: list[CategorySummary] = []
    for (cat, cur), by_p in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        series = []
        for s in starts:
            total, n, top = by_p.get(s, (Decimal("0"), 0, []))
            prev_s = _shift(s, period, -1)
            ly_s = _shift(s, period, -{"week": 52, "month": 12, "quarter": 4, "year": 1}[period])
            # A change is between whole periods only: a period the data covers in part (the
            # export starts or ends inside it) has a total that is not comparable.
            whole = s not in partial
            prev = ly = None
            if whole and not is_partial(prev_s, period, first, covered_to):
                prev = by_p.get(prev_s, (Decimal("0"), 0, []))[0]
            if whole and not is_partial(ly_s, period, first, covered_to):
                ly = by_p.get(ly_s, (Decimal("0"), 0, []))[0]
            inc = income.get((s, cur))
            rows.append(
                PeriodRow(
                    period=s.isoformat(),
                    label=period_label(s, period),
                    category=cat,
                    currency=cur,
                    total=total,
                    count=n,
                    share_of_income=round(float(total / inc), 4) if inc else None,
                    share_of_income_pct=round(float(total / inc) * 100, 2) if inc else None,
                    change_vs_previous_pct=_pct(total, prev),
                    change_vs_last_year_pct=_pct(total, ly),
                    top_merchants=top,
                    partial=not whole,
                )
            )
            if whole:  # trends, averages and the next period from whole periods only
                series.append(float(total))
        if not series:  # every period partial: the totals are all there is
            series = [float(by_p.get(s, (Decimal("0"), 0, []))[0]) for s in starts]
        direction, slope, conf = _trend(series)
        high = _high_months(by_p) if period == "month" else []
        nxt = _shift(starts[-1], period, 1)
        recent = series[-3:]
        ly_next = by_p.get(_shift(nxt, period, -{"week": 52, "month": 12, "quarter": 4, "year": 1}[period]))
        guess = sum(recent) / len(recent)
        if ly_next is not None:
            guess = 0.5 * guess + 0.5 * float(ly_next[0])
        total_all = sum((by_p.get(s, (Decimal("0"), 0, []))[0] for s in starts), Decimal("0"))
        whole_total = sum((Decimal(str(v)) for v in series), Decimal("0"))
        summaries.append(
            CategorySummary(
                cat,
                cur,
                total_all.quantize(Decimal("0.01")),
                (whole_total / len(series)).quantize(Decimal("0.01")),
                direction,
                Decimal(str(round(slope, 2))),
                round(conf, 3),
                high,
                nxt.isoformat(),
                Decimal(str(round(guess, 2))),
                NEXT_PERIOD_METHOD,
            )
        )
    recs = _recommendations(summaries, period)
    transfers = con.execute(
        "SELECT count(*) FROM transactions WHERE is_transfer AND posted_date BETWEEN ? AND ?", [start, end]
    ).fetchone()[0]
    inc_total: dict[str, Decimal] = {}
    for (p, cur), v in income.items():
        if start.replace(day=1) <= p <= end:
            inc_total[cur] = inc_total.get(cur, Decimal("0")) + v
    return SpendingAnalysis(period, start, end, labels, summaries, [r for r in rows], inc_total, recs, int(transfers))


def period_label(start: dt.date, period: str) -> str:
    """How a period is written: 2024-03, 2023-Q4, 2024, 2024-W05 (ISO week)."""
    if period == "month":
        return f"{start.year}-{start.month:02d}"
    if period == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if period == "year":
        return str(start.year)
    year, week, _ = start.isocalendar()
    return f"{year}-W{week:02d}"


def is_partial(start: dt.date, period: str, first: dt.date, last: dt.date) -> bool:
    """Whether the data (from ``first`` to ``last``) misses more than a day and 5% of the
    period that starts at ``start``: an export that starts on the 3rd covers its month;
    one that starts on the 10th, or a quarter of which it has one month, does not."""
    stop = _shift(start, period, 1) - dt.timedelta(days=1)
    days = (stop - start).days + 1
    missing = max(0, (first - start).days) + max(0, (stop - last).days)
    return missing > max(1, 0.05 * days)


def _shift(d: dt.date, period: str, n: int) -> dt.date:
    if period == "week":
        return d + dt.timedelta(days=7 * n)
    step = {"month": 1, "quarter": 3, "year": 12}[period] * n
    y, m = divmod(d.month - 1 + step, 12)
    return dt.date(d.year + y, m + 1, 1)


def _pct(now: Decimal, before: Decimal | None) -> float | None:
    if before is None or before == 0:
        return None
    return round(float((now - before) / before * 100), 1)


def _high_months(by_p: dict[dt.date, tuple[Decimal, int, list[str]]]) -> list[str]:
    """Calendar months that run at least 20% above the category's monthly average."""
    if len(by_p) < 12:
        return []
    per_month: dict[int, list[float]] = {}
    for p, (total, _, _) in by_p.items():
        per_month.setdefault(p.month, []).append(float(total))
    import statistics

    values = [v for vs in per_month.values() for v in vs]
    overall = statistics.mean(values)
    sd = statistics.pstdev(values)
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    high = []
    for m, vs in sorted(per_month.items()):
        if len(vs) < 2 or not overall or not sd:
            continue
        mean = statistics.mean(vs)
        # Well above average, and by more than chance allows for that many years of data.
        if mean >= 1.2 * overall and (mean - overall) / (sd / len(vs) ** 0.5) >= 2.5:
            high.append(names[m - 1])
    return high


def _recommendations(summaries: list[CategorySummary], period: str) -> list[dict[str, Any]]:
    from finanalytics_cli.engine.taxonomy import ESSENTIAL

    out = []
    for s in summaries:
        if s.trend == "increasing" and s.category not in ESSENTIAL and s.category != "Uncategorized":
            growth = s.trend_slope_per_period
            out.append(
                {
                    "category": s.category,
                    "currency": s.currency,
                    "type": "reduce_spending",
                    "text": f"{s.category} has been rising by about {growth:,.2f} {s.currency} per {period} "
                    f"({s.trend_confidence:.0%} confidence); capping it at its average "
                    f"({s.average_per_period:,.2f}) would save about "
                    f"{max(Decimal('0'), s.next_period_prediction - s.average_per_period):,.2f} next {period}.",
                    "expected_impact": max(Decimal("0"), s.next_period_prediction - s.average_per_period),
                    "difficulty": "medium",
                    "timeframe": f"next {period}",
                }
            )
        if s.high_months:
            out.append(
                {
                    "category": s.category,
                    "currency": s.currency,
                    "type": "plan_ahead",
                    "text": f"{s.category} runs high in {', '.join(s.high_months)}: set money aside beforehand.",
                    "expected_impact": Decimal("0"),
                    "difficulty": "easy",
                    "timeframe": "this year",
                }
            )
    return out
