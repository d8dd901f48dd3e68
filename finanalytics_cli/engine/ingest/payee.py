"""Payee cleaning: the merchant behind the string a bank prints.

"SQ *BLUE BOTTLE 0423 OAKLAND CA" -> "Blue Bottle"; "POS 4417 SHELL 00231" -> "Shell";
"AMZN Mktp US*2K4LD9" -> "Amzn Mktp Us". The raw payee is always kept beside it.
"""

from __future__ import annotations

import re
from typing import Any

# Processor and terminal prefixes banks put before the merchant.
_PREFIX = re.compile(
    r"^(?:(?:POS|PURCHASE|DEBIT|CREDIT|CARD|CHECKCARD|CHECK CARD|VISA|MC|MASTERCARD|DEBIT CARD|"
    r"DBT|ACH|RECURRING|PMT|PAYMENT TO|PURCHASE AUTHORIZED ON|AUTHORIZED ON|PREAUTHORIZED|"
    r"ELECTRONIC|POINT OF SALE|BUY|KARTENZAHLUNG|LASTSCHRIFT|CB|PAIEMENT(?: PAR)? CARTE|PRLV|"
    r"COMPRA|PAGAMENTO|BETAALAUTOMAAT|PIN)\b[\s:*#-]*"
    r"(?:\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\s+)?(?:\d{3,}\s+)?)+"
)
_PROCESSOR = re.compile(r"^(?:SQ|TST|SP|PAYPAL|PP|IZ|ZETTLE|SUMUP|WPY|GOOGLE|APL|CKO|PY|DD|BT)\s?\*\s*")
_REF_AFTER_STAR = re.compile(r"\*[A-Z0-9]{4,}\b")
_DATE = re.compile(r"\b\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?\b")
_CARD = re.compile(r"(?:X{2,}|\*{2,}|#)\s?\d{2,}|\bCARD\s?\d{4}\b")
_NUMBER_TOKEN = re.compile(r"\s#?\d[\d-]{2,}\b")
_US_STATES = set(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC".split()
)


def clean_merchant(payee: str | None) -> str | None:
    """The normalised merchant name of a raw payee string (None stays None)."""
    if payee is None:
        return None
    s = " ".join(payee.upper().replace("\u00a0", " ").split())
    if not s:
        return None
    s = _PREFIX.sub("", s)
    s = _PROCESSOR.sub("", s)
    s = _REF_AFTER_STAR.sub("", s)
    s = _DATE.sub(" ", s)
    s = _CARD.sub(" ", s)
    s = " ".join(s.split())
    cut = _NUMBER_TOKEN.search(" " + s)
    if cut and cut.start() > 0:
        s = s[: cut.start() - 1]
        stripped_at_number = True
    else:
        stripped_at_number = False
    tokens = [t for t in s.split() if not t.isdigit()]
    if not stripped_at_number and len(tokens) >= 3 and tokens[-1] in _US_STATES:
        tokens = tokens[:-2]  # "... OAKLAND CA": city and state
    elif len(tokens) >= 2 and tokens[-1] in _US_STATES | {"US", "USA"}:
        tokens = tokens[:-1]
    s = " ".join(tokens).strip(" *#-:/.,")
    if not s:
        s = " ".join(payee.split())[:64]
    return " ".join(w.capitalize() for w in s.split())


def clean_merchant_series(series: Any) -> Any:
    """Vector form for a polars Series of payees (distinct values cleaned once)."""
    import polars as pl

    uniques = series.unique().drop_nulls()
    mapping = {u: clean_merchant(u) for u in uniques.to_list()}
    return series.replace_strict(mapping, default=None, return_dtype=pl.String)
