"""The weekly report: the week against a typical week, top insights, anomalies, upcoming
recurring charges, budget versus actual, goal progress and the month's cash-flow forecast,
with the alerts a monitoring job can fail on. One dict, rendered as JSON, Markdown or
HTML (with inline SVG charts) by `output`."""

from __future__ import annotations

import datetime as dt
import re
import statistics
from typing import Any

from finanalytics_cli.engine.errors import AnalyticsError, InsufficientData, InvalidInput

TYPICAL_WEEKS = 12
WEEK_RE = re.compile(r"^([0-9]{4})-W([0-9]{2})$")  # ASCII digits only (int() reads others too)
IMPACT_RANK = {"low": 1, "medium": 2, "high": 3}


def parse_week(text: str) -> dt.date:
    """'2026-W43' -> the Monday of that ISO week."""
    m = WEEK_RE.match(text or "")
    if not m:
        raise InvalidInput(f"--week must look like 2026-W43 (an ISO week), not {text!r}")
    try:
        return dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise InvalidInput(f"{text} is not a week of that year") from None


def _weekly_spending(con: Any, currency: str, start: dt.date, weeks: int) -> dict[dt.date, dict[str, float]]:
    rows = con.execute(
        """
        SELECT CAST(date_trunc('week', posted_date) AS DATE), split_part(coalesce(category, 'Uncategorized'), '/', 1),
               -sum(amount)
        FROM transactions t
        WHERE amount < 0 AND NOT is_transfer AND currency = ? AND posted_date >= ? AND posted_date < ?
          AND coalesce((SELECT kind FROM categories c WHERE c.name = split_part(coalesce(t.category,
              'Uncategorized'), '/', 1)), 'expense') = 'expense'
        GROUP BY ALL
        """,
        [currency, start - dt.timedelta(days=7 * weeks), start + dt.timedelta(days=7)],
    ).fetchall()
    out: dict[dt.date, dict[str, float]] = {start - dt.timedelta(days=7 * k): {} for k in range(weeks + 1)}
    for w, cat, v in rows:
        if w in out:
            out[w][cat] = float(v)
    return out


def _spending(weekly: dict[dt.date, dict[str, float]], start: dt.date, first: dt.date) -> dict[str, Any]:
    """One currency's week against its typical week (the median of the weeks before)."""
    this = weekly[start]
    history = [weekly[w] for w in sorted(weekly) if w < start and w >= first - dt.timedelta(days=first.weekday())]
    categories = sorted({c for w in [this, *history] for c in w})
    by_category = []
    for c in categories:
        past = [w.get(c, 0.0) for w in history]
        typical = statistics.median(past) if past else 0.0
        if not this.get(c) and not typical:
            continue  # neither this week nor usually
        by_category.append(
            {
                "category": c,
                "this_week": round(this.get(c, 0.0), 2),
                "typical_week": round(typical, 2),
                "difference": round(this.get(c, 0.0) - typical, 2),
            }
        )
    by_category.sort(key=lambda r: -max(r["this_week"], r["typical_week"]))
    total = sum(this.values())
    typical_total = statistics.median([sum(w.values()) for w in history]) if history else 0.0
    trend = [
        {"week": f"{w.isocalendar()[0]}-W{w.isocalendar()[1]:02d}", "total": round(sum(v.values()), 2)}
        for w, v in sorted(weekly.items())
        if w >= first - dt.timedelta(days=first.weekday())
    ]
    return {
        "total": round(total, 2),
        "typical_week": round(typical_total, 2),
        "difference_pct": round((total - typical_total) / typical_total * 100, 1) if typical_total else None,
        "weeks_compared": len(history),
        "by_category": by_category,
        "weekly_totals": trend,
    }


def weekly_report(store: Any, week: str | None = None) -> dict[str, Any]:
    """The report of one ISO week (default: the latest complete week of the data). Its
    spending, anomalies, alerts, budget and upcoming charges are about that week, in every
    currency; insights, goals and the forecast are as of the end of the data."""
    from finanalytics_cli.engine.household import main_currency

    con = store.con
    first, last = con.execute("SELECT min(posted_date), max(posted_date) FROM transactions").fetchone()
    if last is None:
        raise InsufficientData("the store holds no transactions yet; import a bank export first")
    if week:
        start = parse_week(week)
        if start > last:
            raise InsufficientData(f"the data ends on {last}, before {week}")
    else:  # the latest complete week of the data
        start = last - dt.timedelta(days=last.weekday())
        if start + dt.timedelta(days=6) > last:
            start -= dt.timedelta(days=7)
    end = start + dt.timedelta(days=6)
    if end < first:
        raise InsufficientData(f"the data starts on {first}, after that week")
    iso = start.isocalendar()
    main = main_currency(con)
    window = [start - dt.timedelta(days=7 * TYPICAL_WEEKS), start + dt.timedelta(days=7)]
    seen = [
        c
        for (c,) in con.execute(
            "SELECT currency FROM transactions WHERE posted_date >= ? AND posted_date < ? "
            "GROUP BY currency ORDER BY count(*) DESC, currency",
            window,
        ).fetchall()
    ]
    currencies = [main] + [c for c in seen if c != main]
    # Each currency's typical week from its own first week (an account opened later has no
    # zero weeks before it).
    since = dict(con.execute("SELECT currency, min(posted_date) FROM transactions GROUP BY ALL").fetchall())
    by_currency = {
        c: _spending(_weekly_spending(con, c, start, TYPICAL_WEEKS), start, since.get(c, first)) for c in currencies
    }
    sections: dict[str, Any] = {
        "week": f"{iso[0]}-W{iso[1]:02d}",
        "from": start,
        "to": end,
        "data_until": last,
        "currency": main,
        "currencies": currencies,
        "spending": by_currency[main],
        "spending_by_currency": by_currency,
        "notes": [],
    }
    recurring = _section(sections, "recurring", lambda: _recurring(con))
    sections["insights"] = _section(sections, "insights", lambda: _insights(store))
    sections["anomalies"] = _section(sections, "anomalies", lambda: _anomalies(store, start, end, recurring))
    sections["upcoming_recurring"] = _upcoming(recurring, end) if recurring is not None else None
    sections["budget"] = _section(sections, "budget", lambda: _budget(con, end))
    sections["goals"] = _section(sections, "goals", lambda: _goals(store))
    sections["cash_flow_forecast"] = _section(sections, "forecast", lambda: _forecast(store, end))
    sections["alerts"] = _alerts(con, sections, recurring, start, end)
    return sections


def _alerts(con: Any, report: dict[str, Any], recurring: Any, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """What happened in the report's week and needs attention: its anomalies, a recurring
    price change in the week it took effect (once, not every week after), a budget that
    went over during the week, an account below zero at any time in it. Standing conditions
    of the whole history (a trend, a thin emergency fund) are insights, not alerts: a
    weekly job failing on them would fail every week."""
    from finanalytics_cli.engine.insights import _impact

    def when(d: dt.date) -> bool:
        return start <= d <= end

    alerts: list[dict[str, Any]] = [
        {
            "impact": "high" if a["score"] >= 0.8 else "medium",
            "source": "anomaly",
            "date": a["date"],
            "title": a["reason"],
        }
        for a in report["anomalies"] or []
    ]
    for s in recurring.series if recurring is not None else []:
        for ch in s.price_changes:
            if s.direction == "out" and ch["to"] > ch["from"] and when(ch["date"]):
                yearly = float(ch["to"] - ch["from"]) * float(s.monthly_equivalent / abs(s.typical_amount)) * 12
                income = float(recurring.monthly_income.get(s.currency) or 0) * 12
                alerts.append(
                    {
                        # What it costs a year against the year's income in that currency (fixed
                        # amounts mean nothing across currencies); without income, the amount.
                        "impact": _share_impact(yearly / income) if income > 0 else _impact(yearly, None),
                        "source": "price change",
                        "date": ch["date"],
                        "title": f"{s.merchant} raised its price from {ch['from']:,.2f} to {ch['to']:,.2f} "
                        f"{s.currency} ({ch['change_pct']:+.1f}%)",
                    }
                )
    # A budget line that went over during the week: for each month the week touches, over at
    # the week's last day in that month and not yet over the day before the week's first.
    months = sorted({start.replace(day=1), end.replace(day=1)})
    for month in months if report.get("budget") is not None else []:
        month_end = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        now = _budget_of(con, month, min(end, month_end))
        first = max(start, month)
        before = _budget_of(con, month, first - dt.timedelta(days=1)) if first > month else None
        was_over = {(x["category"], x["currency"]) for x in (before or {}).get("lines", []) if x["status"] == "over"}
        for x in (now or {}).get("lines", []):
            if x["status"] == "over" and (x["category"], x["currency"]) not in was_over:
                alerts.append(
                    {
                        "impact": "medium",
                        "source": "budget",
                        "date": min(end, month_end),
                        "title": f"{x['category']} went over its {month:%B} budget: {x['spent']:,.2f} of "
                        f"{x['budget']:,.2f} {x['currency']}",
                    }
                )
    # The bank's own running balance: below zero at any time in the week, the balance carried
    # into it included (an account still overdrawn is still an alert).
    for name, cur, day, low in con.execute(
        """
        WITH last_day AS (
            SELECT account_id, max(posted_date) AS d FROM transactions WHERE posted_date < ? GROUP BY ALL
        ), carried AS (
            -- The balance after the last day before the week: of that day's rows, the one no
            -- other row of the day follows (its balance less its amount is no other's
            -- balance), whatever order the file listed them in (many are newest first).
            SELECT t.account_id, CAST(? AS DATE) AS posted_date, min(t.balance) AS balance
            FROM transactions t JOIN last_day l ON t.account_id = l.account_id AND t.posted_date = l.d
            WHERE t.balance IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM transactions n
                WHERE n.account_id = t.account_id AND n.posted_date = t.posted_date AND n.tx_id <> t.tx_id
                  AND n.balance IS NOT NULL AND n.balance - n.amount = t.balance)
            GROUP BY ALL
        ), seen AS (  -- the carried balance held on the week's first day unless a row that day moved it
            SELECT account_id, posted_date, balance FROM carried c
            WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.account_id = c.account_id
                              AND t.posted_date = ? AND t.balance IS NOT NULL)
            UNION ALL
            SELECT account_id, posted_date, balance FROM transactions
            WHERE posted_date BETWEEN ? AND ? AND balance IS NOT NULL
        )
        SELECT a.name, a.currency, min(s.posted_date), min(s.balance)
        FROM seen s JOIN accounts a USING (account_id)
        WHERE a.account_type IN ('checking', 'savings') AND s.balance < 0
        GROUP BY ALL ORDER BY 1
        """,
        [start, start, start, start, end],
    ).fetchall():
        alerts.append(
            {
                "impact": "high",
                "source": "balance",
                "date": day,
                "title": f"{name} is below zero ({float(low):,.2f} {cur}): overdraft fees are likely",
            }
        )
    return sorted(alerts, key=lambda a: (-IMPACT_RANK[a["impact"]], a["date"]))


def _share_impact(share: float) -> str:
    return "high" if share >= 0.05 else "medium" if share >= 0.01 else "low"


def _section(report: dict[str, Any], name: str, build: Any) -> Any:
    """A section that cannot be made (too little data, no model) says why instead."""
    try:
        return build()
    except AnalyticsError as err:
        report["notes"].append(f"{name}: {err.message}")
        return None


def _insights(store: Any) -> list[dict[str, Any]]:
    from finanalytics_cli.engine.insights import list_insights, refresh_insights

    if not store.readonly:
        refresh_insights(store)
    return [
        {
            "type": i["type"],
            "impact": i["impact"],
            "title": i["title"],
            "description": i["description"],
            "recommendations": [r.get("text") for r in i["recommendations"]][:2],
        }
        for i in list_insights(store.con, limit=5)
    ]


def _anomalies(store: Any, start: dt.date, end: dt.date, recurring: Any) -> list[dict[str, Any]]:
    from finanalytics_cli.engine.anomalies import detect_anomalies

    report = detect_anomalies(store, since=start, until=end, recurring=recurring)
    return [
        {
            "date": f.date,
            "payee": f.payee,
            "amount": float(f.amount),
            "currency": f.currency,
            "kind": f.kind,
            "reason": f.reason,
            "score": round(float(f.score), 3),
        }
        for f in report.findings
        if start <= f.date <= end
    ]


def _recurring(con: Any) -> Any:
    from finanalytics_cli.engine.recurring import detect_recurring

    return detect_recurring(con)


def _upcoming(recurring: Any, end: dt.date, days: int = 14) -> list[dict[str, Any]]:
    """The recurring charges due in the two weeks after the report's week: the charges the
    data holds for those days (a report of a past week), else the next expected one."""
    out = []
    for s in recurring.series:
        if s.direction != "out":
            continue
        until = end + dt.timedelta(days=days)
        due = [(d, abs(a)) for d, a in zip(s.dates, s.amounts, strict=False) if end < d <= until]
        if not due and s.status == "active" and s.next_expected_date and s.dates and s.dates[-1] <= end:
            if end < s.next_expected_date <= end + dt.timedelta(days=days):
                due = [(s.next_expected_date, abs(float(s.next_expected_amount or s.typical_amount)))]
        out += [
            {"date": d, "merchant": s.merchant, "amount": float(a), "currency": s.currency, "cadence": s.cadence}
            for d, a in due
        ]
    return sorted(out, key=lambda r: (r["date"], r["merchant"]))


def _budget_of(con: Any, month: dt.date, day: dt.date) -> dict[str, Any] | None:
    from finanalytics_cli.engine.budget import budget_vs_actual

    try:
        return budget_vs_actual(con, month, until=day)
    except InvalidInput:
        return None


def _budget(con: Any, day: dt.date) -> dict[str, Any] | None:
    """The budget of the month of ``day``, as it stood at the end of that day."""
    from finanalytics_cli.engine.budget import budget_vs_actual

    try:
        return budget_vs_actual(con, day.replace(day=1), until=day)
    except InvalidInput:
        return None  # no accepted budget: not an error


def _goals(store: Any) -> list[dict[str, Any]]:
    from finanalytics_cli.engine.goals import fix_sentence, goal_progress

    return [
        {
            "name": p.name,
            "currency": p.currency,
            "target": p.target,
            "funded": p.funded,
            "by": p.target_date,
            "probability": p.probability,
            "advice": fix_sentence(p) or "On track.",
        }
        for p in goal_progress(store)
    ]


def _forecast(store: Any, end: dt.date) -> dict[str, Any]:
    from finanalytics_cli.engine.forecast import predict

    p = predict(store, horizon=3)
    months = {}
    for cur, pts in p.cash_flow.items():
        months[cur] = [
            {
                "month": pt.date,
                "net": round(pt.value, 2),
                "low_80": pt.lo80,
                "high_80": pt.hi80,
                "low_95": pt.lo95,
                "high_95": pt.hi95,
            }
            for pt in pts
        ]
    history: dict[str, list[dict[str, Any]]] = {}
    since = (p.generated_from.replace(day=1) - dt.timedelta(days=160)).replace(day=1)
    for cur, m, v in store.con.execute(
        "SELECT currency, CAST(date_trunc('month', posted_date) AS DATE) AS m, sum(amount) FROM transactions "
        "WHERE NOT is_transfer AND posted_date >= ? AND posted_date < ? + INTERVAL 1 MONTH GROUP BY ALL ORDER BY m",
        [since, p.generated_from],
    ).fetchall():
        history.setdefault(cur, []).append({"month": m, "net": round(float(v), 2)})
    return {"history_until": p.generated_from, "by_currency": months, "history": history}
