"""The spending_predictor through the model pipeline: the statsforecast per-series choice
and a LightGBM global model over all series as its challenger, both backtested the same
way (rolling monthly origins, recurring items scheduled) and registered; the better one
by pooled error against seasonal naive is deployed when nothing serves yet."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from finanalytics_cli.engine.models.params import FIT_THREADS, parse_model_params
from finanalytics_cli.engine.models.registry import TrainOutcome

MODEL_TYPE = "spending_predictor"
LAGS = (1, 2, 3, 12)
PARAMS: dict[str, tuple[type, Any, str]] = {
    "n_estimators": (int, 200, "LightGBM trees of the challenger"),
    "learning_rate": (float, 0.05, "LightGBM learning rate"),
}


def parse_params(pairs: list[str]) -> dict[str, Any]:
    out = parse_model_params(pairs, PARAMS, MODEL_TYPE)
    return out


@dataclass
class GlobalModel:
    """LightGBM over lag features of every series at once."""

    booster: Any
    series: list[str]

    @staticmethod
    def features(history: dict[str, list[float]], uid: str, t: int, month: int, series: list[str]) -> list[float]:
        y = history[uid]
        lags = [y[t - k] if t - k >= 0 else math.nan for k in LAGS]
        recent = [v for v in y[max(0, t - 3) : t]]
        return [
            *lags,
            sum(recent) / len(recent) if recent else math.nan,
            float(month),
            float(series.index(uid) if uid in series else -1),
        ]


def _frames(df: Any) -> tuple[dict[str, list[float]], list[dt.date]]:
    periods = sorted(df["ds"].unique().to_list())
    history: dict[str, list[float]] = {}
    for row in df.sort("ds").iter_rows(named=True):
        history.setdefault(row["unique_id"], []).append(row["y"])
    return history, periods


def _fit(
    history: dict[str, list[float]], periods: list[dt.date], until: int, params: dict[str, Any], series: list[str]
) -> Any:
    import lightgbm as lgb
    import numpy as np

    x, y = [], []
    for uid, values in history.items():
        for t in range(1, until):
            x.append(GlobalModel.features(history, uid, t, periods[t].month, series))
            y.append(values[t])
    model = lgb.LGBMRegressor(
        n_estimators=params["n_estimators"],
        learning_rate=params["learning_rate"],
        num_leaves=15,
        min_child_samples=5,
        subsample=0.9,
        subsample_freq=1,
        n_jobs=FIT_THREADS,
        verbose=-1,
        random_state=7,
    )
    model.fit(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return model


def lightgbm_backtest(df: Any, recurring: Any, granularity: str, windows: int, params: dict[str, Any]) -> dict:
    """One-step-ahead errors of the global model over the last ``windows`` periods, pooled
    against seasonal naive, with the same schedule for recurring items."""
    import numpy as np

    from finanalytics_cli.engine.forecast import SEASON, _recurring_parts

    history, periods = _frames(df)
    series = sorted(history)
    evaluated = periods[-windows:]
    actual_rec, pred_rec = _recurring_parts(recurring.series, granularity, evaluated)
    season = SEASON[granularity]
    err, naive_err = 0.0, 0.0
    for t in range(len(periods) - windows, len(periods)):
        model = _fit(history, periods, t, params, series)
        p = periods[t]
        for uid in series:
            x = np.asarray([GlobalModel.features(history, uid, t, p.month, series)], dtype=float)
            pred = max(0.0, float(model.predict(x)[0])) + pred_rec.get((uid, p), 0.0)
            y = history[uid][t] + actual_rec.get((uid, p), 0.0)
            if t - season >= 0:
                past = history[uid][t - season] + actual_rec.get((uid, periods[t - season]), 0.0)
                err += abs(pred - y)
                naive_err += abs(past - y)
    return {"pooled_ratio_to_seasonal_naive": round(err / naive_err, 4) if naive_err else None, "origins": windows}


def train_spending_predictor(
    store: Any,
    params: dict[str, Any],
    *,
    date_from: Any = None,
    date_to: Any = None,
    experiment: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainOutcome:
    from finanalytics_cli.engine.forecast import BACKTEST_WINDOWS, backtest, predict, residual_history
    from finanalytics_cli.engine.models.registry import deploy, record_run, register_model, serving
    from finanalytics_cli.engine.recurring import detect_recurring

    stage = on_stage or (lambda s: None)
    started = time.perf_counter()
    con = store.con
    stage("features")
    recurring = detect_recurring(con)
    df, end = residual_history(con, "month", recurring)
    stage("fit")
    stats = backtest(con, "month", BACKTEST_WINDOWS, recurring=recurring)
    stage("validate")
    challenger = lightgbm_backtest(df, recurring, "month", BACKTEST_WINDOWS, params)
    history, periods = _frames(df)
    final = GlobalModel(_fit(history, periods, len(periods), params, sorted(history)), sorted(history))
    stage("register")
    data_from, data_to = df["ds"].min(), end
    common = {
        "features": ["monthly history per series", "recurring items scheduled"],
        "data_from": data_from,
        "data_to": data_to,
    }
    sf_id = register_model(
        con,
        store.keys.active,
        model_type=MODEL_TYPE,
        algorithm="statsforecast_selection",
        hyperparameters={
            "candidates": "AutoETS, AutoTheta, SeasonalWindowAverage, Croston, Combination (Naive for short histories)",
            "selection": "rolling-origin CV",
        },
        metrics=stats,
        validation={"backtest": stats},
        model={"policy": "statsforecast"},
        **common,
    )
    lgb_id = register_model(
        con,
        store.keys.active,
        model_type=MODEL_TYPE,
        algorithm="lightgbm_global",
        hyperparameters=params,
        metrics=challenger,
        validation={"backtest": challenger},
        model=final,
        **common,
    )
    best = (
        lgb_id
        if (challenger["pooled_ratio_to_seasonal_naive"] or math.inf) < stats["pooled_ratio_to_seasonal_naive"]
        else sf_id
    )
    if serving(con, MODEL_TYPE).production is None:
        deploy(con, best, "production")
    # Forecast now and store it, so `predict` serves the default question at once.
    stage("forecast")
    predict(store, use_stored=False)
    duration = time.perf_counter() - started
    metrics = {
        "statsforecast": stats,
        "lightgbm_challenger": challenger,
        "better": "lightgbm_global" if best == lgb_id else "statsforecast_selection",
    }
    exp_id, version = record_run(
        con,
        name=experiment,
        model_type=MODEL_TYPE,
        model_id=best,
        parameters=params,
        metrics=metrics,
        duration_s=duration,
    )
    return TrainOutcome(
        best,
        exp_id,
        version,
        "lightgbm_global" if best == lgb_id else "statsforecast_selection",
        metrics,
        data_from,
        data_to,
        df.height,
        round(duration, 2),
        {},
    )
