"""Payee cleaning: the merchant behind the string a bank prints.

"SQ *BLUE BOTTLE 0423 OAKLAND CA" -> "Blue Bottle"; "POS 4417 SHELL 00231" -> "Shell";
"AMZN Mktp US*2K4LD9" -> "Amzn Mktp". The raw payee is always kept beside it.
Vectorised (polars string kernels), once per distinct payee up to its digits: a million
payees with store numbers clean in a fraction of a second.
"""

from __future__ import annotations

from typing import Any

# Processor and terminal prefixes banks put before the merchant (upper-cased input).
_PREFIX = (
    r"^(?:(?:POS|PURCHASE|DEBIT|CREDIT|CARD|CHECKCARD|CHECK CARD|VISA|MC|MASTERCARD|DEBIT CARD|"
    r"DBT|ACH|RECURRING|PMT|PAYMENT TO|PURCHASE AUTHORIZED ON|AUTHORIZED ON|PREAUTHORIZED|"
    r"ELECTRONIC|POINT OF SALE|BUY|KARTENZAHLUNG|LASTSCHRIFT|CB|PAIEMENT PAR CARTE|PAIEMENT CARTE|PRLV|"
    r"COMPRA|PAGAMENTO|BETAALAUTOMAAT|PIN|ZELLE TO|ZELLE FROM|ZELLE PAYMENT TO|VENMO|CASH APP)\b[\s:*#-]*"
    r"(?:\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\s+)?(?:\d{3,}\s+)?)+"
)
_PROCESSOR = r"^(?:SQ|TST|SP|PAYPAL|PP|IZ|ZETTLE|SUMUP|WPY|GOOGLE|APL|CKO|PY|DD|BT)\s?\*\s*"
_REF_AFTER_STAR = r"\*[A-Z0-9]{4,}\b"
_DATE = r"\b\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b"
_CARD = r"(?:X{2,}|\*{2,}|#)\s?\d{2,}|\bCARD\s?\d{4}\b"
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
    "OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC"
)


def _clean_frame(frame: Any) -> Any:
    """Add a ``merchant`` column cleaned from ``payee``. Steps are materialised one by one:
    one nested expression would recompute shared parts many times over."""
    import polars as pl

    s = pl.col("s")
    frame = frame.with_columns(
        pl.col("payee").str.to_uppercase().str.replace_all(r"\s+", " ").str.strip_chars().alias("s")
    )
    frame = frame.with_columns(
        s.str.replace(_PREFIX, "")
        .str.replace(_PROCESSOR, "")
        .str.replace_all(_REF_AFTER_STAR, "")
        .str.replace_all(_DATE, " ")
        .str.replace_all(_CARD, " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    # Cut at the first store or terminal number when a name precedes it; otherwise drop a
    # trailing "CITY ST" (three or more words) or a lone state/country code.
    frame = frame.with_columns(
        pl.when(s.str.contains(r"^\S.*?\s#?\d[\d-]{2,}\b"))
        .then(s.str.replace(r"^(\S.*?)\s#?\d[\d-]{2,}\b.*$", "$1"))
        .otherwise(
            s.str.replace(rf"^(\S+(?:\s\S+)+?)\s\S+\s(?:{_US_STATES})$", "$1").str.replace(
                rf"^(\S.*?)\s(?:{_US_STATES}|US|USA)$", "$1"
            )
        )
        .alias("s")
    )
    frame = frame.with_columns(
        s.str.replace_all(r"\b\d+\b", " ").str.replace_all(r"\s+", " ").str.strip_chars(" *#-:/.,")
    )
    fallback = pl.col("payee").str.replace_all(r"\s+", " ").str.strip_chars().str.slice(0, 64)
    frame = frame.with_columns(pl.when(s.is_null() | (s == "")).then(fallback).otherwise(s).alias("s"))
    frame = frame.with_columns(s.str.to_titlecase().str.replace_all(r"'S\b", "'s"))
    return frame.with_columns(pl.when(s == "").then(None).otherwise(s).alias("merchant")).drop("s")


def digit_key(payee: Any) -> Any:
    """A polars expression: the payee with every ASCII digit written as "0".

    Store and terminal numbers make most payees distinct ("STARBUCKS #1234 SEATTLE WA",
    "#1235"...), yet the cleaning never looks at the value of an ASCII digit, only at
    where digits are: every pattern's character classes hold all of 0-9 or none, and case
    changes leave digits alone. So cleaning commutes with this key, and payees that share
    a key share one cleaning (see :func:`merchants_by_key`). A pattern that names one
    digit ("[1-9]", "7-ELEVEN") would break this: tests/engine/ingest/test_loader.py
    checks the patterns.
    """
    return payee.str.replace_all("[0-9]", "0")


def _clean_distinct(payees: Any) -> Any:
    """The merchant of each value of a String Series, cleaned once per distinct value."""
    import polars as pl

    frame = pl.DataFrame({"payee": payees})
    table = _clean_frame(frame.unique("payee"))
    return frame.join(table, on="payee", how="left", nulls_equal=True, maintain_order="left")["merchant"]


def merchants_by_key(payees: Any, keys: Any) -> Any:
    """The merchant of each payee (a String Series), given its :func:`digit_key` ``keys``.

    Each distinct key is cleaned once. Where that result keeps a digit ("7ELEVEN 33012" ->
    "7Eleven"), the digits are the payee's own: those payees are cleaned from their own
    text (once per distinct payee).
    """
    import polars as pl

    merchant = _clean_distinct(keys)
    digit = merchant.str.contains("[0-9]").fill_null(False)
    if digit.any():
        idx = digit.arg_true()
        merchant = merchant.scatter(idx, _clean_distinct(payees.gather(idx)))
    return merchant.cast(pl.String).alias("merchant")


def clean_merchant_series(series: Any) -> Any:
    """Clean a polars Series of payees, once per distinct payee up to its digits."""
    import polars as pl

    payees = series.cast(pl.String)
    return merchants_by_key(payees, pl.select(digit_key(pl.lit(payees))).to_series())


def clean_merchant(payee: str | None) -> str | None:
    """The normalized merchant name of one raw payee string (None stays None)."""
    import polars as pl

    if payee is None:
        return None
    return clean_merchant_series(pl.Series([payee], dtype=pl.String))[0]
