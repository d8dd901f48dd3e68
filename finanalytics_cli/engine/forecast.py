"""Forecasts of expenses per category, income and cash flow, with 80% and 95% intervals.

Known recurring items (rent, salary, subscriptions from `recurring`) are scheduled, not
guessed: they are taken out of the history and their expected charges are added back.
What remains is forecast per series with statsforecast (AutoETS, AutoTheta, the average
of the same period in the last seasons, Croston for intermittent series, and the mean of
the first three), the model chosen per series by rolling-origin cross-validation; naive
for series too short to choose. Interval widths are calibrated on the cross-validation
errors (pooled split conformal). A LightGBM global model over all series is the
challenger; both are registered as `spending_predictor` versions and the better one by
backtest serves. Predictions are stored in `model_predictions`; `predict` serves them
until the data changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput

MODEL_TYPE = "spending_predictor"
GRANULARITIES = ("month", "week")
MIN_PERIODS = 6  # a series shorter than this falls back to a labelled simple method
SELECTION_WINDOWS = 4
BACKTEST_WINDOWS = 12
SEASON = {"month": 12, "week": 52}
MAX_HISTORY = {"month": 72, "week": 156}  # periods of history the models see
FREQ = {"month": "1mo", "week": "1w"}
Z80, Z95 = 1.2816, 1.96


@dataclass
class Point:
    date: dt.date
    value: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float
    scheduled: float = 0.0


@dataclass
class SeriesForecast:
    key: str
    kind: str  # expense | income | account
    label: str
    currency: str
    method: str
    points: list[Point]


@dataclass
class Prediction:
    granularity: str
    horizon: int
    generated_from: dt.date
    expense: list[SeriesForecast]
    income: list[SeriesForecast]
    cash_flow: dict[str, list[Point]]
    accounts: list[dict[str, Any]]
    confidence: float
    backtest: dict[str, Any] = field(default_factory=dict)
    served_from_store: bool = False


def _series_key(s: Any) -> str:
    """The history series a recurring series belongs to."""
    if s.direction == "out":
        return f"expense:{s.currency}:{(s.category or 'Uncategorized').split('/')[0]}"
    return f"income:{s.currency}"


def _period_start(d: dt.date, granularity: str) -> dt.date:
    return d.replace(day=1) if granularity == "month" else d - dt.timedelta(days=d.weekday())


def _next(d: dt.date, granularity: str, n: int = 1) -> dt.date:
    if granularity == "week":
        return d + dt.timedelta(days=7 * n)
    y, m = divmod(d.month - 1 + n, 12)
    return dt.date(d.year + y, m + 1, 1)


def _history(con: Any, granularity: str, exclude: set[int]) -> tuple[Any, dt.date, dict[str, dict]]:
    """Complete periods of every series (expenses per currency and category, income per
    currency, net flow per account), recurring transactions left out of the first two."""
    import polars as pl

    last = con.execute("SELECT max(posted_date) FROM transactions").fetchone()[0]
    first = con.execute("SELECT min(posted_date) FROM transactions").fetchone()[0]
    if last is None:
        raise InsufficientData("the store holds no transactions yet; import a bank export first")
    end = _period_start(last, granularity)
    if _next(end, granularity) - dt.timedelta(days=1) > last:  # the last period is incomplete
        end = _next(end, granularity, -1)
    start = _period_start(first, granularity)
    if start < first:  # the first period is incomplete
        start = _next(start, granularity)
    # Decades of history tell little about next month and cost much: the recent years only.
    start = max(start, _next(end, granularity, -(MAX_HISTORY[granularity] - 1)))
    trunc = "month" if granularity == "month" else "week"
    con.register("fa_exclude", pl.DataFrame({"tx_id": sorted(exclude)}, schema={"tx_id": pl.Int64}).to_arrow())
    try:
        rows = con.execute(
            f"""
            WITH t AS (
                SELECT t.*, CAST(date_trunc('{trunc}', t.posted_date) AS DATE) AS p,
                       coalesce((SELECT c.kind FROM categories c WHERE c.name =
                                 split_part(coalesce(t.category, 'Uncategorized'), '/', 1)), 'expense') AS kind,
                       t.tx_id IN (SELECT tx_id FROM fa_exclude) AS scheduled
                FROM transactions t
            )
            SELECT 'expense:' || currency || ':' || split_part(coalesce(category, 'Uncategorized'), '/', 1), p,
                   -sum(amount) FROM t
            WHERE NOT is_transfer AND amount < 0 AND kind = 'expense' AND NOT scheduled GROUP BY ALL
            UNION ALL
            SELECT 'income:' || currency, p, sum(amount) FROM t
            WHERE NOT is_transfer AND amount > 0 AND kind <> 'transfer' AND NOT scheduled GROUP BY ALL
            UNION ALL
            SELECT 'account:' || CAST(account_id AS VARCHAR), p, sum(amount) FROM t GROUP BY ALL
            """
        ).fetchall()
    finally:
        con.unregister("fa_exclude")
    periods = []
    p = start
    while p <= end:
        periods.append(p)
        p = _next(p, granularity)
    if len(periods) < 2:
        raise InsufficientData(
            f"forecasting needs at least 2 complete {granularity}s of history; the data runs from {first} to {last}"
        )
    values: dict[str, dict[dt.date, float]] = {}
    for key, period, v in rows:
        values.setdefault(key, {})[period] = float(v)
    meta: dict[str, dict] = {}
    accounts = {str(a): (n, c) for a, n, c in con.execute("SELECT account_id, name, currency FROM accounts").fetchall()}
    data = []
    for key, by_p in values.items():
        kind, *rest = key.split(":")
        if kind == "account":
            name, cur = accounts[rest[0]]
            meta[key] = {"kind": kind, "label": name, "currency": cur, "account_id": int(rest[0])}
        else:
            meta[key] = {"kind": kind, "label": rest[1] if kind == "expense" else "Income", "currency": rest[0]}
        data.extend({"unique_id": key, "ds": p, "y": by_p.get(p, 0.0)} for p in periods)
    return pl.DataFrame(data, schema={"unique_id": pl.String, "ds": pl.Date, "y": pl.Float64}), end, meta


def _models(granularity: str, n: int, n_full: int | None = None) -> list[Any]:
    """Candidates for series of ``n`` periods (``n_full``: the whole history, which sets
    how many past seasons the seasonal average may use)."""
    from statsforecast.models import MSTL, AutoETS, AutoTheta, CrostonOptimized, Naive, SeasonalWindowAverage
    from statsforecast.utils import ConformalIntervals

    season = SEASON[granularity]
    if n < MIN_PERIODS + 2:  # the labelled simple method (ETS refuses tiny series: "tiny datasets")
        return [Naive()]
    if n < season + 2:
        return [
            AutoETS(season_length=1),
            AutoTheta(season_length=1),
            Naive(),
            CrostonOptimized(prediction_intervals=ConformalIntervals(h=1, n_windows=3)),
        ]
    # The mean of the same period in the last two seasons (one when the history is
    # shorter): yearly patterns such as travel, taxes or holiday shopping.
    seasons = 2 if (n_full or n) >= 2 * season + 3 else 1
    return [
        AutoETS(season_length=season),
        AutoTheta(season_length=season),
        SeasonalWindowAverage(
            season_length=season,
            window_size=seasons,
            alias="SeasonalWindowAverage",
            prediction_intervals=ConformalIntervals(h=1, n_windows=3),
        ),
        CrostonOptimized(prediction_intervals=ConformalIntervals(h=1, n_windows=3)),
        # Weekly series: a yearly pattern under a trend (STL decomposition, ETS on the trend).
        *([MSTL(season_length=season)] if granularity == "week" and n >= 2 * season else []),
    ]


def _names(models: list[Any]) -> list[str]:
    names = [repr(m) if not hasattr(m, "alias") else m.alias for m in models]
    return [*names, COMBO] if all(c in names for c in COMBO_OF) else names


def _cv(df: Any, granularity: str, windows: int) -> Any:
    from statsforecast import StatsForecast

    n = df.group_by("unique_id").len()["len"].min()
    sf = StatsForecast(models=_models(granularity, n - windows, n), freq=FREQ[granularity], n_jobs=1)
    return _with_combination(sf.cross_validation(df=df, h=1, n_windows=windows, step_size=1, level=[80, 95]))


COMBO = "Combination"
COMBO_OF = ("AutoETS", "AutoTheta", "SeasonalWindowAverage")


def _with_combination(frame: Any) -> Any:
    """Add the mean of AutoETS, AutoTheta and the seasonal average (point and bounds) as a
    candidate: combinations are hard to beat on short, noisy series."""
    import polars as pl

    if not all(c in frame.columns for c in COMBO_OF):
        return frame
    cols = [pl.mean_horizontal([pl.col(c) for c in COMBO_OF]).alias(COMBO)]
    for b in ("lo-80", "hi-80", "lo-95", "hi-95"):
        cols.append(pl.mean_horizontal([pl.col(f"{c}-{b}") for c in COMBO_OF]).alias(f"{COMBO}-{b}"))
    return frame.with_columns(cols)


DEFAULT_MODEL = "AutoETS"


def _choose(cv: Any, names: list[str]) -> dict[str, str]:
    """Per series, the model with the lowest mean absolute error over the windows (windows a
    model could not forecast, such as a seasonal average before two seasons, are skipped);
    AutoETS where no model has an error to compare."""
    import polars as pl

    names = [n for n in names if n in cv.columns]  # a short history is cross-validated on fewer
    errs = cv.group_by("unique_id").agg([(pl.col(n) - pl.col("y")).abs().fill_nan(None).mean().alias(n) for n in names])
    out = {}
    for row in errs.iter_rows(named=True):
        scored = [n for n in names if row[n] is not None]
        out[row["unique_id"]] = min(scored, key=lambda n: row[n]) if scored else DEFAULT_MODEL
    return out


Calibration = tuple[float, float, dict[str, float]]


def _calibrate(cv: Any, chosen: dict[str, str], df: Any) -> Calibration:
    """Interval widths from the cross-validation errors (split conformal, pooled): each
    expense and income series' errors of its chosen model are divided by the series' mean
    absolute level, and the 80% and 95% quantiles of all of them, times a series' level,
    are its half-widths. A few windows per series are too few for quantiles of their own;
    pooled over the series, they are enough, and the level keeps a small series' band small."""
    import numpy as np
    import polars as pl

    levels = {
        uid: max(float(v), 1.0)
        for uid, v in df.group_by("unique_id").agg(pl.col("y").abs().mean()).iter_rows()
        if not uid.startswith("account:")
    }
    scaled = []
    for row in cv.iter_rows(named=True):
        uid = row["unique_id"]
        if uid not in levels:
            continue
        m = _usable(row, chosen[uid])
        scaled.append(abs(row[m] - row["y"]) / levels[uid])
    if not scaled:
        return 0.0, 0.0, {}
    q80, q95 = (float(q) for q in np.quantile(scaled, [0.8, 0.95]))
    return q80, q95, levels


def _calibrated_point(d: dt.date, value: float, calibration: Calibration, key: str, step: int) -> Point:
    """A point with the calibrated band; it widens with the square root of the steps ahead."""
    q80, q95, levels = calibration
    h80, h95 = (q * levels[key] * math.sqrt(step) for q in (q80, q95))
    return Point(d, value, value - h80, value + h80, value - h95, value + h95)


def _usable(row: dict[str, Any], model: str) -> str:
    """``model`` when it forecast this row, else AutoETS (a seasonal average cannot forecast
    before it has its seasons of history)."""
    v = row.get(model)
    return model if v is not None and not math.isnan(v) else DEFAULT_MODEL


def _schedule(series: list[Any], periods: list[dt.date], granularity: str) -> dict[tuple[str, dt.date], float]:
    """Expected charges of recurring series per (series key, period)."""
    from finanalytics_cli.engine.recurring import CADENCES, _next_date

    out: dict[tuple[str, dt.date], float] = {}
    if not periods:
        return out
    horizon_end = _next(periods[-1], granularity)
    for s in series:
        key = _series_key(s)
        # A forecast period the data already reaches into (the month still running): the
        # charges it already holds count, next to the ones still expected in it.
        for d, a in zip(s.dates, s.amounts, strict=False):
            if periods[0] <= d < horizon_end:
                p = _period_start(d, granularity)
                out[(key, p)] = out.get((key, p), 0.0) + abs(float(a))
        if s.status != "active" or s.next_expected_date is None:
            continue
        d = s.next_expected_date
        while d < horizon_end:
            p = _period_start(d, granularity)
            if p >= periods[0]:
                out[(key, p)] = out.get((key, p), 0.0) + abs(float(s.typical_amount))
            d = _next_date(d, s.cadence) if s.cadence in CADENCES else horizon_end
    return out


def predict(store: Any, horizon: int = 3, granularity: str = "month", use_stored: bool = True) -> Prediction:
    """Forecasts per category, income, cash flow and account balance (stored, then served)."""
    if granularity not in GRANULARITIES:
        raise InvalidInput(f"--granularity must be one of {', '.join(GRANULARITIES)}")
    if not 1 <= horizon <= 24:
        raise InvalidInput("--horizon must be between 1 and 24")
    con = store.con
    state = _state(con, horizon, granularity)
    if use_stored:
        stored = _load_stored(con, state)
        if stored is not None:
            return stored
    result = compute_prediction(con, horizon, granularity, global_model=_served_global_model(store))
    if not store.readonly:
        _store(store, result, state)
    return result


def _served_global_model(store: Any) -> Any:
    """The LightGBM global model when it is the deployed spending_predictor, else None."""
    from finanalytics_cli.engine.models.registry import load_model, serving

    route = serving(store.con, MODEL_TYPE)
    if route.production is None:
        return None
    algorithm = store.con.execute("SELECT algorithm FROM ml_models WHERE model_id = ?", [route.production]).fetchone()[
        0
    ]
    if algorithm != "lightgbm_global":
        return None
    return load_model(store.con, store.keys.active, route.production)


_SELECTIONS: dict[tuple[str, str], tuple[dict[str, str], Any]] = {}


def _selection(df: Any, granularity: str, names: list[str]) -> tuple[dict[str, str], Any]:
    """Each series' model and the interval calibration, from the cross-validation. They do
    not depend on the horizon: a process that forecasts the same history for two horizons
    (an import refreshing `predict`'s and `goals progress`'s) cross-validates it once."""
    ordered = df.sort(df.columns[:2])  # the same history hashes the same whatever its row order
    digest = hashlib.sha256(ordered.hash_rows(seed=7).to_numpy().tobytes()).hexdigest()
    key = (granularity, f"{digest}:{df.height}:{','.join(names)}")
    if key not in _SELECTIONS:
        cv = _cv(df, granularity, SELECTION_WINDOWS)
        chosen = _choose(cv, names)
        _SELECTIONS.clear()  # one history at a time
        _SELECTIONS[key] = (chosen, _calibrate(cv, chosen, df))
    chosen, calibration = _SELECTIONS[key]
    return dict(chosen), calibration


def refresh_stored(store: Any) -> list[str]:
    """After the data changed: recompute the forecasts that had been asked for (every
    horizon and granularity with a forecast stored for older data), so the next `predict`
    or `goals progress` is served at once. Returns the questions answered ("3m", "12m")."""
    con = store.con
    keys = {k for (k,) in con.execute("SELECT key FROM app_state WHERE key LIKE 'prediction:%'").fetchall()}
    done = []
    questions = {m.groups() for k in keys if (m := re.fullmatch(r"prediction:[0-9a-f]+:([0-9]{1,2})([mw])", k))}
    for h, g in sorted(questions, key=lambda q: (q[1], int(q[0]))):
        horizon, granularity, question = int(h), {"m": "month", "w": "week"}[g], h + g
        if not 1 <= horizon <= 24:
            continue
        if f"prediction:{_state(con, horizon, granularity)}" in keys:
            continue  # still current
        predict(store, horizon, granularity)
        done.append(question)
    return done


def compute_prediction(con: Any, horizon: int, granularity: str, global_model: Any = None) -> Prediction:
    from statsforecast import StatsForecast

    from finanalytics_cli.engine.ledger import list_accounts
    from finanalytics_cli.engine.recurring import detect_recurring

    recurring = detect_recurring(con)
    scheduled_tx = {t for s in recurring.series for t in s.tx_ids}
    df, end, meta = _history(con, granularity, scheduled_tx)
    n = df.group_by("unique_id").len()["len"].min()
    future = [_next(end, granularity, i) for i in range(1, horizon + 1)]
    sched = _schedule(recurring.series, future, granularity)
    # Scheduled income or expenses of series with no history of their own still appear.
    for key, _ in sched:
        if key not in meta:
            kind, cur, *rest = key.split(":")
            meta[key] = {"kind": kind, "label": rest[0] if rest else "Income", "currency": cur}
    methods: dict[str, str] = {}
    fc_rows: dict[str, list[Point]] = {}
    models = _models(granularity, n)
    names = _names(models)
    if n >= MIN_PERIODS + SELECTION_WINDOWS:
        chosen, calibration = _selection(df, granularity, names)
    else:
        chosen = {k: "Naive" for k in meta}  # too little history: a labelled simple method
        calibration = None
    # Only the models some series was given are fitted (AutoETS too: the fallback).
    wanted = set(chosen.values()) | {DEFAULT_MODEL}
    if COMBO in wanted:
        wanted |= set(COMBO_OF)
    fitted = [m for m, name in zip(models, _names(models), strict=False) if name in wanted] or models
    fc = _with_combination(
        StatsForecast(models=fitted, freq=FREQ[granularity], n_jobs=1).forecast(df=df, h=horizon, level=[80, 95])
    )
    for uid, group in fc.group_by("unique_id"):
        key = uid[0] if isinstance(uid, tuple) else uid
        m = _usable(group.row(0, named=True), chosen.get(key, DEFAULT_MODEL))
        methods[key] = m if n >= MIN_PERIODS + SELECTION_WINDOWS else f"{m} (short history: simple method)"
        pts = []
        for step, row in enumerate(group.sort("ds").iter_rows(named=True), 1):
            if calibration is not None and key in calibration[2]:
                pts.append(_calibrated_point(row["ds"], row[m], calibration, key, step))
            else:
                pts.append(
                    Point(row["ds"], row[m], row[f"{m}-lo-80"], row[f"{m}-hi-80"], row[f"{m}-lo-95"], row[f"{m}-hi-95"])
                )
        fc_rows[key] = pts
    if global_model is not None and granularity == "month":
        _apply_global_model(global_model, df, fc_rows, methods)
    expense, income, cash = [], [], {}
    for key, info in meta.items():
        pts = fc_rows.get(key) or [Point(d, 0.0, 0.0, 0.0, 0.0, 0.0) for d in future]
        if info["kind"] != "account":
            clipped = []
            for p in pts:
                s = sched.get((key, p.date), 0.0)
                # Spending and income are never negative; scheduled items shift the band.
                clipped.append(
                    Point(
                        p.date,
                        max(0.0, p.value) + s,
                        max(0.0, p.lo80) + s,
                        max(0.0, p.hi80) + s,
                        max(0.0, p.lo95) + s,
                        max(0.0, p.hi95) + s,
                        s,
                    )
                )
            pts = clipped
        sf = SeriesForecast(
            key, info["kind"], info["label"], info["currency"], methods.get(key, "scheduled recurring items only"), pts
        )
        if info["kind"] == "expense":
            expense.append(sf)
        elif info["kind"] == "income":
            income.append(sf)
    for cur in sorted({s.currency for s in expense + income}):
        flows = []
        for i, d in enumerate(future):
            mean, var = 0.0, 0.0
            for s in income + expense:
                if s.currency != cur:
                    continue
                sign = 1 if s.kind == "income" else -1
                p = s.points[i]
                mean += sign * p.value
                var += ((p.hi95 - p.lo95) / (2 * Z95)) ** 2
            sd = math.sqrt(var)
            flows.append(
                Point(
                    d,
                    round(mean, 2),
                    round(mean - Z80 * sd, 2),
                    round(mean + Z80 * sd, 2),
                    round(mean - Z95 * sd, 2),
                    round(mean + Z95 * sd, 2),
                )
            )
        cash[cur] = flows
    accounts = []
    balances = {a["account_id"]: a for a in list_accounts(con)}
    for key, info in meta.items():
        if info["kind"] != "account" or key not in fc_rows:
            continue
        acct = balances[info["account_id"]]
        is_card = acct["type"] == "credit_card"
        bal, var, path, p_below = float(acct["balance"]), 0.0, [], 0.0
        for p in fc_rows[key]:
            bal += p.value
            var += ((p.hi95 - p.lo95) / (2 * Z95)) ** 2
            sd = math.sqrt(var) or 1e-9
            p_below = max(p_below, _phi(-bal / sd))
            path.append(
                {
                    "date": p.date,
                    "balance": round(bal, 2),
                    "lo80": round(bal - Z80 * sd, 2),
                    "hi80": round(bal + Z80 * sd, 2),
                    "lo95": round(bal - Z95 * sd, 2),
                    "hi95": round(bal + Z95 * sd, 2),
                }
            )
        accounts.append(
            {
                "account": info["label"],
                "currency": info["currency"],
                "balance_now": acct["balance"],
                "projection": path,
                # A card's balance is a debt, below zero by nature: the question does not apply.
                "probability_below_zero": None if is_card else round(p_below, 4),
                "method": methods.get(key, ""),
            }
        )
    widths = [(p.hi80 - p.lo80) / 2 / max(abs(p.value), 1.0) for s in expense + income for p in s.points if p.value > 0]
    confidence = round(max(0.0, min(1.0, 1 - statistics.median(widths))) if widths else 0.0, 3)
    return Prediction(
        granularity,
        horizon,
        end,
        sorted(expense, key=lambda s: (s.currency, -s.points[0].value)),
        income,
        cash,
        accounts,
        confidence,
    )


def _apply_global_model(model: Any, df: Any, fc_rows: dict[str, list[Point]], methods: dict[str, str]) -> None:
    """Point forecasts from the deployed LightGBM model (recursive, one month at a time);
    the intervals keep the statsforecast band's width around the new point."""
    import numpy as np

    history: dict[str, list[float]] = {}
    for row in df.sort("ds").iter_rows(named=True):
        history.setdefault(row["unique_id"], []).append(row["y"])
    for key, pts in fc_rows.items():
        if key.startswith("account:") or key not in history:
            continue
        values = list(history[key])
        new = []
        for p in pts:
            t = len(values)
            x = np.asarray([model.features({key: values}, key, t, p.date.month, model.series)], dtype=float)
            v = float(model.booster.predict(x)[0])
            shift = v - p.value
            new.append(Point(p.date, v, p.lo80 + shift, p.hi80 + shift, p.lo95 + shift, p.hi95 + shift))
            values.append(v)
        fc_rows[key] = new
        methods[key] = "lightgbm_global"


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


# -- storage --------------------------------------------------------------------------
def _state(con: Any, horizon: int, granularity: str) -> str:
    """What stored predictions depend on: the data, the question and the serving model."""
    from finanalytics_cli.engine.models.registry import serving

    row = con.execute("SELECT count(*), max(tx_id), count(category) FROM transactions").fetchone()
    model = serving(con, MODEL_TYPE).production
    # "<data>:<question>": forecasts of the same data for other horizons are kept beside it
    # (`predict` asks 3 months, `goals progress` 12), those of older data are replaced.
    data = hashlib.sha256(json.dumps([row, model], default=str).encode()).hexdigest()[:24]
    return f"{data}:{horizon}{granularity[0]}"


def _store(store: Any, p: Prediction, state: str) -> None:
    from finanalytics_cli.engine.models.registry import serving

    con = store.con
    model_id = serving(con, MODEL_TYPE).production
    rows = []
    for s in p.expense + p.income:
        for pt in s.points:
            rows.append(
                (
                    model_id,
                    s.kind,
                    s.key,
                    pt,
                    {"label": s.label, "currency": s.currency, "method": s.method, "scheduled": pt.scheduled},
                )
            )
    for cur, pts in p.cash_flow.items():
        for pt in pts:
            rows.append((model_id, "cashflow", f"cashflow:{cur}", pt, {"currency": cur}))
    with store.transaction():
        data = state.split(":")[0]
        con.execute(
            "DELETE FROM model_predictions WHERE model_type = ? AND payload LIKE '%\"state\"%' "
            "AND actual IS NULL AND target_date > ? AND (payload NOT LIKE ? OR payload LIKE ?)",
            [MODEL_TYPE, p.generated_from, f'%"state": "{data}:%', f'%"state": "{state}"%'],
        )
        con.execute("DELETE FROM app_state WHERE key LIKE 'prediction:%' AND key NOT LIKE ?", [f"prediction:{data}:%"])
        con.executemany(
            "INSERT INTO model_predictions (model_id, model_type, entity_type, entity_id, target_date, value, "
            "lower_80, upper_80, lower_95, upper_95, confidence, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    mid,
                    MODEL_TYPE,
                    kind,
                    key,
                    pt.date,
                    pt.value,
                    pt.lo80,
                    pt.hi80,
                    pt.lo95,
                    pt.hi95,
                    p.confidence,
                    json.dumps({**extra, "state": state}, default=str),
                )
                for mid, kind, key, pt, extra in rows
            ],
        )
        from finanalytics_cli.privacy.audit import log_event

        log_event(con, "prediction_batch", {"model_type": MODEL_TYPE, "predictions": len(rows)})
        con.execute(
            "INSERT OR REPLACE INTO app_state (key, value) VALUES (?, ?)",
            [
                f"prediction:{state}",
                json.dumps(
                    {
                        "accounts": p.accounts,
                        "generated_from": p.generated_from,
                        "confidence": p.confidence,
                        "granularity": p.granularity,
                        "horizon": p.horizon,
                    },
                    default=str,
                ),
            ],
        )


def _load_stored(con: Any, state: str) -> Prediction | None:
    row = con.execute("SELECT value FROM app_state WHERE key = ?", [f"prediction:{state}"]).fetchone()
    if row is None:
        return None
    extra = json.loads(row[0])
    rows = con.execute(
        "SELECT entity_type, entity_id, target_date, value, lower_80, upper_80, lower_95, upper_95, payload "
        "FROM model_predictions WHERE model_type = ? AND payload LIKE ? ORDER BY entity_id, target_date",
        [MODEL_TYPE, f'%"state": "{state}"%'],
    ).fetchall()
    if not rows:
        return None
    series: dict[str, SeriesForecast] = {}
    cash: dict[str, list[Point]] = {}
    for kind, key, d, v, lo80, hi80, lo95, hi95, payload in rows:
        info = json.loads(payload)
        pt = Point(d, v, lo80, hi80, lo95, hi95, info.get("scheduled", 0.0))
        if kind == "cashflow":
            cash.setdefault(info["currency"], []).append(pt)
            continue
        s = series.setdefault(key, SeriesForecast(key, kind, info["label"], info["currency"], info["method"], []))
        s.points.append(pt)
    expense = sorted(
        (s for s in series.values() if s.kind == "expense"), key=lambda s: (s.currency, -s.points[0].value)
    )
    income = [s for s in series.values() if s.kind == "income"]
    horizon = extra.get("horizon") or (len(next(iter(cash.values()))) if cash else 0)
    granularity = extra.get("granularity", "month")
    return Prediction(
        granularity,
        horizon,
        dt.date.fromisoformat(extra["generated_from"]),
        expense,
        income,
        cash,
        extra["accounts"],
        extra["confidence"],
        served_from_store=True,
    )


# -- backtest and the LightGBM challenger ----------------------------------------------
def residual_history(con: Any, granularity: str, recurring: Any) -> tuple[Any, dt.date]:
    """Expense and income series with the recurring series' transactions left out, and the
    last complete period: what the models forecast (recurring items are scheduled)."""
    import polars as pl

    df, end, _ = _history(con, granularity, {t for s in recurring.series for t in s.tx_ids})
    return df.filter(~pl.col("unique_id").str.starts_with("account:")), end


def backtest(
    con: Any, granularity: str = "month", windows: int = BACKTEST_WINDOWS, recurring: Any = None
) -> dict[str, Any]:
    """Rolling origins over the last ``windows`` periods (one step ahead): the per-series
    choice (made on the windows before each evaluation window) against seasonal naive.
    ``recurring``: a RecurringReport already computed."""
    import polars as pl

    from finanalytics_cli.engine.recurring import detect_recurring

    started = time.perf_counter()
    recurring = recurring or detect_recurring(con)
    df, end = residual_history(con, granularity, recurring)
    total = SELECTION_WINDOWS + windows
    n = df.group_by("unique_id").len()["len"].min()
    if n < total + SEASON[granularity] + 2:
        raise InsufficientData(
            f"a backtest over {windows} {granularity}s needs {total + SEASON[granularity] + 2} "
            f"{granularity}s of history; the data has {n}"
        )
    cv = _cv(df, granularity, total)
    names = _names(_models(granularity, n - total, n))
    cutoffs = sorted(cv["cutoff"].unique().to_list())
    # The full series a person sees = the residual + the recurring charges. The schedule
    # predicts the recurring part from each series' own past; seasonal naive, the
    # baseline, repeats the full series of a season ago.
    actual_rec, predicted_rec = _recurring_parts(recurring.series, granularity, cv["ds"].unique().to_list())
    resid = {(r["unique_id"], r["ds"]): r["y"] for r in df.iter_rows(named=True)}
    season = SEASON[granularity]
    evals = []
    for i in range(SELECTION_WINDOWS, len(cutoffs)):
        past = cv.filter(pl.col("cutoff").is_in(cutoffs[:i]))  # every earlier window: a steadier choice
        chosen = _choose(past, names)
        calibration = _calibrate(past, chosen, df.filter(pl.col("ds") <= cutoffs[i]))
        now = cv.filter(pl.col("cutoff") == cutoffs[i])
        for row in now.iter_rows(named=True):
            uid, ds, m = row["unique_id"], row["ds"], _usable(row, chosen[row["unique_id"]])
            sched = predicted_rec.get((uid, ds), 0.0)
            last_season = _next(ds, granularity, -season)
            naive = resid.get((uid, last_season))
            pt = _calibrated_point(ds, row[m], calibration, uid, 1)
            evals.append(
                {
                    "uid": uid,
                    "ds": ds,
                    "y": row["y"] + actual_rec.get((uid, ds), 0.0),
                    "pred": max(0.0, pt.value) + sched,
                    "naive": None if naive is None else naive + actual_rec.get((uid, last_season), 0.0),
                    "lo80": max(0.0, pt.lo80) + sched,
                    "hi80": max(0.0, pt.hi80) + sched,
                    "lo95": max(0.0, pt.lo95) + sched,
                    "hi95": max(0.0, pt.hi95) + sched,
                }
            )
    ev = pl.DataFrame(evals)
    scales = _scales(df, end, windows, granularity, actual_rec)
    per = ev.group_by("uid").agg(
        (pl.col("pred") - pl.col("y")).abs().mean().alias("mae"),
        (pl.col("naive") - pl.col("y")).abs().mean().alias("naive_mae"),
    )
    per = per.with_columns(pl.col("uid").replace_strict(scales, default=None).alias("scale")).filter(
        pl.col("scale") > 0
    )
    mase = float((per["mae"] / per["scale"]).mean())
    naive = float((per["naive_mae"] / per["scale"]).mean())
    # Pooled over every series and origin: the sum of absolute errors against seasonal naive's.
    both = ev.filter(pl.col("naive").is_not_null())
    pooled = float((both["pred"] - both["y"]).abs().sum() / (both["naive"] - both["y"]).abs().sum())
    cover80 = float(((ev["y"] >= ev["lo80"]) & (ev["y"] <= ev["hi80"])).mean())
    cover95 = float(((ev["y"] >= ev["lo95"]) & (ev["y"] <= ev["hi95"])).mean())
    return {
        "origins": len(cutoffs) - SELECTION_WINDOWS,
        "series": per.height,
        "mase": round(mase, 4),
        "seasonal_naive_mase": round(naive, 4),
        "ratio_to_seasonal_naive": round(mase / naive, 4),
        "pooled_ratio_to_seasonal_naive": round(pooled, 4),
        "coverage_80": round(cover80, 4),
        "coverage_95": round(cover95, 4),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _scales(
    df: Any, end: dt.date, windows: int, granularity: str, actual_rec: dict[tuple[str, dt.date], float] | None = None
) -> dict[str, float]:
    """In-sample seasonal-naive MAE of each full series before the backtest (the MASE scale)."""
    season = SEASON[granularity]
    cut = _next(end, granularity, -windows)
    rec = actual_rec or {}
    out = {}
    for uid, g in df.filter(df["ds"] <= cut).group_by("unique_id"):
        key = uid[0] if isinstance(uid, tuple) else uid
        g = g.sort("ds")
        y = [v + rec.get((key, d), 0.0) for v, d in zip(g["y"].to_list(), g["ds"].to_list(), strict=True)]
        diffs = [abs(a - b) for a, b in zip(y[season:], y[:-season], strict=False)]
        out[key] = sum(diffs) / len(diffs) if diffs else 0.0
    return out


def _recurring_parts(series: list[Any], granularity: str, periods: list[dt.date]) -> tuple[dict, dict]:
    """Per (series key, period): what recurring series actually charged, and what a schedule
    built from each series' earlier charges predicted."""
    from finanalytics_cli.engine.recurring import CADENCES, _next_date

    actual: dict[tuple[str, dt.date], float] = {}
    predicted: dict[tuple[str, dt.date], float] = {}
    for s in series:
        key = _series_key(s)
        charges = sorted(zip(s.dates, s.amounts, strict=True))
        for d, a in charges:
            p = _period_start(d, granularity)
            actual[(key, p)] = actual.get((key, p), 0.0) + abs(a)
        for p in periods:
            before = [(d, a) for d, a in charges if d < p]
            if len(before) < 2:
                continue
            last_d = before[-1][0]
            if (p - last_d).days > CADENCES[s.cadence][2] * 1.5:
                continue  # the series had stopped
            amount = statistics.median(abs(a) for _, a in before[-3:])
            amounts = [abs(a) for _, a in before]
            if len(amounts) >= 4 and statistics.pstdev(amounts) / statistics.mean(amounts) > 0.05:
                # A varying bill (energy, water): last year's charge in this period, when there is one.
                a_year_ago = [
                    abs(a)
                    for d, a in before
                    if _period_start(d, granularity) == _next(p, granularity, -SEASON[granularity])
                ]
                if a_year_ago:
                    amount = sum(a_year_ago) / len(a_year_ago)
            end = _next(p, granularity)
            d = _next_date(last_d, s.cadence)
            count = 0
            while d < end:
                if d >= p:
                    count += 1
                d = _next_date(d, s.cadence)
            if count:
                predicted[(key, p)] = predicted.get((key, p), 0.0) + count * amount
    return actual, predicted


def forecast_accuracy(con: Any) -> dict[str, Any]:
    """Stored monthly predictions whose month has passed, against what actually happened."""
    rows = con.execute(
        """
        WITH p AS (
            SELECT DISTINCT ON (entity_id, target_date) entity_type, entity_id, target_date, value, lower_80,
                   upper_80
            FROM model_predictions WHERE model_type = ? AND entity_type IN ('expense', 'income')
            ORDER BY entity_id, target_date, created_at
        ),
        last AS (SELECT date_trunc('month', max(posted_date)) AS m FROM transactions),
        a AS (
            SELECT 'expense:' || currency || ':' || split_part(coalesce(category, 'Uncategorized'), '/', 1) AS k,
                   CAST(date_trunc('month', posted_date) AS DATE) AS m, -sum(amount) AS v
            FROM transactions WHERE amount < 0 AND NOT is_transfer GROUP BY ALL
            UNION ALL
            SELECT 'income:' || currency, CAST(date_trunc('month', posted_date) AS DATE), sum(amount)
            FROM transactions WHERE amount > 0 AND NOT is_transfer GROUP BY ALL
        )
        SELECT p.entity_id, p.target_date, p.value, coalesce(CAST(a.v AS DOUBLE), 0), p.lower_80, p.upper_80
        FROM p LEFT JOIN a ON a.k = p.entity_id AND a.m = p.target_date
        WHERE p.target_date < (SELECT m FROM last)
        """,
        [MODEL_TYPE],
    ).fetchall()
    if not rows:
        return {"evaluated": 0, "note": "no predicted month has passed yet"}
    errors = [abs(v - a) for _, _, v, a, _, _ in rows]
    within = sum(lo <= a <= hi for _, _, _, a, lo, hi in rows)
    return {
        "evaluated": len(rows),
        "mae": round(sum(errors) / len(errors), 2),
        "coverage_80": round(within / len(rows), 3),
    }
