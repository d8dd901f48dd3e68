"""Dates of a CSV column: one format for the whole column, settled by every value.

Shapes: ISO and year-first with dashes, slashes, dots (a trailing dot too: "2024.01.15."),
day/month orders with any separator, two-digit years, month names in English, German,
French, Spanish, Italian, Dutch, Portuguese, Scandinavian, Polish, Czech and Hungarian
(normalized to English abbreviations before parsing), and Excel serial day numbers
where the column holds nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

MIN_YEAR, MAX_YEAR = 1950, 2100
TIME_SUFFIX = (
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\s*(?:[AaPp][Mm])?\s*(?:Z|UTC|[+-]\d{2}:?\d{2}|[A-Z]{3,4})?)$"
)
EXCEL_SERIAL = "excel-serial"

# strptime formats tried over the whole date column.
DATE_FORMATS = [
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y%m%d",
    "%Y:%m:%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%m.%d.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d.%m.%y",
    "%d-%m-%y",
    "%m-%d-%y",
    "%d %b %Y",
    "%b %d, %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b %y",
    "%b %d %Y",
    "%d/%b/%Y",
    "%Y-%b-%d",
]

# Month names (lower case, no accents) -> English abbreviation. Full names and common
# abbreviations; "mar" and "mai" need care: "mar" is March in several languages.
_MONTHS = {
    "jan": [
        "jan",
        "january",
        "januar",
        "janvier",
        "janv",
        "enero",
        "ene",
        "gennaio",
        "gen",
        "januari",
        "janeiro",
        "tammikuu",
        "styczen",
        "sty",
        "leden",
        "januar",
        "januari",
        "janúar",
    ],
    "feb": [
        "feb",
        "february",
        "februar",
        "fevrier",
        "fevr",
        "fev",
        "febrero",
        "febbraio",
        "februari",
        "fevereiro",
        "helmikuu",
        "luty",
        "lut",
        "unor",
        "februar",
        "februari",
        "febr",
    ],
    "mar": [
        "mar",
        "march",
        "marz",
        "maerz",
        "mrz",
        "mars",
        "marzo",
        "maart",
        "mrt",
        "marco",
        "maaliskuu",
        "marzec",
        "brezen",
        "marc",
        "marts",
        "mar",
    ],
    "apr": [
        "apr",
        "april",
        "avril",
        "avr",
        "abril",
        "abr",
        "aprile",
        "huhtikuu",
        "kwiecien",
        "kwi",
        "duben",
        "aprilis",
    ],
    "may": ["may", "mai", "mayo", "maggio", "mag", "mei", "maio", "toukokuu", "maj", "kveten", "majus"],
    "jun": [
        "jun",
        "june",
        "juni",
        "juin",
        "junio",
        "giugno",
        "giu",
        "junho",
        "kesakuu",
        "czerwiec",
        "cze",
        "cerven",
        "junius",
    ],
    "jul": [
        "jul",
        "july",
        "juli",
        "juillet",
        "juil",
        "julio",
        "luglio",
        "lug",
        "julho",
        "heinakuu",
        "lipiec",
        "lip",
        "cervenec",
        "julius",
    ],
    "aug": ["august", "aout", "agosto", "ago", "augustus", "elokuu", "sierpien", "sie", "srpen", "augusztus", "aug"],
    "sep": [
        "sep",
        "september",
        "septembre",
        "sept",
        "septiembre",
        "settembre",
        "set",
        "setembro",
        "syyskuu",
        "wrzesien",
        "wrz",
        "zari",
        "szeptember",
        "szept",
    ],
    "oct": [
        "oct",
        "october",
        "oktober",
        "okt",
        "octobre",
        "octubre",
        "ottobre",
        "ott",
        "outubro",
        "out",
        "lokakuu",
        "pazdziernik",
        "paz",
        "rijen",
        "oktober",
    ],
    "nov": ["november", "novembre", "noviembre", "novembro", "marraskuu", "listopad", "lis", "nov"],
    "dec": [
        "dec",
        "december",
        "dezember",
        "dez",
        "decembre",
        "diciembre",
        "dic",
        "dicembre",
        "dezembro",
        "joulukuu",
        "grudzien",
        "gru",
        "prosinec",
        "dec",
    ],
}


def has_month_names(values: Any) -> bool:
    """Does a string series hold dates written with month names (any language)?"""
    return bool(values.str.contains(r"(?i)\d\W*[^\W\d_]{3,}|[^\W\d_]{3,}\.?\W*\d").any())


def normalise_month_names(expr: Any) -> Any:
    """Month names of any listed language -> English abbreviations; "15. Jan. 2024" -> "15 Jan 2024"."""
    import polars as pl

    s = expr.str.strip_chars().str.to_lowercase()
    # Accents off (ä, é, ř, ...): NFKD is not available in polars, so the letters months use.
    for src, dst in (
        ("ä", "a"),
        ("ö", "o"),
        ("ü", "u"),
        ("é", "e"),
        ("è", "e"),
        ("û", "u"),
        ("ç", "c"),
        ("ř", "r"),
        ("í", "i"),
        ("á", "a"),
        ("ú", "u"),
        ("ň", "n"),
        ("ż", "z"),
        ("ź", "z"),
        ("ś", "s"),
        ("ń", "n"),
        ("ę", "e"),
        ("ó", "o"),
        ("ą", "a"),
        ("č", "c"),
        ("ě", "e"),
        ("ů", "u"),
        ("ş", "s"),
        ("ã", "a"),
    ):
        s = s.str.replace_all(src, dst, literal=True)
    # polars cannot map a regex group through a dict: one pass per English month.
    for abbr, names in _MONTHS.items():
        pat = r"\b(?:" + "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True)) + r")\b\.?"
        s = s.str.replace_all(pat, abbr)
    # "15. jan 2024" (German ordinal dot) and doubled spaces.
    s = s.str.replace_all(r"(\d)\.\s*([a-z])", "$1 $2").str.replace_all(r"\s+", " ")
    return pl.when(s.is_not_null()).then(s).otherwise(None)


def strip_time(expr: Any) -> Any:
    # "2024.01.15." (Hungarian, Croatian): the trailing dot closes the date, it is not part of the format.
    return expr.str.strip_chars().str.replace(TIME_SUFFIX, "").str.strip_chars().str.replace(r"(\d)\.$", "$1")


def parse_dates(series: Any, fmt: str) -> Any:
    """Dates of a string expression in one format (times of day dropped); null if not."""
    import polars as pl

    if fmt == EXCEL_SERIAL:
        n = series.str.strip_chars().cast(pl.Int64, strict=False)
        days = pl.when((n >= 18264) & (n <= 73051)).then(n).otherwise(None)  # 1950..2100
        return (pl.lit(dt.date(1899, 12, 30)) + pl.duration(days=days)).cast(pl.Date)
    text = strip_time(series)
    if "%b" in fmt or "%B" in fmt:
        text = normalise_month_names(text)
    else:  # "2024. 01. 15." (Hungarian) is "2024.01.15"
        text = text.str.replace_all(r"\s*([./-])\s*", "$1")
    return _in_range(text.str.strptime(pl.Date, fmt, strict=False))


def date_share(values: Any) -> float:
    """The largest share of non-empty values that one date format reads (0..1)."""
    import polars as pl

    s = values.drop_nulls()
    s = s.filter(s.str.strip_chars() != "").unique()
    if s.len() == 0:
        return 0.0
    # The text each format reads is prepared once for the column (as parse_dates does it),
    # and every format is tried in one select.
    stripped = strip_time(pl.col("v"))
    frame = pl.DataFrame({"v": s}).select(stripped.str.replace_all(r"\s*([./-])\s*", "$1").alias("c"), "v")
    names = has_month_names(s)
    if names:  # month names normalised once for the column, not once per format
        frame = frame.with_columns(normalise_month_names(stripped).alias("n"))
    tries = [
        _in_range(pl.col("n" if "%b" in fmt else "c").str.strptime(pl.Date, fmt, strict=False)).alias(str(i))
        for i, fmt in enumerate(DATE_FORMATS)
        if names or "%b" not in fmt
    ]
    read = frame.select(tries)
    best = max(s.len() - read[c].null_count() for c in read.columns)
    return best / s.len()


def _in_range(parsed: Any) -> Any:
    """Dates outside MIN_YEAR..MAX_YEAR are misreadings (a serial read as %Y%m%d...): null."""
    import polars as pl

    year = parsed.dt.year()
    return pl.when((year >= MIN_YEAR) & (year <= MAX_YEAR)).then(parsed).otherwise(None)


def monotonic_share(values: Any, fmt: str) -> float:
    """Share of consecutive rows whose dates, read with ``fmt``, keep one direction."""
    import polars as pl

    dates = pl.DataFrame({"v": values}).select(parse_dates(pl.col("v"), fmt).alias("d")).drop_nulls()["d"]
    if dates.len() < 3:
        return 0.0
    diff = dates.diff().drop_nulls().dt.total_days()
    return max(int((diff >= 0).sum()), int((diff <= 0).sum())) / diff.len()


def swap_day_month(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def format_counts(values: Any) -> tuple[int, dict[str, int]]:
    """(distinct non-empty values, values each format reads)."""
    import polars as pl

    frame = pl.DataFrame({"v": values.unique()})
    frame = frame.filter(pl.col("v").is_not_null() & (pl.col("v").str.strip_chars() != ""))
    n = frame.height
    if n == 0:
        return 0, {}
    formats = [f for f in DATE_FORMATS if "%b" not in f or has_month_names(frame["v"])]
    results = frame.select([parse_dates(pl.col("v"), fmt).alias(str(i)) for i, fmt in enumerate(formats)])
    counts = {formats[int(c)]: n - results[c].null_count() for c in results.columns}
    if max(counts.values(), default=0) < n:
        serial = frame.select(parse_dates(pl.col("v"), EXCEL_SERIAL)).to_series()
        # Excel serials only where every value is one: plain integers are too common otherwise.
        if serial.null_count() == 0 and frame["v"].str.strip_chars().str.contains(r"^\d{5}$").all():
            counts[EXCEL_SERIAL] = n
    return n, counts
