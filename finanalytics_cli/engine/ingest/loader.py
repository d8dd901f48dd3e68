"""Write a parsed batch into the store: dedupe, pending matching, transfer matching.

Everything here runs inside the caller's database transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from finanalytics_cli.engine.ingest.payee import digit_key, merchants_by_key

# Re-importing the same or an overlapping export must add nothing: a row's identity is
# its fingerprint (account, date, amount, currency, payee, memo) plus its occurrence
# index among identical rows of the same day, so two real identical purchases survive.
FINGERPRINT_VERSION = 1


def _fingerprint_basis(account_id: int) -> Any:
    """The text a fingerprint hashes (normalized: upper case, single spaces).

    The definition, row by row. :func:`load_batch` has DuckDB hash the same text put
    together from the columns (``_FINGERPRINT``), with the texts normalized in bulk
    (:func:`_texts`); tests/engine/ingest/test_loader.py holds the two to each other."""
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


# Whitespace that the normalisation would change inside a text: anything but a lone space.
_ODD_SPACE = r"[^\S ]|  "


def _norm_fast(col: str) -> list[Any]:
    """``upper(text)`` with the ends stripped, and whether the text holds whitespace the
    normalization would also change (see :func:`_renorm`): bank text rarely holds a tab,
    a no-break space or two spaces in a row, so few values need the regex."""
    import polars as pl

    text = pl.col(col).fill_null("")
    return [
        text.str.to_uppercase().str.strip_chars().alias(f"{col}_n"),
        text.str.contains(_ODD_SPACE).alias(f"{col}_odd"),
    ]


def _renorm(fast: Any, odd: Any, raw: Any) -> Any:
    """The fast normalization, with the values flagged ``odd`` normalized in full."""
    if not odd.any():
        return fast
    idx = odd.arg_true()
    full = raw.gather(idx).fill_null("").str.to_uppercase().str.replace_all(r"\s+", " ").str.strip_chars()
    return fast.scatter(idx, full)


def _texts(frame: Any) -> tuple[Any, Any, Any]:
    """(merchant, normalized payee, normalized memo) of each row of the batch.

    The row-wise text work runs in one select, which polars spreads over the cores.
    Merchants are cleaned once per distinct payee up to its digits (see payee.py)."""
    import polars as pl

    parts = frame.select(digit_key(pl.col("payee_raw")).alias("key"), *_norm_fast("payee_raw"), *_norm_fast("memo"))
    merchant = merchants_by_key(frame["payee_raw"], parts["key"])
    payee = _renorm(parts["payee_raw_n"], parts["payee_raw_odd"], frame["payee_raw"])
    memo = _renorm(parts["memo_n"], parts["memo_odd"], frame["memo"])
    return merchant, payee, memo


def _unless_same(norm: Any, raw: Any, name: str) -> Any:
    """``norm`` where it differs from a non-null ``raw``, else null: most bank text is
    normalized already, and the fingerprint then hashes the stored column itself."""
    import polars as pl

    differs = (raw.is_not_null() & (norm != raw)).fill_null(False)
    if not differs.any():
        return pl.repeat(None, raw.len(), dtype=pl.String, eager=True).alias(name)
    return pl.select(pl.when(differs).then(norm).otherwise(None).alias(name)).to_series()


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
        "mcc": pl.String,
    }
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)


@dataclass
class LoadStats:
    read: int = 0
    added: int = 0
    duplicate: int = 0
    pending_matched: int = 0


# DuckDB's row group. Arrow batches of exactly this many rows let DuckDB write each row
# group out (compressed, encrypted) as it completes, on both cores; one batch of a
# million rows is held uncompressed in the transaction until the commit (~250 MB more at
# the peak), and batches that straddle row groups cost more CPU (partial groups merged).
_ROW_GROUP = 122_880

# The fingerprint: md5 of the _fingerprint_basis text, as its 128-bit number (the digest's
# bytes little-endian: DuckDB's md5_number), put together in DuckDB from the columns:
# DuckDB writes dates and DECIMAL(18,2) as polars does (test_loader.py checks it), and
# payee_fp/memo_fp hold the normalised texts where they differ from the raw.
_FINGERPRINT = (
    "md5_number(concat_ws('|', $account_text, strftime(posted_date, '%Y-%m-%d'), amount::VARCHAR, currency, "
    "coalesce(payee_fp, payee_raw, ''), coalesce(memo_fp, memo, '')))"
)
_FINGERPRINT_COLUMNS = ("posted_date", "amount", "currency", "payee_raw", "payee_fp", "memo", "memo_fp")
_INSERT = f"""
    INSERT INTO transactions (tx_id, account_id, import_id, posted_date, amount, currency, payee_raw, merchant,
                              memo, category, category_source, fitid, fingerprint, occurrence, is_pending,
                              balance, raw_row, mcc)
    SELECT $base + line_no, $account, $import, posted_date, amount, currency, payee_raw, merchant, memo,
           category, category_source, fitid, {_FINGERPRINT}, occurrence, is_pending, balance, raw_row, mcc
    FROM fa_incoming
"""
# The rows the store already has: same FITID, or same fingerprint and occurrence. Anti
# joins against the stored keys stream the batch through once (a correlated NOT EXISTS
# would first gather the batch's own keys into hash tables: ~1 GB for a million rows).
_SAME_FINGERPRINT = """
    ANTI JOIN (SELECT fingerprint, occurrence FROM transactions
               WHERE account_id = $account AND posted_date BETWEEN $lo AND $hi
               UNION ALL
               SELECT fingerprint, occurrence FROM superseded_transactions
               WHERE account_id = $account AND posted_date BETWEEN $lo AND $hi) k
      ON s.fingerprint = k.fingerprint AND s.occurrence = k.occurrence
"""
_SAME_FITID = """
    ANTI JOIN (SELECT fitid FROM transactions WHERE account_id = $account AND fitid IS NOT NULL) f
      ON s.fitid = f.fitid
"""


def _arrow(frame: Any) -> Any:
    """The frame as an Arrow table of row-group-sized batches. The newest Arrow level
    hands strings over as views: a single-chunk frame is not copied."""
    import polars as pl
    import pyarrow as pa

    frame = frame.rechunk()
    batches = [
        batch
        for offset in range(0, frame.height, _ROW_GROUP)
        for batch in frame.slice(offset, _ROW_GROUP).to_arrow(compat_level=pl.CompatLevel.newest()).to_batches()
    ]
    return pa.Table.from_batches(batches)


def _occurrence(frame: Any, payee: Any, memo: Any, account_id: int) -> Any:
    """Each row's index among the rows of the batch with the same fingerprint basis, in
    file order. Most rows are unique: only rows whose key hashes repeat are numbered,
    exactly by their basis text."""
    import polars as pl

    keys = pl.DataFrame(
        {"d": frame["posted_date"], "a": frame["amount"], "c": frame["currency"], "p": payee, "m": memo}
    )
    if keys.select(pl.any_horizontal(pl.col("c", "p", "m").str.contains("|", literal=True).any())).item():
        # "A|B" + "C" and "A" + "B|C" make one basis: hash the text itself.
        hashes = frame.select(_fingerprint_basis(account_id)).to_series().hash()
    else:  # the basis is its parts joined by "|": equal parts, equal basis
        hashes = keys.hash_rows()
    ordered = hashes.sort()
    repeated = ordered.filter(ordered == ordered.shift(1))  # a sort finds repeats faster than a hash table
    occurrence = pl.zeros(frame.height, dtype=pl.Int32, eager=True)
    if repeated.len():
        idx = hashes.is_in(repeated.implode()).arg_true()
        numbered = frame[idx].select(pl.int_range(pl.len(), dtype=pl.Int32).over(_fingerprint_basis(account_id)))
        occurrence = occurrence.scatter(idx, numbered.to_series())
    return occurrence.alias("occurrence")


def load_batch(con: Any, account_id: int, import_id: int | None, frame: Any, default_currency: str) -> LoadStats:
    """Insert the batch's new rows; count duplicates; replace pending rows that posted."""
    import polars as pl

    stats = LoadStats(read=frame.height)
    if frame.height == 0:
        return stats
    for col, dtype in (("category", pl.String), ("category_source", pl.String), ("mcc", pl.String)):
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype).alias(col))
    frame = frame.select(
        "line_no",
        "posted_date",
        "amount",
        pl.col("currency").fill_null(default_currency).str.to_uppercase(),
        "payee_raw",
        "memo",
        "fitid",
        "balance",
        "is_pending",
        "raw_row",
        "category",
        "category_source",
        "mcc",
    )
    merchant, payee, memo = _texts(frame)
    # Identical rows are numbered in file order (occurrence), here rather than in SQL, so
    # the insert needs neither a window nor a sort.
    frame = frame.with_columns(
        merchant,
        _occurrence(frame, payee, memo, account_id),
        _unless_same(payee, frame["payee_raw"], "payee_fp"),
        _unless_same(memo, frame["memo"], "memo_fp"),
    )
    del merchant, payee, memo
    base = con.execute(
        "SELECT greatest((SELECT coalesce(max(tx_id), 0) FROM transactions), "
        "(SELECT coalesce(max(tx_id), 0) FROM superseded_transactions))"
    ).fetchone()[0]
    params: dict[str, Any] = {"account": account_id, "account_text": str(account_id), "import": import_id, "base": base}
    # Only stored rows of this account in the batch's dates can share a fingerprint (it
    # hashes the date); FITIDs are compared whatever their date.
    lo, hi = frame["posted_date"].min(), frame["posted_date"].max()
    stored = con.execute(
        "SELECT EXISTS (SELECT 1 FROM transactions WHERE account_id = $account AND posted_date BETWEEN $lo AND $hi) "
        "OR EXISTS (SELECT 1 FROM superseded_transactions WHERE account_id = $account "
        "AND posted_date BETWEEN $lo AND $hi)",
        {"account": account_id, "lo": lo, "hi": hi},
    ).fetchone()[0]
    with_fitid = (
        frame["fitid"].null_count() < frame.height
        and con.execute(
            "SELECT EXISTS (SELECT 1 FROM transactions WHERE account_id = ? AND fitid IS NOT NULL)", [account_id]
        ).fetchone()[0]
    )
    if stored or with_fitid:
        # Decide against the store as it was before this batch, then insert what is new.
        bounds = {"lo": lo, "hi": hi} if stored else {}
        sql = f"SELECT line_no FROM (SELECT *, {_FINGERPRINT} AS fingerprint FROM fa_incoming) s"
        if stored:
            sql += _SAME_FINGERPRINT
        if with_fitid:
            sql += _SAME_FITID
        keys = frame.select("line_no", "fitid", "occurrence", "is_pending", *_FINGERPRINT_COLUMNS)
        con.register("fa_incoming", keys.to_arrow(compat_level=pl.CompatLevel.newest()))
        try:
            found = con.execute(sql, {"account": account_id, "account_text": str(account_id)} | bounds)
            new_lines = found.pl()["line_no"]
            if stored:
                # A pending row that posted unchanged (same date, amount, payee) is a duplicate
                # of the new row: it is the same transaction, now posted.
                posted = con.execute(
                    f"""
                    UPDATE transactions SET is_pending = false
                    WHERE account_id = $account AND is_pending AND posted_date BETWEEN $lo AND $hi
                      AND fingerprint IN (SELECT {_FINGERPRINT} FROM fa_incoming WHERE NOT coalesce(is_pending, false))
                    """,
                    {"account": account_id, "account_text": str(account_id)} | bounds,
                ).fetchone()[0]
                stats.pending_matched += int(posted)
        finally:
            con.unregister("fa_incoming")
        if new_lines.len() < frame.height:
            frame = frame.filter(pl.col("line_no").is_in(new_lines.implode()))
    added = 0
    if frame.height:
        con.register("fa_incoming", _arrow(frame))  # ids follow the file's line order
        try:
            added = con.execute(_INSERT, params).fetchone()[0]
        finally:
            con.unregister("fa_incoming")
    stats.added = int(added)
    stats.duplicate = stats.read - stats.added
    stats.pending_matched += _match_pending(con, account_id, import_id)
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
    # Every pair has a side from this import and the other within the window of it: rows
    # dated further from this import's dates can pair with none of its rows.
    lo, hi = con.execute(
        "SELECT min(posted_date), max(posted_date) FROM transactions WHERE import_id = ?", [import_id]
    ).fetchone()
    if lo is None:
        return 0
    window = dt.timedelta(days=TRANSFER_WINDOW_DAYS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE fa_transfer_pairs AS
        WITH open_rows AS (
            SELECT tx_id, account_id, posted_date, amount, currency, import_id,
                   regexp_matches(coalesce(payee_raw, '') || ' ' || coalesce(memo, ''), ?) AS worded
            FROM transactions WHERE NOT is_transfer AND amount <> 0 AND posted_date BETWEEN ? AND ?
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
        [TRANSFER_WORDS, lo - window, hi + window, import_id, import_id, import_id, import_id, import_id, import_id],
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
