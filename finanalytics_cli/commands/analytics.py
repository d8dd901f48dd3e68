"""`spending`, `anomalies`, `recurring` and `insights`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import typer

from finanalytics_cli.commands._common import open_store, parse_period
from finanalytics_cli.output import Result, emit, message, working

insights_app = typer.Typer(
    help=(
        "Insights with recommendations, ranked by impact and confidence."
        "\n\nExample: finanalytics insights --format json"
    ),
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    app.command("spending")(spending)
    app.command("anomalies")(anomalies)
    app.command("recurring")(recurring)
    app.add_typer(insights_app, name="insights")
    app.command("predict")(predict)


# In the summary table: the next period is the same date on every row; a recommendation
# names its category in its text.
_SPENDING_HIDDEN = (
    "categories.next_period",
    "categories.trend_confidence",
    "recommendations.category",
    "recommendations.type",
    "recommendations.expected_impact",
    "recommendations.difficulty",
    "recommendations.timeframe",
)
_SPENDING_SUMMARY = ("income", "categories", "recommendations")  # the title says the period and the window


def spending(
    period: Literal["week", "month", "quarter", "year"] = typer.Option(
        "month", "--period", help="week, month, quarter or year."
    ),
    categories: str = typer.Option(None, "--categories", help="Only these top-level categories, e.g. Dining,Travel."),
    date_from: str = typer.Option(None, "--from", help="From this date (YYYY-MM-DD)."),
    date_to: str = typer.Option(None, "--to", help="To this date (YYYY-MM-DD)."),
    chart: bool = typer.Option(False, "--chart", help="Draw the totals per category as bars."),
    dp: bool = typer.Option(False, "--dp", help="Release noisy counts, sums and means (differential privacy)."),
    epsilon: str = typer.Option("1.0", "--epsilon", help="With --dp: the epsilon this release spends."),
    bound: float = typer.Option(None, "--bound", help="With --dp: clamp each transaction to this amount."),
    currency: str = typer.Option(None, "--currency", help="With --dp: the currency released (default: the accounts')."),
    detail: bool = typer.Option(False, "--detail", help="The table shows every period row too (JSON always does)."),
) -> None:
    """Spending per category and period: totals, shares, changes, trends, seasonality, next period.

    The table shows the summary per category and the recommendations; --detail adds a row
    per period and category.

    With --dp, only counts, sums and means per period and category are released, through
    OpenDP, and the epsilon is charged to the privacy budget (`privacy status`).

    Example: finanalytics spending --period quarter --categories Dining,Groceries --chart
    """
    from finanalytics_cli.engine.spending import spending_categories

    cats = [c for c in categories.split(",") if c.strip()] if categories else None
    if dp:
        from finanalytics_cli.commands.privacy import dp_spending_release

        if cats:  # before the release: a misspelt name must not spend epsilon on nothing
            with open_store(readonly=True) as store:
                cats = spending_categories(store.con, cats)
        data, meta = dp_spending_release("spending", epsilon, bound, period, date_from, date_to, currency=currency)
        if cats:
            data["cells"] = [c for c in data["cells"] if c["category"] in cats]
        emit(
            Result(
                "spending", data, meta=meta, title=f"Spending per {period} (differentially private)", rows_key="cells"
            )
        )
        return
    from finanalytics_cli.engine.spending import analyze_spending

    start, end = parse_period(date_from, date_to)
    with open_store(readonly=True) as store:
        a = analyze_spending(store.con, period, cats, start, end)
    summary = [
        {
            "category": c.category,
            "currency": c.currency,
            "total": c.total,
            f"average_per_{period}": c.average_per_period,
            "trend": c.trend,
            "trend_confidence": c.trend_confidence,
            "high_months": c.high_months,
            "next_period": c.next_period,
            "next_period_prediction": c.next_period_prediction,
        }
        # The currency with the most spending first, each category by its total.
        for c in sorted(
            a.categories,
            key=lambda c: (-sum(x.total for x in a.categories if x.currency == c.currency), c.currency, -c.total),
        )
    ]
    data = {
        "period": a.period,
        "from": a.date_from,
        "to": a.date_to,
        "income": a.income,
        "transfers_excluded": a.excluded_transfers,
        "categories": summary,
        "recommendations": a.recommendations,
        "periods": a.rows,
    }
    meta = {"next_period_method": a.categories[0].prediction_method if a.categories else None}
    series: dict[tuple[str, str], list[float]] = {}
    for row in a.rows:  # each category's totals per period, oldest first, for its sparkline
        series.setdefault((row.category, row.currency), []).append(float(row.total))
    # One chart per currency: amounts in two currencies share no scale.
    charts = [
        (
            f"Spending per category ({cur}), {a.date_from} .. {a.date_to}",
            [
                (c.category, float(c.total), series.get((c.category, c.currency), []))
                for c in sorted(a.categories, key=lambda c: -c.total)
                if c.currency == cur
            ],
        )
        for cur in sorted(
            {c.currency for c in a.categories}, key=lambda k: -sum(c.total for c in a.categories if c.currency == k)
        )
    ]
    emit(
        Result(
            "spending",
            data,
            meta=meta,
            title=f"Spending per {period}, {a.date_from} .. {a.date_to} ({a.excluded_transfers} transfers excluded)",
            rows_key="periods",
            chart=charts if chart and charts else None,
            table_keys=None if detail else _SPENDING_SUMMARY,
            table_rows={} if detail else {"categories": _top_per_currency(summary, 10)},
            # The period's label (2024-03) and the share as a percentage are what a person reads.
            table_hide=("periods.period", "periods.share_of_income") if detail else _SPENDING_HIDDEN,
        )
    )


def _top_per_currency(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The ``n`` rows a summary shows: each currency's largest categories (rows come grouped
    by currency, largest first), at least 3 of every currency, the rest to the first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["currency"], []).append(r)
    quota = {c: min(3, len(g)) for c, g in groups.items()}
    spare = n - sum(quota.values())
    for c, g in groups.items():  # the main currency first
        extra = max(0, min(spare, len(g) - quota[c]))
        quota[c] += extra
        spare -= extra
    return [r for c, g in groups.items() for r in g[: quota[c]]]


def anomalies(
    date_from: str = typer.Option(None, "--from", "--since", help="Only findings from this date (YYYY-MM-DD)."),
    date_to: str = typer.Option(None, "--to", help="Only findings up to this date (YYYY-MM-DD), inclusive."),
) -> None:
    """Unusual transactions, each with a reason and a score.

    Example: finanalytics anomalies --from 2026-01-01
    """
    from finanalytics_cli.engine.anomalies import detect_anomalies

    since, until = parse_period(date_from, date_to)
    with open_store(readonly=True) as store:
        report = detect_anomalies(store, since=since, until=until)
    meta = {"model_id": report.model_id}
    if report.fallback:
        meta["fallback"] = report.fallback
        meta["notes"] = report.notes
    rows = [
        {
            "tx_id": f.tx_id,
            "date": f.date,
            "kind": f.kind,
            "score": f.score,
            "model_score": f.model_score,
            "amount": f.amount,
            "currency": f.currency,
            "account": f.account,
            "payee": f.payee,
            "reason": f.reason,
        }
        for f in report.findings
    ]
    emit(Result("anomalies", rows, meta=meta, title="Anomalies"))


def recurring() -> None:
    """Recurring payments and income: cadence, next date and amount, price changes, stopped series.

    Example: finanalytics recurring --format md
    """
    from finanalytics_cli.engine.recurring import detect_recurring

    with open_store(readonly=True) as store:
        report = detect_recurring(store.con)
    rows = [
        {
            "id": s.series_id,
            "merchant": s.merchant,
            "account": s.account,
            "cadence": s.cadence,
            "amount": s.typical_amount,
            "currency": s.currency,
            "category": s.category,
            "status": s.status,
            "next_date": s.next_expected_date,
            "next_amount": s.next_expected_amount,
            "occurrences": s.occurrences,
            "since": s.first_date,
            "last": s.last_date,
            "price_changes": [f"{c['date']}: {c['from']} -> {c['to']}" for c in s.price_changes],
            "amount_drift": s.amount_drift,
            "monthly_equivalent": s.monthly_equivalent,
        }
        for s in report.series
    ]
    data = {
        "as_of": report.as_of,
        "monthly_commitment": report.monthly_commitment,
        "monthly_recurring_income": report.monthly_income,
        "series": rows,
    }
    emit(
        Result(
            "recurring",
            data,
            title="Recurring",
            rows_key="series",
            columns=[
                "id",
                "merchant",
                "account",
                "cadence",
                "amount",
                "currency",
                "status",
                "next_date",
                "price_changes",
                "monthly_equivalent",
            ],
        )
    )


@insights_app.callback()
def insights(
    ctx: typer.Context,
    insight_type: str = typer.Option(
        None,
        "--type",
        help="spending_pattern, budget_optimization, risk_alert, goal_progress, anomaly_detection or prediction.",
    ),
    limit: int = typer.Option(10, "--limit", min=1, help="At most N insights."),
    refresh: bool = typer.Option(False, "--refresh", help="Recompute even if the data did not change."),
) -> None:
    """Insights ranked by impact and confidence (recomputed when the data changed).

    Also: `insights dismiss ID`, `insights accept ID`, `insights stats`.

    Example: finanalytics insights --type risk_alert
    """
    if ctx.invoked_subcommand is not None:
        return
    from finanalytics_cli.engine.insights import TYPES, list_insights, refresh_insights

    if insight_type is not None and insight_type not in TYPES:
        from finanalytics_cli.engine.errors import InvalidInput

        raise InvalidInput(f"unknown insight type {insight_type!r}; valid: {', '.join(TYPES)}")
    with open_store() as store, working("Looking for insights"):
        state = refresh_insights(store, force=refresh)
        rows = list_insights(store.con, insight_type, limit)
    for r in rows:  # the first recommendation, as a sentence the table can show beside the title
        r["recommendation"] = _first_recommendation(r.get("recommendations") or [])
    emit(
        Result(
            "insights",
            rows,
            meta={"regenerated": state["regenerated"]},
            title="Insights",
            columns=["id", "impact", "title", "recommendation", "description", "confidence"],
        )
    )


def _first_recommendation(recommendations: list[dict[str, object]]) -> str | None:
    """``text`` of the first recommendation, with its first command (`finanalytics ...`)."""
    if not recommendations:
        return None
    first = recommendations[0]
    actions = first.get("actions") or []
    text = str(first.get("text") or "")
    return f"{text}: {actions[0]}" if isinstance(actions, list) and actions else text


@insights_app.command("dismiss")
def dismiss(insight_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Hide an insight; it comes back only if its facts change.

    Example: finanalytics insights dismiss 12
    """
    from finanalytics_cli.engine.insights import dismiss_insight

    with open_store() as store:
        data = dismiss_insight(store.con, insight_id)
    emit(Result("insights dismiss", data))


@insights_app.command("accept")
def accept(insight_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Record that you acted on an insight's recommendation (`insights stats` follows it up).

    Example: finanalytics insights accept 4
    """
    from finanalytics_cli.engine.insights import accept_insight

    with open_store() as store:
        data = accept_insight(store.con, insight_id)
    message("Noted. `finanalytics insights stats` shows what it saved since.")
    emit(Result("insights accept", data))


@insights_app.command("stats")
def stats() -> None:
    """Insights shown, dismissed and accepted, and the money saved since against the expected impact.

    Example: finanalytics insights stats
    """
    from finanalytics_cli.engine.insights import insight_stats

    with open_store(readonly=True) as store:
        data = insight_stats(store.con)
    emit(Result("insights stats", data, rows_key="accepted_outcomes"))


def predict(
    horizon: int = typer.Option(3, "--horizon", help="How many months (or weeks) ahead, 1-24."),
    granularity: Literal["month", "week"] = typer.Option("month", "--granularity", help="month or week."),
    chart: bool = typer.Option(False, "--chart", help="Draw the cash-flow forecast as bars."),
    refresh: bool = typer.Option(False, "--refresh", help="Recompute even if the data did not change."),
    detail: bool = typer.Option(False, "--detail", help="The table shows every series and date (JSON always does)."),
) -> None:
    """Forecast expenses per category, income and cash flow with 80%/95% intervals, and balances.

    The table shows one line per series (the next period with its 80% range, and the
    horizon's total) and the account projections; --detail adds every date.

    Example: finanalytics predict --horizon 6 --chart
    """
    from finanalytics_cli.engine.forecast import predict as run

    with open_store() as store, working("Forecasting (a stored forecast serves until the data changes)"):
        p = run(store, horizon, granularity, use_stored=not refresh)

    def points(pts: list) -> list[dict]:
        return [
            {
                "date": x.date,
                "value": round(x.value, 2),
                "lower_80": round(x.lo80, 2),
                "upper_80": round(x.hi80, 2),
                "lower_95": round(x.lo95, 2),
                "upper_95": round(x.hi95, 2),
                "scheduled": round(x.scheduled, 2),
            }
            for x in pts
        ]

    data = {
        "granularity": p.granularity,
        "horizon": p.horizon,
        "history_until": p.generated_from,
        "confidence": p.confidence,
        "cash_flow_prediction": {cur: points(pts) for cur, pts in p.cash_flow.items()},
        "expense_predictions": [
            {"category": s.label, "currency": s.currency, "method": s.method, "points": points(s.points)}
            for s in p.expense
        ],
        "income_predictions": [
            {"currency": s.currency, "method": s.method, "points": points(s.points)} for s in p.income
        ],
        # A forecast served from the store has its balance back as text: money again.
        "account_projections": [
            {**a, "balance_now": Decimal(a["balance_now"]) if isinstance(a["balance_now"], str) else a["balance_now"]}
            for a in p.accounts
        ],
    }
    # One flat row per series and date, for csv output and spreadsheets.
    flat = [
        {"kind": kind, "series": label, "currency": cur, **pt}
        for kind, label, cur, pts in (
            [("expense", s.label, s.currency, points(s.points)) for s in p.expense]
            + [("income", "Income", s.currency, points(s.points)) for s in p.income]
            + [("cash_flow", "Cash flow", cur, points(pts)) for cur, pts in p.cash_flow.items()]
        )
        for pt in pts
    ]
    data["table"] = flat

    # One line per series: what the next period holds, and the horizon in total; the ten
    # largest expense categories, the rest as one line per currency (no interval: a sum of
    # bounds is no bound).
    def line(label: str, cur: str, series: list[list]) -> dict:
        first = [pts[0] for pts in series]
        one = len(series) == 1
        return {
            "series": label,
            "currency": cur,
            "next": first[0].date,
            "value": round(sum(x.value for x in first), 2),
            "lower_80": round(first[0].lo80, 2) if one else None,
            "upper_80": round(first[0].hi80, 2) if one else None,
            f"total_{len(series[0])}": round(sum(x.value for pts in series for x in pts), 2),
        }

    expenses = sorted((s for s in p.expense if s.points), key=lambda s: -s.points[0].value)
    summary = [line("Cash flow", cur, [pts]) for cur, pts in p.cash_flow.items() if pts]
    summary += [line("Income", s.currency, [s.points]) for s in sorted(p.income, key=lambda s: s.currency) if s.points]
    summary += [line(s.label, s.currency, [s.points]) for s in expenses[:8]]
    for cur in sorted({s.currency for s in expenses[8:]}):
        rest = [s.points for s in expenses[8:] if s.currency == cur]
        summary.append(line(f"Others ({len(rest)})", cur, rest))  # short: one line at 80 columns
    data["summary"] = summary
    meta = {"served_from_store": p.served_from_store}
    bars = []
    if chart:
        # One chart per currency (amounts in two currencies share no scale): the net cash
        # flow per period, then each expense category's first period as money out (negative,
        # left of the zero axis), with its path over the horizon as a sparkline.
        for cur in sorted(p.cash_flow, key=lambda c: -sum(abs(x.value) for x in p.cash_flow[c])):
            items: list[tuple] = [(str(x.date), x.value) for x in p.cash_flow[cur]]
            items += [
                (s.label, -s.points[0].value, [x.value for x in s.points])
                for s in sorted(
                    (s for s in p.expense if s.currency == cur and s.points), key=lambda s: -s.points[0].value
                )[:8]
            ]
            bars.append((f"Cash flow forecast ({cur}), then spending per category; 80% intervals in the table", items))
    summary_keys = ("granularity", "horizon", "history_until", "confidence", "summary", "account_projections")
    table_keys = None if detail else summary_keys
    emit(
        Result(
            "predict",
            data,
            meta=meta,
            title="Forecast",
            chart=bars or None,
            rows_key="table",
            table_keys=table_keys,
            table_hide=("method", "projection"),
        )
    )
