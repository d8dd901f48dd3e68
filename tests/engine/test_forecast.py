"""Forecasts on the categorised sample household (real statsforecast models)."""

from __future__ import annotations

from typing import Any

import pytest

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput
from finanalytics_cli.engine.forecast import backtest, forecast_accuracy, predict


def test_predict_structure_intervals_and_schedule(categorized_store: Any) -> None:
    p = predict(categorized_store, horizon=3)
    assert p.horizon == 3 and not p.served_from_store and 0 <= p.confidence <= 1
    for s in p.expense + p.income:
        assert len(s.points) == 3 and s.method
        for x in s.points:
            assert x.lo95 <= x.lo80 <= x.value <= x.hi80 <= x.hi95
            assert x.value >= 0
    housing = next(s for s in p.expense if s.label == "Housing" and s.currency == "USD")
    assert all(x.scheduled == pytest.approx(2650.0) for x in housing.points)  # rent is scheduled, not guessed
    income = next(s for s in p.income if s.currency == "USD")
    assert all(x.scheduled > 6000 for x in income.points)  # two or three paychecks a month
    assert set(p.cash_flow) == {"USD", "EUR"}
    accounts = {a["account"]: a for a in p.accounts}
    assert accounts["Credit card"]["probability_below_zero"] is None
    assert 0 <= accounts["Checking"]["probability_below_zero"] <= 1
    assert len(accounts["Savings"]["projection"]) == 3
    stored = categorized_store.con.execute(
        "SELECT count(*) FROM model_predictions WHERE model_type = 'spending_predictor'"
    ).fetchone()[0]
    assert stored == sum(len(s.points) for s in p.expense + p.income) + 3 * len(p.cash_flow)
    again = predict(categorized_store, horizon=3)
    assert again.served_from_store and again.cash_flow["USD"][0].value == pytest.approx(p.cash_flow["USD"][0].value)
    assert forecast_accuracy(categorized_store.con)["evaluated"] == 0  # no predicted month has passed


def test_weekly_forecast(categorized_store: Any) -> None:
    import datetime as dt

    p = predict(categorized_store, horizon=4, granularity="week")
    assert p.granularity == "week" and p.generated_from.weekday() == 0  # a Monday: whole weeks
    for s in p.expense + p.income:
        dates = [x.date for x in s.points]
        assert all(d.weekday() == 0 for d in dates)
        assert [b - a for a, b in zip(dates, dates[1:], strict=False)] == [dt.timedelta(days=7)] * 3
        assert all(x.lo95 <= x.lo80 <= x.value <= x.hi80 <= x.hi95 for x in s.points)
    known = {"AutoETS", "AutoTheta", "SeasonalWindowAverage", "CrostonOptimized", "Combination", "MSTL"}
    methods = {s.method for s in p.expense + p.income} - {"scheduled recurring items only"}
    assert methods and methods <= known


def test_predict_validation(categorized_store: Any) -> None:
    with pytest.raises(InvalidInput, match="horizon"):
        predict(categorized_store, horizon=0)
    with pytest.raises(InvalidInput, match="granularity"):
        predict(categorized_store, granularity="day")


def test_too_little_history(store: Any) -> None:
    import datetime as dt
    from decimal import Decimal

    from finanalytics_cli.engine.ledger import NewTransaction, ensure_account, insert_transactions

    with store.transaction() as con:
        acc = ensure_account(con, "A")
        insert_transactions(con, acc, None, [NewTransaction(dt.date(2026, 10, 5), Decimal("-5"), "USD", "X")])
    with pytest.raises(InsufficientData, match="at least 2 complete"):
        predict(store)


@pytest.mark.parametrize("months", [3, 7, 11])
def test_short_histories_forecast_and_the_running_month_keeps_its_charges(store: Any, months: int) -> None:
    """Three to eleven months of history get a forecast (statsforecast's ETS refuses tiny
    series: the simple method serves them), and the month the data ends in counts the
    recurring charges it already holds: pay and bills on the 1st-12th are not a zero month."""
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources

    rows = ["Date,Description,Amount"]
    for k in range(months):
        y, m = 2025 + k // 12, k % 12 + 1
        rows += [f"{y}-{m:02d}-01,ACME PAYROLL,3000.00", f"{y}-{m:02d}-05,CITY POWER,-120.00"]
        rows += [f"{y}-{m:02d}-{3 + k % 7:02d},GROCER {k},-{40 + k}.00"]
    import_sources(store, [Source("a.csv", "\n".join(rows).encode())], ImportOptions(account="A", currency="USD"))
    p = predict(store, horizon=3)
    y, m = 2025 + (months - 1) // 12, (months - 1) % 12 + 1
    running = p.cash_flow["USD"][0]
    assert running.date.year == y and running.date.month == m  # the month the data ends in
    # 3,000 of pay less 120 of power, both already in the data; groceries modeled (~40-50).
    assert 2700 < running.value < 2900, running
    assert all(2700 < x.value < 2900 for x in p.cash_flow["USD"][1:])


def test_backtest_reports_mase_and_coverage(categorized_store: Any) -> None:
    result = backtest(categorized_store.con)
    assert result["origins"] == 12 and result["series"] > 10
    assert result["mase"] > 0 and result["seasonal_naive_mase"] > 0
    # The targets on the sample household: 0.9x seasonal naive's MASE, coverage
    # within 10 points of nominal.
    assert result["ratio_to_seasonal_naive"] <= 0.9 and result["pooled_ratio_to_seasonal_naive"] <= 0.9
    assert 0.7 <= result["coverage_80"] <= 0.9 and 0.85 <= result["coverage_95"] <= 1


def test_the_deployed_challenger_serves(categorized_store: Any) -> None:
    from finanalytics_cli.engine.models.registry import deploy
    from finanalytics_cli.engine.models.spending import parse_params, train_spending_predictor

    with categorized_store.transaction():
        result = train_spending_predictor(categorized_store, parse_params(["n_estimators=20"]))
    lgb_id = categorized_store.con.execute(
        "SELECT model_id FROM ml_models WHERE algorithm = 'lightgbm_global'"
    ).fetchone()[0]
    assert result.metrics["lightgbm_challenger"]["pooled_ratio_to_seasonal_naive"] > 0
    assert predict(categorized_store).served_from_store  # training stored the default forecast
    deploy(categorized_store.con, lgb_id, "production")
    p = predict(categorized_store, horizon=2)
    assert not p.served_from_store  # another model serves: the stored forecast is stale
    methods = {s.method for s in p.expense}
    assert "lightgbm_global" in methods
    for s in p.expense:
        for x in s.points:
            assert x.lo95 <= x.lo80 <= x.value <= x.hi80 <= x.hi95


def test_forecasts_of_other_horizons_are_kept_until_the_data_changes(categorized_store: Any) -> None:
    """`predict` (3 months) and `goals progress` (12) both serve from the store: one no
    longer replaces the other; new data replaces both."""
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources

    three = predict(categorized_store, horizon=3, use_stored=False)
    twelve = predict(categorized_store, horizon=12, use_stored=False)
    again3, again12 = predict(categorized_store, horizon=3), predict(categorized_store, horizon=12)
    assert again3.served_from_store and again12.served_from_store
    assert again3.cash_flow["USD"][0].value == pytest.approx(three.cash_flow["USD"][0].value)
    assert len(again12.cash_flow["USD"]) == len(twelve.cash_flow["USD"]) == 12
    csv = "Date,Description,Amount\n2026-10-30,CORNER BAKERY 0042,-8.40\n"
    import_sources(categorized_store, [Source("new.csv", csv.encode())], ImportOptions(account="Checking"))
    assert not predict(categorized_store, horizon=3).served_from_store
    assert not predict(categorized_store, horizon=12).served_from_store
    stale = categorized_store.con.execute("SELECT count(*) FROM app_state WHERE key LIKE 'prediction:%'").fetchone()[0]
    assert stale == 2  # the two of the new data; those of the old data are gone
