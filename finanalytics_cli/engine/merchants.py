"""Built-in merchant knowledge: the category of a bank descriptor before the user has
labeled anything.

The knowledge is two small tables shipped in the package and written by
``tools/build_merchant_table.py`` (never edited by hand): ``data/merchants.tsv.gz``, brand
names from the public name-suggestion-index (BSD-3-Clause, notice in
``data/NSI-LICENSE.md``) and ``tools/merchant_extra.toml`` with their category and
countries, and ``data/mcc.tsv``, ISO 18245 merchant category codes (public domain).

Matching is whole leading tokens of the cleaned descriptor, longest first: ``shell`` is
found in ``SHELL OIL 5744 HOUSTON TX`` but not in ``SHELLFISH SHACK`` or ``PAYMENT TO
JOHN SHELL``. Names are compared squashed (``WAL-MART`` = ``Walmart``, ``TRADER JOE S`` =
``Trader Joe's``) unless they are shorter than four letters, which must match as the same
tokens (``BP``, ``KFC``). A descriptor cut short by the bank matches the one brand (or
brands of one category) it is the beginning of.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
TABLE_PATH = DATA_DIR / "merchants.tsv.gz"
MCC_PATH = DATA_DIR / "mcc.tsv"

MAX_TOKENS = 6  # the longest brand name matched, in tokens
SHORT_KEY = 4  # squashed names shorter than this must match as the same tokens
MIN_PREFIX = 10  # a descriptor this long (squashed) may have been cut from a longer name
# Card networks cut the merchant name at 22 or 25 characters: a descriptor of exactly that
# length may end in a cut word, and a shorter rest may be the beginning of a name.
CUT_LENGTHS = (22, 25)
CUT_MIN_PREFIX = 5
SHORT_LOCAL = 5  # a name this short, of a brand only known abroad, is no evidence at home
CUT_MARK = "\x00"  # ends a text of one of the CUT_LENGTHS (the matcher reads it as a space)
PREFIX_SHARE = 0.6  # ... when it is at least this share of that name
WORLD = "*"
REFUND = "Income/Refunds"  # the category of money back from a shop
NOT_A_MERCHANT = "-"  # the category of names that are no merchant (banks): matched, then None

EUROZONE = "at be cy de ee es fi fr gr hr ie it lt lu lv mt nl pt si sk".split()
CURRENCY_COUNTRIES: dict[str, frozenset[str]] = {
    cur: frozenset(codes)
    for cur, codes in {
        "USD": ["us", "pr"],
        "EUR": EUROZONE + ["mc", "sm", "va", "ad", "me", "xk"],
        "GBP": ["gb", "gg", "je", "im"],
        "CHF": ["ch", "li"],
        "CAD": ["ca"],
        "AUD": ["au"],
        "NZD": ["nz"],
        "SEK": ["se"],
        "NOK": ["no"],
        "DKK": ["dk", "fo", "gl"],
        "ISK": ["is"],
        "PLN": ["pl"],
        "CZK": ["cz"],
        "HUF": ["hu"],
        "RON": ["ro"],
        "BGN": ["bg"],
        "RSD": ["rs"],
        "TRY": ["tr"],
        "UAH": ["ua"],
        "JPY": ["jp"],
        "CNY": ["cn"],
        "HKD": ["hk"],
        "TWD": ["tw"],
        "KRW": ["kr"],
        "SGD": ["sg"],
        "MYR": ["my"],
        "THB": ["th"],
        "IDR": ["id"],
        "PHP": ["ph"],
        "INR": ["in"],
        "ILS": ["il"],
        "AED": ["ae"],
        "SAR": ["sa"],
        "ZAR": ["za"],
        "MXN": ["mx"],
        "BRL": ["br"],
        "ARS": ["ar"],
        "CLP": ["cl"],
        "COP": ["co"],
        "PEN": ["pe"],
    }.items()
}

# Letters NFKD does not take apart.
_LETTERS = {"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"}
# A token with two or more digits and a letter (F1234, 2K3L45) or with three or more
# digits: store numbers and references. One or two digits stay: 7-Eleven, Forever 21, O2.
_NUMBER_TOKENS = (
    r"\b(?:\d{3,}|[a-z0-9]*(?:[a-z][a-z0-9]*\d[a-z0-9]*\d|\d[a-z0-9]*[a-z][a-z0-9]*\d"
    r"|\d[a-z0-9]*\d[a-z0-9]*[a-z])[a-z0-9]*)\b"
)
_FILLER_TOKENS = r"\b(?:the|and)\b"

# Card processors and marketplaces that put their name before the merchant's: SQ *BLUE
# BOTTLE, TST* JOE'S, PAYPAL *NETFLIX. Only before an asterisk: 'SP' alone is a word.
_PROCESSOR_STAR = (
    r"(?:^|[\s/])(?:sq|squ|sqr|tst|pp|paypal|pypl|sp|dd|iz|izettle|zettle|sumup|sum up|ccbill|fs|wpy|gpay|pos|cko)"
    r"[\s_]*\*\s*"
)
_DATES = (
    r"\b\d{4}-\d{2}-\d{2}(?:t\d{1,2}:\d{2}(?::\d{2})?)?\b"  # 2024-03-12T10:11:12
    r"|\b\d{1,2}[./-]\d{1,2}(?:[./-]\d{2,4})?\b"  # 12/03, 12.03.24
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b"  # 10:11
    r"|\+\d[\d\s().-]{6,}\d"  # +44 20 7946 0958
    r"|#\s*\d+"  # #1234
)
# What banks write before the merchant's name, in the languages of the exports we read.
# Longer phrases first: the regex takes the first alternative that matches.
_LEADING_WORDS = [
    "zelle payment to",
    "zelle to",
    "venmo payment to",
    "venmo payment",
    "cash app payment to",
    "debit card purchase",
    "card payment to",
    "card payment",
    "card purchase",
    "pos purchase",
    "pos debit",
    "point of sale",
    "debit purchase",
    "recurring payment",
    "payment to",
    "paid to",
    "check card",
    "checkcard",
    "contactless",
    "apple pay",
    "google pay",
    "sepa basislastschrift",
    "sepa lastschrift",
    "sepa",
    "basislastschrift",
    "folgelastschrift",
    "erstlastschrift",
    "lastschrift",
    "kartenzahlung",
    "zahlung an",
    "girocard",
    "ec",
    "paiement par carte",
    "paiement cb",
    "achat cb",
    "achat",
    "carte",
    "cb",
    "prlv sepa",
    "prlv",
    "compra con tarjeta",
    "compra tarjeta",
    "pago con tarjeta",
    "compra",
    "pago",
    "tarjeta",
    "pagamento pos",
    "pagamento",
    "betaling",
    "betaalautomaat",
    "bea",
    "recurring",
    "online",
    "pos",
    "visa",
    "mastercard",
    "maestro",
    "debit",
    "card",
    "purchase",
    "paypal",
    "www",
]
_LEADING = r"^(?:(?:" + "|".join(w.replace(" ", r"\s+") for w in _LEADING_WORDS) + r")(?:\s+|$))+"
# Trailing state, province or country codes (SAN FRANCISCO CA, BERLIN DE, LONDON GB).
_REGIONS = (
    "al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj nm ny nc nd "
    "oh ok or pa ri sc sd tn tx ut vt va wa wv wi wy on qc bc ab "
    "us usa gb uk gbr fr fra deu es esp it ita nl nld be bel at aut ch che ie irl pt prt lu dk se no fi pl"
)
_TRAILING = r"(?:\s+(?:" + "|".join(_REGIONS.split()) + r"))+$"


def _fold(expr: Any, lowered: bool = False, ascii_only: bool = False) -> Any:
    """Lower case, accents folded (é -> e, ß -> ss), apostrophes dropped (McDonald's ->
    mcdonalds), anything else not a letter or digit a space. ``ascii_only``: the texts are
    known to be ASCII, which has nothing to fold."""
    if not lowered:
        expr = expr.str.to_lowercase()
    if not ascii_only:
        expr = (
            expr.str.normalize("NFKD")
            .str.replace_all(r"\p{M}+", "")
            .str.replace_many(list(_LETTERS), list(_LETTERS.values()))
        )
    return expr.str.replace_all(r"['’`´]", "").str.replace_all(r"[^a-z0-9]+", " ")


def _tokens(expr: Any) -> Any:
    """A folded text without store numbers and fillers, single-spaced."""
    return (
        expr.str.replace_all(_NUMBER_TOKENS + "|" + _FILLER_TOKENS, " ").str.replace_all(" {2,}", " ").str.strip_chars()
    )


def _name_expr(expr: Any) -> Any:
    return _tokens(_fold(expr))


def _descriptor_expr(expr: Any, ascii_only: bool = False) -> Any:
    """A bank descriptor as the tokens a brand name may lead: processors, dates, store
    numbers and the bank's own words before the merchant removed."""
    lowered = expr.fill_null("").str.to_lowercase().str.replace_all(_PROCESSOR_STAR + "|" + _DATES, " ")
    return _tokens(_fold(lowered, lowered=True, ascii_only=ascii_only)).str.replace(_LEADING, "")


def _lookup_expr(spaced: Any) -> Any:
    """The key a name is found by: squashed, unless that is too short to be told apart."""
    squashed = spaced.str.replace_all(" ", "", literal=True)
    return _short_or(squashed, spaced)


def _short_or(squashed: Any, spaced: Any) -> Any:
    import polars as pl

    return pl.when(squashed.str.len_chars() >= SHORT_KEY).then(squashed).otherwise(spaced)


def name_keys(names: list[str | None]) -> list[str]:
    """Each brand name normalized as the table stores it (lower case, accents folded,
    punctuation and store-number-like tokens removed, single-spaced); '' for None.
    The build script uses this, so the table and the matcher cannot disagree."""
    import polars as pl

    s = pl.Series("n", names, dtype=pl.String).fill_null("")
    return pl.select(_name_expr(pl.lit(s))).to_series().to_list()


def lookup_keys(keys: list[str]) -> list[str]:
    """The key each normalized name (from :func:`name_keys`) is looked up by."""
    import polars as pl

    s = pl.Series("k", keys, dtype=pl.String)
    return pl.select(_lookup_expr(pl.lit(s))).to_series().to_list()


def clean_descriptors(texts: list[str | None]) -> list[str]:
    """Each descriptor cleaned to the merchant's name as far as words allow: 'SQ *BLUE
    BOTTLE #123 SAN FRANCISCO CA' -> 'blue bottle san francisco' (useful for grouping)."""
    import polars as pl

    s = pl.Series("t", texts, dtype=pl.String)
    return pl.select(_descriptor_expr(pl.lit(s)).str.replace(_TRAILING, "")).to_series().to_list()


def clean_descriptor(text: str | None) -> str:
    """One descriptor cleaned (see :func:`clean_descriptors`)."""
    return clean_descriptors([text])[0]


@dataclass(frozen=True)
class Brand:
    """One category a name stands for, where."""

    category: str
    countries: frozenset[str] | None  # None: the world
    excluded: frozenset[str]
    weight: int

    def serves(self, countries: frozenset[str]) -> bool:
        return (self.countries is None or bool(self.countries & countries)) and not countries <= self.excluded


@dataclass(frozen=True)
class MerchantTable:
    """The loaded table: lookup key -> category (None where it depends on the country)."""

    lookups: Any  # polars frame: lookup, category (null: see ambiguous)
    # Regexes of the words that count anywhere in a descriptor: before any merchant name
    # (PAYROLL: ACME MARKETS PAYROLL is a salary) or only when none leads it (RENT:
    # AVIS RENT A CAR is Avis); None when the table has none.
    words_first: str | None
    words_last: str | None
    ambiguous: dict[str, tuple[Brand, ...]]
    prefix_keys: Any  # polars Series: sorted squashed lookups at least CUT_MIN_PREFIX long
    prefix_categories: Any  # polars Series: their category (null: ambiguous)
    prefix_runs: Any  # polars Series: id of the run of equal categories each key is in
    mcc: dict[str, str]
    size: int  # names in the table
    # Short names (BP, ITM) of brands known only in some countries: where they serve.
    local_short: dict[str, frozenset[str]] = field(default_factory=dict)


def _parse_countries(field: str) -> tuple[frozenset[str] | None, frozenset[str]]:
    include, _, exclude = field.partition("!")
    countries = None if include == WORLD else frozenset(include.split(","))
    return countries, frozenset(exclude.split(",")) if exclude else frozenset()


@functools.cache
def load_table() -> MerchantTable:
    """The shipped merchant and MCC tables, read once per process."""
    import polars as pl

    raw = pl.read_csv(
        gzip.decompress(TABLE_PATH.read_bytes()),
        separator="\t",
        comment_prefix="#",
        quote_char=None,
        schema={
            "name": pl.String,
            "category": pl.String,
            "countries": pl.String,
            "weight": pl.Int64,
            "where": pl.String,
        },
    ).with_columns(_lookup_expr(pl.col("name")).alias("lookup"))
    # A name in more than one category (Coles: supermarkets in Australia, bookshops in
    # Canada) is settled per row by the account's country; every other name is one join.
    counts = raw.group_by("lookup").agg(pl.col("category").n_unique().alias("n"), pl.col("category").first())
    lookups = counts.select("lookup", pl.when(pl.col("n") == 1).then(pl.col("category")).alias("category"))
    ambiguous: dict[str, list[Brand]] = {}
    multi = raw.join(counts.filter(pl.col("n") > 1).select("lookup"), on="lookup")
    for lookup, category, countries, weight in multi.select("lookup", "category", "countries", "weight").iter_rows():
        include, exclude = _parse_countries(countries)
        ambiguous.setdefault(lookup, []).append(Brand(category, include, exclude, weight))
    prefix = lookups.filter(pl.col("lookup").str.len_chars() >= CUT_MIN_PREFIX).sort("lookup")
    runs = (pl.col("category").fill_null("") != pl.col("category").fill_null("").shift(1)).fill_null(True).cum_sum()
    prefix = prefix.with_columns(runs.alias("run"))
    mcc = pl.read_csv(MCC_PATH, separator="\t", comment_prefix="#", schema_overrides={"mcc": pl.String})

    def words(where: str) -> str | None:
        found = sorted(raw.filter(pl.col("where") == where)["lookup"].to_list(), key=lambda w: (-len(w), w))
        return r"\b(" + "|".join(found) + r")\b" if found else None

    short = raw.filter(pl.col("lookup").str.len_chars() <= SHORT_LOCAL).join(
        counts.filter(pl.col("n") == 1).select("lookup"), on="lookup"
    )
    local_short: dict[str, set[str]] = {}
    world_short: set[str] = set()
    for lookup, countries in short.select("lookup", "countries").iter_rows():
        include, _ = _parse_countries(countries)
        if include is None:
            world_short.add(lookup)
        else:
            local_short.setdefault(lookup, set()).update(include)
    return MerchantTable(
        local_short={k: frozenset(v) for k, v in local_short.items() if k not in world_short},
        lookups=lookups,
        words_first=words("always"),
        words_last=words("any"),
        ambiguous={k: tuple(v) for k, v in ambiguous.items()},
        prefix_keys=prefix["lookup"],
        prefix_categories=prefix["category"],
        prefix_runs=prefix["run"],
        mcc=dict(zip(mcc["mcc"].to_list(), mcc["category"].to_list(), strict=True)),
        size=raw.height,
    )


def _match_texts(table: MerchantTable, texts: Any) -> Any:
    """For distinct raw texts, the lookup key of the merchant each one names (hit) and of
    the words anywhere in it that count before (first) or after (last) merchants: a frame
    t, hit, first, last with a row for each text that has any."""
    import polars as pl

    # The streaming engine runs the regexes on all cores; the in-memory one on one. Most
    # descriptors are ASCII, with no accents to fold: they skip that work.
    texts = pl.LazyFrame({"t": texts}).with_columns(pl.col("t").str.contains(r"[^\x00-\x7f]").alias("u"))
    cleaned = [
        texts.filter(pl.col("u") == unicode).select(
            "t", _descriptor_expr(pl.col("t"), ascii_only=not unicode).alias("c")
        )
        for unicode in (False, True)
    ]
    frame = (
        pl.concat(cleaned)
        .filter(pl.col("c") != "")
        .with_columns(
            *(
                (pl.col("c").str.extract(pattern, 1) if pattern else pl.lit(None, dtype=pl.String)).alias(name)
                for name, pattern in (("first", table.words_first), ("last", table.words_last))
            ),
            pl.col("c").str.split(" ").alias("tok"),
        )
        .collect(engine="streaming")
    )
    words = frame.select("t", "first", "last").filter(pl.col("first").is_not_null() | pl.col("last").is_not_null())
    # Every leading run of 1..MAX_TOKENS tokens, looked up at once; the longest found wins
    # (UBER EATS is Dining before UBER is Rideshare).
    candidates = []
    for k in range(1, MAX_TOKENS + 1):
        head = pl.col("tok").list.head(k)
        candidates.append(
            frame.lazy()
            .filter(pl.col("tok").list.len() >= k)
            .select(
                "t",
                pl.lit(k, dtype=pl.Int8).alias("k"),
                _short_or(head.list.join(""), head.list.join(" ")).alias("lookup"),
            )
        )
    found = (
        pl.concat(candidates)
        .join(table.lookups.lazy().select("lookup"), on="lookup")
        .group_by("t")
        .agg(pl.col("lookup").get(pl.col("k").arg_max()).alias("hit"))
        .collect(engine="streaming")
    )
    # A descriptor the bank cut short ('CHIPOTLE MEXICAN GRIL', 'SQ *BLUE BOTTLE 9560
    # OAKLAND C'): its leading words, or all of it, begin the names of brands of one
    # category, and are most of their name; the most words that do win. All of it may be
    # shorter when the descriptor has the length networks cut at.
    rest = frame.join(found, on="t", how="anti").select(
        "t", pl.col("c").str.replace(_TRAILING, "").str.split(" ").alias("tok")
    )
    if rest.height and table.prefix_keys.len():
        runs = []
        for k in range(1, MAX_TOKENS + 1):
            head = pl.col("tok").list.head(k)
            whole = pl.col("tok").list.len() <= k
            minimum = pl.when(whole & pl.col("t").str.ends_with(CUT_MARK)).then(CUT_MIN_PREFIX).otherwise(MIN_PREFIX)
            runs.append(
                rest.lazy()
                .filter(pl.col("tok").list.len() >= k)
                .select("t", pl.lit(k, dtype=pl.Int8).alias("k"), head.list.join("").alias("p"), minimum.alias("min"))
                .filter(pl.col("p").str.len_chars() >= pl.col("min"))
            )
        cands = pl.concat(runs).collect()
    else:
        cands = pl.DataFrame()
    if cands.height:
        keys = table.prefix_keys
        last = keys.len() - 1
        lo = keys.search_sorted(cands["p"], side="left")
        hi = keys.search_sorted(cands["p"] + "~", side="left")  # '~' sorts after every key character
        lo_c = lo.clip(0, last)
        hi_c = (hi - 1).clip(0, last)
        first = keys.gather(lo_c)
        ok = (
            (hi > lo)
            & first.str.starts_with(cands["p"])
            & (table.prefix_runs.gather(lo_c) == table.prefix_runs.gather(hi_c))
            & table.prefix_categories.gather(lo_c).is_not_null()
            & (cands["p"].str.len_chars() >= (first.str.len_chars() * PREFIX_SHARE).ceil().cast(pl.UInt32))
        )
        truncated = (
            pl.DataFrame({"t": cands["t"], "k": cands["k"], "hit": first})
            .filter(ok)
            .group_by("t")
            .agg(pl.col("hit").get(pl.col("k").arg_max()))
        )
        found = pl.concat([found, truncated])
    return found.join(words, on="t", how="full", coalesce=True)


def _text_key(text: Any) -> Any:
    """A descriptor as it is matched (see :func:`match_categories`)."""
    import polars as pl

    folded = text.str.replace_all(r"\d{3,}", "000")
    return pl.when(text.str.len_chars().is_in(CUT_LENGTHS)).then(folded + CUT_MARK).otherwise(folded)


def _resolve(brands: tuple[Brand, ...], countries: frozenset[str] | None) -> str | None:
    """The category of a name listed under several: the brands of the account's country
    first, then world-wide brands; the clear majority of them, else None."""
    pool = brands
    if countries:
        local = [b for b in brands if b.countries is not None and b.serves(countries)]
        world = [b for b in brands if b.countries is None and b.serves(countries)]
        pool = tuple(local or world or brands)
    weights: dict[str, int] = {}
    for b in pool:
        weights[b.category] = weights.get(b.category, 0) + b.weight
    ranked = sorted(weights.items(), key=lambda kv: -kv[1])
    if len(ranked) == 1 or ranked[0][1] >= 2 * ranked[1][1]:
        return ranked[0][0]
    return None


def match_categories(
    payees: list[str | None],
    memos: list[str | None],
    currencies: list[str | None] | None = None,
    mccs: list[str | None] | None = None,
    credits: list[bool | None] | None = None,
) -> list[str | None]:
    """The built-in category of each row (a full taxonomy name such as 'Transport/Fuel')
    or None: the row's MCC when it is a known code, else a salary word anywhere in payee
    or memo, else the merchant the payee names, else the one the memo names, else a rent
    word. The account currency (ISO code) settles names that are different brands in
    different countries; ``mccs`` are ISO 18245 codes ('5411'). A row of ``credits``
    (money in) from a shop is a refund (AMZN MKTP US REFUND): ``REFUND``."""
    import polars as pl

    if len(payees) == 0:
        return []
    out = match_series(payees, memos, currencies, mccs, credits)
    # A million category names through a few distinct strings: from codes, not one by one.
    names = out.drop_nulls().unique().sort().to_list()
    codes = out.cast(pl.Enum(names)).to_physical().fill_null(len(names)).to_list()
    categories = [*names, None]
    return [categories[c] for c in codes]


def match_series(
    payees: Any,
    memos: Any,
    currencies: Any = None,
    mccs: Any = None,
    credits: Any = None,
) -> Any:
    """:func:`match_categories` of lists or polars Series, as a polars String Series."""
    import polars as pl

    n = len(payees)
    for name, other in (("memos", memos), ("currencies", currencies), ("mccs", mccs), ("credits", credits)):
        if other is not None and len(other) != n:
            raise ValueError(f"{name} has {len(other)} rows, payees {n}")
    if n == 0:
        return pl.Series([], dtype=pl.String)
    table = load_table()
    columns: dict[str, Any] = {"p": payees, "m": memos}
    if currencies is not None:
        columns["cur"] = currencies
    if isinstance(mccs, pl.Series):
        columns["mcc"] = mccs.cast(pl.String)
    elif mccs is not None:
        try:
            columns["mcc"] = pl.Series(mccs, dtype=pl.String)
        except TypeError:  # codes given as numbers
            columns["mcc"] = [None if x is None else str(x) for x in mccs]
    rows = pl.DataFrame(columns, schema={k: pl.String for k in columns})
    rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(k) for k in ("cur", "mcc") if k not in columns)
    rows = rows.with_columns(pl.Series("credit", credits if credits is not None else [None] * n, dtype=pl.Boolean))
    # Texts are matched by their key: runs of three or more digits read as 000 (store
    # numbers make most descriptors unique, and every such run is a number token the
    # matcher drops), marked when the text has a length networks cut names at. Each row's
    # key is computed in one vectorised pass; the matcher sees each distinct key once.
    rows = rows.with_columns(_text_key(pl.col("p")).alias("pk"), _text_key(pl.col("m")).alias("mk"))
    keys = pl.concat([rows["pk"], rows["mk"]]).drop_nulls().unique()
    found = _match_texts(table, keys).rename({"t": "key"})
    # Per distinct key, what decides it: a salary word (rank 0), else the merchant it
    # names (1), else a rent word (2); its lookup key and category ('' where the country
    # decides). A row takes its payee's unless its memo's ranks before it.
    kinds = ("first", "hit", "last")
    decided = found.select(
        "key",
        pl.coalesce(
            *(pl.when(pl.col(k).is_not_null()).then(pl.lit(i, dtype=pl.UInt8)) for i, k in enumerate(kinds))
        ).alias("rank"),
        pl.coalesce(*(pl.col(k) for k in kinds)).alias("lookup"),
    )
    decided = decided.join(table.lookups, on="lookup", how="left").with_columns(pl.col("category").fill_null(""))
    lazy = rows.lazy()
    for col in ("p", "m"):
        lazy = lazy.join(
            decided.lazy().rename(
                {"key": f"{col}k", "rank": f"{col}_rank", "lookup": f"{col}_lookup", "category": f"{col}_cat"}
            ),
            on=f"{col}k",
            how="left",
            maintain_order="left",
        )
    memo_first = pl.col("m_rank") < pl.col("p_rank").fill_null(3)
    rows = lazy.select(
        pl.when(memo_first).then(pl.col("m_lookup")).otherwise(pl.col("p_lookup")).alias("lookup"),
        pl.when(memo_first).then(pl.col("m_cat")).otherwise(pl.col("p_cat")).alias("category"),
        pl.col("cur").str.strip_chars().str.to_uppercase(),
        "mcc",
        "credit",
    ).collect()
    # Per (name, currency) once: a name of several brands is settled by the country; a
    # short name of a brand known only abroad (ITM is a New Zealand hardware chain; in
    # France ITM INTERMARCHE is groceries) is too weak to name the merchant.
    short = list(table.local_short)
    special = (pl.col("category") == "") | pl.col("lookup").is_in(short)
    pairs = rows.filter(special).select("lookup", "cur", "category").unique(subset=["lookup", "cur"])
    if pairs.height:

        def settle(lookup: str, cur: str | None, category: str) -> str | None:
            countries = CURRENCY_COUNTRIES.get(cur or "")
            if lookup in table.local_short and countries and not (table.local_short[lookup] & countries):
                return None
            return _resolve(table.ambiguous[lookup], countries) if category == "" else category

        settled = pairs.select(
            "lookup",
            "cur",
            pl.Series("settled", [settle(*r) for r in pairs.iter_rows()], dtype=pl.String),
            pl.lit(True).alias("is_settled"),
        )
        rows = rows.join(settled, on=["lookup", "cur"], how="left", maintain_order="left", nulls_equal=True)
        category = pl.when(pl.col("is_settled")).then(pl.col("settled")).otherwise(pl.col("category"))
        rows = rows.with_columns(category.alias("category")).drop("settled", "is_settled")
    # Few distinct codes: each is read once.
    codes = rows["mcc"].drop_nulls().unique().to_list()
    by_code = {c: table.mcc.get(_mcc_code(c)) for c in codes}
    by_code = {c: cat for c, cat in by_code.items() if cat}
    by_mcc = pl.col("mcc").replace_strict(list(by_code), list(by_code.values()), default=None, return_dtype=pl.String)
    category = pl.coalesce(by_mcc, "category")
    refund = pl.col("credit").fill_null(False) & category.is_in(sorted(refund_categories()))
    out = rows.select(pl.when(refund).then(pl.lit(REFUND)).otherwise(category)).to_series()
    return out.replace(NOT_A_MERCHANT, None).alias("category")


@functools.cache
def refund_categories() -> frozenset[str]:
    """The merchant categories a credit from the merchant is a refund of: spending, not
    savings (money back from a broker is no refund)."""
    from finanalytics_cli.engine.taxonomy import taxonomy_rows

    return frozenset(
        n for n, _, _, kind in taxonomy_rows() if kind == "expense" and n.split("/")[0] != "Savings & investments"
    )


def _mcc_code(text: str) -> str:
    """An MCC as the table writes it: four digits ('742' and '0742.0' are '0742')."""
    code = text.strip().removesuffix(".0")
    return code.zfill(4) if code.isdigit() and len(code) <= 4 else ""
