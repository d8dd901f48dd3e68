"""Read a CSV export into the standard batch frame, deciding its layout once."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest.layout import (
    CREDIT_WORDS,
    DATE_FORMATS,
    DEBIT_WORDS,
    CsvLayout,
    find_header,
    match_roles,
    normalise_header,
    read_sample_rows,
    sniff_delimiter,
    split_line,
)

_MIN_YEAR, _MAX_YEAR = 1950, 2100
_TIME_SUFFIX = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\s*(?:[AaPp][Mm])?\s*(?:Z|[+-]\d{2}:?\d{2}|[A-Z]{3,4})?)$"
_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "CHF": "CHF", "kr": "SEK", "zł": "PLN"}


@dataclass
class Rejected:
    line_no: int
    reason: str
    raw_row: str


@dataclass
class ParsedExport:
    """A parsed export: the batch frame plus what was learnt about the file."""

    frame: Any  # polars DataFrame in the standard batch schema
    layout: dict[str, Any]
    rejected: list[Rejected] = field(default_factory=list)
    skipped_lines: int = 0
    checks: dict[str, Any] = field(default_factory=dict)
    statements: list[dict[str, Any]] = field(default_factory=list)  # OFX: one per account
    map_toml: str | None = None


def _ambiguous(name: str, what: str, layout: CsvLayout, fix: dict[str, Any]) -> InvalidInput:
    for k, v in fix.items():
        setattr(layout, k, v)
    toml = layout.to_toml()
    return InvalidInput(
        f"{name}: cannot settle the layout: {what}. Write this to a file, adjust it, and pass --map FILE:\n{toml}",
        details={"ambiguous": what, "suggested_map": toml},
    )


def _strip_time(expr: Any) -> Any:
    return expr.str.strip_chars().str.replace(_TIME_SUFFIX, "")


def _parse_dates(series: Any, fmt: str) -> Any:
    """Dates of a string expression in one format (times of day dropped); null if not."""
    import polars as pl

    parsed = _strip_time(series).str.strptime(pl.Date, fmt, strict=False)
    year = parsed.dt.year()
    return pl.when((year >= _MIN_YEAR) & (year <= _MAX_YEAR)).then(parsed).otherwise(None)


def _monotonic_share(values: Any, fmt: str) -> float:
    """Share of consecutive rows whose dates, read with ``fmt``, keep one direction."""
    import polars as pl

    dates = pl.DataFrame({"v": values}).select(_parse_dates(pl.col("v"), fmt).alias("d")).drop_nulls()["d"]
    if dates.len() < 3:
        return 0.0
    diff = dates.diff().drop_nulls().dt.total_days()
    return max(int((diff >= 0).sum()), int((diff <= 0).sum())) / diff.len()


def _swap_day_month(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def decide_date_format(values: Any, name: str, column: str, layout: CsvLayout, hints: dict[str, bool]) -> str:
    """The one format for the whole column; day/month order settled by all values."""
    import polars as pl

    # Every distinct value must read; distinct values are few (dates repeat), so this is cheap.
    frame = pl.DataFrame({"v": values}).filter(pl.col("v").is_not_null() & (pl.col("v").str.strip_chars() != ""))
    frame = frame.unique(maintain_order=True)
    n = frame.height
    if n == 0:
        raise InvalidInput(f"{name}: the date column {column!r} is empty")
    results = frame.select([_parse_dates(pl.col("v"), fmt).alias(str(i)) for i, fmt in enumerate(DATE_FORMATS)])
    counts = {DATE_FORMATS[int(c)]: n - results[c].null_count() for c in results.columns}
    best = max(counts.values())
    if best < max(1, int(n * 0.5)):
        examples = ", ".join(repr(v) for v in frame["v"].head(3).to_list())
        raise _ambiguous(
            name,
            f"the dates in column {column!r} (e.g. {examples}) match no known format",
            layout,
            {"date_column": column, "date_format": "%d/%m/%Y"},
        )
    tied = [f for f, c in counts.items() if c == best]
    if len(tied) == 1:
        layout.evidence["date_format"] = "the only format that reads every date"
        return tied[0]
    # Ties are day/month swaps (or 2- vs 4-digit years of the same order).
    families = {min(f, _swap_day_month(f)) for f in tied}
    if len(families) == 1 and len(tied) == 2:
        a, b = tied
        share_a = _monotonic_share(values, a)
        share_b = _monotonic_share(values, b)
        if abs(share_a - share_b) >= 0.1:
            layout.evidence["date_format"] = "day/month order from the order of the rows"
            return a if share_a > share_b else b
        day_first = next(f for f in tied if f.index("%d") < f.index("%m"))
        month_first = _swap_day_month(day_first)
        if hints.get("day_first"):
            layout.evidence["date_format"] = "day/month order from the language/decimal mark of the file"
            return day_first
        if hints.get("month_first"):
            layout.evidence["date_format"] = "month/day order from the US currency/format of the file"
            return month_first
        raise _ambiguous(
            name,
            f"every date in column {column!r} reads both as day/month ({day_first}) and month/day ({month_first})",
            layout,
            {"date_column": column, "date_format": day_first},
        )
    # Identical readings (e.g. %d/%m/%Y and %d/%m/%y never tie): take the first.
    layout.evidence["date_format"] = "first of equally good formats"
    return tied[0]


_COMMA_DEC = r"^\d{1,3}(?:\.\d{3})*,\d{1,2}$|^\d+,\d{1,2}$|^\d{1,3}(?:\.\d{3})+,\d+$"
_POINT_DEC = r"^\d{1,3}(?:,\d{3})*\.\d{1,2}$|^\d+\.\d{1,2}$|^\d{1,3}(?:,\d{3})+\.\d+$"


def _has_decimal_evidence(money: list[Any]) -> bool:
    import polars as pl

    if not money:
        return False
    s = pl.concat([m.cast(pl.String).drop_nulls().unique() for m in money])
    digits = s.str.replace_all(r"[^0-9.,]", "").str.strip_chars(".,")
    return bool(digits.str.contains(_COMMA_DEC).any() or digits.str.contains(_POINT_DEC).any())


def decide_decimal(money: list[Any], name: str, layout: CsvLayout) -> tuple[str, str | None]:
    """Decimal mark and thousands separator over every money value of the file."""
    import polars as pl

    if not money:
        return ".", None
    s = pl.concat([m.cast(pl.String).drop_nulls().unique() for m in money]).unique()
    digits = s.str.replace_all(r"[^0-9.,]", "").str.strip_chars(".,")
    digits = digits.filter(digits != "")
    comma = int(digits.str.contains(_COMMA_DEC).sum())
    point = int(digits.str.contains(_POINT_DEC).sum())
    if comma and point:
        raise _ambiguous(
            name, f"{comma} amounts use a decimal comma and {point} a decimal point", layout, {"decimal": ","}
        )
    if comma or (not point and layout.delimiter == ";"):
        layout.evidence["decimal_mark"] = "decimal comma in amounts" if comma else "semicolon file, no decimals"
        thousands = "." if digits.str.contains(r"\.").any() else None
        return ",", thousands
    layout.evidence["decimal_mark"] = "decimal point in amounts" if point else "no decimals: point assumed"
    thousands = "," if digits.str.contains(",").any() else None
    return ".", thousands


_NEGATIVE = r"^\(.*\)$|^[^\d]*[-\u2212\u2013]|[-\u2212]\s*$|(?i)\s?(?:DR|DB|D)\.?\s*$"


def parse_money(series: Any, decimal: str, thousands: str | None) -> tuple[Any, Any, Any]:
    """(value, present, ok) expressions: signs from '-', '(..)', trailing '-', 'CR'/'DR'."""
    import polars as pl

    s = series.str.strip_chars()
    present = s.is_not_null() & (s != "")
    negative = s.str.contains(_NEGATIVE)
    digits = s.str.replace_all(r"[^0-9.,]", "").str.strip_chars(".,")
    if thousands:
        digits = digits.str.replace_all(re.escape(thousands), "", literal=False)
    if decimal == ",":
        digits = digits.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    else:
        digits = digits.str.replace_all(",", "", literal=True)
    # Invalid text ("1.2.3", "") casts to null; more than two decimals round half-even.
    # Amounts beyond DECIMAL(18,2) become null, i.e. a rejected row, not an overflow.
    value = digits.cast(pl.Decimal(38, 6), strict=False).round(2).cast(pl.Decimal(18, 2), strict=False)
    value = pl.when(negative).then(-value).otherwise(value)
    return value, present, value.is_not_null()


def _hints(
    header: list[str], text_sample: str, delimiter: str, decimal: str, currencies: set[str | None]
) -> dict[str, bool]:
    """Weak evidence of day/month order, used only when the dates themselves cannot tell."""
    non_english = any(
        normalise_header(h)
        in {
            "datum",
            "buchungstag",
            "fecha",
            "data",
            "montant",
            "betrag",
            "importe",
            "bedrag",
            "importo",
            "date d'operation",
            "libelle",
            "omschrijving",
            "saldo",
            "solde",
        }
        for h in header
    )
    day_first = (
        non_english
        or delimiter == ";"
        or decimal == ","
        or "€" in text_sample
        or "£" in text_sample
        or bool(currencies & {"EUR", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "AUD", "NZD", "INR"})
    )
    # An English header alone is no evidence: the UK and the US both write English.
    month_first = not day_first and ("$" in text_sample or "USD" in currencies)
    return {"day_first": day_first, "month_first": month_first}


def _headerless_roles(rows: list[list[str]], name: str, layout: CsvLayout) -> tuple[list[str], dict[str, int]]:
    import polars as pl

    width = max((len(r) for r in rows), default=0)
    columns = [f"column_{i + 1}" for i in range(width)]
    cols = [[r[i] if i < len(r) else None for r in rows] for i in range(width)]
    roles: dict[str, int] = {}
    best_date, best_ratio = None, 0.0
    numeric = []
    for i, values in enumerate(cols):
        series = pl.Series(values, dtype=pl.String)
        nonempty = series.drop_nulls().filter(series.drop_nulls().str.strip_chars() != "")
        if nonempty.len() == 0:
            continue
        ratio = max(
            (nonempty.len() - pl.select(_parse_dates(pl.lit(nonempty), f)).to_series().null_count()) / nonempty.len()
            for f in DATE_FORMATS
        )
        if ratio > best_ratio:
            best_date, best_ratio = i, ratio
        if nonempty.str.contains(r"^[\s$€£+\-()]*\d[\d.,' ]*[\s$€£)-]*$").mean() >= 0.9:
            numeric.append(i)
    if best_date is None or best_ratio < 0.8:
        raise InvalidInput(f"{name}: not a transaction export: no header and no column of dates")
    roles["date"] = best_date
    numeric = [i for i in numeric if i != best_date]
    with_decimals = [i for i in numeric if any(re.search(r"[.,]\d{2}\b", v or "") for v in cols[i])]
    candidates = with_decimals or numeric
    if not candidates:
        raise InvalidInput(f"{name}: not a transaction export: no header and no column of amounts")
    if len(candidates) > 2:
        raise _ambiguous(
            name,
            f"no header, and {len(candidates)} columns look like amounts",
            layout,
            {"columns": columns, "header_line": 0, "amount_column": columns[candidates[0]]},
        )
    roles["amount"] = candidates[0]
    if len(candidates) == 2:
        roles["balance"] = candidates[1]
    texts = [i for i in range(width) if i not in roles.values()]
    if texts:
        roles["payee"] = max(texts, key=lambda i: sum(len(v or "") for v in cols[i]))
    return columns, roles


def read_csv_export(text: str, name: str, encoding: str, overrides: dict[str, Any] | None = None) -> ParsedExport:
    """Parse a CSV export. Raises InvalidInput naming the file (and what is wrong)."""
    import polars as pl

    overrides = dict(overrides or {})
    layout = CsvLayout(encoding=encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    head = text[:200_000].splitlines()
    layout.delimiter = overrides.pop("delimiter", None) or sniff_delimiter(head[:HEAD_LINES])
    header_line = overrides.pop("header_line", None)
    named = [v for k, v in overrides.items() if k.endswith("_column") and isinstance(v, str)]
    named += list(overrides.get("memo_columns") or [])
    if header_line is None and named:
        # The map names columns: the header is the first line that has them all.
        idx = next(
            (
                i
                for i, ln in enumerate(head[:HEAD_LINES])
                if set(named) <= {c.strip() for c in split_line(ln, layout.delimiter)}
            ),
            None,
        )
        if idx is None:
            raise InvalidInput(
                f"{name}: no line among the first {HEAD_LINES} has the columns the map names ({', '.join(named)})"
            )
    elif header_line is None:
        idx = find_header(head, layout.delimiter)
    else:
        idx = None if int(header_line) == 0 else int(header_line) - 1
    if idx is not None:
        header = [h.strip() for h in split_line(head[idx], layout.delimiter)] if idx < len(head) else []
        # Blank or duplicate names get positions so every column has a unique name.
        seen: dict[str, int] = {}
        columns = []
        for i, h in enumerate(header):
            base = h or f"column_{i + 1}"
            seen[base] = seen.get(base, 0) + 1
            columns.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
        roles = match_roles(header)
        first_data = idx + 1
    else:
        sample = read_sample_rows(text, layout.delimiter, 0, 200)
        columns, roles = _headerless_roles(sample, name, layout)
        header = columns
        first_data = 0
    layout.header_line = None if idx is None else idx + 1
    layout.columns = columns
    role_cols = {role: columns[i] for role, i in roles.items()}
    mapping = {
        "date": "date_column",
        "amount": "amount_column",
        "debit": "debit_column",
        "credit": "credit_column",
        "direction": "direction_column",
        "payee": "payee_column",
        "balance": "balance_column",
        "currency": "currency_column",
        "status": "status_column",
        "reference_id": "reference_column",
    }
    for role, attr in mapping.items():
        if role in role_cols:
            setattr(layout, attr, role_cols[role])
    if "memo" in role_cols:
        layout.memo_columns = [role_cols["memo"]]
    for key, value in overrides.items():
        setattr(layout, key, value)
    for attr in [*mapping.values(), "category_column"]:
        col = getattr(layout, attr)
        if col is not None and col not in columns:
            raise InvalidInput(
                f"{name}: --map names column {col!r}, which the file does not have (columns: {', '.join(columns)})"
            )
    for col in layout.memo_columns:
        if col not in columns:
            raise InvalidInput(f"{name}: --map names memo column {col!r}, which the file does not have")
    if layout.date_column is None or not (layout.amount_column or layout.debit_column or layout.credit_column):
        missing = "date" if layout.date_column is None else "amount"
        raise InvalidInput(
            f"{name}: not a transaction export: no {missing} column found (columns: {', '.join(columns[:20])}). "
            "If it is one, name the columns in a --map file:\n" + layout.to_toml(),
            details={"columns": columns, "suggested_map": layout.to_toml()},
        )

    frame = _read_frame(text, layout.delimiter, first_data, columns, name)
    frame = frame.with_row_index("line_no", offset=first_data + 1)
    # Blank lines are not rows.
    frame = frame.filter(
        pl.any_horizontal([pl.col(c).is_not_null() & (pl.col(c).str.strip_chars() != "") for c in columns])
    )
    if frame.height == 0:
        empty = _empty_batch()
        return ParsedExport(frame=empty, layout=layout.describe(), map_toml=layout.to_toml(), checks={"empty": True})

    sample_text = text[:20_000]
    money_cols = [
        c for c in (layout.amount_column, layout.debit_column, layout.credit_column, layout.balance_column) if c
    ]
    if "decimal" not in overrides:
        flow_cols = [c for c in money_cols if c != layout.balance_column]
        # Running balances are all distinct: look at them only when the amounts cannot tell.
        probe = [frame[c] for c in flow_cols]
        if not _has_decimal_evidence(probe):
            probe = [frame[c] for c in money_cols]
        layout.decimal, thousands = decide_decimal(probe, name, layout)
        if "thousands" not in overrides:
            layout.thousands = thousands
    if layout.currency is None:
        for sym, code in _CURRENCY_SYMBOLS.items():
            if sym in sample_text and any(frame[c].str.contains(re.escape(sym)).any() for c in money_cols):
                layout.currency = code
                break
    if layout.direction_column:
        values = frame[layout.direction_column].drop_nulls().str.strip_chars().str.to_lowercase()
        if values.len() == 0 or values.is_in(list(DEBIT_WORDS | CREDIT_WORDS)).mean() < 0.9:
            layout.direction_column = None  # a "type" column that does not say debit/credit
    if layout.date_format is None:
        currencies = set()
        if layout.currency_column:
            currencies = set(
                frame[layout.currency_column]
                .drop_nulls()
                .str.strip_chars()
                .str.to_uppercase()
                .unique()
                .head(5)
                .to_list()
            )
        hints = _hints(header, sample_text, layout.delimiter, layout.decimal, currencies | {layout.currency})
        layout.date_format = decide_date_format(frame[layout.date_column], name, layout.date_column, layout, hints)
    return _build_batch(frame, layout, name)


HEAD_LINES = 60

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
}


def _empty_batch() -> Any:
    import polars as pl

    types = {
        "Int64": pl.Int64,
        "Date": pl.Date,
        "Decimal": pl.Decimal(18, 2),
        "String": pl.String,
        "Boolean": pl.Boolean,
    }
    return pl.DataFrame(schema={k: types[v] for k, v in BATCH_SCHEMA.items()})


def _read_frame(text: str, delimiter: str, skip: int, columns: list[str], name: str) -> Any:
    import polars as pl

    schema = {f"_c{i}": pl.String for i in range(len(columns))}
    try:
        frame = pl.read_csv(
            text.encode("utf-8"),
            separator=delimiter,
            has_header=False,
            skip_lines=skip,
            schema=schema,
            extra_columns="ignore",
            missing_columns="insert",
            quote_char='"',
            raise_if_empty=False,
        )
    except Exception:  # noqa: BLE001 - polars refuses odd quoting: read line by line, slower but lenient
        rows = [split_line(line, delimiter) for line in text.splitlines()[skip:]]
        width = len(columns)
        data = {f"_c{i}": [r[i] if i < len(r) else None for r in rows] for i in range(width)}
        frame = pl.DataFrame(data, schema=schema)
    return frame.rename({f"_c{i}": c for i, c in enumerate(columns)})


def _build_batch(frame: Any, layout: CsvLayout, name: str) -> ParsedExport:
    import polars as pl

    # Dates repeat: parse each distinct text once and join the dates back.
    distinct = frame.select(pl.col(layout.date_column).unique())
    distinct = distinct.with_columns(_parse_dates(pl.col(layout.date_column), layout.date_format).alias("_posted"))
    frame = frame.join(distinct, on=layout.date_column, how="left", nulls_equal=True, maintain_order="left")
    date = pl.col("_posted")
    presence = []
    oks = []
    if layout.amount_column:
        v, present, ok = parse_money(pl.col(layout.amount_column), layout.decimal, layout.thousands)
        presence.append(present)
        oks.append(ok | ~present)
        amount = v
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
        amount = pl.lit(0).cast(pl.Decimal(18, 2))
        for col, sign in ((layout.debit_column, -1), (layout.credit_column, 1)):
            if not col:
                continue
            v, present, ok = parse_money(pl.col(col), layout.decimal, layout.thousands)
            presence.append(present)
            oks.append(ok | ~present)
            amount = amount + pl.when(present & ok).then(v.abs() * sign).otherwise(pl.lit(0).cast(pl.Decimal(18, 2)))
    any_present = pl.any_horizontal(presence) if presence else pl.lit(False)
    all_ok = pl.all_horizontal(oks) if oks else pl.lit(True)
    if layout.invert_sign:
        amount = -amount
    raw = pl.concat_str([pl.col(c).fill_null("") for c in layout.columns], separator=layout.delimiter)
    payee_src = layout.payee_column or (layout.memo_columns[0] if layout.memo_columns else None)
    memo_cols = [c for c in layout.memo_columns if c != payee_src]
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
        (
            parse_money(pl.col(layout.balance_column), layout.decimal, layout.thousands)[0]
            if layout.balance_column
            else pl.lit(None, pl.Decimal(18, 2))
        ).alias("balance"),
        (
            pl.col(layout.currency_column).str.strip_chars().str.to_uppercase()
            if layout.currency_column
            else pl.lit(layout.currency, pl.String)
        ).alias("currency"),
        (
            pl.col(layout.status_column)
            .str.to_lowercase()
            .str.contains("pend|auth|hold|vorgemerkt|en cours")
            .fill_null(False)
            if layout.status_column
            else pl.lit(False)
        ).alias("is_pending"),
        (
            pl.col(layout.reference_column).str.strip_chars() if layout.reference_column else pl.lit(None, pl.String)
        ).alias("fitid"),
        raw.alias("raw_row"),
        (pl.col(layout.category_column).str.strip_chars() if layout.category_column else pl.lit(None, pl.String)).alias(
            "category_label"
        ),
    )
    bad_date = work["posted_date"].is_null()
    # Lines after the last good row that do not read as transactions are a summary
    # ("Total", "Closing balance"), not rejects.
    good = (~bad_date) & work["_ok"] & work["_present"]
    last_good = good.arg_true().max() if good.any() else -1
    idx = pl.Series(range(work.height))
    # ...but a row whose date cell is a bad date ("2024-02-30") is a reject even at the end.
    date_raw = work["_date_raw"].fill_null("")
    summary_like = (date_raw.str.strip_chars() == "") | date_raw.str.contains(r"[^\W\d_]")
    # Section notes inside the data ("Posted Transactions"): one text cell, no date.
    # Cells are counted only on rows without a date (rare), not on the whole file.
    note = pl.Series("note", [False] * work.height, dtype=pl.Boolean)
    if bad_date.any():
        bad_idx = bad_date.arg_true()
        cells = (
            frame[bad_idx]
            .select(
                pl.sum_horizontal(
                    [(pl.col(c).str.strip_chars().fill_null("") != "").cast(pl.Int32) for c in layout.columns]
                )
            )
            .to_series()
        )
        note = note.scatter(bad_idx, (cells <= 1) & summary_like.gather(bad_idx))
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
        # The common case, a clean file: no filtering (which would copy every column).
        return _finish(work.drop(*helpers), layout, [], 0, name)
    summary = work.filter(pl.col("_trailing"))
    body = work.filter(~pl.col("_trailing"))
    rejected_frame = body.filter(pl.col("_reason").is_not_null())
    rejected = [
        Rejected(r["line_no"], r["_reason"], r["raw_row"])
        for r in rejected_frame.select("line_no", "_reason", "raw_row").iter_rows(named=True)
    ]
    batch = body.filter(pl.col("_reason").is_null()).drop(*helpers)
    parsed = _finish(batch, layout, rejected, summary.height, name)
    closing = _closing_balance(summary, layout, batch)
    if closing:
        parsed.checks["closing_balance"] = closing
    return parsed


_CLOSING = r"(?i)kontostand|saldo|solde|closing balance|ending balance|balance|schlusssaldo|endsaldo"


def _closing_balance(summary: Any, layout: CsvLayout, batch: Any) -> dict[str, Any] | None:
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


def _finish(batch: Any, layout: CsvLayout, rejected: list[Rejected], skipped: int, name: str) -> ParsedExport:
    import polars as pl

    if batch.height == 0:
        first = rejected[0].reason if rejected else "no rows"
        raise InvalidInput(f"{name}: no row could be read as a transaction (first problem: {first})")
    checks = {}
    if layout.balance_column:
        checks["balance"] = _balance_check(batch, layout)
        if checks["balance"].get("sign_inverted"):
            batch = batch.with_columns(-pl.col("amount"))
    return ParsedExport(
        frame=batch,
        layout=layout.describe(),
        rejected=rejected,
        skipped_lines=skipped,
        checks=checks,
        map_toml=layout.to_toml(),
    )


def _balance_check(batch: Any, layout: CsvLayout) -> dict[str, Any]:
    """Do running balances agree with the amounts? Also reveals inverted signs."""
    rows = batch.select("amount", "balance").drop_nulls()
    if rows.height < 2:
        return {"checked": 0}
    amount, balance = rows["amount"], rows["balance"]
    step_up = balance.diff()  # ascending file: balance[i] - balance[i-1] == amount[i]
    step_down = -balance.diff()  # descending file: balance[i-1] - balance[i] == amount[i-1]
    prev_amount = amount.shift(1)
    results = {
        ("ascending", 1): int((step_up == amount).sum()),
        ("ascending", -1): int((step_up == -amount).sum()),
        ("descending", 1): int((step_down == prev_amount).sum()),
        ("descending", -1): int((step_down == -prev_amount).sum()),
    }
    (order, sign), best = max(results.items(), key=lambda kv: kv[1])
    checked = rows.height - 1
    stored = max(results[("ascending", 1)], results[("descending", 1)])
    flipped = max(results[("ascending", -1)], results[("descending", -1)])
    normal_best = max(results[("ascending", 1)], results[("descending", 1)])
    inverted = sign == -1 and best >= 0.8 * checked and best > normal_best
    if inverted:
        layout.invert_sign = True
        layout.evidence["sign"] = "running balance moves opposite to the amounts: signs inverted"
    return {
        "checked": checked,
        "agree": best,
        "mismatches": checked - best,
        "row_order": order,
        "sign_inverted": inverted,
        # Rows agreeing with the signs as stored, and as they would if flipped.
        "agree_as_stored": flipped if inverted else stored,
        "agree_if_flipped": stored if inverted else flipped,
    }
