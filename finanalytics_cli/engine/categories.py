"""Categories: the taxonomy, user labels, user rules and built-in keyword rules.

Order of authority when categorising: the user's own label (never overwritten), then
user rules, then the deployed model (above its confidence threshold), then the built-in
keyword rules for common merchants; what is left stays uncategorised for `review`.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput

USER = "user"  # a label the user gave (tx label, --category-column): never overwritten
RULE = "rule"
MODEL = "model"
KEYWORD = "keyword"
TRANSFER = "transfer-match"
PROTECTED_SOURCES = (USER, TRANSFER)

# Built-in keyword rules: the baseline the model must beat and the fallback when no model
# is deployed. Patterns are matched case-insensitively against payee and memo.
KEYWORD_RULES: list[tuple[str, str]] = [
    (r"payroll|salary|gehalt|lohn|nomina|salaire", "Income/Salary"),
    (r"\bbonus\b", "Income/Bonus"),
    (r"interest (?:payment|paid)|zinsen|int\.? paid", "Income/Interest"),
    (r"refund|return credit|gutschrift.*rück|erstattung", "Income/Refunds"),
    (r"honorar|invoice payment|freelance", "Income/Other income"),
    (r"\brent\b|property mgmt|miete|loyer|alquiler|affitto|huur", "Housing/Rent"),
    (r"mortgage|hypothek", "Housing/Mortgage"),
    (
        r"pg&e|water|electric|power|comcast|xfinity|verizon|at&t|t-mobile|vodafone|stadtwerke|"
        r"telekom|edf|endesa|enel",
        "Utilities",
    ),
    (
        r"whole ?foods|trader joe|safeway|kroger|aldi|lidl|rewe|edeka|carrefour|mercadona|"
        r"albert heijn|esselunga|grocery|supermarket",
        "Groceries",
    ),
    (
        r"restaurant|cafe|café|coffee|starbucks|chipotle|pizz|doordash|lieferando|ubereats|grubhub|"
        r"mcdonald|burger|bäckerei|baeckerei|tst\*",
        "Dining",
    ),
    (r"shell|chevron|exxon|mobil|bp |arco|aral|fuel|gas station", "Transport/Fuel"),
    (r"\bbart\b|metro|transit|deutsche bahn|\bmta\b", "Transport/Public transit"),
    (r"uber|lyft|taxi|bolt", "Transport/Rideshare"),
    (r"parking|parkhaus", "Transport/Parking"),
    (r"dmv|auto repair|jiffy|midas", "Transport/Car"),
    (
        r"united|delta|american air|lufthansa|airline|airbnb|marriott|hilton|hotel|hertz|avis|expedia|booking\.com",
        "Travel",
    ),
    (r"amzn|amazon|target|walmart|ikea|zalando|best buy|ebay|etsy", "Shopping"),
    (r"cvs|walgreens|pharmacy|kaiser|clinic|dental|doctor|hospital|apotheke", "Health"),
    (r"geico|insurance|state farm|allstate|progressive|versicherung", "Insurance"),
    (r"netflix|spotify|hulu|disney\+|apple\.com/bill|itunes|nytimes|nyt\*|prime|youtube", "Subscriptions"),
    (r"amc|cinema|steam|theatre|theater|ticketmaster", "Entertainment"),
    (r"coursera|udemy|tuition|university|school|books", "Education"),
    (r"salon|barber|haircut|spa\b", "Personal care"),
    (r"daycare|child ?care|kita|babysit", "Kids"),
    (r"chewy|petco|petsmart|\bvet\b|veterinar|pet hosp", "Pets"),
    (r"red cross|donation|charity|gofundme|unicef", "Gifts & donations"),
    (r"fee|overdraft|late charge|kontoführung|entgelt|commission", "Fees & charges"),
    (r"irs|tax|franchise tax|finanzamt|rentenversicherung", "Taxes"),
    (r"atm|cash withdrawal|geldautomat|bargeld", "Cash"),
    (r"transfer|xfer|autopay|payment - thank you|thank you for your payment|eigenes konto", "Transfers"),
]
_KEYWORD_RES = [(re.compile(p, re.I), c) for p, c in KEYWORD_RULES]


@functools.lru_cache(maxsize=1 << 16)
def keyword_category(payee: str | None, memo: str | None = None) -> str | None:
    """The first built-in keyword rule that matches (cached: payees repeat, and a million
    rows times twenty patterns is seconds of regex work)."""
    text = f"{payee or ''} {memo or ''}"
    for rx, cat in _KEYWORD_RES:
        if rx.search(text):
            return cat
    return None


def keyword_categories(payees: list[str | None], memos: list[str | None]) -> list[str | None]:
    """``keyword_category`` for many rows at once: each rule is one vectorised regex pass
    over the distinct texts (a million rows with a store number each is ~800,000 distinct
    payees, 27 s through Python's re one by one)."""
    import polars as pl

    if not payees:
        return []
    # Once per distinct text up to its digits: no rule names a digit, and a run of digits
    # read as one "0" is still a word character to \\b (tests/engine/test_keyword_rules.py).
    text = (
        pl.DataFrame({"p": payees, "m": memos}, schema={"p": pl.String, "m": pl.String})
        .select(
            pl.concat_str([pl.col("p").fill_null(""), pl.lit(" "), pl.col("m").fill_null("")])
            .str.replace_all("[0-9]+", "0")
            .alias("t")
        )
        .to_series()
    )
    distinct = text.unique()
    frame = pl.DataFrame({"t": distinct})
    guess = pl.lit(None, dtype=pl.String)
    for pattern, cat in reversed(KEYWORD_RULES):  # the first rule that matches wins
        guess = pl.when(pl.col("t").str.contains("(?i)" + pattern)).then(pl.lit(cat)).otherwise(guess)
    mapping = frame.with_columns(guess.alias("c"))
    joined = pl.DataFrame({"t": text}).join(mapping, on="t", how="left", maintain_order="left")
    return joined["c"].to_list()


def keyword_case_sql(text: str) -> tuple[str, list[str]]:
    """The keyword rules as one SQL CASE over the expression ``text`` (DuckDB's RE2 agrees
    with Python's re on these patterns: the tests compare them), and its parameters."""
    sql = "CASE " + " ".join("WHEN regexp_matches(" + text + ", ?) THEN ?" for _ in KEYWORD_RULES) + " END"
    return sql, [x for pattern, cat in KEYWORD_RULES for x in ("(?i)" + pattern, cat)]


def category_names(con: Any) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM categories ORDER BY name").fetchall()]


def resolve_category(con: Any, name: str) -> str:
    """The taxonomy's spelling of ``name`` (case-insensitive; 'Sub' alone if unique)."""
    names = category_names(con)
    wanted = name.strip().lower()
    for n in names:
        if n.lower() == wanted:
            return n
    subs = [n for n in names if "/" in n and n.split("/", 1)[1].lower() == wanted]
    if len(subs) == 1:
        return subs[0]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else " (see the categories in the README)"
    raise InvalidInput(f"unknown category {name!r}{hint}")


# -- labels ---------------------------------------------------------------------------
def label_transaction(con: Any, tx_id: int, category: str, flagged: dict[str, Any] | None = None) -> dict[str, Any]:
    """The user's own label: it wins over everything and is never overwritten. A label
    ``flagged`` by the poisoning check is applied but held ('user-flagged'): no model
    trains on it until the user confirms it."""
    cat = resolve_category(con, category)
    row = con.execute("SELECT tx_id, payee_raw, category FROM transactions WHERE tx_id = ?", [tx_id]).fetchone()
    if row is None:
        raise InvalidInput(f"there is no transaction {tx_id} (see `finanalytics tx list`)")
    con.execute(
        "UPDATE transactions SET category = ?, category_source = ?, category_confidence = 1.0, "
        "category_model_id = NULL, labeled_at = current_timestamp WHERE tx_id = ?",
        [cat, "user-flagged" if flagged else "user", tx_id],
    )
    out = {"tx_id": tx_id, "payee": row[1], "previous_category": row[2], "category": cat}
    if flagged:
        out["held_for_review"] = flagged["reason"]
    return out


# -- user rules -----------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    rule_id: int
    field: str
    pattern: str
    category: str
    amount_min: Decimal | None
    amount_max: Decimal | None


RULE_FIELDS = ("payee", "memo")


def parse_amount_range(text: str | None) -> tuple[Decimal | None, Decimal | None]:
    """'10:50', ':-100', '-50:' -> bounds (inclusive; money out is negative)."""
    if text is None:
        return None, None
    if ":" not in text:
        raise InvalidInput(f"--amount-range {text!r}: use MIN:MAX, e.g. -100:-10 or 1000: (either side may be empty)")
    lo_s, hi_s = text.split(":", 1)
    try:
        lo = Decimal(lo_s) if lo_s.strip() else None
        hi = Decimal(hi_s) if hi_s.strip() else None
    except InvalidOperation:
        raise InvalidInput(f"--amount-range {text!r}: bounds must be numbers") from None
    for bound in (lo, hi):  # "nan", "inf", or beyond what an amount can be (DECIMAL(18,2))
        if bound is not None and (not bound.is_finite() or abs(bound) >= Decimal("1e16")):
            raise InvalidInput(f"--amount-range {text!r}: bounds must be amounts below 10^16")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInput(f"--amount-range {text!r}: the minimum is above the maximum")
    return lo, hi


def add_rule(con: Any, pattern: str, category: str, field: str = "payee", amount_range: str | None = None) -> Rule:
    if field not in RULE_FIELDS:
        raise InvalidInput(f"--field must be one of {', '.join(RULE_FIELDS)}")
    if not pattern.strip():
        raise InvalidInput("the rule's pattern is empty")
    try:
        re.compile(pattern)
        con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchone()  # DuckDB's RE2 must accept it too
    except Exception as exc:  # noqa: BLE001 - re.error or duckdb.Error: both mean a bad pattern
        raise InvalidInput(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
    cat = resolve_category(con, category)
    lo, hi = parse_amount_range(amount_range)
    rule_id = con.execute(
        "INSERT INTO rules (field, pattern, category, amount_min, amount_max) VALUES (?, ?, ?, ?, ?) RETURNING rule_id",
        [field, pattern, cat, lo, hi],
    ).fetchone()[0]
    return Rule(rule_id, field, pattern, cat, lo, hi)


def list_rules(con: Any) -> list[Rule]:
    return [
        Rule(*r)
        for r in con.execute(
            "SELECT rule_id, field, pattern, category, amount_min, amount_max FROM rules ORDER BY priority, rule_id"
        ).fetchall()
    ]


def remove_rule(con: Any, rule_id: int) -> Rule:
    rules = {r.rule_id: r for r in list_rules(con)}
    if rule_id not in rules:
        raise InvalidInput(f"there is no rule {rule_id} (see `finanalytics rules list`)")
    con.execute("DELETE FROM rules WHERE rule_id = ?", [rule_id])
    # What the rule decided is decided again at the next `categorize`.
    con.execute(
        "UPDATE transactions SET category = NULL, category_source = NULL, category_confidence = NULL "
        "WHERE category_source = ?",
        [f"{RULE}:{rule_id}"],
    )
    return rules[rule_id]


def apply_rules(con: Any) -> int:
    """Apply user rules to every transaction without a user label; returns rows changed."""
    changed = 0
    for rule in reversed(list_rules(con)):  # the first rule in order wins: apply it last
        column = "payee_raw" if rule.field == "payee" else "memo"
        where = [
            f"regexp_matches(coalesce({column}, ''), ?, 'i')",
            "coalesce(category_source, '') NOT IN ('user', 'user-flagged', 'transfer-match')",
        ]
        params: list[Any] = [rule.pattern]
        if rule.amount_min is not None:
            where.append("amount >= ?")
            params.append(rule.amount_min)
        if rule.amount_max is not None:
            where.append("amount <= ?")
            params.append(rule.amount_max)
        changed += con.execute(
            f"UPDATE transactions SET category = ?, category_source = ?, category_confidence = 1.0, "
            f"category_model_id = NULL WHERE {' AND '.join(where)}",
            [rule.category, f"{RULE}:{rule.rule_id}", *params],
        ).fetchone()[0]
    return changed
