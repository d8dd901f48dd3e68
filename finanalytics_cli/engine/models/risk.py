"""The risk_scorer: a LightGBM classifier of a cash shortfall (a checking account below
zero) within the next 30 days, trained on the user's own history. Each past day of each
checking account is a sample: its features use only what was known that day, its label
is what followed. Measured on a time hold-out against the rule of thumb it must beat
(money on hand against a month of typical outflows)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData
from finanalytics_cli.engine.models.params import FIT_THREADS, parse_model_params
from finanalytics_cli.engine.models.registry import TrainOutcome

MODEL_TYPE = "risk_scorer"
HORIZON_DAYS = 30
WARMUP_DAYS = 90
HOLDOUT_SHARE = 0.25
MIN_POSITIVE_DAYS = 10
FEATURES = [
    "balance",
    "days_of_cover",
    "inflow_30d",
    "outflow_30d",
    "outflow_90d_monthly",
    "net_30d",
    "min_balance_30d",
    "days_since_inflow",
    "day_of_month",
    "largest_outflow_90d_share",
    "outflow_next_30d_last_year",
    "outflow_next_30d_last_quarter",
]
PARAMS: dict[str, tuple[type, Any, str]] = {
    "n_estimators": (int, 150, "LightGBM trees"),
    "learning_rate": (float, 0.05, "LightGBM learning rate"),
    "num_leaves": (int, 4, "LightGBM leaves per tree"),
    "min_child_samples": (int, 60, "days per leaf at least (neighbouring days are alike)"),
}
# More money on hand never raises the risk; more going out never lowers it.
MONOTONE = {
    "balance": -1,
    "days_of_cover": -1,
    "min_balance_30d": -1,
    "inflow_30d": -1,
    "net_30d": -1,
    "outflow_30d": 1,
    "outflow_90d_monthly": 1,
}


def parse_params(pairs: list[str]) -> dict[str, Any]:
    return parse_model_params(pairs, PARAMS, MODEL_TYPE)


def daily_features(
    con: Any, labels: bool = True, balances: dict[int, list[tuple[dt.date, float]]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per checking account, one row per day after a warm-up: features as of that day and,
    with ``labels``, whether the balance went below zero in the following 30 days (days
    whose 30 days are not over yet get no label and are left out). ``balances``: the
    checking accounts' daily balances when the caller has them already."""
    from finanalytics_cli.engine.household import daily_balances

    names = dict(con.execute("SELECT account_id, name FROM accounts").fetchall())
    out: dict[str, list[dict[str, Any]]] = {}
    for account_id, path in (balances if balances is not None else daily_balances(con)).items():
        flows = con.execute(
            "SELECT posted_date, coalesce(sum(amount) FILTER (WHERE amount > 0), 0), "
            "coalesce(-sum(amount) FILTER (WHERE amount < 0), 0), coalesce(-min(amount), 0) "
            "FROM transactions WHERE account_id = ? GROUP BY 1",
            [account_id],
        ).fetchall()
        by_day = {d: (float(i), float(o), float(big)) for d, i, o, big in flows}
        n = len(path)
        inflow = [by_day.get(d, (0.0, 0.0, 0.0))[0] for d, _ in path]
        outflow = [by_day.get(d, (0.0, 0.0, 0.0))[1] for d, _ in path]
        largest = [by_day.get(d, (0.0, 0.0, 0.0))[2] for d, _ in path]
        balance = [b for _, b in path]
        cin = [0.0]
        cout = [0.0]
        for i in range(n):
            cin.append(cin[-1] + inflow[i])
            cout.append(cout[-1] + outflow[i])
        largest_in = 0.0  # a pay-sized inflow: at least half the largest so far (known that day)
        last_inflow = -1
        rows = []
        for i in range(n):
            largest_in = max(largest_in, inflow[i])
            if inflow[i] > 0 and inflow[i] >= 0.5 * largest_in:
                last_inflow = i
            if i < WARMUP_DAYS:
                continue
            end = i + HORIZON_DAYS
            if labels and end >= n:
                break
            d = path[i][0]
            out30 = cout[i + 1] - cout[i - 29]
            in30 = cin[i + 1] - cin[i - 29]
            out90 = (cout[i + 1] - cout[i - 89]) / 3
            daily_out = max(out90 / 30, 1.0)
            year_ago = i - 365
            last_year = cout[year_ago + HORIZON_DAYS + 1] - cout[year_ago + 1] if year_ago >= 0 else math.nan
            quarter_ago = i - 91  # what the same 30 days cost a quarter ago: quarterly bills
            last_quarter = cout[quarter_ago + HORIZON_DAYS + 1] - cout[quarter_ago + 1]
            features = [
                balance[i],
                balance[i] / daily_out,
                in30,
                out30,
                out90,
                in30 - out30,
                min(balance[i - 29 : i + 1]),
                float(i - last_inflow) if last_inflow >= 0 else 999.0,
                float(d.day),
                max(largest[i - 89 : i + 1]) / max(abs(balance[i]), 1.0),
                last_year,
                last_quarter,
            ]
            row: dict[str, Any] = {"date": d, "features": features}
            if labels:
                row["label"] = int(min(balance[i + 1 : end + 1]) < 0)
            rows.append(row)
        out[names[account_id]] = rows
    return out


def rule_probability(features: list[float]) -> float:
    """The rule of thumb: money on hand against a month of typical outflows (a month or
    more: little risk; nothing: certain shortfall), a logistic curve in between."""
    cover_days = features[FEATURES.index("days_of_cover")]
    return 1 / (1 + math.exp((cover_days - 15) / 5))


def _metrics(y: list[int], p: list[float]) -> dict[str, float | None]:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    both = len(set(y)) == 2
    return {
        "auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "average_precision": round(float(average_precision_score(y, p)), 4) if both else None,
        "brier": round(float(brier_score_loss(y, p)), 4),
    }


def train_risk_scorer(
    store: Any,
    params: dict[str, Any],
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    experiment: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainOutcome:
    import lightgbm as lgb
    import numpy as np

    from finanalytics_cli.engine.models.registry import register_trained

    stage = on_stage or (lambda s: None)
    started = time.perf_counter()
    con = store.con
    stage("features")
    rows = [
        r
        for account_rows in daily_features(con).values()
        for r in account_rows
        if (date_from is None or r["date"] >= date_from) and (date_to is None or r["date"] <= date_to)
    ]
    positives = sum(r["label"] for r in rows)
    if len(rows) < 200 or positives < MIN_POSITIVE_DAYS:
        raise InsufficientData(
            f"the risk_scorer learns from past shortfalls: {len(rows)} labeled account-days with {positives} "
            f"followed by a balance below zero within {HORIZON_DAYS} days (needs 200 days and "
            f"{MIN_POSITIVE_DAYS}); until then `risk` uses the rule of thumb"
        )
    rows.sort(key=lambda r: r["date"])
    dates = sorted({r["date"] for r in rows})
    cut = dates[int(len(dates) * (1 - HOLDOUT_SHARE))]
    # Leave a gap of the label horizon so no training label looks into the hold-out.
    train = [r for r in rows if r["date"] < cut - dt.timedelta(days=HORIZON_DAYS)]
    test = [r for r in rows if r["date"] >= cut]
    stage("validate")
    if sum(r["label"] for r in train) < MIN_POSITIVE_DAYS // 2 or not any(r["label"] for r in test):
        raise InsufficientData(
            f"shortfalls in the history are too few on one side of the time hold-out ({cut}): "
            f"{sum(r['label'] for r in train)} before, {sum(r['label'] for r in test)} after"
        )
    x_train = np.asarray([r["features"] for r in train], dtype=float)
    y_train = np.asarray([r["label"] for r in train])
    x_test = np.asarray([r["features"] for r in test], dtype=float)
    y_test = [r["label"] for r in test]
    kwargs = {
        "n_estimators": params["n_estimators"],
        "learning_rate": params["learning_rate"],
        "num_leaves": params["num_leaves"],
        "min_child_samples": params["min_child_samples"],
        "reg_lambda": 5.0,
        "monotone_constraints": [MONOTONE.get(f, 0) for f in FEATURES],
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "random_state": 7,
        "n_jobs": FIT_THREADS,
        "verbose": -1,
    }
    stage("fit")
    clf = lgb.LGBMClassifier(**kwargs).fit(x_train, y_train)
    p_model = clf.predict_proba(x_test)[:, 1].tolist()
    p_rule = [rule_probability(r["features"]) for r in test]
    model_metrics = _metrics(y_test, p_model)
    rule_metrics = _metrics(y_test, p_rule)
    final = lgb.LGBMClassifier(**kwargs).fit(
        np.asarray([r["features"] for r in rows], dtype=float), np.asarray([r["label"] for r in rows])
    )
    importance = sorted(zip(FEATURES, (int(v) for v in final.feature_importances_), strict=True), key=lambda kv: -kv[1])
    stage("register")
    beats = (model_metrics["auc"] or 0) > (rule_metrics["auc"] or 0)
    metrics = {
        **model_metrics,
        "rule_of_thumb": rule_metrics,
        "beats_rule_of_thumb": beats,
        "holdout_from": cut,
        "holdout_days": len(test),
        "holdout_shortfall_days": int(sum(y_test)),
        "train_days": len(train),
    }
    return register_trained(
        store,
        model_type=MODEL_TYPE,
        algorithm="lightgbm",
        features=FEATURES,
        params=params,
        metrics=metrics,
        validation={
            "holdout": {"lightgbm": model_metrics, "rule_of_thumb": rule_metrics, "from": cut, "days": len(test)},
            "feature_importance": [{"feature": f, "importance": v} for f, v in importance],
        },
        model={"classifier": final, "features": FEATURES},
        data_from=rows[0]["date"],
        data_to=rows[-1]["date"],
        rows=len(rows),
        started=started,
        experiment=experiment,
        deploy_if_first=beats,
    )
