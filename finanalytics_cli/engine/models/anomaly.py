"""The anomaly_detector model: an IsolationForest over per-transaction features.

Features: log amount, the amount against the merchant's and the category's earlier
averages, how many times
and how long ago the merchant was seen, weekday, foreign currency, money in or out.
Unsupervised; validated by how it ranks what a robust z-score (the baseline) calls
unusual. Scores are percentiles of the training distribution (0..1).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput
from finanalytics_cli.engine.models.params import FIT_THREADS, parse_model_params
from finanalytics_cli.engine.models.registry import TrainOutcome

MODEL_TYPE = "anomaly_detector"
MIN_ROWS = 200
FEATURES = (
    "log_abs_amount",
    "amount_vs_merchant",
    "amount_vs_category",
    "log_merchant_count",
    "log_days_since_merchant",
    "weekday",
    "foreign",
    "is_credit",
)
PARAMS: dict[str, tuple[type, Any, str]] = {
    "n_estimators": (int, 300, "trees in the forest"),
    "outlier_percentile": (float, 0.999, "training-score percentile above which a transaction is an outlier"),
    "min_ratio": (float, 3.0, "an outlier must also be this many times the merchant's usual amount"),
}


def parse_params(pairs: list[str]) -> dict[str, Any]:
    out = parse_model_params(pairs, PARAMS, MODEL_TYPE)
    if not 0.5 < out["outlier_percentile"] < 1:
        raise InvalidInput("--param outlier_percentile must be between 0.5 and 1")
    return out


def anomaly_frame(con: Any, since: Any = None) -> Any:
    """One row per transaction (transfers excluded) with the model's features; ``since``:
    only rows from that date (features still look at the whole history)."""
    where = "AND posted_date >= ?" if since else ""
    return con.execute(
        f"""
        WITH base AS (
            SELECT t.tx_id, t.posted_date, t.amount, abs(CAST(t.amount AS DOUBLE)) AS a, t.currency,
                   a.currency AS home, t.is_transfer,
                   lower(regexp_replace(coalesce(t.merchant, t.payee_raw, ''), '[^A-Za-z]+', ' ', 'g')) AS mkey,
                   t.account_id, split_part(coalesce(t.category, 'Uncategorized'), '/', 1) AS cat
            FROM transactions t JOIN accounts a USING (account_id)
        )
        SELECT tx_id, posted_date,
               ln(1 + a) AS log_abs_amount,
               coalesce(a / nullif(avg(a) OVER (PARTITION BY account_id, mkey ORDER BY posted_date, tx_id
                                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 1.0)
                   AS amount_vs_merchant,
               coalesce(a / nullif(avg(a) OVER (PARTITION BY account_id, cat ORDER BY posted_date, tx_id
                                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 1.0)
                   AS amount_vs_category,
               ln(1 + count(*) OVER (PARTITION BY account_id, mkey ORDER BY posted_date, tx_id
                                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) AS log_merchant_count,
               ln(1 + coalesce(posted_date - lag(posted_date) OVER (PARTITION BY account_id, mkey
                                                                    ORDER BY posted_date, tx_id), 3650))
                   AS log_days_since_merchant,
               CAST(isodow(posted_date) - 1 AS DOUBLE) AS weekday,
               CAST(currency <> home AS DOUBLE) AS foreign,
               CAST(amount > 0 AS DOUBLE) AS is_credit
        FROM base WHERE NOT is_transfer
        QUALIFY true {where}
        ORDER BY posted_date, tx_id
        """,
        [since] if since else [],
    ).pl()


@dataclass
class AnomalyModel:
    forest: Any
    training_scores: Any  # sorted raw scores of the training data
    params: dict[str, Any]

    def raw(self, frame: Any) -> Any:
        import numpy as np

        x = np.column_stack([frame[c].to_numpy().astype(float) for c in FEATURES])
        return -self.forest.score_samples(x)

    def percentile(self, raw: Any) -> Any:
        import numpy as np

        return np.searchsorted(self.training_scores, raw, side="right") / len(self.training_scores)

    def outliers(self, scores: dict[int, float], ratios: dict[int, float]) -> dict[int, tuple]:
        """Transactions beyond the outlier percentile (and the amount ratio), with a reason;
        ``ratios``: each transaction's amount against the merchant's earlier average."""
        out = {}
        for tx_id, s in scores.items():
            r = ratios.get(tx_id, 1.0)
            if s >= self.params["outlier_percentile"] and r >= self.params["min_ratio"]:
                out[tx_id] = (
                    s,
                    f"unusual for this account (model score {s:.3f}): {r:.1f}x the merchant's earlier average",
                )
        return out


def score_transactions(con: Any, model: AnomalyModel, since: Any = None) -> tuple[dict[int, float], dict[int, float]]:
    """Model scores (percentiles) and amount-vs-merchant ratios per transaction (from ``since``)."""
    frame = anomaly_frame(con, since)
    if frame.height == 0:
        return {}, {}
    pct = model.percentile(model.raw(frame))
    ids = frame["tx_id"].to_list()
    ratios = dict(zip(ids, frame["amount_vs_merchant"].to_list(), strict=True))
    return {t: float(p) for t, p in zip(ids, pct, strict=True)}, ratios


def train_anomaly_detector(
    store: Any,
    params: dict[str, Any],
    *,
    date_from: Any = None,
    date_to: Any = None,
    experiment: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainOutcome:
    import numpy as np
    import polars as pl
    from sklearn.ensemble import IsolationForest

    from finanalytics_cli.engine.models.registry import register_trained

    stage = on_stage or (lambda s: None)
    started = time.perf_counter()
    stage("features")
    frame = anomaly_frame(store.con)
    if date_from:
        frame = frame.filter(pl.col("posted_date") >= date_from)
    if date_to:
        frame = frame.filter(pl.col("posted_date") <= date_to)
    if frame.height < MIN_ROWS:
        raise InsufficientData(
            f"training the anomaly detector needs at least {MIN_ROWS} transactions; "
            f"the store has {frame.height} in that range",
            details={"needed": MIN_ROWS, "have": frame.height},
        )
    stage("fit")
    x = np.column_stack([frame[c].to_numpy().astype(float) for c in FEATURES])
    forest = IsolationForest(n_estimators=params["n_estimators"], random_state=7, n_jobs=FIT_THREADS).fit(x)
    model = AnomalyModel(forest, np.sort(-forest.score_samples(x)), params)
    stage("validate")
    # The baseline's outliers (robust z of the amount against the merchant's history) should rank high.
    ratio = frame["amount_vs_merchant"].to_numpy()
    baseline = ratio >= params["min_ratio"]
    pct = model.percentile(model.raw(frame))
    metrics = {
        "rows": frame.height,
        "outlier_share": round(float(np.mean((pct >= params["outlier_percentile"]) & baseline)), 5),
        "baseline_outliers": int(baseline.sum()),
        "baseline_mean_percentile": round(float(pct[baseline].mean()), 4) if baseline.any() else None,
        "others_mean_percentile": round(float(pct[~baseline].mean()), 4),
    }
    metrics["separates_baseline_outliers"] = bool(
        metrics["baseline_mean_percentile"] is not None
        and metrics["baseline_mean_percentile"] > metrics["others_mean_percentile"]
    )
    stage("register")
    data_from, data_to = frame["posted_date"].min(), frame["posted_date"].max()
    return register_trained(
        store,
        model_type=MODEL_TYPE,
        algorithm="isolation_forest",
        features=list(FEATURES),
        params=params,
        metrics=metrics,
        validation={},
        model=model,
        data_from=data_from,
        data_to=data_to,
        rows=frame.height,
        started=started,
        experiment=experiment,
    )
