"""Write a parsed batch into the store: dedupe, pending matching, transfer matching.

Everything here runs inside the caller's database transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finanalytics_cli.engine.ingest.payee import clean_merchant_series

# Re-importing the same or an overlapping export must add nothing: a row's identity is
# its fingerprint (account, date, amount, currency, payee, memo) plus its occurrence
# index among identical rows of the same day, so two real identical purchases survive.
FINGERPRINT_VERSION = 1


def _fingerprint_basis(account_id: int) -> Any:
    """The text a fingerprint hashes (normalised: upper case, single spaces)."""
    import polars as pl

    def norm(col: str) -> Any:
        return pl.col(col).fill_null("").str.to_uppercase().str.replace_all(r"\s+", " ").str.strip_chars()

    return pl.concat_str(
        [
            pl.lit(str(account_id)),
            pl.col("posted_date").dt.strftime("%Y-%m-%d"),
            pl.col("amount").cast(pl.String),
            pl.col("currency"),
            norm("payee_raw"),
            norm("memo"),
        ],
        separator="|",
    )


TRANSFER_WORDS = (
    r"(?i)transfer|xfer|trnsfr|trf\b|überweisung|ueberweisung|umbuchung|übertrag|virement|transferencia|"
    r"traspaso|trasferimento|giroconto|overboeking|overschrijving|payment thank you|thank you for your payment|"
    r"autopay|card payment|credit card payment|creditcard payment|online payment|payment received|"
    r"internet payment|epayment|to savings|from savings|to checking|from checking|own account|eigenes konto|"
    r"sweep|wise|transferwise|revolut"
)
TRANSFER_WINDOW_DAYS = 4
PENDING_WINDOW_DAYS = 10
PENDING_AMOUNT_TOLERANCE = 0.25  # tips and currency settlement move a pending amount

TX_COLUMNS = (
    "tx_id, account_id, import_id, posted_date, amount, currency, payee_raw, merchant, memo, category, "
    "category_source, category_confidence, fitid, fingerprint, occurrence, is_pending, is_transfer, "
    "transfer_tx_id, balance, raw_row, created_at"
)


def batch_frame(rows: list[dict[str, Any]]) -> Any:
    """A polars frame in the batch schema every importer hands to :func:`load_batch`."""
    import polars as pl

    money = pl.Decimal(18, 2)
    schema = {
        "line_no": pl.Int64,
        "posted_date": pl.Date,
        "amount": money,
        "payee_raw": pl.String,
        "memo": pl.String,
        "fitid": pl.String,
        "currency": pl.String,
        "balance": money,
        "is_pending": pl.Boolean,
        "raw_row": pl.String,
        "category": pl.String,
        "category_source": pl.String,
    }
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


@dataclass
class LoadStats:
    read: int = 0
    added: int = 0
    duplicate: int = 0
    pending_matched: int = 0


def load_batch(con: Any, account_id: int, import_id: int | None, frame: Any, default_currency: str) -> LoadStats:
    """Insert the batch's new rows; count duplicates; replace pending rows that posted."""
    import polars as pl

    stats = LoadStats(read=frame.height)
    if frame.height == 0:
        return stats
    for col, dtype in (("category", pl.String), ("category_source", pl.String)):
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype).alias(col))
    frame = frame.with_columns(
        pl.col("currency").fill_null(default_currency).str.to_uppercase(),
        clean_merchant_series(frame["payee_raw"]).alias("merchant"),
    ).select(
        "line_no",
        "posted_date",
        "amount",
        "currency",
        "payee_raw",
        "merchant",
        "memo",
        "fitid",
        "balance",
        "is_pending",
        "raw_row",
        "category",
        "category_source",
    )
    # Identical rows are numbered in file order (occurrence), here rather than in SQL, so
    # the insert below needs neither a window nor a sort.
    frame = frame.with_columns(_fingerprint_basis(account_id).alias("fp_basis"))
    # Most rows are unique: number only the (hash-)duplicated ones, exactly by their text.
    repeated = frame.filter(pl.col("fp_basis").hash().is_duplicated()).select(
        "line_no", pl.int_range(pl.len(), dtype=pl.Int32).over("fp_basis").alias("occurrence")
    )
    frame = frame.join(repeated, on="line_no", how="left", maintain_order="left").with_columns(
        pl.col("occurrence").fill_null(0)
    )
    base = con.execute(
        "SELECT greatest((SELECT coalesce(max(tx_id), 0) FROM transactions), "
        "(SELECT coalesce(max(tx_id), 0) FROM superseded_transactions))"
    ).fetchone()[0]
    con.register("fa_incoming", frame.to_arrow())
    try:
        # Drop what the store already has (same FITID, or same fingerprint and occurrence)
        # and insert the rest; ids follow the file's line order.
        added = con.execute(
            """
            INSERT INTO transactions (tx_id, account_id, import_id, posted_date, amount, currency, payee_raw,
                                      merchant, memo, category, category_source, fitid, fingerprint, occurrence,
                                      is_pending, balance, raw_row)
            WITH s AS (SELECT *, md5(fp_basis) AS fingerprint FROM fa_incoming)
            SELECT $base + line_no, $account, $import, posted_date, amount, currency, payee_raw, merchant, memo,
                   category, category_source, fitid, fingerprint, occurrence, is_pending, balance, raw_row
            FROM s
            WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.account_id = $account AND s.fitid IS NOT NULL
                              AND t.fitid = s.fitid)
              AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.account_id = $account
                              AND t.fingerprint = s.fingerprint AND t.occurrence = s.occurrence)
              AND NOT EXISTS (SELECT 1 FROM superseded_transactions t WHERE t.account_id = $account
                              AND t.fingerprint = s.fingerprint AND t.occurrence = s.occurrence)
            """,
            {"account": account_id, "import": import_id, "base": base},
        ).fetchone()[0]
    finally:
        con.unregister("fa_incoming")
    stats.added = int(added)
    stats.duplicate = stats.read - stats.added
    stats.pending_matched = _match_pending(con, account_id, import_id)
    return stats


def _match_pending(con: Any, account_id: int, import_id: int | None) -> int:
    """A stored pending row that now appears posted (other date or amount) is replaced."""
    if not con.execute(
        "SELECT EXISTS (SELECT 1 FROM transactions WHERE account_id = ? AND is_pending)", [account_id]
    ).fetchone()[0]:
        return 0
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE fa_pending_pairs AS
        WITH pairs AS (
            SELECT p.tx_id AS pending_id, n.tx_id AS posted_id,
                   row_number() OVER (PARTITION BY p.tx_id ORDER BY abs(n.posted_date - p.posted_date),
                                      abs(n.amount - p.amount), n.tx_id) AS rp,
                   row_number() OVER (PARTITION BY n.tx_id ORDER BY abs(n.posted_date - p.posted_date),
                                      abs(n.amount - p.amount), p.tx_id) AS rn
            FROM transactions p JOIN transactions n
              ON p.account_id = n.account_id AND p.tx_id <> n.tx_id
            WHERE p.account_id = ? AND p.is_pending AND NOT n.is_pending
              AND n.import_id IS NOT DISTINCT FROM ? AND p.import_id IS DISTINCT FROM ?
              AND coalesce(n.merchant, n.payee_raw) = coalesce(p.merchant, p.payee_raw)
              AND sign(n.amount) = sign(p.amount)
              AND abs(n.amount - p.amount) <= abs(p.amount) * {PENDING_AMOUNT_TOLERANCE}
              AND n.posted_date BETWEEN p.posted_date AND p.posted_date + {PENDING_WINDOW_DAYS}
        )
        SELECT pending_id, posted_id FROM pairs WHERE rp = 1 AND rn = 1
        """,
        [account_id, import_id, import_id],
    )
    n = con.execute("SELECT count(*) FROM fa_pending_pairs").fetchone()[0]
    if n:
        cols = ", ".join(transaction_columns(con))
        con.execute(
            f"""
            INSERT INTO superseded_transactions ({cols}, superseded_by_tx, superseded_by_import, superseded_at)
            SELECT {", ".join("t." + c for c in transaction_columns(con))}, p.posted_id, ?, current_timestamp
            FROM transactions t JOIN fa_pending_pairs p ON t.tx_id = p.pending_id
            """,
            [import_id],
        )
        con.execute("DELETE FROM transactions WHERE tx_id IN (SELECT pending_id FROM fa_pending_pairs)")
    con.execute("DROP TABLE IF EXISTS temp.fa_pending_pairs")
    return int(n)


def transaction_columns(con: Any) -> list[str]:
    """The columns of ``transactions`` in order (migrations add to them)."""
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'transactions' "
            "AND database_name = current_database() ORDER BY column_index"
        ).fetchall()
    ]


def match_transfers(con: Any, import_id: int) -> int:
    """Flag money moving between the user's own accounts; returns the number of pairs.

    A pair: opposite amounts in two different accounts within a few days, at least one
    side worded like a transfer or card payment, at least one side from this import.
    Each row pairs with at most one other (nearest in time).
    """
    if con.execute("SELECT count(DISTINCT account_id) FROM transactions").fetchone()[0] < 2:
        return 0
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE fa_transfer_pairs AS
        WITH open_rows AS (
            SELECT tx_id, account_id, posted_date, amount, currency, import_id,
                   regexp_matches(coalesce(payee_raw, '') || ' ' || coalesce(memo, ''), ?) AS worded
            FROM transactions WHERE NOT is_transfer AND amount <> 0
        ),
        outs AS (SELECT * FROM open_rows WHERE amount < 0),
        ins AS (SELECT * FROM open_rows WHERE amount > 0),
        joined AS (
            SELECT a.tx_id AS a_id, b.tx_id AS b_id, abs(a.posted_date - b.posted_date) AS gap
            FROM (SELECT * FROM outs WHERE worded) a JOIN ins b
              ON a.amount = -b.amount AND a.account_id <> b.account_id
             AND abs(a.posted_date - b.posted_date) <= {TRANSFER_WINDOW_DAYS}
            WHERE a.import_id = ? OR b.import_id = ?
            UNION
            SELECT a.tx_id, b.tx_id, abs(a.posted_date - b.posted_date)
            FROM outs a JOIN (SELECT * FROM ins WHERE worded) b
              ON a.amount = -b.amount AND a.account_id <> b.account_id
             AND abs(a.posted_date - b.posted_date) <= {TRANSFER_WINDOW_DAYS}
            WHERE a.import_id = ? OR b.import_id = ?
            UNION
            -- Between accounts in different currencies the amounts differ by an exchange
            -- rate nobody gave us offline: both sides must be worded as transfers, and the
            -- rate must be plausible (0.5..2); ranked after exact pairs by the larger gap.
            SELECT a.tx_id, b.tx_id, abs(a.posted_date - b.posted_date) + 100
            FROM (SELECT * FROM outs WHERE worded) a JOIN (SELECT * FROM ins WHERE worded) b
              ON a.currency <> b.currency AND a.account_id <> b.account_id
             AND abs(a.posted_date - b.posted_date) <= {TRANSFER_WINDOW_DAYS}
             AND b.amount BETWEEN -a.amount * 0.5 AND -a.amount * 2
            WHERE a.import_id = ? OR b.import_id = ?
        ),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY a_id ORDER BY gap, b_id) AS ra,
                      row_number() OVER (PARTITION BY b_id ORDER BY gap, a_id) AS rb
            FROM joined
        )
        SELECT a_id, b_id FROM ranked WHERE ra = 1 AND rb = 1
        """,
        [TRANSFER_WORDS, import_id, import_id, import_id, import_id, import_id, import_id],
    )
    n = con.execute("SELECT count(*) FROM fa_transfer_pairs").fetchone()[0]
    if n:
        for mine, other in (("a_id", "b_id"), ("b_id", "a_id")):
            con.execute(
                f"""
                UPDATE transactions SET is_transfer = true, transfer_tx_id = p.{other},
                       category = coalesce(category, 'Transfers'),
                       category_source = coalesce(category_source, 'transfer-match')
                FROM fa_transfer_pairs p WHERE transactions.tx_id = p.{mine}
                """
            )
    con.execute("DROP TABLE IF EXISTS temp.fa_transfer_pairs")
    return int(n)
