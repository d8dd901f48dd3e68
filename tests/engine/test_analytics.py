"""Spending, anomalies, recurring series and insights on the categorised sample household."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from finanalytics_cli.engine.anomalies import detect_anomalies
from finanalytics_cli.engine.errors import InsufficientData, InvalidInput
from finanalytics_cli.engine.insights import (
    TYPES,
    accept_insight,
    dismiss_insight,
    insight_stats,
    list_insights,
    refresh_insights,
)
from finanalytics_cli.engine.models.category_eval import truth_by_tx
from finanalytics_cli.engine.recurring import detect_recurring
from finanalytics_cli.engine.spending import analyze_spending
from finanalytics_cli.engine.truth_eval import finding_pr, series_f1


def test_recurring_against_the_truth(categorized_store: Any, sample_truth_csv: str) -> None:
    con = categorized_store.con
    report = detect_recurring(con)
    truth: dict[str, set[int]] = {}
    for tx, sid in truth_by_tx(con, sample_truth_csv, "series").items():
        if sid:
            truth.setdefault(sid, set()).add(tx)
    score = series_f1([set(s.tx_ids) for s in report.series], truth)
    assert score["f1"] >= 0.9, score
    by_merchant = {s.merchant.lower(): s for s in report.series}
    cadences = {s.cadence for s in report.series}
    assert {"monthly", "biweekly", "bimonthly", "yearly"} <= cadences
    hulu = next(s for m, s in by_merchant.items() if "hulu" in m)
    assert hulu.status == "stopped" and hulu.next_expected_date is None
    netflix = next(s for m, s in by_merchant.items() if "netflix" in m)
    assert [(c["from"], c["to"]) for c in netflix.price_changes] == [(Decimal("15.49"), Decimal("17.99"))]
    assert netflix.next_expected_date == dt.date(2026, 11, 12) and netflix.next_expected_amount == Decimal("-17.99")
    assert report.monthly_commitment["USD"] > Decimal("4000")


def test_anomalies_against_the_truth(categorized_store: Any, sample_truth_csv: str) -> None:
    truth = {t for t, kind in truth_by_tx(categorized_store.con, sample_truth_csv, "anomaly").items() if kind}
    report = detect_anomalies(categorized_store)
    assert report.fallback == "explicit detectors only"
    score = finding_pr({f.tx_id for f in report.findings}, truth)
    assert score["precision"] >= 0.8 and score["recall"] >= 0.8, score
    assert all(f.reason and 0 < f.score <= 1 for f in report.findings)
    kinds = {f.kind for f in report.findings}
    assert {"duplicate_charge", "amount_spike", "new_merchant_abroad", "fee_spike", "price_increase"} <= kinds
    since = detect_anomalies(categorized_store, since=dt.date(2026, 1, 1))
    assert since.findings and all(f.date >= dt.date(2026, 1, 1) for f in since.findings)


def test_anomaly_model_through_the_pipeline(categorized_store: Any, sample_truth_csv: str) -> None:
    from finanalytics_cli.engine.models.anomaly import parse_params, train_anomaly_detector
    from finanalytics_cli.engine.models.registry import deploy

    with categorized_store.transaction():
        result = train_anomaly_detector(categorized_store, parse_params([]))
        deploy(categorized_store.con, result.model_id, "production")
    assert result.metrics["separates_baseline_outliers"]
    report = detect_anomalies(categorized_store)
    assert report.model_id == result.model_id and report.fallback is None
    assert all(f.model_score is not None for f in report.findings)
    truth = {t for t, kind in truth_by_tx(categorized_store.con, sample_truth_csv, "anomaly").items() if kind}
    score = finding_pr({f.tx_id for f in report.findings}, truth)
    assert score["precision"] >= 0.8 and score["recall"] >= 0.8, score


def test_spending_analysis(categorized_store: Any) -> None:
    con = categorized_store.con
    a = analyze_spending(con, "month")
    assert len(a.periods) == 36
    housing = next(c for c in a.categories if c.category == "Housing")
    assert housing.trend == "increasing" and housing.trend_confidence >= 0.9  # rent rose twice
    travel = [r for r in a.rows if r.category == "Travel" and r.currency == "USD"]
    assert len(travel) == 36 and any(r.total == 0 and r.count == 0 for r in travel)  # empty months are zeros
    assert all(r.category != "Transfers" for r in a.rows)
    assert any(r.share_of_income for r in a.rows)
    dining = next(c for c in a.categories if c.category == "Dining" and c.currency == "EUR")
    assert "Dec" in dining.high_months  # the Christmas visits to Berlin
    q = analyze_spending(con, "quarter", ["dining", "Groceries"])
    assert {c.category for c in q.categories} == {"Dining", "Groceries"}
    assert q.rows[5].change_vs_last_year_pct is not None  # 2025-Q1 vs 2024-Q1 (2023-Q4 is partial)
    with pytest.raises(InvalidInput, match="valid: Cash"):
        analyze_spending(con, "month", ["Dinning"])
    with pytest.raises(InvalidInput, match="unknown period"):
        analyze_spending(con, "fortnight")
    with pytest.raises(InsufficientData, match="at least 2 months"):
        analyze_spending(con, "month", date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31))


def test_partial_periods_are_flagged_and_never_compared(categorized_store: Any) -> None:
    """The sample household runs 2023-11-01 .. 2026-10-31: its first quarter has two of
    three months, its last one month; a change against either would be nonsense (-80%)."""
    from finanalytics_cli.engine.spending import is_partial

    q = analyze_spending(categorized_store.con, "quarter")
    dining = [r for r in q.rows if r.category == "Dining" and r.currency == "USD"]
    assert [r.label for r in dining[:2]] == ["2023-Q4", "2024-Q1"] and dining[-1].label == "2026-Q4"
    assert dining[0].partial and dining[-1].partial and not any(r.partial for r in dining[1:-1])
    assert dining[0].change_vs_previous_pct is None and dining[1].change_vs_previous_pct is None  # vs a partial
    assert dining[-1].change_vs_previous_pct is None and dining[-1].change_vs_last_year_pct is None
    assert dining[-2].change_vs_previous_pct is not None and dining[-2].change_vs_last_year_pct is not None
    summary = next(c for c in q.categories if c.category == "Dining" and c.currency == "USD")
    whole = [r.total for r in dining if not r.partial]
    assert summary.total == sum(r.total for r in dining)  # every transaction counts in the total
    assert abs(summary.average_per_period - sum(whole) / len(whole)) < Decimal("0.01")  # whole periods only
    m = analyze_spending(categorized_store.con, "month")
    assert not any(r.partial for r in m.rows) and m.rows[0].label == "2023-11"
    d = dt.date
    assert not is_partial(d(2024, 3, 1), "month", d(2024, 3, 2), d(2024, 3, 31))  # a day missing: whole
    assert is_partial(d(2024, 3, 1), "month", d(2024, 3, 10), d(2024, 3, 31))
    assert is_partial(d(2024, 1, 1), "year", d(2023, 1, 1), d(2024, 11, 28))  # 33 days of the year missing
    assert not is_partial(d(2024, 1, 1), "year", d(2023, 1, 1), d(2024, 12, 20))


def test_insights_lifecycle(categorized_store: Any) -> None:
    con = categorized_store.con
    con.execute(
        "INSERT INTO budgets (category, amount, currency, valid_from) VALUES ('Dining', 100, 'USD', '2020-01-01')"
    )
    con.execute(
        "INSERT INTO goals (name, target_amount, currency, target_date) VALUES ('House', 200000, 'USD', '2028-01-01')"
    )
    state = refresh_insights(categorized_store)
    assert state["regenerated"] and state["added"] > 5
    assert refresh_insights(categorized_store)["regenerated"] is False  # nothing changed: served as stored
    shown = list_insights(con, limit=100)
    assert {i["type"] for i in shown} == set(TYPES)
    ranks = [{"high": 3, "medium": 2, "low": 1}[i["impact"]] * i["confidence"] for i in shown]
    assert ranks == sorted(ranks, reverse=True)
    for i in shown:
        assert i["title"] and i["description"] and i["impact"] in ("high", "medium", "low")
        assert i["valid_until"] is not None and "facts" in i["metadata"]
        for r in i["recommendations"]:
            assert set(r) >= {"type", "expected_impact", "difficulty", "timeframe", "actions"}
    first = shown[0]
    dismiss_insight(con, first["id"])
    refresh_insights(categorized_store, force=True)
    assert first["id"] not in {i["id"] for i in list_insights(con, limit=100)}
    budget = next(i for i in shown if i["type"] == "budget_optimization")
    accept_insight(con, budget["id"])
    stats = insight_stats(con)
    assert stats["dismissed"] == 1 and stats["accepted"] == 1 and stats["shown"] >= len(shown)
    assert stats["accepted_outcomes"][0]["expected_saving_per_month"] > 0
    with pytest.raises(InvalidInput, match="valid: spending_pattern"):
        list_insights(con, "gossip")
    with pytest.raises(InvalidInput, match="no insight 9999"):
        dismiss_insight(con, 9999)
    profile = con.execute("SELECT monthly_income, monthly_expenses, savings_rate FROM financial_profiles").fetchone()
    assert profile[0] > 0 and profile[1] > 0 and profile[2] is not None


def test_slope_test_matches_scipy() -> None:
    import random

    from scipy import stats

    from finanalytics_cli.engine.spending import _ols_slope_test

    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(3, 60)
        values = [rng.gauss(100, 20) + rng.choice([0, 0.5, 3]) * i for i in range(n)]
        slope, p = _ols_slope_test(values)
        fit = stats.linregress(range(n), values)
        assert slope == pytest.approx(fit.slope, abs=1e-9) and p == pytest.approx(fit.pvalue, abs=1e-9)
