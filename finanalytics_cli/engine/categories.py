"""Categories: the taxonomy, user labels, user rules and built-in keyword rules.

Order of authority when categorizing: the user's own label (never overwritten), then
user rules, then the deployed model (above its confidence threshold), then the built-in
keyword rules for common merchants; what is left stays uncategorized for `review`.
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
    if not payees:
        return []
    return keyword_series(payees, memos).to_list()


def keyword_series(payees: Any, memos: Any) -> Any:
    """:func:`keyword_categories` of lists or polars String Series, as a polars Series."""
    import polars as pl

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
    return joined["c"]


def category_names(con: Any) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM categories ORDER BY name").fetchall()]


def _normal_name(name: str) -> str:
    """A category name as typed, tidied: single spaces, none around the '/'."""
    return re.sub(r"\s*/\s*", "/", re.sub(r"\s+", " ", name.strip()))


def close_category_names(name: str, names: list[str]) -> list[str]:
    """Up to three of ``names`` that look like ``name`` (case aside; a subcategory also
    by its own part: 'fual' is close to Transport/Fuel)."""
    wanted = _normal_name(name).lower()
    keys: dict[str, str] = {}
    for n in names:
        keys.setdefault(n.lower(), n)
        if "/" in n:
            keys.setdefault(n.split("/", 1)[1].lower(), n)
    close = difflib.get_close_matches(wanted, list(keys), n=6, cutoff=0.6)
    return list(dict.fromkeys(keys[c] for c in close))[:3]


def resolve_category(con: Any, name: str) -> str:
    """The taxonomy's spelling of ``name`` (case-insensitive; 'Sub' alone if unique)."""
    names = category_names(con)
    wanted = _normal_name(name).lower()
    for n in names:
        if n.lower() == wanted:
            return n
    subs = [n for n in names if "/" in n and n.split("/", 1)[1].lower() == wanted]
    if len(subs) == 1:
        return subs[0]
    if len(subs) > 1:
        raise InvalidInput(f"category {name!r} is ambiguous: write {' or '.join(subs)}")
    close = close_category_names(name, names)
    hint = f"; did you mean {', '.join(close)}?" if close else " (see `finanalytics categories`)"
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


def find_rule(con: Any, rule_id: int) -> Rule:
    rules = {r.rule_id: r for r in list_rules(con)}
    if rule_id not in rules:
        raise InvalidInput(f"there is no rule {rule_id} (see `finanalytics rules list`)")
    return rules[rule_id]


def remove_rule(con: Any, rule_id: int) -> Rule:
    rule = find_rule(con, rule_id)
    con.execute("DELETE FROM rules WHERE rule_id = ?", [rule_id])
    # What the rule decided is decided again at the next `categorize`.
    con.execute(
        "UPDATE transactions SET category = NULL, category_source = NULL, category_confidence = NULL "
        "WHERE category_source = ?",
        [f"{RULE}:{rule_id}"],
    )
    return rule


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


# -- the taxonomy: list, add, rename ----------------------------------------------------
KINDS = ("expense", "income", "transfer")
# Words other commands read specially: `tx list --category none`, budget constraints
# `total<=` and `savings>=`. No category may be called that.
RESERVED_NAMES = frozenset({"none", "uncategorised", "uncategorized", "total", "savings"})
# One part of a name (top or sub): starts with a letter or digit; no ',' (lists of
# categories are comma-separated), no '<', '>' or '=' (budget constraints), no '/' (levels).
_NAME_PART = re.compile(r"^[^\W_][\w &'.()+-]*$")
MAX_NAME_PART = 48


@dataclass(frozen=True)
class Category:
    name: str
    parent: str | None
    kind: str | None
    essential: bool | None
    custom: bool | None
    transactions: int


@dataclass(frozen=True)
class CategoryRename:
    old: str
    new: str
    renamed: dict[str, str]  # every name that changed (a top-level category's subcategories too)
    transactions: int
    rules: int
    budgets: int
    pending_transactions: int  # pending rows kept aside for `import undo`
    insights: int
    warnings: list[str]


def list_categories(con: Any) -> list[Category]:
    """The taxonomy and your own categories, each with its number of transactions
    (uncategorized ones count as Uncategorized); a name transactions use that the
    taxonomy lacks is listed too, with no kind."""
    rows = con.execute(
        """
        WITH used AS (SELECT coalesce(category, 'Uncategorized') AS name, count(*) AS n FROM transactions GROUP BY 1)
        SELECT coalesce(c.name, u.name), c.parent, c.kind, c.is_essential, NOT c.is_builtin, coalesce(u.n, 0),
               c.name IS NULL
        FROM categories c FULL JOIN used u ON u.name = c.name
        ORDER BY 1
        """
    ).fetchall()
    return [
        Category(
            name,
            parent if not unknown else (name.split("/")[0] if "/" in name else None),
            kind,
            essential,
            custom,
            int(n),
        )
        for name, parent, kind, essential, custom, n, unknown in rows
    ]


def _check_part(part: str, whole: str) -> None:
    if not part:
        raise InvalidInput(f"category name {whole!r} has an empty part")
    if len(part) > MAX_NAME_PART:
        raise InvalidInput(f"category name {part!r} is longer than {MAX_NAME_PART} characters")
    if not _NAME_PART.match(part):
        raise InvalidInput(
            f"category name {part!r}: use letters, digits, spaces and & ' . ( ) + - (starting with a letter or digit)"
        )


def _existing(con: Any, name: str) -> str | None:
    """The category whose name is ``name`` up to case, if any."""
    row = con.execute("SELECT name FROM categories WHERE lower(name) = lower(?)", [name]).fetchone()
    return row[0] if row else None


def _top_level(con: Any, name: str) -> tuple[str, str, bool]:
    """(name, kind, essential) of the top-level category ``name`` (any case)."""
    cat = resolve_category(con, name)
    parent, kind, essential = con.execute(
        "SELECT parent, kind, is_essential FROM categories WHERE name = ?", [cat]
    ).fetchone()
    if parent is not None:
        raise InvalidInput(f"{cat} is a subcategory; a subcategory's parent is a top-level category such as {parent}")
    return cat, kind, bool(essential)


def _new_name(con: Any, name: str, parent: str | None) -> tuple[str, tuple[str, str, bool] | None]:
    """The full name ("Top" or "Top/Sub") of a category to be, checked, and its parent's
    (name, kind, essential) when it is a subcategory."""
    name = _normal_name(name)
    if "/" in name and parent is not None:
        raise InvalidInput(f"give either --parent {parent} and a name without '/', or the name as Top/Sub")
    top: tuple[str, str, bool] | None = None
    if "/" in name:
        parent, name = name.split("/", 1)
        if "/" in name:
            raise InvalidInput("a category has at most one level of subcategories (Top/Sub)")
    if parent is not None:
        top = _top_level(con, parent)
        _check_part(name, name)
        full = f"{top[0]}/{name}"
    else:
        _check_part(name, name)
        full = name
    if full.lower() in RESERVED_NAMES:
        raise InvalidInput(f"{full!r} is a word other commands read specially (none, total, savings...): pick another")
    return full, top


def add_category(
    con: Any, name: str, parent: str | None = None, essential: bool | None = None, kind: str | None = None
) -> dict[str, Any]:
    """A custom category (a subcategory when ``parent`` is given or ``name`` is Top/Sub;
    it takes its parent's kind and, unless told, its essential flag). A name that exists
    in any case is refused. Returns the category and notes for the user."""
    full, top = _new_name(con, name, parent)
    existing = _existing(con, full)
    if existing is not None:
        raise InvalidInput(f"the category {existing} already exists (names are case-insensitive)")
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"--kind must be one of {', '.join(KINDS)}")
    if top is not None:
        if kind is not None and kind != top[1]:
            raise InvalidInput(f"a subcategory has its parent's kind: {top[0]} is {top[1]}")
        kind, essential = top[1], top[2] if essential is None else essential
    kind = kind or "expense"
    con.execute(
        "INSERT INTO categories (name, parent, is_essential, kind, is_builtin) VALUES (?, ?, ?, ?, false)",
        [full, top[0] if top else None, bool(essential), kind],
    )
    return {
        "category": Category(full, top[0] if top else None, kind, bool(essential), True, 0),
        "notes": _shadows(con, full),
    }


def _shadows(con: Any, full: str) -> list[str]:
    """What a new name changes for names typed short ('fuel' for Transport/Fuel)."""
    short = full.split("/")[-1].lower()
    subs = [
        n
        for (n,) in con.execute(
            "SELECT name FROM categories WHERE parent IS NOT NULL AND lower(split_part(name, '/', 2)) = ? "
            "AND name <> ? ORDER BY name",
            [short, full],
        ).fetchall()
    ]
    if not subs:
        return []
    if "/" not in full:
        return [f"'{short}' now means {full}; write {', '.join(subs)} for the subcategory"]
    return [f"'{short}' alone is now ambiguous: write {' or '.join([*subs, full])}"]


def rename_category(store: Any, old: str, new: str) -> CategoryRename:
    """Rename one of your own categories everywhere a category name is stored (the
    categories, transactions and the pending rows kept for `import undo`, rules, budgets,
    insights, a budget proposal not yet accepted), in one store transaction: all of it or
    none. A top-level category's subcategories follow. Built-in categories keep their
    names (the keyword rules, reports and shared models name them); an existing name, in
    any case, is refused."""
    con = store.con
    old_name = resolve_category(con, old)
    parent, kind, essential, builtin = con.execute(
        "SELECT parent, kind, is_essential, is_builtin FROM categories WHERE name = ?", [old_name]
    ).fetchone()
    if builtin:
        raise InvalidInput(
            f"{old_name} is a built-in category: the keyword rules, reports and shared models use its name, so it "
            "keeps it; add a category of your own instead (`finanalytics categories add`)"
        )
    typed = _normal_name(new)
    if parent is None and "/" in typed:
        raise InvalidInput(f"{old_name} is a top-level category and stays one: give a name without '/'")
    if parent is not None and "/" not in typed:
        typed = f"{parent}/{typed}"
    new_name, top = _new_name(con, typed, None)
    if new_name == old_name:
        raise InvalidInput(f"the category is already called {old_name}")
    mapping = {old_name: new_name}
    if parent is None:
        for (sub,) in con.execute("SELECT name FROM categories WHERE parent = ? ORDER BY name", [old_name]).fetchall():
            mapping[sub] = f"{new_name}/{sub.split('/', 1)[1]}"
    for target in mapping.values():
        clash = _existing(con, target)
        if clash is not None and clash not in mapping:  # 'coffee' -> 'Coffee' renames onto itself
            raise InvalidInput(
                f"there is already a category {clash}: renaming {old_name} onto it would merge the two "
                "(to merge, label or add rules for the transactions instead)"
            )
    counts = dict.fromkeys(("transactions", "rules", "budgets", "pending", "insights"), 0)
    with store.transaction():
        for src, dst in mapping.items():
            if src == old_name and top is not None:  # a subcategory, maybe under another parent now
                new_parent, new_kind = top[0], top[1]
            elif src == old_name:
                new_parent, new_kind = None, kind
            else:
                new_parent, new_kind = new_name, kind
            con.execute(
                "INSERT INTO categories (name, parent, is_essential, kind, is_builtin) "
                "SELECT ?, ?, is_essential, ?, false FROM categories WHERE name = ?",
                [dst, new_parent, new_kind, src],
            )
            con.execute("DELETE FROM categories WHERE name = ?", [src])
            for table, key in (
                ("transactions", "transactions"),
                ("superseded_transactions", "pending"),
                ("rules", "rules"),
                ("budgets", "budgets"),
            ):
                counts[key] += con.execute(
                    f"UPDATE {table} SET category = ? WHERE category = ?", [dst, src]
                ).fetchone()[0]
            counts["insights"] += con.execute(
                "UPDATE financial_insights SET subject = ? WHERE subject = ?", [f"category:{dst}", f"category:{src}"]
            ).fetchone()[0]
        _rename_in_proposal(con, mapping)
    return CategoryRename(
        old_name,
        new_name,
        mapping,
        counts["transactions"],
        counts["rules"],
        counts["budgets"],
        counts["pending"],
        counts["insights"],
        _model_warnings(con, mapping),
    )


def _rename_in_proposal(con: Any, mapping: dict[str, str]) -> None:
    """A budget proposal waiting for `budget accept` names categories too."""
    import json

    from finanalytics_cli.engine.budget import PROPOSAL_KEY

    row = con.execute("SELECT value FROM app_state WHERE key = ?", [PROPOSAL_KEY]).fetchone()
    if row is None:
        return
    proposal = json.loads(row[0])
    lines = proposal.get("lines", [])
    if not any(x.get("category") in mapping for x in lines):
        return
    for x in lines:
        x["category"] = mapping.get(x.get("category"), x.get("category"))
    con.execute("UPDATE app_state SET value = ? WHERE key = ?", [json.dumps(proposal), PROPOSAL_KEY])


def _model_warnings(con: Any, mapping: dict[str, str]) -> list[str]:
    """A deployed category model learned the old names and keeps predicting them: say so."""
    import json

    from finanalytics_cli.engine.models.category import MODEL_TYPE
    from finanalytics_cli.engine.models.registry import serving

    route = serving(con, MODEL_TYPE)
    ids = [m for m in (route.production, route.canary[0] if route.canary else None, route.shadow) if m is not None]
    out = []
    for model_id in ids:
        (metrics,) = con.execute("SELECT metrics FROM ml_models WHERE model_id = ?", [model_id]).fetchone()
        support = (json.loads(metrics) if metrics else {}).get("support") or {}
        learned = sorted(o for o in mapping if o in support)
        if learned:
            out.append(
                f"the deployed category model {model_id} learned {', '.join(learned)} and predicts the old name "
                f"until it is retrained: run `finanalytics models train {MODEL_TYPE}` (and deploy it) before the "
                "next `categorize`"
            )
    return out
