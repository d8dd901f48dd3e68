"""Money cells: which look like money, the file's decimal mark, signed values.

Signs, in this order: the number's own ('-', a trailing '-', parentheses, a 'DR'/'D'
suffix make it negative; 'CR' marks a credit); then a direction column (debit words make
it negative, credit words positive); then the map's ``invert_sign`` flips the result.
"""

from __future__ import annotations

import re
from typing import Any

# The number inside a cell: "$1,234.56", "EUR 1.234,56 CR", "(12.00)", "-.46", "1 234,50".
_NUMBER = r"(\d[\d.,'\u2019\u02bc\u00a0\u202f ]*\d|\d|[.,]\d+)"
_NEGATIVE = r"^\(.*\)$|^[^\d]*[-\u2212\u2013]|[-\u2212]\s*$|(?i)[\d\s)](?:DR|DB|D|S|Soll)\.?\s*$"
_CREDIT_SUFFIX = r"(?i)\d\s*\)?\s*(?:CR|C|H|Haben)\.?\s*$"
# A cell that is money: an optional sign, symbol or code, the number, an optional suffix.
MONEY_LIKE = (
    r"^[\s+\-\u2212\u2013(]*(?:[^\d\s.,+\-()]{1,4}\.?[^\d\s]{0,3}|[A-Z]{3})?\s*[+\-\u2212]?\s*"
    r"(?:\d[\d.,'\u2019\u02bc\u00a0\u202f ]*\d|\d|[.,]\d+)\s*(?:[^\d\s.,()]{1,4}|[A-Z]{3})?\s*[)\-]?\s*"
    r"(?:(?i)CR|DR|D|C)?\.?\s*$"
)

_COMMA_DEC = r"^\d{1,3}(?:\.\d{3})*,\d{1,2}$|^\d+,\d{1,2}$|^\d{1,3}(?:\.\d{3})+,\d+$|^,\d{1,2}$"
_POINT_DEC = r"^\d{1,3}(?:,\d{3})*\.\d{1,2}$|^\d+\.\d{1,2}$|^\d{1,3}(?:,\d{3})+\.\d+$|^\.\d{1,2}$"


def number_text(expr: Any) -> Any:
    """The digits and separators of a cell's number (spaces and apostrophes dropped)."""
    return expr.str.extract(_NUMBER, 1).str.replace_all(r"['\u2019\u02bc\u00a0\u202f ]", "")


def money_share(values: Any) -> float:
    """Share of the non-empty cells of a string series that read as money."""
    s = values.drop_nulls().str.strip_chars()
    s = s.filter(s != "")
    if s.len() == 0:
        return 0.0
    # "INV0001", "TRANSFER-175545673": references, not money.
    reference = s.str.contains(r"^[A-Za-z][A-Za-z_-]*\d+$")
    return float((s.str.contains(MONEY_LIKE) & ~reference).mean())


def _distinct_numbers(money: list[Any]) -> Any:
    """The number texts of the distinct cells of some money columns (non-empty)."""
    import polars as pl

    s = pl.concat([m.cast(pl.String).drop_nulls().unique() for m in money]).unique()
    digits = pl.select(number_text(pl.lit(s))).to_series().drop_nulls()
    return digits.filter(digits != "")


def has_decimal_evidence(money: list[Any]) -> bool:
    if not money:
        return False
    digits = _distinct_numbers(money)
    return bool(digits.str.contains(_COMMA_DEC).any() or digits.str.contains(_POINT_DEC).any())


def decide_decimal(money: list[Any], delimiter: str) -> tuple[str, str | None, str] | str:
    """(decimal mark, thousands separator, evidence) over every money value of the file,
    or a description of the conflict."""
    if not money:
        return ".", None, "no money column"
    digits = _distinct_numbers(money)
    # "1.250.000" can only be dot thousands (decimal comma), "1,250,000" comma thousands.
    comma = int(digits.str.contains(_COMMA_DEC).sum()) + int(digits.str.contains(r"^\d{1,3}(?:\.\d{3}){2,}$").sum())
    point = int(digits.str.contains(_POINT_DEC).sum()) + int(digits.str.contains(r"^\d{1,3}(?:,\d{3}){2,}$").sum())
    if comma and point:
        return f"{comma} amounts use a decimal comma and {point} a decimal point"
    if comma or (not point and delimiter == ";"):
        thousands = "." if digits.str.contains(r"\.").any() else None
        return ",", thousands, ("decimal comma in amounts" if comma else "semicolon file, no decimals")
    thousands = "," if digits.str.contains(",").any() else None
    return ".", thousands, ("decimal point in amounts" if point else "no decimals: point assumed")


def parse_money(series: Any, decimal: str, thousands: str | None) -> tuple[Any, Any, Any]:
    """(value, present, ok) expressions; the value carries the cell's own sign."""
    import polars as pl

    s = series.str.strip_chars()
    present = s.is_not_null() & (s != "")
    negative = s.str.contains(_NEGATIVE)
    digits = number_text(s)
    if thousands:
        digits = digits.str.replace_all(re.escape(thousands), "")
    if decimal == ",":
        digits = digits.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    else:
        digits = digits.str.replace_all(",", "", literal=True)
    digits = digits.str.replace(r"^\.", "0.")
    # Invalid text ("1.2.3") casts to null; more than two decimals round half-even.
    # Amounts beyond DECIMAL(18,2) become null, i.e. a rejected row, not an overflow.
    value = digits.cast(pl.Decimal(38, 6), strict=False).round(2).cast(pl.Decimal(18, 2), strict=False)
    value = pl.when(negative).then(-value).otherwise(value)
    # Text left over around the number ("12.50 see note", "2’350" read partly) is not money.
    whole = s.str.contains(MONEY_LIKE).fill_null(False)
    return value, present, value.is_not_null() & whole


def credit_suffix(series: Any) -> Any:
    """Cells marked as credits by a suffix ("12.00 CR", "12,00 H")."""
    return series.str.strip_chars().str.contains(_CREDIT_SUFFIX).fill_null(False)


def explicit_sign(series: Any) -> Any:
    """Cells whose text carries a sign of its own (minus, parentheses, DR)."""
    return series.str.strip_chars().str.contains(_NEGATIVE).fill_null(False)
