"""Categorize transactions: user labels > user rules > model > merchant table > keyword rules > review."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finanalytics_cli.engine.categories import apply_rules, keyword_category, keyword_series
from finanalytics_cli.engine.errors import AnalyticsError, InvalidInput, ModelUnavailable

MODEL_TYPE = "category_classifier"
DEFAULT_THRESHOLD = 0.5
MERCHANT_SOURCE = "merchant"  # the built-in merchant table
KEYWORD_SOURCE = "keyword"  # the built-in keyword rules
BUILTIN = "merchant table and keyword rules"  # what categorises when no model serves
BATCH_ROWS = 200_000  # rows the built-in knowledge matches at a time


def served(pred: Any, conf: Any, builtin: Any, learned: set[str] | None, threshold: float) -> Any:
    """Per row, whether the model's guess is served or the row falls through to the next
    source: never a category it saw too few labels of, never against a built-in guess
    (merchant table, keyword rules) naming a category it never learned (rent is not Dining
    because the model only knows Dining: its vote against Housing is uninformed), never
    below the threshold. ``learned`` None: the model does not say (federated) and is
    trusted. Lists or polars Series in, a polars Boolean Series out."""
    import polars as pl

    ok = pl.Series(conf, dtype=pl.Float64) >= threshold
    if learned is None:
        return ok
    tops = {c.split("/")[0] for c in learned}
    guesses = pl.Series(builtin, dtype=pl.String)
    informed = [g for g in guesses.drop_nulls().unique().to_list() if g.split("/")[0] in tops]
    known = guesses.is_null() | guesses.is_in(informed)  # a built-in guess's top-level category learned?
    return ok & pl.Series(pred, dtype=pl.String).is_in(sorted(learned)) & known


def builtin_categories(frame: Any) -> tuple[Any, Any]:
    """The built-in knowledge's category of each row of a feature frame and where it came
    from (polars String Series): the merchant table first (brands, MCCs, salary and rent
    words; the row's currency settles brands that differ by country), then the keyword
    rules (the frame's ``KEYWORD_COLUMN`` when it has one)."""
    import polars as pl

    from finanalytics_cli.engine.merchants import match_series
    from finanalytics_cli.engine.models.category import KEYWORD_COLUMN

    cols = frame.columns
    merchant = match_series(
        frame["payee_raw"],
        frame["memo"],
        frame["currency"] if "currency" in cols else None,
        frame["mcc"] if "mcc" in cols else None,
        frame["amount"] > 0 if "amount" in cols else None,
    )
    if KEYWORD_COLUMN in cols:
        keywords = frame[KEYWORD_COLUMN]
    else:  # the keyword rules only where the table is silent
        rest = frame.filter(merchant.is_null())
        keywords = pl.Series([None] * frame.height, dtype=pl.String).scatter(
            merchant.is_null().arg_true(), keyword_series(rest["payee_raw"], rest["memo"])
        )
    both = pl.DataFrame({"m": merchant, "k": keywords}, schema={"m": pl.String, "k": pl.String})
    out = both.select(
        pl.coalesce("m", "k").alias("category"),
        pl.when(pl.col("m").is_not_null())
        .then(pl.lit(MERCHANT_SOURCE))
        .when(pl.col("k").is_not_null())
        .then(pl.lit(KEYWORD_SOURCE))
        .alias("source"),
    )
    return out["category"], out["source"]


def rule_categories(con: Any, frame: Any) -> list[str | None]:
    """What the user's rules say of each row of a frame (the first matching rule wins)."""
    import re

    from finanalytics_cli.engine.categories import list_rules

    rules = [(re.compile(r.pattern, re.IGNORECASE), r) for r in list_rules(con)]
    if not rules:
        return [None] * frame.height
    amounts = con.execute(
        "SELECT tx_id, amount FROM transactions WHERE tx_id IN (SELECT unnest(?))", [frame["tx_id"].to_list()]
    ).fetchall()
    amount = dict(amounts)
    out: list[str | None] = []
    for tx, payee, memo in zip(
        frame["tx_id"].to_list(), frame["payee_raw"].to_list(), frame["memo"].to_list(), strict=True
    ):
        hit = None
        for rx, r in rules:
            if (
                rx.search((payee if r.field == "payee" else memo) or "")
                and (r.amount_min is None or amount[tx] >= r.amount_min)
                and (r.amount_max is None or amount[tx] <= r.amount_max)
            ):
                hit = r.category
                break
        out.append(hit)
    return out


@dataclass
class CategorizeResult:
    considered: int = 0
    by_rule: int = 0
    by_model: int = 0
    by_canary: int = 0
    by_merchant: int = 0
    by_keyword: int = 0
    uncategorised: int = 0
    shadow_recorded: int = 0
    model_id: int | None = None
    canary_model_id: int | None = None
    threshold: float = DEFAULT_THRESHOLD
    fallback: str | None = None
    notes: list[str] = field(default_factory=list)


def _load(store: Any, model_id: int | None, result: CategorizeResult) -> Any:
    from finanalytics_cli.engine.models.registry import load_model

    if model_id is None:
        return None
    try:
        return load_model(store.con, store.keys.active, model_id)
    except ModelUnavailable as err:
        result.fallback = BUILTIN
        result.notes.append(err.message)
        return None


def categorize(store: Any, threshold: float | None = None, everything: bool = False) -> CategorizeResult:
    """Categorize new and uncategorized transactions (``everything``: all but user labels)."""
    from finanalytics_cli.engine.features import ensure_features, feature_frame
    from finanalytics_cli.engine.models.registry import routes_to_canary, serving

    con = store.con
    result = CategorizeResult()
    if threshold is not None and not 0 <= threshold <= 1:
        raise InvalidInput("--threshold must be between 0 and 1")
    with store.transaction():
        result.by_rule = apply_rules(con)
        route = serving(con, MODEL_TYPE)
        model = _load(store, route.production, result)
        canary = _load(store, route.canary[0], result) if route.canary else None
        shadow = _load(store, route.shadow, result) if route.shadow else None
        if route.production is None:
            result.fallback = BUILTIN
            result.notes.append("no category model is deployed; the built-in merchant table and keyword rules only")
        result.model_id = route.production if model is not None else None
        result.canary_model_id = route.canary[0] if canary is not None and route.canary else None
        if model is not None:
            result.threshold = (
                threshold
                if threshold is not None
                else float(getattr(model, "params", {}).get("threshold", DEFAULT_THRESHOLD))
            )
        else:
            result.threshold = threshold if threshold is not None else DEFAULT_THRESHOLD
        where = (
            "coalesce(t.category_source, '') NOT IN ('user', 'user-flagged', 'transfer-match') "
            "AND coalesce(t.category_source, '') NOT LIKE 'rule:%'"
        )
        if not everything:
            where += (
                " AND (t.category IS NULL OR t.category_source IN ('keyword', 'merchant') "
                "OR (t.category_source = 'model' AND t.category_model_id IS DISTINCT FROM ?))"
            )
            params = [result.model_id]
        else:
            params = []
        if model is None and canary is None and shadow is None:
            _keyword_only(con, where, params, result)  # no model features: a million rows in about a second
            return result
        ensure_features(con)
        frame = feature_frame(con, where, params)
        result.considered = frame.height
        if frame.height == 0:
            return result
        import numpy as np
        import polars as pl

        from finanalytics_cli.engine.models.category import KEYWORD_COLUMN

        n = frame.height
        tx_ids = frame["tx_id"]
        # the keyword rules' guess once: the models' feature and the built-in fallback share it
        frame = frame.with_columns(keyword_series(frame["payee_raw"], frame["memo"]).alias(KEYWORD_COLUMN))
        builtin, builtin_src = builtin_categories(frame)
        ok = pl.Series([False] * n, dtype=pl.Boolean)
        pred_s = pl.Series([None] * n, dtype=pl.String)
        conf_s = pl.Series([None] * n, dtype=pl.Float64)
        row_model = pl.Series([None] * n, dtype=pl.Int32)
        if model is not None:
            try:
                pred, conf = model.predict(frame)
                canary_mask = np.zeros(n, dtype=bool)
                if canary is not None and route.canary:
                    pct = route.canary[1]
                    canary_idx = [i for i, t in enumerate(tx_ids.to_list()) if routes_to_canary(t, pct)]
                    if canary_idx:
                        cpred, cconf = canary.predict(frame[canary_idx])
                        pred, conf = list(pred), list(conf)
                        for j, i in enumerate(canary_idx):
                            pred[i], conf[i] = cpred[j], cconf[j]
                        canary_mask[canary_idx] = True
                pred_s = pl.Series(pred, dtype=pl.String)
                conf_s = pl.Series(conf, dtype=pl.Float64)
                to_canary = pl.Series(canary_mask)
                row_model = pl.select(
                    pl.when(pl.lit(to_canary))
                    .then(pl.lit(result.canary_model_id, dtype=pl.Int32))
                    .otherwise(pl.lit(route.production, dtype=pl.Int32))
                ).to_series()
                modes = pl.select(pl.when(pl.lit(to_canary)).then(pl.lit("canary")).otherwise(pl.lit("production")))
                _record_predictions(con, tx_ids, pred_s, conf_s, row_model, modes.to_series(), result.threshold)
                ok = served(pred_s, conf_s, builtin, _learned_categories(model, canary), result.threshold)
                result.by_canary = int((ok & to_canary).sum())
                result.by_model = int((ok & ~to_canary).sum())
            except AnalyticsError:
                raise
            except Exception as exc:  # noqa: BLE001 - a model that fails to predict falls back, and says so
                ok = pl.Series([False] * n, dtype=pl.Boolean)
                result.fallback = BUILTIN
                result.notes.append(
                    f"the model failed to predict ({type(exc).__name__}); the built-in merchant table and keyword "
                    "rules used"
                )
        columns = {"tx_id": tx_ids, "ok": ok, "pred": pred_s, "conf": conf_s, "mid": row_model}
        _write_categories(con, pl.DataFrame(columns | {"b": builtin, "bs": builtin_src}), result)
        if shadow is not None and route.shadow is not None:
            spred, sconf = shadow.predict(frame)
            # Shadow predictions are recorded, never served.
            _record_predictions(con, tx_ids, spred, sconf, [route.shadow] * len(tx_ids), ["shadow"] * len(tx_ids), None)
            result.shadow_recorded = len(tx_ids)
    return result


def _keyword_only(con: Any, where: str, params: list[Any], result: CategorizeResult) -> None:
    """No model serves: the merchant table, then the keyword rules categorize the rows
    (:func:`builtin_categories`, each distinct descriptor matched once up to its store
    numbers), written back in one UPDATE."""
    import polars as pl

    frame = con.execute(
        "SELECT t.tx_id, t.payee_raw, t.memo, t.currency, t.mcc, CAST(sign(t.amount) AS DOUBLE) AS amount "
        f"FROM transactions t WHERE {where}",
        params,
    ).pl()
    result.considered = frame.height
    if frame.height == 0:
        return
    # In slices: the matcher's intermediate columns stay a slice's, not a million rows'.
    parts = [builtin_categories(frame.slice(lo, BATCH_ROWS)) for lo in range(0, frame.height, BATCH_ROWS)]
    none = pl.lit(None)
    rows = pl.DataFrame(
        {"tx_id": frame["tx_id"], "b": pl.concat([g for g, _ in parts]), "bs": pl.concat([s for _, s in parts])}
    ).with_columns(ok=pl.lit(False), pred=none.cast(pl.String), conf=none.cast(pl.Float64), mid=none.cast(pl.Int32))
    _write_categories(con, rows, result)


def _write_categories(con: Any, rows: Any, result: CategorizeResult) -> None:
    """Write a batch's categories in one UPDATE and count them by source. ``rows``: tx_id,
    ok (the model's guess is served), pred, conf, mid (the model's guess, confidence and
    id), b, bs (the built-in guess and its source)."""
    import polars as pl

    updates = rows.select(
        pl.col("tx_id").cast(pl.Int64),
        pl.when("ok").then("pred").otherwise("b").alias("category"),
        pl.when("ok").then(pl.lit("model")).otherwise("bs").alias("source"),
        pl.when("ok").then("conf").alias("confidence"),
        pl.when("ok").then("mid").cast(pl.Int32).alias("model_id"),
    )
    fell = rows.filter(~pl.col("ok"))
    result.by_merchant = int((fell["bs"] == MERCHANT_SOURCE).sum())
    result.by_keyword = int((fell["bs"] == KEYWORD_SOURCE).sum())
    result.uncategorised = int(fell["b"].is_null().sum())
    con.register("fa_cat_updates", updates.to_arrow())
    try:
        con.execute(
            """
            UPDATE transactions SET category = u.category, category_source = u.source,
                   category_confidence = u.confidence, category_model_id = u.model_id
            FROM fa_cat_updates u WHERE transactions.tx_id = u.tx_id
            """
        )
    finally:
        con.unregister("fa_cat_updates")


def _learned_categories(*models: Any) -> set[str] | None:
    """The categories the serving model(s) had enough labels of, or None when a model
    does not say (a federated one: its classes are the public taxonomy's)."""
    from finanalytics_cli.engine.models.category import MIN_SUPPORT

    learned: set[str] = set()
    for m in models:
        if m is None:
            continue
        support = getattr(m, "support_", None)
        if support is None:
            return None
        learned |= {c for c, n in support.items() if n >= MIN_SUPPORT}
    return learned


def _record_predictions(
    con: Any,
    tx_ids: Any,
    categories: Any,
    confidence: Any,
    model_ids: Any,
    modes: Any,
    threshold: float | None,
) -> None:
    """Every prediction batch goes to ``model_predictions`` with its model and confidence
    (columns as lists or polars Series)."""
    import polars as pl

    frame = pl.DataFrame(
        {"model_id": model_ids, "tx_id": tx_ids, "confidence": confidence, "category": categories, "mode": modes},
        schema={
            "model_id": pl.Int32,
            "tx_id": pl.Int64,
            "confidence": pl.Float64,
            "category": pl.String,
            "mode": pl.String,
        },
    )
    served = pl.col("confidence") >= threshold if threshold is not None else pl.lit(False)
    frame = frame.select(
        "model_id",
        pl.col("tx_id").cast(pl.String).alias("entity_id"),
        "confidence",
        # {"category": ..., "mode": ..., "served": ...}, JSON-encoded by polars (escaping included)
        pl.struct(pl.col("category"), pl.col("mode"), served.alias("served")).struct.json_encode().alias("payload"),
    )
    con.register("fa_predictions", frame.to_arrow())
    try:
        con.execute(
            f"""
            INSERT INTO model_predictions (model_id, model_type, entity_type, entity_id, confidence, payload)
            SELECT model_id, '{MODEL_TYPE}', 'transaction', entity_id, confidence, payload FROM fa_predictions
            """
        )
    finally:
        con.unregister("fa_predictions")
    from finanalytics_cli.privacy.audit import log_event

    log_event(con, "prediction_batch", {"model_type": MODEL_TYPE, "predictions": len(tx_ids)})


def explain_transaction(store: Any, tx_id: int) -> dict[str, Any]:
    from finanalytics_cli.engine.features import ensure_features, feature_frame
    from finanalytics_cli.engine.models.registry import load_model, serving

    con = store.con
    route = serving(con, MODEL_TYPE)
    if route.production is None:
        raise ModelUnavailable("no category model is deployed: nothing to explain (train and deploy one)")
    ensure_features(con)
    frame = feature_frame(con, "t.tx_id = ?", [tx_id])
    if frame.height == 0:
        raise InvalidInput(f"there is no transaction {tx_id}")
    model = load_model(con, store.keys.active, route.production)
    [out] = model.explain(frame)
    row = frame.row(0, named=True)
    return {
        "tx_id": tx_id,
        "payee": row["payee_raw"],
        "current_category": row["category"],
        "current_source": row["category_source"],
        "model_id": route.production,
        **out,
    }


FLAG_CONFIDENCE = 0.95


def label_check(store: Any, tx_id: int, category: str) -> dict[str, Any] | None:
    """Poisoning defence: a label that contradicts both the rules (user rules or built-in
    keyword rules) and a very confident deployed model is returned with the reason, so it
    is held for review and trains nothing until confirmed. None when the label is fine."""
    from finanalytics_cli.engine.categories import list_rules, resolve_category
    from finanalytics_cli.engine.features import ensure_features, feature_frame
    from finanalytics_cli.engine.models.registry import load_model, serving

    con = store.con
    # The taxonomy's spelling: `tx label 2048 dining` agrees with rules and a model that say
    # Dining (it was held for review "because" both said Dining).
    category = resolve_category(con, category)
    row = con.execute("SELECT payee_raw, memo, amount FROM transactions WHERE tx_id = ?", [tx_id]).fetchone()
    if row is None:
        return None
    payee, memo, amount = row
    import re as _re

    rule_cat = None
    for rule in list_rules(con):
        text = payee if rule.field == "payee" else memo
        if _re.search(rule.pattern, text or "", _re.IGNORECASE) and (
            (rule.amount_min is None or amount >= rule.amount_min)
            and (rule.amount_max is None or amount <= rule.amount_max)
        ):
            rule_cat = rule.category
            break
    rule_cat = rule_cat or keyword_category(payee, memo)
    top = lambda c: (c or "").split("/")[0]  # noqa: E731 - compare top-level categories
    if rule_cat is None or top(rule_cat) == top(category):
        return None
    route = serving(con, MODEL_TYPE)
    if route.production is None:
        return None
    ensure_features(con)
    frame = feature_frame(con, "t.tx_id = ?", [tx_id])
    [predicted], [confidence] = load_model(con, store.keys.active, route.production).predict(frame)
    if confidence < FLAG_CONFIDENCE or top(predicted) == top(category):
        return None
    return {
        "rule_says": rule_cat,
        "model_says": predicted,
        "model_confidence": round(confidence, 3),
        "reason": f"the rules say {rule_cat} and the model is {confidence:.0%} sure of {predicted}",
    }
