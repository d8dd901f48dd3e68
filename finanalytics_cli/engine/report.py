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


def weekly_report(store: Any, week: str | None = None) -> dict[str, Any]:
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
    cur = main_currency(con)
    weekly = _weekly_spending(con, cur, start, TYPICAL_WEEKS)
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
    ]
    sections: dict[str, Any] = {
        "week": f"{iso[0]}-W{iso[1]:02d}",
        "from": start,
        "to": end,
        "currency": cur,
        "spending": {
            "total": round(total, 2),
            "typical_week": round(typical_total, 2),
            "difference_pct": round((total - typical_total) / typical_total * 100, 1) if typical_total else None,
            "by_category": by_category,
            "weekly_totals": trend,
        },
        "notes": [],
    }
    sections["insights"] = _section(sections, "insights", lambda: _insights(store))
    sections["anomalies"] = _section(sections, "anomalies", lambda: _anomalies(store, start, end))
    sections["upcoming_recurring"] = _section(sections, "recurring", lambda: _upcoming(con, end))
    sections["budget"] = _section(sections, "budget", lambda: _budget(con, start))
    sections["goals"] = _section(sections, "goals", lambda: _goals(store))
    sections["cash_flow_forecast"] = _section(sections, "forecast", lambda: _forecast(store, end))
    alerts = [
        {"impact": i["impact"], "source": "insight", "title": i["title"]}
        for i in sections["insights"] or []
        if i["impact"] == "high"
    ]
    alerts += [
        {"impact": "high" if a["score"] >= 0.8 else "medium", "source": "anomaly", "title": a["reason"]}
        for a in sections["anomalies"] or []
    ]
    sections["alerts"] = sorted(alerts, key=lambda a: -IMPACT_RANK[a["impact"]])
    return sections


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


def _anomalies(store: Any, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    from finanalytics_cli.engine.anomalies import detect_anomalies

    report = detect_anomalies(store, since=start)
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


def _upcoming(con: Any, end: dt.date) -> list[dict[str, Any]]:
    from finanalytics_cli.engine.recurring import detect_recurring

    out = []
    for s in detect_recurring(con).series:
        if s.status == "active" and s.direction == "out" and s.next_expected_date:
            if end < s.next_expected_date <= end + dt.timedelta(days=14):
                out.append(
                    {
                        "date": s.next_expected_date,
                        "merchant": s.merchant,
                        "amount": abs(float(s.next_expected_amount or s.typical_amount)),
                        "currency": s.currency,
                        "cadence": s.cadence,
                    }
                )
    return sorted(out, key=lambda r: r["date"])


def _budget(con: Any, start: dt.date) -> dict[str, Any] | None:
    from finanalytics_cli.engine.budget import budget_vs_actual

    try:
        return budget_vs_actual(con, start.replace(day=1))
    except InvalidInput:
        return None  # no accepted budget: not an error


def _goals(store: Any) -> list[dict[str, Any]]:
    from finanalytics_cli.engine.goals import fix_sentence, goal_progress

    return [
        {
            "name": p.name,
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
