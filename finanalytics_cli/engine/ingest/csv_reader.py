"""Read a CSV export into the standard batch frame, deciding its layout once.

The order of decisions: what the file is (refused if it is not a bank, card or
payment-app export), its delimiter and header, column roles (header names proposing,
cells confirming; content alone without a header), what a --map says (always last, so it
always wins), the decimal mark, the currency and where it came from, the date format,
and the running balance as arbiter of the amount column and sign. Rows are then built in
polars expressions (see ``csv_batch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ingest import currency as cur
from finanalytics_cli.engine.ingest.dates import EXCEL_SERIAL, format_counts, monotonic_share, swap_day_month
from finanalytics_cli.engine.ingest.layout import (
    CREDIT_WORDS,
    DEBIT_WORDS,
    SPECIFIC_DIRECTION_HEADERS,
    CsvLayout,
    charges_positive_export,
    find_header,
    known_export,
    match_roles,
    normalise_header,
    sniff_delimiter,
    split_line,
)
from finanalytics_cli.engine.ingest.money import decide_decimal, explicit_sign, has_decimal_evidence
from finanalytics_cli.engine.ingest.records import (
    CANCELLED_WORDS,
    refuse_non_transaction_frame,
    refuse_non_transaction_text,
)
from finanalytics_cli.engine.ingest.roles import (
    arbitrate,
    check_named_roles,
    column_facts,
    flag_shares,
    headerless_roles,
)

HEAD_LINES = 60


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
    warnings: list[str] = field(default_factory=list)
    currency: str | None = None  # None: the file does not say
    currency_source: str | None = None
    account_hint: str | None = None  # an IBAN or account number the file names
    excluded: list[dict[str, Any]] = field(default_factory=list)  # balance and total records


def ambiguous(name: str, what: str, layout: CsvLayout, fix: dict[str, Any]) -> InvalidInput:
    for k, v in fix.items():
        setattr(layout, k, v)
    toml = layout.to_toml()
    return InvalidInput(
        f"{name}: cannot settle the layout: {what}. Write this to a file, adjust it, and pass --map FILE:\n{toml}",
        details={"ambiguous": what, "suggested_map": toml},
    )


def decide_date_format(values: Any, name: str, column: str, layout: CsvLayout, hints: dict[str, bool]) -> str:
    """The one format for the whole column; day/month order settled by all values."""
    n, counts = format_counts(values)
    if n == 0:
        raise InvalidInput(f"{name}: the date column {column!r} is empty")
    best = max(counts.values())
    if best < max(1, int(n * 0.5)):
        examples = ", ".join(repr(v) for v in values.drop_nulls().head(3).to_list())
        raise ambiguous(
            name,
            f"the dates in column {column!r} (e.g. {examples}) match no known format",
            layout,
            {"date_column": column, "date_format": "%d/%m/%Y"},
        )
    tied = [f for f, c in counts.items() if c == best]
    if len(tied) == 1:
        layout.evidence["date_format"] = "the only format that reads every date"
        return tied[0]
    families = {min(f, swap_day_month(f)) for f in tied if f != EXCEL_SERIAL}
    if len(families) == 1 and len(tied) == 2:
        a, b = tied
        share_a, share_b = monotonic_share(values, a), monotonic_share(values, b)
        if abs(share_a - share_b) >= 0.1:
            layout.evidence["date_format"] = "day/month order from the order of the rows"
            return a if share_a > share_b else b
        day_first = next(f for f in tied if f.index("%d") < f.index("%m"))
        month_first = swap_day_month(day_first)
        if hints.get("day_first"):
            layout.evidence["date_format"] = hints.get("why", "day/month order from the language of the file")
            return day_first
        if hints.get("month_first"):
            layout.evidence["date_format"] = hints.get("why", "month/day order from the US format of the file")
            return month_first
        raise ambiguous(
            name,
            f"every date in column {column!r} reads both as day/month ({day_first}) and month/day ({month_first})",
            layout,
            {"date_column": column, "date_format": day_first},
        )
    layout.evidence["date_format"] = "first of equally good formats"
    return tied[0]


_NON_ENGLISH = {
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
    "castka",
    "kwota",
    "osszeg",
    "belopp",
    "belop",
    "bel0b",
    "dato",
    "maara",
    "suma",
    "valuta",
}


def date_hints(header: list[str], text_sample: str, layout: CsvLayout, currencies: set[str | None]) -> dict[str, Any]:
    """Weak evidence of day/month order, used only when the dates themselves cannot tell."""
    card = charges_positive_export(header)
    if card:  # US card issuers' exports
        return {"day_first": False, "month_first": True, "why": f"month/day order of {card} exports"}
    known = known_export(header)
    if known:
        name, order = known
        return {
            "day_first": order == "day",
            "month_first": order == "month",
            "why": f"day/month order of {name} exports",
        }
    non_english = any(normalise_header(h) in _NON_ENGLISH for h in header)
    day_first = (
        non_english
        or layout.delimiter == ";"
        or layout.decimal == ","
        or "€" in text_sample
        or "£" in text_sample
        or bool(currencies & {"EUR", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "AUD", "NZD", "INR"})
    )
    # An English header alone is no evidence: the UK and the US both write English.
    month_first = not day_first and ("$" in text_sample or "USD" in currencies)
    return {"day_first": day_first, "month_first": month_first}


def read_csv_export(
    text: str, name: str, encoding: str, overrides: dict[str, Any] | None = None, data: bytes | None = None
) -> ParsedExport:
    """Parse a CSV export. Raises InvalidInput naming the file (and what is wrong).

    ``data``: the file's own bytes when they are the UTF-8 of ``text`` (read directly,
    saving a copy of the whole file)."""
    import polars as pl

    from finanalytics_cli.engine.ingest.csv_batch import build_batch, empty_batch

    overrides = dict(overrides or {})
    named = {k for k in overrides if k not in ("encoding",)}
    layout = CsvLayout(encoding=encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    head = text[:200_000].splitlines()
    _refuse_long_lines(head[:-1] if len(text) > 200_000 else head, name, text[: MAX_LINE_CHARS + 1])
    refuse_non_transaction_text(head[:80], name)
    layout.delimiter = overrides.pop("delimiter", None) or sniff_delimiter(head[:HEAD_LINES])
    header_line = overrides.pop("header_line", None)
    named_cols = [v for k, v in overrides.items() if k.endswith("_column") and isinstance(v, str)]
    named_cols += list(overrides.get("memo_columns") or [])
    if header_line is None and named_cols:
        # The map names columns: the header is the first line that has them all.
        idx = next(
            (
                i
                for i, ln in enumerate(head[:HEAD_LINES])
                if set(named_cols) <= {c.strip() for c in split_line(ln, layout.delimiter)}
            ),
            None,
        )
        if idx is None and not all(c.startswith("column_") for c in named_cols):
            raise InvalidInput(
                f"{name}: no line among the first {HEAD_LINES} has the columns the map names ({', '.join(named_cols)})"
            )
    elif header_line is None:
        idx = find_header(head, layout.delimiter)
    else:
        idx = None if int(header_line) == 0 else int(header_line) - 1
    if idx is not None:
        header = [h.strip() for h in split_line(head[idx], layout.delimiter)] if idx < len(head) else []
        seen: dict[str, int] = {}
        columns = []
        for i, h in enumerate(header):  # blank or duplicate names get positions
            base = h or f"column_{i + 1}"
            seen[base] = seen.get(base, 0) + 1
            columns.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
        first_data = idx + 1
        preamble = head[:idx]
    else:
        width = max((len(split_line(ln, layout.delimiter)) for ln in head[:200] if ln.strip()), default=0)
        columns = [f"column_{i + 1}" for i in range(width)]
        header = []
        first_data = 0
        preamble = []
    layout.header_line = None if idx is None else idx + 1
    layout.columns = columns
    if not columns:
        raise InvalidInput(f"{name}: not a transaction export: no columns")

    frame = _read_frame(text, layout.delimiter, first_data, columns, data)
    longest = frame.select(pl.max_horizontal(pl.all().str.len_chars().max())).item() if frame.width else 0
    if longest and longest > MAX_LINE_CHARS:
        raise InvalidInput(
            f"{name}: not a bank export: a cell of {longest:,} characters (a bank's row is at most "
            f"{MAX_LINE_CHARS:,}); nothing was imported"
        )
    frame = frame.with_row_index("line_no", offset=first_data + 1)
    frame = frame.filter(  # blank lines are not rows
        pl.any_horizontal([pl.col(c).is_not_null() & (pl.col(c).str.strip_chars() != "") for c in columns])
    )
    norm_header = [normalise_header(h) for h in header]
    if header:
        refuse_non_transaction_frame(norm_header, frame, columns, name)
        _assign(layout, {role: columns[i] for role, i in match_roles(header).items()})
    direction_specific = bool(
        layout.direction_column and normalise_header(layout.direction_column) in SPECIFIC_DIRECTION_HEADERS
    )
    # The map always wins, and naming one side of the amount clears the other.
    for key, value in overrides.items():
        setattr(layout, key, value)
    if named & {"debit_column", "credit_column"} and "amount_column" not in named:
        layout.amount_column = None
    if "amount_column" in named and not named & {"debit_column", "credit_column"}:
        layout.debit_column = layout.credit_column = None
    if "direction_column" in named:
        direction_specific = True
    for attr in [*_ROLE_ATTRS.values(), "category_column"]:
        col = getattr(layout, attr)
        if col is not None and col not in columns:
            raise InvalidInput(
                f"{name}: --map names column {col!r}, which the file does not have (columns: {', '.join(columns)})"
            )
    for col in layout.memo_columns:
        if col not in columns:
            raise InvalidInput(f"{name}: --map names memo column {col!r}, which the file does not have")
    if frame.height == 0:
        if header and layout.date_column and (layout.amount_column or layout.debit_column or layout.credit_column):
            return ParsedExport(
                frame=empty_batch(), layout=layout.describe(), map_toml=layout.to_toml(), checks={"empty": True}
            )
        raise InvalidInput(f"{name}: no transactions in the file")

    facts = column_facts(frame, columns)
    notes: list[str] = []
    warnings: list[str] = []
    direction_before = layout.direction_column
    if header:
        had_amount = layout.amount_column
        flags, codes = flag_shares(frame, columns)
        notes = check_named_roles(layout, facts, named, flags, codes)
        if had_amount and layout.amount_column and layout.amount_column != had_amount:
            warnings.append(
                f"the column named {had_amount!r} holds no amounts; amounts were read from column "
                f"{layout.amount_column!r} by content (the header does not line up with the rows)"
            )
    else:
        problem = headerless_roles(layout, facts, frame)
        if problem == "no column of dates":
            datish = [c for c, f in facts.items() if f.filled > 0.9 and _looks_like_dates(frame[c])]
            if not datish:
                raise InvalidInput(f"{name}: not a transaction export: no header and no column of dates")
            example = frame[datish[0]].drop_nulls().head(1).to_list()
            raise ambiguous(
                name,
                f"no header, and the dates in {datish[0]} (e.g. {example[0]!r}) match no known format: set date_format",
                layout,
                {"header_line": 0, "date_column": datish[0], "date_format": "%d/%m/%Y"},
            )
        if problem:
            money = [c for c, f in facts.items() if f.money >= 0.9 and c != layout.date_column]
            # The suggested map must import the file: it carries the decimal mark too.
            decided = decide_decimal([frame[c] for c in money], layout.delimiter)
            if not isinstance(decided, str):
                layout.decimal, layout.thousands, _ = decided
            raise ambiguous(
                name,
                problem,
                layout,
                {
                    "header_line": 0,
                    "amount_column": None,
                    "debit_column": money[0] if money else None,
                    "credit_column": money[1] if len(money) > 1 else None,
                },
            )
    if layout.date_column is None or not (layout.amount_column or layout.debit_column or layout.credit_column):
        missing = "date" if layout.date_column is None else "amount"
        raise InvalidInput(
            f"{name}: not a transaction export: no {missing} column found (columns: {', '.join(columns[:20])}). "
            "If it is one, name the columns in a --map file:\n" + layout.to_toml(),
            details={"columns": columns, "suggested_map": layout.to_toml()},
        )
    for note in notes:
        layout.evidence.setdefault("columns", note)

    sample_text = text[:20_000]
    money_cols = [
        c for c in (layout.amount_column, layout.debit_column, layout.credit_column, layout.balance_column) if c
    ]
    if "decimal" not in named:
        flow_cols = [c for c in money_cols if c != layout.balance_column]
        probe = [frame[c].unique() for c in flow_cols]  # both decisions read distinct cells only
        if not has_decimal_evidence(probe):  # running balances: only when the amounts cannot tell
            probe = [frame[c].unique() for c in money_cols]
        decided = decide_decimal(probe, layout.delimiter)
        if isinstance(decided, str):
            raise ambiguous(name, decided, layout, {"decimal": ","})
        layout.decimal, thousands, layout.evidence["decimal_mark"] = decided
        if "thousands" not in named:
            layout.thousands = thousands
    parsed_currency, currency_source, account_hint = _currency(layout, frame, header, preamble, money_cols, named)
    if layout.direction_column and layout.direction_column != direction_before:
        # Flags found by content only where the amounts carry no sign of their own
        # (a "Cleared" column of C's beside signed amounts is not a direction).
        signed = layout.amount_column is None or bool(
            frame.select(explicit_sign(pl.col(layout.amount_column)).any()).item()
        )
        if signed:
            layout.direction_column = None
        else:
            direction_specific = True
    if layout.direction_column:
        _check_direction(layout, frame, name, direction_specific)
    if layout.date_format is None:
        currencies: set[str | None] = {parsed_currency}
        hints = date_hints(header, sample_text, layout, currencies)
        layout.date_format = decide_date_format(frame[layout.date_column], name, layout.date_column, layout, hints)
    card = charges_positive_export(header) if header else None
    if card and "invert_sign" not in named and not layout.direction_column:
        layout.invert_sign = True
        layout.evidence["sign"] = f"{card} exports list charges as positive amounts: signs flipped"
    settled = frame
    if layout.status_column:  # reverted or cancelled rows never moved the balance
        settled = frame.filter(~pl.col(layout.status_column).str.contains(CANCELLED_WORDS).fill_null(False))
    evidence = arbitrate(settled, layout, facts, named)
    if evidence:
        layout.evidence["amount"] = evidence
    parsed = build_batch(frame, layout, name)
    parsed.warnings = warnings + parsed.warnings
    if not card and not named & {"invert_sign", "amount_column", "debit_column", "credit_column"}:
        warning = _charges_look_positive(parsed.frame, layout)
        if warning:
            parsed.warnings.append(warning)
    parsed.currency, parsed.currency_source, parsed.account_hint = parsed_currency, currency_source, account_hint
    if layout.account_column:
        accounts = frame[layout.account_column].drop_nulls().str.strip_chars().unique().sort().to_list()
        accounts = [a for a in accounts if a]
        if len(accounts) > 1:
            parsed.warnings.append(
                f"the file holds rows of {len(accounts)} accounts ({', '.join(accounts[:5])}); all were imported "
                "into one account: split the file to keep them apart"
            )
    return parsed


_ROLE_ATTRS = {
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
    "account": "account_column",
    "value_date": "value_date_column",
    "mcc": "mcc_column",
}


_CARD_CREDIT_WORDS = r"(?i)payment|thank you|autopay|credit|refund|return|reversal|gutschrift|erstattung|remboursement"


def _charges_look_positive(batch: Any, layout: CsvLayout) -> str | None:
    """A card export that may list charges as positive: most amounts positive, and the
    few negative ones read like card payments or refunds. Said, not guessed."""
    import polars as pl

    if layout.balance_column or layout.direction_column or not layout.amount_column or batch.height < 4:
        return None
    nonzero = batch.filter(pl.col("amount") != 0)
    negative = nonzero.filter(pl.col("amount") < 0)
    if nonzero.height < 4 or negative.height == 0 or negative.height > 0.25 * nonzero.height:
        return None
    text = pl.concat_str([pl.col("payee_raw").fill_null(""), pl.col("memo").fill_null("")], separator=" ")
    if not negative.select(text.str.contains(_CARD_CREDIT_WORDS).all()).item():
        return None
    return (
        f"{nonzero.height - negative.height} of {nonzero.height} amounts are positive and the negative ones read "
        "like card payments or refunds: if this card export lists charges as positive, import it again with "
        "invert_sign = true in a --map (money out must be negative)"
    )


def _looks_like_dates(values: Any) -> bool:
    """Digits in three groups split by one separator ("10/2009/09"): dates in a format we do not know."""
    s = values.drop_nulls().str.strip_chars()
    return s.len() > 0 and bool(s.str.contains(r"^\d{1,4}([./-])\d{1,4}([./-])\d{1,4}$").mean() >= 0.9)


def _assign(layout: CsvLayout, role_cols: dict[str, str]) -> None:
    for role, attr in _ROLE_ATTRS.items():
        if role in role_cols:
            setattr(layout, attr, role_cols[role])
    if "memo" in role_cols:
        layout.memo_columns = [role_cols["memo"]]


def _currency(
    layout: CsvLayout, frame: Any, header: list[str], preamble: list[str], money_cols: list[str], named: set[str]
) -> tuple[str | None, str | None, str | None]:
    """(currency, where it came from, an IBAN the file names)."""
    iban = cur.find_iban("\n".join(preamble))
    if iban is None and layout.account_column:
        iban = cur.find_iban(" ".join(frame[layout.account_column].drop_nulls().unique().head(5).to_list()))
    if layout.currency and "currency" in named:
        return layout.currency.upper(), "the map", iban
    if layout.currency_column:
        values = frame[layout.currency_column].drop_nulls().str.strip_chars().str.to_uppercase()
        values = values.filter(values != "")
        if values.len():
            top = values.value_counts(sort=True).row(0)[0]
            if top in cur.ISO_CODES:
                return top, f"column {layout.currency_column!r}", iban
    code = cur.from_header([h for h in header if h in money_cols])
    if code:
        return code, "the column header", iban
    code = cur.from_cells(frame, money_cols)
    if code:
        layout.currency = code
        return code, "the symbols in the amounts", iban
    code = cur.iban_currency(iban)
    if code:
        return code, f"the IBAN's country ({iban[:2]})" if iban else "the IBAN", iban
    return None, None, iban


def _check_direction(layout: CsvLayout, frame: Any, name: str, specific: bool) -> None:
    """A direction column (D/C, Af/Bij, S/H...): every value must say debit or credit."""
    values = frame[layout.direction_column].drop_nulls().str.strip_chars().str.to_lowercase()
    values = values.filter(values != "")
    known = values.is_in(list(DEBIT_WORDS | CREDIT_WORDS))
    if values.len() == 0 or (not specific and known.mean() < 0.9):
        layout.direction_column = None  # a "type" column that does not say debit/credit
        return
    unknown = values.filter(~known).unique().sort().head(5).to_list()
    if unknown:
        raise ambiguous(
            name,
            f"column {layout.direction_column!r} says debit or credit, but also {', '.join(map(repr, unknown))}, "
            "which is neither",
            layout,
            {},
        )
    layout.evidence["sign"] = f"debit/credit from column {layout.direction_column!r}"


MAX_LINE_CHARS = 64 * 1024  # no bank writes a row longer; a longer one is another kind of file


def _refuse_long_lines(head: list[str], name: str, start: str) -> None:
    """A file whose first line runs on for megabytes (no line breaks) is refused at once."""
    if "\n" not in start and "\r" not in start and len(start) > MAX_LINE_CHARS:
        raise InvalidInput(
            f"{name}: not a bank export: no line break in the first {MAX_LINE_CHARS:,} characters; nothing was imported"
        )
    for i, line in enumerate(head, start=1):
        if len(line) > MAX_LINE_CHARS:
            raise InvalidInput(
                f"{name}: not a bank export: line {i} is {len(line):,} characters long (a bank's row is at most "
                f"{MAX_LINE_CHARS:,}); nothing was imported"
            )


def _read_frame(text: str, delimiter: str, skip: int, columns: list[str], data: bytes | None = None) -> Any:
    import polars as pl

    schema = {f"_c{i}": pl.String for i in range(len(columns))}
    try:
        frame = pl.read_csv(
            data[3:] if data is not None and data.startswith(b"\xef\xbb\xbf") else (data or text.encode("utf-8")),
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
