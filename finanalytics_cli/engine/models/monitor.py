"""Monitoring deployed models: data drift (PSI), accuracy on new labels, confidence."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from finanalytics_cli.engine.models.registry import MODEL_TYPES, get_model, load_model, serving

PSI_DRIFT = 0.2  # the usual rule of thumb: above 0.2 the population has shifted
ACCURACY_DROP = 0.05
MIN_NEW_LABELS = 10
LOW_CONFIDENCE = 0.6
RECENT_DAYS = 90
MIN_TRAIN_ROWS = 50  # fewer labelled rows than this: compare with the whole training window


def psi(expected: list[float], actual: list[float], bins: int = 10) -> float | None:
    """Population stability index of ``actual`` against ``expected`` (quantile bins)."""
    import numpy as np

    if len(expected) < 20 or len(actual) < 20:
        return None
    edges = np.unique(np.quantile(np.asarray(expected, dtype=float), np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        return None
    e = np.histogram(np.clip(expected, edges[0], edges[-1]), edges)[0] / len(expected)
    a = np.histogram(np.clip(actual, edges[0], edges[-1]), edges)[0] / len(actual)
    e, a = np.clip(e, 1e-4, None), np.clip(a, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_categorical(expected: list[str], actual: list[str]) -> float | None:
    from collections import Counter

    if len(expected) < 20 or len(actual) < 20:
        return None
    ce, ca = Counter(expected), Counter(actual)
    total = 0.0
    for k in set(ce) | set(ca):
        e = max(ce[k] / len(expected), 1e-4)
        a = max(ca[k] / len(actual), 1e-4)
        total += (a - e) * math.log(a / e)
    return total


@dataclass
class MonitorReport:
    model_type: str
    model_id: int | None
    trained_on: str | None
    recent_window: str | None
    drift: dict[str, float | None] = field(default_factory=dict)
    new_labels: int = 0
    accuracy_on_new_labels: float | None = None
    training_accuracy: float | None = None
    mean_confidence_recent: float | None = None
    low_confidence_share: float | None = None
    retrain_advised: bool = False
    reasons: list[str] = field(default_factory=list)


def monitor(store: Any, model_type: str = "category_classifier") -> MonitorReport:
    from finanalytics_cli.engine.features import ensure_features, feature_frame

    con = store.con
    route = serving(con, model_type)
    if route.production is None:
        return MonitorReport(
            model_type,
            None,
            None,
            None,
            retrain_advised=True,
            reasons=["no model serves in production: train and deploy one"],
        )
    info = get_model(con, route.production)
    report = MonitorReport(
        model_type,
        route.production,
        f"{info['data_from']} .. {info['data_to']}",
        None,
        training_accuracy=(info["metrics"] or {}).get("accuracy"),
    )
    ensure_features(con)
    last = con.execute("SELECT max(posted_date) FROM transactions").fetchone()[0]
    if last is None or info["data_from"] is None or info["data_to"] is None:
        # No transactions (all purged), or a model not trained on this store's dates (a
        # federated one): there is no training window to compare the recent rows with.
        report.reasons.append(
            "no transactions to monitor" if last is None else "the model was not trained on this store's dates"
        )
        return report
    created = con.execute("SELECT created_at FROM ml_models WHERE model_id = ?", [route.production]).fetchone()[0]
    # The rows the model was fitted on (labelled before it was trained), not every row of
    # its window: a model that only saw one account has drifted when the others arrive.
    train = feature_frame(
        con,
        "t.posted_date BETWEEN ? AND ? AND t.category_source = 'user' AND (t.labeled_at IS NULL OR t.labeled_at <= ?)",
        [info["data_from"], info["data_to"], created],
    )
    if train.height < MIN_TRAIN_ROWS:
        train = feature_frame(con, "t.posted_date BETWEEN ? AND ?", [info["data_from"], info["data_to"]])
    # What the model serves now: every row of the last RECENT_DAYS, whether or not some of
    # them were labelled for its training (a window cut after the training end can be a
    # single day when the model was trained on everything up to the last import).
    since = last - dt.timedelta(days=RECENT_DAYS)
    recent = feature_frame(con, "t.posted_date > ?", [since])
    report.recent_window = f"{recent['posted_date'].min()} .. {recent['posted_date'].max()}" if recent.height else None
    for name in ("log_abs_amount", "weekday", "day_of_month"):
        report.drift[name] = _round(psi(train[name].to_list(), recent[name].to_list()))
    report.drift["account_mix"] = _round(
        psi_categorical(
            [str(x) for x in train["account_id"].to_list()], [str(x) for x in recent["account_id"].to_list()]
        )
    )
    # Accuracy on labels the user gave after the model was trained.
    labelled = feature_frame(con, "t.category_source = 'user' AND t.labeled_at > ?", [created])
    report.new_labels = labelled.height
    if labelled.height:
        model = load_model(con, store.keys.active, route.production)
        predicted, _ = model.predict(labelled)
        truth = labelled["category"].to_list()
        report.accuracy_on_new_labels = round(
            sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth), 4
        )
    conf = con.execute(
        "SELECT avg(category_confidence), avg(CAST(category_confidence < ? AS DOUBLE)) FROM transactions "
        "WHERE category_source = 'model' AND posted_date > ?",
        [LOW_CONFIDENCE, since],
    ).fetchone()
    report.mean_confidence_recent = _round(conf[0])
    report.low_confidence_share = _round(conf[1])
    drifted = {k: v for k, v in report.drift.items() if v is not None and v > PSI_DRIFT}
    if drifted:
        report.reasons.append("data drift (PSI > 0.2) in " + ", ".join(sorted(drifted)))
    if (
        report.accuracy_on_new_labels is not None
        and report.new_labels >= MIN_NEW_LABELS
        and report.training_accuracy is not None
        and report.accuracy_on_new_labels < report.training_accuracy - ACCURACY_DROP
    ):
        report.reasons.append(
            f"accuracy on {report.new_labels} new labels is {report.accuracy_on_new_labels:.0%}, "
            f"{report.training_accuracy:.0%} at training"
        )
    if report.low_confidence_share is not None and report.low_confidence_share > 0.25:
        report.reasons.append(f"{report.low_confidence_share:.0%} of recent predictions have low confidence")
    report.retrain_advised = bool(report.reasons)
    return report


def monitor_all(store: Any) -> list[MonitorReport]:
    return [monitor(store, t) for t in MODEL_TYPES]


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)
