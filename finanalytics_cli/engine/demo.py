"""`finanalytics demo`: the sample household imported into a fresh store, and a tour."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.ingest import ImportOptions, import_sources, sources_from_paths
from finanalytics_cli.engine.ledger import list_accounts
from finanalytics_cli.engine.sample_household import EXPORT_ACCOUNTS, write_sample
from finanalytics_cli.engine.spending import spending_by_category


@dataclass(frozen=True)
class DemoTour:
    """What the demo shows; each later capability adds its section."""

    imports: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    spending_last_3_months: list[dict[str, Any]]
    top_merchants_last_90_days: list[dict[str, Any]]
    category_model: dict[str, Any]
    recurring: dict[str, Any]
    anomalies: list[dict[str, Any]]
    insights: list[dict[str, Any]]
    cash_flow_forecast: list[dict[str, Any]]
    next_month_expenses: list[dict[str, Any]]
    risk: dict[str, Any]
    checks: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


Step = Callable[[str, str], None]


def _quiet(kind: str, text: str) -> None:
    return None


def run_demo(store: Any, workdir: Path, on_step: Step = _quiet) -> DemoTour:
    """Write the sample exports under ``workdir``, import them, and summarize.
    ``on_step(kind, text)`` tells the tour as it goes: ("start", what begins) and
    ("done", what it found)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    on_step("start", "Writing the sample household's bank exports")
    files = write_sample(workdir)
    imports = []
    for rel, account in EXPORT_ACCOUNTS.items():
        on_step("start", f"Importing {Path(rel).name} into {account} (an encrypted store)")
        [r] = import_sources(store, sources_from_paths([str(files[rel])]), ImportOptions(account=account))
        on_step(
            "done",
            f"Imported {Path(rel).name} ({r.format}): {r.added:,} transactions into {account}"
            + (f", {r.transfers_matched} transfers between own accounts matched" if r.transfers_matched else ""),
        )
        imports.append(
            {
                "file": Path(rel).name,
                "account": account,
                "format": r.format,
                "read": r.read,
                "added": r.added,
                "rejected": r.rejected,
                "transfers_matched": r.transfers_matched,
            }
        )
    timings["import"] = round(time.perf_counter() - t0, 2)
    con = store.con
    # The household categorised its first two years by hand (the truth stands in for
    # that); the classifier learns from them and categorises the last year.
    t1 = time.perf_counter()
    on_step("start", f"Training the category model on the labels up to {LABELLED_UNTIL}, categorizing the year after")
    model_section = _train_and_categorize(store, workdir)
    timings["models"] = round(time.perf_counter() - t1, 2)
    on_step(
        "done",
        f"Categorized {model_section['categorised_last_year']:,} transactions of the last year: "
        f"{model_section['accuracy_against_truth']:.1%} right against the truth "
        f"(keyword rules alone: {model_section['keyword_baseline_accuracy']:.1%} on the holdout)",
    )
    t2 = time.perf_counter()
    on_step("start", "Finding recurring charges, anomalies and insights")
    recurring, anomalies, insights = _analytics(store)
    timings["analytics"] = round(time.perf_counter() - t2, 2)
    on_step(
        "done",
        f"Found {recurring['active']} active recurring series and {len(anomalies)} anomalies to check; "
        f"the top insight: {insights[0]['title'] if insights else 'none yet'}",
    )
    anomalies = anomalies[:6]
    t3 = time.perf_counter()
    on_step("start", "Forecasting the next three months (statsforecast, on this device)")
    cash_flow_forecast, next_month_expenses = _forecast(store)
    timings["forecast"] = round(time.perf_counter() - t3, 2)
    if cash_flow_forecast:
        first = cash_flow_forecast[0]["month"]
        nets = ", ".join(f"{r['net']:+,.2f} {r['currency']}" for r in cash_flow_forecast if r["month"] == first)
        on_step("done", f"Forecast net cash flow for {first}: {nets}")
    on_step("start", "Scoring the household's financial risk")
    risk = _risk(store)
    on_step("done", f"Risk score {risk['score']} ({risk['level']})")
    last = con.execute("SELECT max(posted_date) FROM transactions").fetchone()[0]
    months = 3
    y, m = divmod(last.year * 12 + last.month - 1 - (months - 1), 12)
    since = dt.date(y, m + 1, 1)  # the first day of the month two months before the last one
    summary = spending_by_category(con, "month", since=since)
    by_cat: dict[tuple[str, str], Decimal] = {}
    for row in summary.rows:
        key = (row.category, row.currency)
        by_cat[key] = by_cat.get(key, Decimal("0")) + row.total
    spending = [
        {"category": cat, "currency": cur, "total": total, "per_month": (total / months).quantize(Decimal("0.01"))}
        for (cat, cur), total in sorted(by_cat.items(), key=lambda kv: (kv[0][1], -kv[1]))
    ]
    top = con.execute(
        """
        SELECT coalesce(merchant, payee_raw) AS merchant, currency, count(*) AS transactions, -sum(amount) AS spent
        FROM transactions
        WHERE amount < 0 AND NOT is_transfer AND posted_date > ? - INTERVAL 90 DAY
        GROUP BY ALL ORDER BY spent DESC LIMIT 8
        """,
        [last],
    ).fetchall()
    truth = json.loads((workdir / "truth" / "summary.json").read_text())
    stored, transfer_rows = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE is_transfer) FROM transactions"
    ).fetchone()
    checks = {
        "transactions_imported": stored,
        "transactions_in_truth": truth["transactions"],
        "transfer_pairs_matched": transfer_rows // 2,
        "transfer_pairs_in_truth": truth["transfer_pairs"],
        "period": f"{truth['start']} .. {truth['end']}",
    }
    timings["total"] = round(time.perf_counter() - t0, 2)
    return DemoTour(
        imports=imports,
        accounts=[
            {k: a[k] for k in ("name", "type", "currency", "transactions", "balance")} for a in list_accounts(con)
        ],
        spending_last_3_months=spending,
        top_merchants_last_90_days=[
            {"merchant": m, "currency": c, "transactions": n, "spent": s} for m, c, n, s in top
        ],
        category_model=model_section,
        recurring=recurring,
        anomalies=anomalies,
        insights=insights,
        cash_flow_forecast=cash_flow_forecast,
        next_month_expenses=next_month_expenses,
        risk=risk,
        checks=checks,
        seconds=timings,
    )


LABELLED_UNTIL = dt.date(2025, 10, 31)


def _risk(store: Any) -> dict[str, Any]:
    """The risk score and the factors that weigh most in it."""
    from finanalytics_cli.engine.risk import assess_risk

    r = assess_risk(store)
    top = sorted(r.factors, key=lambda f: -f.weight * f.risk)[:3]
    return {
        "score": r.score,
        "level": r.level,
        "emergency_fund_target": f"{r.emergency_fund_target['months']:g} months, "
        f"{r.emergency_fund_target['amount']:,.2f} {r.currency}",
        **{f"factor {i + 1}": f.sentence for i, f in enumerate(top)},
    }


def _forecast(store: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The next three months' net cash flow per currency with its 80% interval, and the
    largest expected expenses of the next month (stored, so `predict` serves them)."""
    from finanalytics_cli.engine.forecast import predict

    p = predict(store, horizon=3)
    cash_flow = [
        {
            "month": pt.date.strftime("%Y-%m"),
            "currency": cur,
            "net": round(pt.value, 2),
            "low_80": pt.lo80,
            "high_80": pt.hi80,
        }
        for cur, pts in sorted(p.cash_flow.items())
        for pt in pts
    ]
    expenses = [
        {
            "category": s.label,
            "currency": s.currency,
            "expected": round(s.points[0].value, 2),
            "of_which_scheduled": round(s.points[0].scheduled, 2),
            "method": s.method,
        }
        for s in sorted(p.expense, key=lambda s: -s.points[0].value)[:6]
    ]
    return cash_flow, expenses


def _train_and_categorize(store: Any, workdir: Path) -> dict[str, Any]:
    from finanalytics_cli.engine.categorize import categorize
    from finanalytics_cli.engine.models import category_eval as ev
    from finanalytics_cli.engine.models.category import parse_params, train_category_classifier
    from finanalytics_cli.engine.models.registry import deploy

    con = store.con
    truth_csv = (workdir / "truth" / "transactions.csv").read_text(encoding="utf-8")
    truth = ev.truth_by_tx(con, truth_csv)
    train_ids, test_ids = ev.split(con, truth, LABELLED_UNTIL)
    with store.transaction():
        ev.label(con, truth, train_ids)
        result = train_category_classifier(store, parse_params(["algorithm=logreg"]), experiment="demo")
        deploy(con, result.model_id, "production")
    cat = categorize(store)
    scored = ev.score(con, truth, test_ids)
    return {
        "labelled_by_hand": f"{len(train_ids)} transactions up to {LABELLED_UNTIL}",
        "model": f"category_classifier v{result.version} ({result.algorithm})",
        "holdout_accuracy": result.metrics["accuracy"],
        "keyword_baseline_accuracy": result.metrics["baseline_keyword_accuracy"],
        "categorised_last_year": cat.considered - cat.uncategorised,
        "accuracy_against_truth": scored["accuracy"],
        "macro_f1_against_truth": scored["macro_f1"],
    }


def _analytics(store: Any) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    from finanalytics_cli.engine.anomalies import detect_anomalies
    from finanalytics_cli.engine.insights import list_insights, refresh_insights
    from finanalytics_cli.engine.recurring import detect_recurring

    rec = detect_recurring(store.con)
    active = [s for s in rec.series if s.status == "active"]
    recurring = {
        "series_found": len(rec.series),
        "active": len(active),
        "stopped": [s.merchant for s in rec.series if s.status == "stopped"],
        "monthly_commitment": rec.monthly_commitment,
        "price_changes": [
            f"{s.merchant}: {c['from']} -> {c['to']} on {c['date']}"
            for s in rec.series
            for c in s.price_changes
            if (s.category or "").startswith("Subscriptions")
        ],
    }
    found = detect_anomalies(store, recurring=rec)
    anomalies = [{"date": f.date, "kind": f.kind, "amount": f.amount, "reason": f.reason} for f in found.findings]
    refresh_insights(store)
    insights = [
        {"type": i["type"], "impact": i["impact"], "title": i["title"]} for i in list_insights(store.con, limit=6)
    ]
    return recurring, anomalies, insights
