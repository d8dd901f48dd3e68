"""Learning by itself: the category classifier retrains when your labels change enough.

Called at the end of `import`, `tx label` and `categorize`. A new model is trained when
there are labels new or changed since the last attempt: at least ``MIN_CHANGED`` of them,
and at least ``CHANGED_SHARE`` of the labels of that attempt. It is promoted to production
only through the same gate as `models train --deploy production` (the hold-out of your
labels, categorization with it against without it and against the model serving now);
otherwise it stays registered and nothing changes. When promoted, the rows the model may
now categorize are categorized again. Everything happens in one store transaction: a kill
halfway leaves the store as it was.
"""

from __future__ import annotations

import json
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData

STATE_KEY = "category_autotrain"
MIN_CHANGED = 20
CHANGED_SHARE = 0.10


def _state(con: Any) -> dict[str, Any] | None:
    row = con.execute("SELECT value FROM app_state WHERE key = ?", [STATE_KEY]).fetchone()
    return json.loads(row[0]) if row else None


def changed_labels(con: Any) -> tuple[int, int, int]:
    """(labels now, labels new or changed since the last attempt, labels at the last attempt)."""
    total = con.execute(
        "SELECT count(*) FROM transactions WHERE category_source = 'user' AND category IS NOT NULL"
    ).fetchone()[0]
    state = _state(con)
    if state is None:
        return int(total), int(total), 0
    changed = con.execute(
        "SELECT count(*) FROM transactions WHERE category_source = 'user' AND category IS NOT NULL "
        "AND (labeled_at IS NULL OR labeled_at > CAST(? AS TIMESTAMP))",
        [state["at"]],
    ).fetchone()[0]
    # Labels taken back (rows deleted or relabelled by rules) count too.
    changed = max(int(changed), int(state["labels"]) - int(total))
    return int(total), changed, int(state["labels"])


def due(total: int, changed: int, before: int) -> bool:
    """Whether labels as :func:`changed_labels` counts them call for a new training."""
    from finanalytics_cli.engine.models.category import MIN_LABELS

    return total >= MIN_LABELS and changed >= max(MIN_CHANGED, CHANGED_SHARE * before)


def maybe_retrain(store: Any, recategorise: bool = True) -> dict[str, Any] | None:
    """Retrain the category classifier if the labels changed enough; promote it through the
    gate; recategorize when promoted. None when nothing was due."""
    from finanalytics_cli.engine.categorize import categorize
    from finanalytics_cli.engine.models.category import parse_params, train_category_classifier
    from finanalytics_cli.engine.models.registry import deploy

    con = store.con
    total, changed, before = changed_labels(con)
    if not due(total, changed, before):
        return None
    out: dict[str, Any] = {"labels": total, "labels_changed": changed, "trained": False, "deployed": False}
    with store.transaction():
        now = con.execute("SELECT CAST(current_timestamp AS TIMESTAMP)").fetchone()[0]
        try:
            result = train_category_classifier(store, parse_params([]), experiment="auto")
        except InsufficientData as exc:
            out["reason"] = str(exc)
        else:
            out.update(trained=True, model_id=result.model_id, gate=result.metrics["gate"])
            out["pipeline_accuracy"] = result.metrics["pipeline_accuracy"]
            out["fallback_accuracy"] = result.metrics["fallback_accuracy"]
            if result.metrics["beats_baseline"]:
                deploy(con, result.model_id, "production")
                out["deployed"] = True
        con.execute(
            "INSERT OR REPLACE INTO app_state (key, value) VALUES (?, ?)",
            [STATE_KEY, json.dumps({"at": str(now), "labels": total, "model_id": out.get("model_id")})],
        )
        if out["deployed"] and recategorise:
            res = categorize(store)  # joins this transaction
            out["recategorised"] = res.considered
    return out
