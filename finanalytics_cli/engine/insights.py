"""The Insight Generator: what the analyses mean for the person, with recommendations.

The design's six types: spending_pattern, budget_optimization, risk_alert, goal_progress,
anomaly_detection and prediction (budget and goal insights appear once budgets or goals
exist). Each insight is stored in ``financial_insights`` with a fingerprint of its facts:
a dismissed insight does not come back until its facts change. Insights are regenerated
only when the data changed since the last run; otherwise the stored ones are served.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput

TYPES = ("spending_pattern", "budget_optimization", "risk_alert", "goal_progress", "anomaly_detection", "prediction")
IMPACT_RANK = {"high": 3, "medium": 2, "low": 1}
VALID_DAYS = 30
RECENT_ANOMALY_DAYS = 90


@dataclass
class Recommendation:
    type: str
    text: str
    expected_impact: float  # money per month
    difficulty: str  # easy | medium | hard
    timeframe: str
    actions: list[str] = field(default_factory=list)


@dataclass
class Insight:
    insight_type: str
    title: str
    description: str
    impact: str
    confidence: float
    actionable: bool
    recommendations: list[Recommendation]
    metadata: dict[str, Any]
    subject: str
    currency: str | None = None
    baseline_monthly: float | None = None

    def fingerprint(self) -> str:
        facts = json.dumps([self.insight_type, self.subject, self.metadata.get("facts")], sort_keys=True, default=str)
        return hashlib.sha256(facts.encode()).hexdigest()[:24]


def _state(con: Any) -> str:
    """What the insights depend on: transactions, labels, models, budgets and goals."""
    row = con.execute(
        """
        SELECT (SELECT count(*) FROM transactions), (SELECT max(tx_id) FROM transactions),
               (SELECT max(labeled_at) FROM transactions), (SELECT count(*) FROM deployments),
               (SELECT count(*) FROM budgets), (SELECT max(accepted_at) FROM budgets),
               (SELECT count(*) FROM goals), (SELECT max(goal_id) FROM goals),
               (SELECT count(*) FROM transactions WHERE category IS NOT NULL)
        """
    ).fetchone()
    return hashlib.sha256(json.dumps(row, default=str).encode()).hexdigest()


def refresh_insights(store: Any, force: bool = False) -> dict[str, Any]:
    """Regenerate insights when the data changed; returns what was done."""
    con = store.con
    state = _state(con)
    last = con.execute("SELECT value FROM app_state WHERE key = 'insights_state'").fetchone()
    if last and last[0] == state and not force:
        return {"regenerated": False}
    generated = generate_insights(store)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    valid_until = now + dt.timedelta(days=VALID_DAYS)
    fresh = {i.fingerprint() for i in generated}
    with store.transaction():
        # Insights whose facts no longer hold expire (dismissed ones stay as they are).
        existing = con.execute("SELECT insight_id, fingerprint, dismissed_at FROM financial_insights").fetchall()
        known = {fp: (iid, dismissed) for iid, fp, dismissed in existing}
        for iid, fp, dismissed in existing:
            if fp not in fresh and dismissed is None:
                con.execute(
                    "UPDATE financial_insights SET expires_at = ? WHERE insight_id = ? "
                    "AND (expires_at IS NULL OR expires_at > ?)",
                    [now, iid, now],
                )
        added = 0
        for ins in generated:
            fp = ins.fingerprint()
            if fp in known:
                iid, dismissed = known[fp]
                if dismissed is None:
                    con.execute(
                        "UPDATE financial_insights SET expires_at = ?, confidence = ? WHERE insight_id = ?",
                        [valid_until, ins.confidence, iid],
                    )
                continue
            con.execute(
                """
                INSERT INTO financial_insights (user_id, insight_type, title, description, impact, confidence,
                    actionable, recommendations, data, fingerprint, expires_at, subject, currency, expected_impact,
                    baseline_monthly)
                VALUES ('local', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    ins.insight_type,
                    ins.title,
                    ins.description,
                    ins.impact,
                    ins.confidence,
                    ins.actionable,
                    json.dumps([r.__dict__ for r in ins.recommendations], default=str),
                    json.dumps(ins.metadata, default=str),
                    fp,
                    valid_until,
                    ins.subject,
                    ins.currency,
                    sum(r.expected_impact for r in ins.recommendations),
                    ins.baseline_monthly,
                ],
            )
            added += 1
        con.execute("INSERT OR REPLACE INTO app_state (key, value) VALUES ('insights_state', ?)", [state])
    return {"regenerated": True, "added": added, "current": len(generated)}


def list_insights(con: Any, insight_type: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    if insight_type is not None and insight_type not in TYPES:
        raise InvalidInput(f"unknown insight type {insight_type!r}; valid: {', '.join(TYPES)}")
    if limit < 1:
        raise InvalidInput("--limit must be at least 1")
    where = "dismissed_at IS NULL AND (expires_at IS NULL OR expires_at > current_localtimestamp())"
    params: list[Any] = []
    if insight_type:
        where += " AND insight_type = ?"
        params.append(insight_type)
    rows = con.execute(
        f"""
        SELECT insight_id, insight_type, title, description, impact, confidence, actionable, recommendations, data,
               expires_at, created_at, accepted_at
        FROM financial_insights WHERE {where}
        ORDER BY CASE impact WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END * confidence DESC, insight_id
        LIMIT ?
        """,
        [*params, limit],
    ).fetchall()
    ids = [r[0] for r in rows]
    if ids:
        con.execute(
            "UPDATE financial_insights SET shown_count = coalesce(shown_count, 0) + 1 "
            "WHERE insight_id IN (SELECT unnest(?))",
            [ids],
        )
    return [
        {
            "id": r[0],
            "type": r[1],
            "title": r[2],
            "description": r[3],
            "impact": r[4],
            "confidence": round(float(r[5] or 0), 3),
            "actionable": r[6],
            "recommendations": json.loads(r[7] or "[]"),
            "metadata": json.loads(r[8] or "{}"),
            "valid_until": r[9],
            "created_at": r[10],
            "accepted_at": r[11],
        }
        for r in rows
    ]


def _get(con: Any, insight_id: int) -> tuple:
    row = con.execute(
        "SELECT insight_id, title, dismissed_at, accepted_at, subject, currency, baseline_monthly, "
        "expected_impact FROM financial_insights WHERE insight_id = ?",
        [insight_id],
    ).fetchone()
    if row is None:
        raise InvalidInput(f"there is no insight {insight_id} (see `finanalytics insights`)")
    return row


def dismiss_insight(con: Any, insight_id: int) -> dict[str, Any]:
    row = _get(con, insight_id)
    con.execute(
        "UPDATE financial_insights SET dismissed_at = coalesce(dismissed_at, current_timestamp) WHERE insight_id = ?",
        [insight_id],
    )
    return {"id": insight_id, "title": row[1], "dismissed": True}


def accept_insight(con: Any, insight_id: int) -> dict[str, Any]:
    row = _get(con, insight_id)
    con.execute(
        "UPDATE financial_insights SET accepted_at = coalesce(accepted_at, current_timestamp) WHERE insight_id = ?",
        [insight_id],
    )
    return {"id": insight_id, "title": row[1], "accepted": True}


def insight_stats(con: Any) -> dict[str, Any]:
    """The design's business metrics: shown, dismissed, accepted, and money saved since."""
    shown, dismissed, accepted, total = con.execute(
        "SELECT count(*) FILTER (WHERE shown_count > 0), count(*) FILTER (WHERE dismissed_at IS NOT NULL), "
        "count(*) FILTER (WHERE accepted_at IS NOT NULL), count(*) FROM financial_insights"
    ).fetchone()
    outcomes = []
    for iid, title, subject, cur, baseline, expected, accepted_at in con.execute(
        "SELECT insight_id, title, subject, currency, baseline_monthly, expected_impact, accepted_at "
        "FROM financial_insights WHERE accepted_at IS NOT NULL ORDER BY accepted_at"
    ).fetchall():
        actual = None
        if subject and subject.startswith("category:") and baseline is not None:
            cat = subject.split(":", 1)[1]
            row = con.execute(
                """
                SELECT -sum(amount), min(posted_date), max(posted_date) FROM transactions
                WHERE split_part(coalesce(category, ''), '/', 1) = ? AND currency = ? AND amount < 0
                  AND NOT is_transfer AND posted_date > CAST(? AS DATE)
                """,
                [cat, cur, accepted_at],
            ).fetchone()
            if row[0] is not None:
                months = max(1.0, ((row[2] - row[1]).days + 1) / 30.44)
                actual = round(baseline - float(row[0]) / months, 2)
        outcomes.append(
            {
                "id": iid,
                "title": title,
                "expected_saving_per_month": expected,
                "actual_saving_per_month": actual,
                "note": None if actual is not None else "no transactions since it was accepted yet",
            }
        )
    return {
        "generated": total,
        "shown": shown,
        "dismissed": dismissed,
        "accepted": accepted,
        "acceptance_rate": round(accepted / shown, 3) if shown else None,
        "accepted_outcomes": outcomes,
    }


# -- generation ---------------------------------------------------------------------------
def generate_insights(store: Any) -> list[Insight]:
    from finanalytics_cli.engine.errors import InsufficientData

    con = store.con
    out: list[Insight] = []
    try:
        from finanalytics_cli.engine.spending import analyze_spending

        analysis = analyze_spending(con, "month")
    except InsufficientData:
        analysis = None
    profile = update_profile(con)
    from finanalytics_cli.engine.recurring import detect_recurring

    recurring = detect_recurring(con)
    if analysis:
        out += _spending_insights(analysis)
        out += _prediction_insights(analysis)
    out += _anomaly_insights(store, recurring)
    out += _recurring_insights(recurring)
    out += _risk_insights(con, profile)
    out += _budget_insights(con)
    out += _goal_insights(store)
    return out


def update_profile(con: Any) -> dict[str, Any]:
    """Income, spending and saving patterns (``financial_profiles``) over the last 6 months."""
    row = con.execute(
        """
        WITH last AS (SELECT max(posted_date) AS d FROM transactions),
        main AS (SELECT currency FROM transactions GROUP BY currency ORDER BY count(*) DESC LIMIT 1),
        w AS (
            SELECT t.*, c.kind, c.is_essential FROM transactions t
            LEFT JOIN categories c ON c.name = split_part(coalesce(t.category, 'Uncategorized'), '/', 1)
            WHERE t.posted_date > (SELECT d FROM last) - INTERVAL 182 DAY AND NOT t.is_transfer
              AND t.currency = (SELECT currency FROM main)
        )
        SELECT (SELECT currency FROM main),
               coalesce(sum(amount) FILTER (WHERE amount > 0 AND kind = 'income'), 0) / 6,
               coalesce(-sum(amount) FILTER (WHERE amount < 0 AND coalesce(kind, 'expense') = 'expense'), 0) / 6,
               coalesce(-sum(amount) FILTER (WHERE amount < 0 AND is_essential), 0) / 6
        FROM w
        """
    ).fetchone()
    currency, income, expenses, essential = row[0] or "USD", float(row[1] or 0), float(row[2] or 0), float(row[3] or 0)
    from finanalytics_cli.engine.ledger import list_accounts

    liquid = sum(
        float(a["balance"])
        for a in list_accounts(con)
        if a["currency"] == currency and a["type"] in ("checking", "savings") and a["balance"] > 0
    )
    savings_rate = (income - expenses) / income if income else None
    months = liquid / essential if essential else None
    con.execute(
        """
        INSERT OR REPLACE INTO financial_profiles (user_id, monthly_income, monthly_expenses, currency, savings_rate,
            emergency_fund_months, updated_at)
        VALUES ('local', ?, ?, ?, ?, ?, current_timestamp)
        """,
        [round(income, 2), round(expenses, 2), currency, savings_rate, months],
    )
    return {
        "currency": currency,
        "monthly_income": income,
        "monthly_expenses": expenses,
        "essential_monthly": essential,
        "liquid": liquid,
        "savings_rate": savings_rate,
        "emergency_fund_months": months,
    }


def _impact(amount: float, income: float | None) -> str:
    share = amount / income if income else None
    if (share is not None and share >= 0.05) or amount >= 500:
        return "high"
    if (share is not None and share >= 0.01) or amount >= 100:
        return "medium"
    return "low"


def _spending_insights(a: Any) -> list[Insight]:
    out = []
    for s in a.categories:
        if s.trend in ("increasing", "decreasing") and s.category not in ("Uncategorized",):
            from finanalytics_cli.engine.taxonomy import ESSENTIAL

            monthly = abs(float(s.trend_slope_per_period))
            recs = []
            if s.trend == "increasing" and s.category not in ESSENTIAL:
                saving = max(0.0, float(s.next_period_prediction - s.average_per_period))
                recs.append(
                    Recommendation(
                        "reduce_spending",
                        f"Bring {s.category} back to its average of {s.average_per_period:,.2f} {s.currency} a month",
                        round(saving, 2),
                        "medium",
                        "next month",
                        [
                            f"review {s.category.lower()} transactions with `finanalytics tx list --category "
                            f"'{s.category}'`",
                            "set a monthly limit",
                        ],
                    )
                )
            out.append(
                Insight(
                    "spending_pattern",
                    f"{s.category} spending is {s.trend}",
                    f"{s.category} ({s.currency}) has been {s.trend} by about {monthly:,.2f} a month over "
                    f"{len(a.periods)} months ({s.trend_confidence:.0%} confidence from a slope test); it averages "
                    f"{s.average_per_period:,.2f} a month.",
                    _impact(monthly * 12 / 12 * len(a.periods), None),
                    round(s.trend_confidence, 3),
                    bool(recs),
                    recs,
                    {
                        "facts": [s.category, s.currency, s.trend],
                        "category": s.category,
                        "average_per_month": s.average_per_period,
                        "slope_per_month": s.trend_slope_per_period,
                    },
                    f"category:{s.category}",
                    s.currency,
                    float(s.average_per_period),
                )
            )
        if s.high_months:
            out.append(
                Insight(
                    "spending_pattern",
                    f"{s.category} runs high in {', '.join(s.high_months)}",
                    f"{s.category} ({s.currency}) is well above its monthly average in {', '.join(s.high_months)}, "
                    "year after year.",
                    "low",
                    0.8,
                    True,
                    [
                        Recommendation(
                            "plan_ahead",
                            f"Set money aside for {s.category.lower()} before {s.high_months[0]}",
                            0.0,
                            "easy",
                            "this year",
                        )
                    ],
                    {"facts": [s.category, s.currency, s.high_months], "category": s.category},
                    f"seasonal:{s.category}",
                    s.currency,
                )
            )
    return out


def _prediction_insights(a: Any) -> list[Insight]:
    by_cur: dict[str, tuple[float, float]] = {}
    for s in a.categories:
        nxt, avg = by_cur.get(s.currency, (0.0, 0.0))
        by_cur[s.currency] = (nxt + float(s.next_period_prediction), avg + float(s.average_per_period))
    out = []
    for cur, (nxt, avg) in by_cur.items():
        if not avg:
            continue
        diff = (nxt - avg) / avg
        out.append(
            Insight(
                "prediction",
                f"Next month's spending: about {nxt:,.0f} {cur}",
                f"Expected spending next month is {nxt:,.2f} {cur}, {diff:+.0%} against the monthly average of "
                f"{avg:,.2f} ({a.categories[0].prediction_method}).",
                "medium" if abs(diff) >= 0.1 else "low",
                0.6,
                abs(diff) >= 0.1,
                [
                    Recommendation(
                        "plan_ahead",
                        f"Keep {max(0.0, nxt - avg):,.0f} {cur} extra available",
                        0.0,
                        "easy",
                        "next month",
                    )
                ]
                if diff >= 0.1
                else [],
                {"facts": [cur, round(nxt, -1)], "next_month": round(nxt, 2), "average": round(avg, 2)},
                f"forecast:{cur}",
                cur,
            )
        )
    return out


def _anomaly_insights(store: Any, recurring: Any) -> list[Insight]:
    from finanalytics_cli.engine.anomalies import detect_anomalies

    con = store.con
    last = con.execute("SELECT max(posted_date) FROM transactions").fetchone()[0]
    if last is None:
        return []
    report = detect_anomalies(store, since=last - dt.timedelta(days=RECENT_ANOMALY_DAYS), recurring=recurring)
    out = []
    for f in report.findings:
        impact = "high" if f.score >= 0.85 else "medium"
        out.append(
            Insight(
                "anomaly_detection",
                f"{f.kind.replace('_', ' ').capitalize()}: {f.payee}",
                f.reason,
                impact,
                f.score,
                True,
                [
                    Recommendation(
                        "check_transaction",
                        "Check this charge with your bank or the merchant",
                        float(-f.amount) if f.kind == "duplicate_charge" else 0.0,
                        "easy",
                        "this week",
                        [f"finanalytics tx list --search '{f.payee[:20]}'"],
                    )
                ],
                {"facts": [f.tx_id, f.kind], "tx_id": f.tx_id, "date": f.date, "amount": f.amount, "kind": f.kind},
                f"tx:{f.tx_id}",
                f.currency,
            )
        )
    return out


def _recurring_insights(report: Any) -> list[Insight]:
    out = []
    subs = [
        s
        for s in report.series
        if s.status == "active" and s.direction == "out" and (s.category or "").startswith("Subscriptions")
    ]
    if subs:
        total = sum(float(s.monthly_equivalent) for s in subs)
        cur = subs[0].currency
        cheapest = min(subs, key=lambda s: s.monthly_equivalent)
        out.append(
            Insight(
                "spending_pattern",
                f"{len(subs)} subscriptions cost {total:,.2f} {cur} a month",
                "Active subscriptions: "
                + ", ".join(f"{s.merchant} ({-s.typical_amount:,.2f}/{s.cadence})" for s in subs),
                _impact(total, None),
                0.9,
                True,
                [
                    Recommendation(
                        "review_subscriptions",
                        f"Cancel one you no longer use, e.g. {cheapest.merchant}",
                        round(float(cheapest.monthly_equivalent), 2),
                        "easy",
                        "this month",
                        ["finanalytics recurring"],
                    )
                ],
                {"facts": sorted(s.merchant for s in subs), "monthly_total": round(total, 2)},
                "subscriptions",
                cur,
            )
        )
    for s in report.series:
        for ch in s.price_changes[-1:]:
            if s.direction == "out" and ch["to"] > ch["from"] and s.status == "active":
                extra = float(ch["to"] - ch["from"]) * float(s.monthly_equivalent / abs(s.typical_amount))
                out.append(
                    Insight(
                        "risk_alert",
                        f"{s.merchant} raised its price",
                        f"{s.merchant} went from {ch['from']} to "
                        f"{ch['to']} on {ch['date']} ({ch['change_pct']:+.1f}%).",
                        _impact(extra * 12, None),
                        0.85,
                        True,
                        [
                            Recommendation(
                                "negotiate_or_switch",
                                f"Compare alternatives to {s.merchant}",
                                round(extra, 2),
                                "medium",
                                "this month",
                            )
                        ],
                        {"facts": [s.merchant, str(ch["to"])], "series": s.series_id},
                        f"price:{s.merchant}",
                        s.currency,
                    )
                )
    return out


def _risk_insights(con: Any, profile: dict[str, Any]) -> list[Insight]:
    out = []
    months = profile.get("emergency_fund_months")
    cur = profile["currency"]
    if months is not None and months < 3:
        gap = (3 - months) * profile["essential_monthly"]
        out.append(
            Insight(
                "risk_alert",
                "Emergency fund below three months",
                f"Liquid savings cover {months:.1f} months of essential spending ({profile['essential_monthly']:,.2f} "
                f"{cur}/month); three to six months is the usual target.",
                "high" if months < 1 else "medium",
                0.8,
                True,
                [
                    Recommendation(
                        "build_emergency_fund",
                        f"Save {gap / 12:,.2f} {cur} a month for a year",
                        round(gap / 12, 2),
                        "medium",
                        "12 months",
                    )
                ],
                {"facts": [round(months, 1)], "months": round(months, 2)},
                "emergency_fund",
                cur,
            )
        )
    neg = con.execute(
        "SELECT count(*) FROM transactions WHERE balance < 0 AND posted_date > (SELECT max(posted_date) "
        "FROM transactions) - INTERVAL 90 DAY"
    ).fetchone()[0]
    if neg:
        out.append(
            Insight(
                "risk_alert",
                "The account went below zero",
                f"{neg} transaction(s) in the last 90 days left a balance below zero: overdraft fees are likely.",
                "high",
                0.9,
                True,
                [
                    Recommendation(
                        "keep_buffer",
                        "Keep a buffer in checking or set up a low-balance alert",
                        0.0,
                        "easy",
                        "this week",
                    )
                ],
                {"facts": [neg]},
                "negative_balance",
                cur,
            )
        )
    return out


def _budget_insights(con: Any) -> list[Insight]:
    """Budget versus actual for the latest data month: categories over their budget, or
    spending faster than the month allows."""
    from finanalytics_cli.engine.budget import budget_vs_actual

    try:
        report = budget_vs_actual(con)
    except InvalidInput:
        return []  # no accepted budget
    out = []
    for line in report["lines"]:
        if line["status"] == "on track":
            continue
        cat, cur, budget, spent = line["category"], line["currency"], line["budget"], line["spent"]
        over = spent - budget
        if line["status"] == "over":
            title = f"{cat} is over budget"
            text = f"{spent:,.2f} {cur} spent against a budget of {budget:,.2f} in {report['month']:%B %Y}."
            rec = f"Hold {cat.lower()} spending until next month"
        else:
            pace = budget * report["days_elapsed"] / report["days_in_month"]
            over = spent - pace
            title = f"{cat} is ahead of its budget's pace"
            text = (
                f"{spent:,.2f} {cur} of {budget:,.2f} spent after {report['days_elapsed']} of "
                f"{report['days_in_month']} days ({line['used_pct']:.0f}% of the budget)."
            )
            rec = f"Slow {cat.lower()} spending to stay within {budget:,.2f}"
        out.append(
            Insight(
                "budget_optimization",
                title,
                text,
                _impact(over, None),
                0.9,
                True,
                [Recommendation("reduce_spending", rec, round(over, 2), "medium", "this month")],
                {"facts": [cat, line["status"], str(report["month"])]},
                f"category:{cat}",
                cur,
                budget,
            )
        )
    return out


def _goal_insights(store: Any) -> list[Insight]:
    """Each goal's probability of being reached in time, with the change that fixes it."""
    from finanalytics_cli.engine.goals import fix_sentence, goal_progress

    if not store.con.execute("SELECT count(*) FROM goals").fetchone()[0]:
        return []
    out = []
    for p in goal_progress(store):
        on_track = p.probability >= 0.8
        recs = []
        if p.fix:
            recs.append(
                Recommendation(
                    "increase_saving",
                    fix_sentence(p),
                    p.fix["extra_per_month"],
                    "hard" if p.fix["extra_per_month"] > p.required_monthly else "medium",
                    f"until {p.target_date}",
                )
            )
        out.append(
            Insight(
                "goal_progress",
                f"Goal '{p.name}': {p.probability:.0%} likely by {p.target_date}",
                f"{p.funded:,.2f} of {p.target:,.2f} {p.currency} funded; {p.required_monthly:,.2f} a month is "
                f"needed for the remaining {p.months_left} months.",
                "low" if on_track else "medium" if p.probability >= 0.5 else "high",
                0.8,
                not on_track,
                recs,
                {"facts": [p.name, round(p.probability, 1)], "probability": p.probability},
                f"goal:{p.name}",
                p.currency,
            )
        )
    return out
