"""Build the batch of a CSV export once its layout is settled: every row in polars expressions.

Rows that are not transactions are taken out and reported: opening/closing balance and
turnover records, section notes, summary lines after the last transaction. Pending rows
are kept, flagged, and replaced when they post. The running balance and the file's own
opening/closing balances are checked against the amounts; disagreement is a warning.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest.csv_reader import ParsedExport, Rejected
from finanalytics_cli.engine.ingest.currency import ISO_CODES
from finanalytics_cli.engine.ingest.dates import parse_dates
from finanalytics_cli.engine.ingest.layout import CREDIT_WORDS, DEBIT_WORDS, CsvLayout
from finanalytics_cli.engine.ingest.money import credit_suffix, explicit_sign, parse_money
from finanalytics_cli.engine.ingest.records import BALANCE_RECORD, CANCELLED_WORDS, balance_record_kind
from finanalytics_cli.engine.ingest.roles import agreement

BATCH_SCHEMA = {
    "line_no": "Int64",
    "posted_date": "Date",
    "amount": "Decimal",
    "payee_raw": "String",
    "memo": "String",
    "balance": "Decimal",
    "currency": "String",
    "is_pending": "Boolean",
    "fitid": "String",
    "raw_row": "String",
    "category_label": "String",
    "mcc": "String",
}
PENDING_WORDS = (
    r"(?i)pend|authori[sz]|\bhold\b|vorgemerkt|ausstehend|in bearbeitung|en attente|en cours|pendiente|"
    r"in afwachting|in behandeling|oczekuj|blokad|nezaúčtov|rezervac|függő|väntande|reserver|reservert|"
    r"reserveret|reserverat|odottaa|varaus|\boffen\b|\bventer\b|in sospeso|\bprenotat"
)


def empty_batch() -> Any:
    import polars as pl

    types = {
        "Int64": pl.Int64,
        "Date": pl.Date,
        "Decimal": pl.Decimal(18, 2),
        "String": pl.String,
        "Boolean": pl.Boolean,
    }
    return pl.DataFrame(schema={k: types[v] for k, v in BATCH_SCHEMA.items()})


def _money_cells(frame: Any, layout: CsvLayout) -> Any:
    """The frame with each money column's cells parsed: (value, present, ok) columns named
    after it (see :func:`_parsed`). Amounts repeat: each distinct text is parsed once and
    the results are joined back, which is several times faster than parsing every row."""
    import polars as pl

    columns = dict.fromkeys(
        c
        for c in (
            layout.amount_column,
            layout.debit_column,
            layout.credit_column,
            layout.fee_column,
            layout.balance_column,
        )
        if c
    )
    parts = []
    for c in columns:
        distinct = frame.select(pl.col(c).unique())
        value, present, ok = parse_money(pl.col(c), layout.decimal, layout.thousands)
        distinct = distinct.with_columns(
            value.alias(f"{c}\0value"),
            present.fill_null(False).alias(f"{c}\0present"),
            ok.fill_null(False).alias(f"{c}\0ok"),
            credit_suffix(pl.col(c)).alias(f"{c}\0credit"),
            explicit_sign(pl.col(c)).alias(f"{c}\0signed"),
        )
        joined = frame.select(c).join(distinct, on=c, how="left", nulls_equal=True, maintain_order="left")
        parts.append(joined.drop(c))
    return frame.hstack([s for part in parts for s in part.iter_columns()]) if parts else frame


def _parsed(column: str, what: str) -> Any:
    """A parsed money cell of :func:`_money_cells`: value, present, ok, credit or signed."""
    import polars as pl

    return pl.col(f"{column}\0{what}")


def _amount(frame: Any, layout: CsvLayout) -> tuple[Any, list[Any], list[Any]]:
    """(signed amount, presence exprs, ok exprs) over a frame of :func:`_money_cells`;
    signs as documented in ``money``."""
    import polars as pl

    presence, oks = [], []
    zero = pl.lit(0).cast(pl.Decimal(18, 2))
    if layout.amount_column:
        col = layout.amount_column
        v, present, ok = _parsed(col, "value"), _parsed(col, "present"), _parsed(col, "ok")
        presence.append(present)
        oks.append(ok | ~present)
        amount = v
        marked = frame.select(_parsed(col, "credit").any().alias("cr"), _parsed(col, "signed").any().alias("neg")).row(
            0
        )
        if marked[0] and not layout.direction_column:
            # "12.00 CR" marks credits: unsigned amounts beside them are debits (card statements).
            unsigned_is_debit = not marked[1]
            amount = pl.when(_parsed(col, "credit")).then(v.abs())
            amount = amount.otherwise(-v.abs() if unsigned_is_debit else v)
            layout.evidence["sign"] = "'CR' marks credits" + (
                "; unmarked amounts are debits" if unsigned_is_debit else ""
            )
        if layout.direction_column:
            d = pl.col(layout.direction_column).str.strip_chars().str.to_lowercase()
            amount = (
                pl.when(d.is_in(list(DEBIT_WORDS)))
                .then(-v.abs())
                .when(d.is_in(list(CREDIT_WORDS)))
                .then(v.abs())
                .otherwise(v)
            )
    else:
        amount = zero
        for column, sign in ((layout.debit_column, -1), (layout.credit_column, 1)):
            if not column:
                continue
            v, present, ok = _parsed(column, "value"), _parsed(column, "present"), _parsed(column, "ok")
            presence.append(present)
            oks.append(ok | ~present)
            amount = amount + pl.when(present & ok).then(v.abs() * sign).otherwise(zero)
    if layout.fee_column:  # a fee charged beside the amount, shown by the running balance
        amount = amount - _parsed(layout.fee_column, "value").abs().fill_null(0)
    if layout.invert_sign:
        amount = -amount
    return amount, presence, oks


def build_batch(frame: Any, layout: CsvLayout, name: str) -> ParsedExport:
    import polars as pl

    # Dates repeat: parse each distinct text once and join the dates back.
    distinct = frame.select(pl.col(layout.date_column).unique())
    distinct = distinct.with_columns(parse_dates(pl.col(layout.date_column), layout.date_format).alias("_posted"))
    # Join the date column alone and attach the dates: joining the frame would copy every column.
    posted = frame.select(layout.date_column).join(
        distinct, on=layout.date_column, how="left", nulls_equal=True, maintain_order="left"
    )["_posted"]
    frame = _money_cells(frame.with_columns(posted), layout)
    amount, presence, oks = _amount(frame, layout)
    any_present = pl.any_horizontal(presence) if presence else pl.lit(False)
    all_ok = pl.all_horizontal(oks) if oks else pl.lit(True)
    raw = pl.concat_str([pl.col(c).fill_null("") for c in layout.columns], separator=layout.delimiter)
    payee_src = layout.payee_column or (layout.memo_columns[0] if layout.memo_columns else None)
    memo_cols = [c for c in layout.memo_columns if c != payee_src]
    # A balance record's words may stand in any text column ("Anfangssaldo" in a reference column).
    numeric = {
        layout.date_column,
        layout.amount_column,
        layout.debit_column,
        layout.credit_column,
        layout.balance_column,
        layout.value_date_column,
        layout.currency_column,
        layout.direction_column,
    }
    text_cols = [c for c in [payee_src, *memo_cols] if c] + [
        c for c in layout.columns if c not in numeric and c != payee_src and c not in memo_cols
    ]
    # The record phrases allow blanks around them: the cells are searched as they are.
    texts = [pl.col(c) for c in text_cols]
    if texts and not frame.select(pl.any_horizontal([t.str.contains(BALANCE_RECORD) for t in texts]).any()).item():
        texts = []  # no record anywhere: skip the per-kind classification
    pending = pl.lit(False)
    if layout.status_column:
        pending = pl.col(layout.status_column).str.contains(PENDING_WORDS).fill_null(False)
    # A pending row often has no booking date yet: the word stands in the date cell.
    date_says_pending = pl.col(layout.date_column).str.contains(PENDING_WORDS).fill_null(False)
    pending = pending | date_says_pending
    date = pl.col("_posted")
    if layout.value_date_column and layout.value_date_column != layout.date_column:
        fallback = parse_dates(pl.col(layout.value_date_column), layout.date_format)
        date = pl.when(date.is_null() & date_says_pending).then(fallback).otherwise(date)
    work = frame.select(
        pl.col("line_no").cast(pl.Int64),
        date.alias("posted_date"),
        amount.cast(pl.Decimal(18, 2)).alias("amount"),
        any_present.alias("_present"),
        all_ok.alias("_ok"),
        pl.col(layout.date_column).alias("_date_raw"),
        (pl.col(payee_src).str.strip_chars() if payee_src else pl.lit(None, pl.String)).alias("payee_raw"),
        (
            pl.concat_str([pl.col(c).fill_null("") for c in memo_cols], separator=" ").str.strip_chars()
            if memo_cols
            else pl.lit(None, pl.String)
        ).alias("memo"),
        (_parsed(layout.balance_column, "value") if layout.balance_column else pl.lit(None, pl.Decimal(18, 2))).alias(
            "balance"
        ),
        (
            # A row's own currency where it names one; an empty or odd cell takes the file's.
            pl.when(pl.col(layout.currency_column).str.strip_chars().str.to_uppercase().is_in(list(ISO_CODES)))
            .then(pl.col(layout.currency_column).str.strip_chars().str.to_uppercase())
            .otherwise(pl.lit(layout.currency, pl.String))
            if layout.currency_column
            else pl.lit(layout.currency, pl.String)
        ).alias("currency"),
        pending.alias("is_pending"),
        (
            pl.col(layout.reference_column).str.strip_chars() if layout.reference_column else pl.lit(None, pl.String)
        ).alias("fitid"),
        raw.alias("raw_row"),
        (pl.col(layout.category_column).str.strip_chars() if layout.category_column else pl.lit(None, pl.String)).alias(
            "category_label"
        ),
        (pl.col(layout.mcc_column).str.strip_chars() if layout.mcc_column else pl.lit(None, pl.String)).alias("mcc"),
        (
            pl.when(pl.col(layout.status_column).str.contains(CANCELLED_WORDS).fill_null(False))
            .then(pl.lit("cancelled"))
            .otherwise(balance_record_kind(texts) if texts else pl.lit(None, pl.String))
            if layout.status_column
            else (balance_record_kind(texts) if texts else pl.lit(None, pl.String))
        ).alias("_record"),
    )
    excluded = _take_records(work)
    if excluded:
        work = work.filter(pl.col("_record").is_null())
    work = work.drop("_record")
    if work.height == 0:
        raise InvalidInput(f"{name}: no transactions in the file, only balance records")
    bad_date = work["posted_date"].is_null()
    # Lines after the last good row that do not read as transactions are a summary
    # ("Total", "Closing balance"), not rejects.
    good = (~bad_date) & work["_ok"] & work["_present"]
    last_good = good.arg_true().max() if good.any() else -1
    idx = pl.int_range(work.height, eager=True)
    # ...but a row whose date cell is a bad date ("2024-02-30") is a reject even at the end.
    # Only rows after the last good one, or with a bad date, can be summary lines or notes.
    nothing = pl.repeat(False, work.height, dtype=pl.Boolean, eager=True)
    maybe = ((idx > last_good) | bad_date).arg_true()
    summary_like = nothing  # (scatter writes in place: each result starts from a clone)
    if maybe.len():
        date_raw = work["_date_raw"].gather(maybe).fill_null("")
        summary_like = nothing.clone().scatter(
            maybe, (date_raw.str.strip_chars() == "") | date_raw.str.contains(r"[^\W\d_]")
        )
    # Section notes inside the data ("Posted Transactions"): one text cell, no date.
    note = nothing
    if bad_date.any():
        bad_idx = bad_date.arg_true()
        cells = (
            frame.filter(pl.col("line_no").is_in(work["line_no"][bad_idx].implode()))
            .select(
                pl.sum_horizontal(
                    [(pl.col(c).str.strip_chars().fill_null("") != "").cast(pl.Int32) for c in layout.columns]
                )
            )
            .to_series()
        )
        note = nothing.clone().scatter(bad_idx, (cells <= 1) & summary_like.gather(bad_idx))
    trailing = ((idx > last_good) & summary_like) | note
    reason = (
        pl.when(pl.col("posted_date").is_null())
        .then(pl.format("invalid date {}", pl.col("_date_raw").fill_null("''")))
        .when(~pl.col("_present"))
        .then(pl.lit("no amount"))
        .when(~pl.col("_ok"))
        .then(pl.lit("invalid amount"))
        .otherwise(None)
    )
    work = work.with_columns(reason.alias("_reason"), trailing.alias("_trailing"))
    helpers = ("_present", "_ok", "_date_raw", "_reason", "_trailing")
    if not trailing.any() and work["_reason"].null_count() == work.height:
        parsed = finish(work.drop(*helpers), layout, [], 0, name)
    else:
        summary = work.filter(pl.col("_trailing"))
        body = work.filter(~pl.col("_trailing"))
        rejected_frame = body.filter(pl.col("_reason").is_not_null())
        rejected = [
            Rejected(r["line_no"], r["_reason"], r["raw_row"])
            for r in rejected_frame.select("line_no", "_reason", "raw_row").iter_rows(named=True)
        ]
        batch = body.filter(pl.col("_reason").is_null()).drop(*helpers)
        parsed = finish(batch, layout, rejected, summary.height, name)
        closing = _closing_line(summary, layout, batch)
        if closing:
            parsed.checks["closing_balance"] = closing
    _check_records(parsed, excluded)
    if excluded:
        examples = ", ".join(sorted({repr(r["text"][:30]) for r in excluded})[:3])
        parsed.warnings.append(
            f"{len(excluded)} balance, total or canceled record(s) taken out, not imported as transactions ({examples})"
        )
    return parsed


def _take_records(work: Any) -> list[dict[str, Any]]:
    import polars as pl

    records = work.filter(pl.col("_record").is_not_null())
    return [
        {
            "line_no": r["line_no"],
            "kind": r["_record"],
            "date": r["posted_date"],
            "amount": r["amount"],
            "currency": r["currency"],
            "text": (r["payee_raw"] or r["memo"] or "")[:80],
        }
        for r in records.iter_rows(named=True)
    ]


def _check_records(parsed: ParsedExport, excluded: list[dict[str, Any]]) -> None:
    """Opening + transactions should give closing, per currency; else a warning."""
    parsed.excluded = excluded
    if not excluded:
        return
    parsed.checks["balance_records"] = len(excluded)
    frame = parsed.frame
    for currency in sorted({str(r["currency"]) for r in excluded}):
        rows = [r for r in excluded if str(r["currency"]) == currency and r["amount"] is not None]
        opening = next((r for r in rows if r["kind"] == "opening"), None)
        closing = next((r for r in reversed(rows) if r["kind"] == "closing"), None)
        if closing:
            parsed.checks["closing_balance"] = {
                "date": closing["date"],
                "amount": abs(closing["amount"]),
                "text": closing["text"],
            }
        if opening and closing and frame.height:
            import polars as pl

            mine = frame if currency == "None" else frame.filter(pl.col("currency").fill_null(currency) == currency)
            moved = mine["amount"].sum() if mine.height else 0
            # Balance records carry no sign of their own: their D/C flag may say "credit".
            if abs(opening["amount"]) + moved != abs(closing["amount"]):
                parsed.warnings.append(
                    f"the file's opening balance {abs(opening['amount'])} plus its transactions ({moved}) is not its "
                    f"closing balance {abs(closing['amount'])} ({currency}): rows may be missing from the export"
                )


_CLOSING = r"(?i)kontostand|saldo|solde|closing balance|ending balance|balance|schlusssaldo|endsaldo"


def _closing_line(summary: Any, layout: CsvLayout, batch: Any) -> dict[str, Any] | None:
    """A summary line such as "Kontostand am 31.10.2026;;;;2.116,85" anchors the balance."""
    import polars as pl

    for raw in reversed(summary["raw_row"].to_list()):
        if not re.search(_CLOSING, raw):
            continue
        cells = [c.strip().strip('"') for c in raw.split(layout.delimiter)]
        money = [c for c in cells if re.fullmatch(r"[-+(]?[\d.,' ]*\d[)]?-?", c) and re.search(r"[.,]\d{2}\)?-?$", c)]
        if not money:
            continue
        value = pl.select(parse_money(pl.lit(money[-1]), layout.decimal, layout.thousands)[0]).item()
        if value is None:
            continue
        found = None
        for fmt in (layout.date_format, "%d.%m.%Y", "%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y"):
            for token in re.findall(r"\d{1,4}[./-]\d{1,2}[./-]\d{2,4}", raw):
                try:
                    found = dt.datetime.strptime(token, fmt).date()
                    break
                except (TypeError, ValueError):
                    continue
            if found:
                break
        as_of = found or batch["posted_date"].max()
        return {"date": as_of, "amount": value, "text": raw[:80]}
    return None


def finish(batch: Any, layout: CsvLayout, rejected: list[Rejected], skipped: int, name: str) -> ParsedExport:
    if batch.height == 0:
        first = rejected[0].reason if rejected else "no rows"
        raise InvalidInput(f"{name}: no row could be read as a transaction (first problem: {first})")
    checks: dict[str, Any] = {}
    warnings: list[str] = []
    if layout.balance_column:
        checks["balance"] = balance_check(batch)
        b = checks["balance"]
        if b["checked"] and b["mismatches"] > 0.1 * b["checked"]:
            warnings.append(
                f"the running balance in column {layout.balance_column!r} disagrees with the amounts on "
                f"{b['mismatches']} of {b['checked']} rows: check the amounts and signs (a --map can name the columns)"
            )
    return ParsedExport(
        frame=batch,
        layout=layout.describe(),
        rejected=rejected,
        skipped_lines=skipped,
        checks=checks,
        map_toml=layout.to_toml(),
        warnings=warnings,
    )


def balance_check(batch: Any) -> dict[str, Any]:
    """Do running balances agree with the amounts as stored?"""
    import polars as pl

    ag = agreement(batch, pl.col("amount"), pl.col("balance"))
    if ag.steps == 0:
        return {"checked": 0, "mismatches": 0, "total_agrees": False}
    return {
        "checked": ag.steps,
        "agree": ag.plus,
        "mismatches": ag.steps - ag.plus,
        "row_order": ag.order,
        "total_agrees": ag.total_ok and ag.sign == 1,
        "agree_as_stored": ag.plus,
        "agree_if_flipped": ag.minus,
    }
