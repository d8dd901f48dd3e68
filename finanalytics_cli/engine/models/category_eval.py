"""Measuring the category classifier against a truth (the sample household's).

Used by the tests and by ``benchmarks/categorization.py``: time-split accuracy and
macro-F1 of the whole pipeline (rules, model, keyword fallback), learning curves,
robustness to noisier merchant strings, and accuracy per account and currency (a gap
over 10 points is flagged: the design's bias test).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

BIAS_GAP = 0.10


def truth_by_tx(con: Any, truth_csv: str, column: str = "category") -> dict[int, str]:
    """Stored tx_id -> a truth column (OFX rows by FITID, CSV rows by their content)."""
    import io

    import polars as pl

    truth = pl.read_csv(io.StringIO(truth_csv), infer_schema=False).with_columns(
        pl.col("date").str.to_date(), pl.col("amount").cast(pl.Decimal(18, 2))
    )
    con.register("fa_truth_eval", truth.to_arrow())
    try:
        if column not in truth.columns:
            raise ValueError(f"the truth has no column {column!r}")
        rows = con.execute(
            f"""
            WITH s AS (
                SELECT t.tx_id, t.fitid, a.name AS account, t.posted_date, t.amount, t.payee_raw,
                       row_number() OVER (PARTITION BY a.name, t.posted_date, t.amount, t.payee_raw
                                          ORDER BY t.tx_id) AS k
                FROM transactions t JOIN accounts a USING (account_id)
            ),
            g AS (SELECT *, row_number() OVER (PARTITION BY account, date, amount, payee ORDER BY key) AS k
                  FROM fa_truth_eval)
            SELECT s.tx_id, g.{column} FROM s JOIN g ON g.key = s.fitid
            UNION ALL
            SELECT s.tx_id, g.{column} FROM s JOIN g ON s.fitid IS NULL AND s.account = g.account
               AND s.posted_date = g.date AND s.amount = g.amount AND s.payee_raw = g.payee AND s.k = g.k
            ORDER BY 1
            """
        ).fetchall()
    finally:
        con.unregister("fa_truth_eval")
    return dict(rows)


def reset_categories(con: Any) -> None:
    """Forget every category except transfers (an evaluation starts from nothing)."""
    con.execute(
        "UPDATE transactions SET category = NULL, category_source = NULL, category_confidence = NULL, "
        "category_model_id = NULL, labeled_at = NULL WHERE coalesce(category_source, '') <> 'transfer-match'"
    )
    con.execute("DELETE FROM deployments")


def label(con: Any, truth: dict[int, str], tx_ids: list[int]) -> int:
    import polars as pl

    frame = pl.DataFrame(
        {"tx_id": tx_ids, "category": [truth[t] for t in tx_ids]}, schema={"tx_id": pl.Int64, "category": pl.String}
    )
    con.register("fa_labels", frame.to_arrow())
    try:
        return con.execute(
            "UPDATE transactions SET category = l.category, category_source = 'user', "
            "category_confidence = 1.0, labeled_at = current_timestamp FROM fa_labels l "
            "WHERE transactions.tx_id = l.tx_id"
        ).fetchone()[0]
    finally:
        con.unregister("fa_labels")


def split(con: Any, truth: dict[int, str], cut: dt.date) -> tuple[list[int], list[int]]:
    """Non-transfer transactions up to ``cut`` (train) and after it (test)."""
    rows = con.execute("SELECT tx_id, posted_date FROM transactions WHERE NOT is_transfer ORDER BY tx_id").fetchall()
    train = [t for t, d in rows if d <= cut and t in truth]
    test = [t for t, d in rows if d > cut and t in truth]
    return train, test


def score(con: Any, truth: dict[int, str], tx_ids: list[int]) -> dict[str, Any]:
    """Accuracy, macro-F1, coverage, and accuracy per account and currency."""
    from finanalytics_cli.engine.models.category import evaluate

    got = dict(con.execute("SELECT tx_id, coalesce(category, 'Uncategorized') FROM transactions").fetchall())
    meta = {
        t: (a, c)
        for t, a, c in con.execute(
            "SELECT t.tx_id, a.name, t.currency FROM transactions t JOIN accounts a USING (account_id)"
        ).fetchall()
    }
    labels = [truth[t] for t in tx_ids]
    predicted = [got[t] for t in tx_ids]
    out = evaluate(labels, predicted)
    out.pop("per_class")
    out["coverage"] = round(sum(p != "Uncategorized" for p in predicted) / len(predicted), 4)
    groups: dict[str, dict[str, list[bool]]] = {"account": {}, "currency": {}}
    for t, lab, pred in zip(tx_ids, labels, predicted, strict=True):
        acct, cur = meta[t]
        groups["account"].setdefault(acct, []).append(lab == pred)
        groups["currency"].setdefault(cur, []).append(lab == pred)
    for kind, parts in groups.items():
        acc = {k: round(sum(v) / len(v), 4) for k, v in parts.items()}
        out[f"accuracy_by_{kind}"] = acc
        gap = max(acc.values()) - min(acc.values()) if acc else 0.0
        out[f"{kind}_gap"] = round(gap, 4)
        out[f"{kind}_gap_flagged"] = gap > BIAS_GAP
    return out


def perturb_payees(con: Any, tx_ids: list[int], seed: int = 1) -> None:
    """Noisier merchant strings: random casing, extra store numbers, truncation."""
    from finanalytics_cli.engine.ingest.payee import clean_merchant

    rng = random.Random(seed)
    rows = con.execute(
        "SELECT tx_id, payee_raw FROM transactions WHERE tx_id IN (SELECT unnest(?))", [tx_ids]
    ).fetchall()
    updates = []
    for tx_id, payee in rows:
        p = payee or ""
        ops = rng.sample(["case", "number", "truncate"], k=rng.randint(1, 3))
        if "case" in ops:
            p = "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in p)
        if "number" in ops:
            p = f"{p} #{rng.randint(1000, 99999)}" if rng.random() < 0.5 else f"{rng.randint(100, 9999)} {p}"
        if "truncate" in ops and len(p) > 12:
            p = p[: max(10, int(len(p) * rng.uniform(0.6, 0.9)))]
        updates.append((p, clean_merchant(p), tx_id))
    con.executemany("UPDATE transactions SET payee_raw = ?, merchant = ? WHERE tx_id = ?", updates)
    # Features of the perturbed rows are recomputed from scratch.
    con.execute(
        "DELETE FROM features WHERE entity_type = 'transaction' AND CAST(entity_id AS BIGINT) IN (SELECT unnest(?))",
        [tx_ids],
    )
