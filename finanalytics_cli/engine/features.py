"""The feature store: per-transaction features, versioned, computed once per row.

Rows of the design's ``features`` table (entity, name, value, timestamp, version).
Features that look at other transactions (a merchant's history) use only earlier
transactions, so a training set built from them is point-in-time correct. New imports
compute features only for the rows they add and the merchants those rows touch.
"""

from __future__ import annotations

from typing import Any

FEATURE_VERSION = 1
ENTITY = "transaction"
FEATURES = (
    "amount",
    "log_abs_amount",
    "is_credit",
    "day_of_month",
    "weekday",
    "month",
    "account_id",
    "merchant_prior_count",
    "merchant_prior_mean_abs",
)


def ensure_features(con: Any) -> int:
    """Compute missing features (and refresh merchants touched by new rows). Returns rows computed."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE fa_feature_todo AS
        SELECT t.tx_id FROM transactions t
        WHERE NOT EXISTS (SELECT 1 FROM features f WHERE f.entity_type = '{ENTITY}' AND f.version = {FEATURE_VERSION}
                          AND f.entity_id = CAST(t.tx_id AS VARCHAR) AND f.name = 'amount')
        """
    )
    todo = con.execute("SELECT count(*) FROM fa_feature_todo").fetchone()[0]
    if not todo:
        return 0
    # Merchants touched by new rows get their history features recomputed for every row.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE fa_feature_rows AS
        WITH touched AS (
            SELECT DISTINCT t.account_id, coalesce(t.merchant, t.payee_raw) AS m
            FROM transactions t JOIN fa_feature_todo d USING (tx_id)
        )
        SELECT t.tx_id FROM transactions t JOIN touched ON t.account_id = touched.account_id
               AND coalesce(t.merchant, t.payee_raw) IS NOT DISTINCT FROM touched.m
        UNION SELECT tx_id FROM fa_feature_todo
        """
    )
    con.execute(
        f"""
        DELETE FROM features WHERE entity_type = '{ENTITY}' AND version = {FEATURE_VERSION}
          AND entity_id IN (SELECT CAST(tx_id AS VARCHAR) FROM fa_feature_rows)
        """
    )
    cols = ", ".join(FEATURES)
    con.execute(
        f"""
        INSERT INTO features (entity_type, entity_id, name, value, ts, version)
        SELECT '{ENTITY}', CAST(tx_id AS VARCHAR), name, value, ts, {FEATURE_VERSION} FROM (
            SELECT tx_id, posted_date AS ts,
                   CAST(amount AS DOUBLE) AS amount,
                   ln(1 + abs(CAST(amount AS DOUBLE))) AS log_abs_amount,
                   CAST(amount > 0 AS DOUBLE) AS is_credit,
                   CAST(day(posted_date) AS DOUBLE) AS day_of_month,
                   CAST(isodow(posted_date) - 1 AS DOUBLE) AS weekday,
                   CAST(month(posted_date) AS DOUBLE) AS month,
                   CAST(account_id AS DOUBLE) AS account_id,
                   CAST(count(*) OVER w - 1 AS DOUBLE) AS merchant_prior_count,
                   coalesce(avg(abs(CAST(amount AS DOUBLE))) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                            0) AS merchant_prior_mean_abs
            FROM transactions t
            WHERE t.account_id IN (SELECT account_id FROM transactions JOIN fa_feature_rows USING (tx_id))
            WINDOW w AS (PARTITION BY account_id, coalesce(merchant, payee_raw) ORDER BY posted_date, tx_id)
            QUALIFY tx_id IN (SELECT tx_id FROM fa_feature_rows)
        ) UNPIVOT (value FOR name IN ({cols}))
        """
    )
    con.execute("DROP TABLE IF EXISTS temp.fa_feature_todo")
    con.execute("DROP TABLE IF EXISTS temp.fa_feature_rows")
    return int(todo)


def feature_frame(con: Any, where: str = "true", params: list[Any] | None = None) -> Any:
    """A polars frame: one row per transaction with its text fields and features."""
    pivot = ", ".join(f"max(value) FILTER (WHERE name = '{n}') AS {n}" for n in FEATURES)
    return con.execute(
        f"""
        WITH t AS MATERIALIZED (
            SELECT t.tx_id, t.posted_date, t.account_id, t.currency, t.payee_raw, t.merchant, t.memo, t.mcc,
                   t.category, t.category_source, t.is_transfer
            FROM transactions t WHERE {where}
        ),
        f AS (  -- the features of the chosen rows only (one transaction's, not the store's)
            SELECT CAST(entity_id AS BIGINT) AS tx_id, {pivot}
            FROM features WHERE entity_type = '{ENTITY}' AND version = {FEATURE_VERSION}
              AND entity_id IN (SELECT CAST(tx_id AS VARCHAR) FROM t)
            GROUP BY entity_id
        )
        SELECT t.*, f.* EXCLUDE (tx_id, account_id)
        FROM t JOIN f USING (tx_id)
        ORDER BY t.posted_date, t.tx_id
        """,
        params or [],
    ).pl()
