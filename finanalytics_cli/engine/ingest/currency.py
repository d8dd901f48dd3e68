"""Where a CSV export's currency comes from: a column, a header, symbols, an IBAN.

Each finder returns ``(code, source)`` or ``None``; the importer tries them in order and
the import output names the source. Nothing here guesses from a decimal mark.
"""

from __future__ import annotations

import re
from typing import Any

# An account's currency when no file has said it: ISO 4217's code for "no currency".
UNKNOWN = "XXX"

# Symbols as they appear in amount cells. "$" is read as USD (US exports write "$"; the
# Canadian and Australian ones we know write the code); "kr" is left out: SEK, NOK,
# DKK and ISK all write it.
SYMBOLS: list[tuple[str, str]] = [
    ("د.ا.", "JOD"),
    ("د.إ", "AED"),
    ("R$", "BRL"),
    ("CA$", "CAD"),
    ("C$", "CAD"),
    ("A$", "AUD"),
    ("NZ$", "NZD"),
    ("HK$", "HKD"),
    ("US$", "USD"),
    ("$", "USD"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("¥", "JPY"),
    ("₹", "INR"),
    ("₽", "RUB"),
    ("₴", "UAH"),
    ("₺", "TRY"),
    ("₩", "KRW"),
    ("₪", "ILS"),
    ("฿", "THB"),
    ("₱", "PHP"),
    ("₫", "VND"),
    ("zł", "PLN"),
    ("Kč", "CZK"),
    ("Ft", "HUF"),
    ("лв", "BGN"),
    ("lei", "RON"),
    ("CHF", "CHF"),
]

ISO_CODES = {
    "EUR",
    "USD",
    "GBP",
    "CHF",
    "JPY",
    "CAD",
    "AUD",
    "NZD",
    "SEK",
    "NOK",
    "DKK",
    "ISK",
    "PLN",
    "CZK",
    "HUF",
    "RON",
    "BGN",
    "HRK",
    "RSD",
    "UAH",
    "RUB",
    "TRY",
    "ILS",
    "INR",
    "CNY",
    "HKD",
    "SGD",
    "KRW",
    "THB",
    "MXN",
    "BRL",
    "ARS",
    "CLP",
    "COP",
    "PEN",
    "ZAR",
    "AED",
    "SAR",
    "QAR",
    "KWD",
    "BHD",
    "OMR",
    "JOD",
    "EGP",
    "MAD",
    "TND",
    "NGN",
    "KES",
    "PHP",
    "IDR",
    "MYR",
    "VND",
    "TWD",
    "PKR",
    "BDT",
    "LKR",
    "LTL",
    "LVL",
    "EEK",
    "GEL",
    "KZT",
    "BYN",
    "MDL",
    "ALL",
    "MKD",
    "BAM",
    "AZN",
    "AMD",
    "UZS",
    "XOF",
    "XAF",
}

# IBAN country -> (length, currency of accounts there today). Euro-area countries that
# changed currency (Lithuania 2015, Croatia 2023...) give today's: a file from before
# says its own currency, which wins over this table.
_IBAN: dict[str, tuple[int, str]] = {
    "AD": (24, "EUR"),
    "AT": (20, "EUR"),
    "BE": (16, "EUR"),
    "CY": (28, "EUR"),
    "DE": (22, "EUR"),
    "EE": (20, "EUR"),
    "ES": (24, "EUR"),
    "FI": (18, "EUR"),
    "FR": (27, "EUR"),
    "GR": (27, "EUR"),
    "HR": (21, "EUR"),
    "IE": (22, "EUR"),
    "IT": (27, "EUR"),
    "LT": (20, "EUR"),
    "LU": (20, "EUR"),
    "LV": (21, "EUR"),
    "MC": (27, "EUR"),
    "MT": (31, "EUR"),
    "NL": (18, "EUR"),
    "PT": (25, "EUR"),
    "SI": (19, "EUR"),
    "SK": (24, "EUR"),
    "SM": (27, "EUR"),
    "VA": (22, "EUR"),
    "ME": (22, "EUR"),
    "XK": (20, "EUR"),
    "GB": (22, "GBP"),
    "CH": (21, "CHF"),
    "LI": (21, "CHF"),
    "SE": (24, "SEK"),
    "NO": (15, "NOK"),
    "DK": (18, "DKK"),
    "IS": (26, "ISK"),
    "PL": (28, "PLN"),
    "CZ": (24, "CZK"),
    "HU": (28, "HUF"),
    "RO": (24, "RON"),
    "BG": (22, "BGN"),
    "RS": (22, "RSD"),
    "UA": (29, "UAH"),
    "TR": (26, "TRY"),
    "IL": (23, "ILS"),
    "AE": (23, "AED"),
    "SA": (24, "SAR"),
    "JO": (30, "JOD"),
    "GE": (22, "GEL"),
    "MD": (24, "MDL"),
    "AL": (28, "ALL"),
    "MK": (19, "MKD"),
    "BA": (20, "BAM"),
    "AZ": (28, "AZN"),
    "KZ": (20, "KZT"),
    "BY": (28, "BYN"),
    "EG": (29, "EGP"),
    "TN": (24, "TND"),
    "BR": (29, "BRL"),
    "PK": (24, "PKR"),
    "QA": (29, "QAR"),
    "KW": (30, "KWD"),
    "BH": (22, "BHD"),
}
_IBAN_RE = re.compile(r"\b([A-Z]{2})(\d{2})[ ]?((?:[A-Z0-9]{4}[ ]?){2,7}[A-Z0-9]{1,4})\b")


def valid_iban(text: str) -> bool:
    """ISO 13616: the country's length and the mod-97 check digits."""
    iban = re.sub(r"\s", "", text).upper()
    spec = _IBAN.get(iban[:2])
    if spec is None or len(iban) != spec[0] or not iban.isalnum():
        return False
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def find_iban(text: str) -> str | None:
    """The first valid IBAN in a text (a preamble line, an account column)."""
    for m in _IBAN_RE.finditer(text.upper()):
        candidate = re.sub(r"\s", "", m.group(0))
        if valid_iban(candidate):
            return candidate
    return None


def iban_currency(iban: str | None) -> str | None:
    return _IBAN[iban[:2]][1] if iban and iban[:2] in _IBAN else None


def from_header(header: list[str]) -> str | None:
    """A currency code a money column's name carries: "Betrag (EUR)", "Amount in USD", "Suma EUR"."""
    found = set()
    for h in header:
        for code in re.findall(r"(?:^|[\s(\[/_-])([A-Za-z]{3})(?=$|[\s)\]/_.$-])", h.strip()):
            if code.upper() in ISO_CODES and (code.isupper() or re.search(r"[(\[]" + code + r"[)\]]", h)):
                found.add(code.upper())
        # "Betrag (€)", "Amount ($)": a symbol in parentheses names the currency too.
        for sym in re.findall(r"[(\[]\s*([^\w\s()\[\]]{1,3}|zł|Kč|Ft)\s*[)\]]", h):
            code = dict(SYMBOLS).get(sym)
            if code:
                found.add(code)
    return found.pop() if len(found) == 1 else None


def from_cells(frame: Any, columns: list[str]) -> str | None:
    """A currency symbol or code written in the money cells themselves (one for the file)."""
    found: set[str] = set()
    for col in columns:
        values = frame[col].drop_nulls().unique().head(2000)
        if values.len() == 0:
            continue
        for sym, code in SYMBOLS:
            if values.str.contains(re.escape(sym), literal=False).any():
                found.add(code)
                # "CA$" also contains "$": the longer symbol explains it.
                values = values.str.replace_all(re.escape(sym), "", literal=False)
        codes = values.str.extract_all(r"\b[A-Z]{3}\b").explode().drop_nulls().unique().to_list()
        found |= {c for c in codes if c in ISO_CODES}
    return found.pop() if len(found) == 1 else None
