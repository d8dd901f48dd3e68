"""What `review` shows: the transactions that need a person, one group per merchant.

A group holds the rows of one cleaned merchant (``transactions.merchant``, else the raw
payee) that are uncategorized or categorized by the model with low confidence; a label
you gave that was held as possible poisoning is a group of its own and comes first. Each
group carries a suggestion taken from the store, never made up:

1. the category the model (or the merchant table, or the keyword rules) gave the group's rows,
2. else the category you gave most often to earlier transactions of the merchant,
3. else the model's last guess for the rows that fell below its threshold,
4. else none,

and the one command that accepts it for every row of the group: a rule when the group has
several rows (its pattern is checked against every row's payee, the way `rules add`
matches), `tx label` for a single row.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

DEFAULT_BELOW = 0.65  # a model category below this confidence is reviewed
PLACEHOLDER = "<Category>"
MAX_PATTERN = 400  # an alternation of payees longer than this is no pattern to type

# The rows `review` lists: not transfers, and uncategorised, held, or unsure.
_REVIEWED = """NOT t.is_transfer AND (t.category IS NULL OR t.category_source = 'user-flagged'
               OR (t.category_source = 'model' AND t.category_confidence < ?))"""
# The merchant as a grouping key: case, punctuation and spacing aside ("Trader Joe S" and
# "Trader Joe's" are one merchant).
_MERCHANT_KEY = r"lower(trim(regexp_replace(coalesce(t.merchant, t.payee_raw, ''), '[^\pL\pN]+', ' ', 'g')))"
# A held label is a decision about one transaction; a row without a merchant has no group.
_GROUP_KEY = f"""CASE WHEN t.category_source = 'user-flagged' OR {_MERCHANT_KEY} = '' THEN 'tx:' || t.tx_id
                 ELSE {_MERCHANT_KEY} END"""


def review_groups(con: Any, limit: int | None = 20, below: float = DEFAULT_BELOW) -> list[dict[str, Any]]:
    """The groups to review, held labels first, then by impact (rows x money moved):
    each a dict with the merchant, count, totals per currency, date range, accounts,
    suggestion (category, confidence, source, reason), the command and the tx_ids."""
    from finanalytics_cli.engine.errors import InvalidInput

    if not 0 <= below <= 1:
        raise InvalidInput("--below must be between 0 and 1")
    rows = con.execute(
        f"""
        WITH r AS (
            SELECT t.tx_id, t.posted_date, t.amount, t.currency, t.payee_raw, a.name AS account,
                   coalesce(t.merchant, t.payee_raw) AS m, t.category, t.category_source,
                   t.category_confidence, coalesce(t.category_source = 'user-flagged', false) AS flagged,
                   {_GROUP_KEY} AS gkey
            FROM transactions t JOIN accounts a USING (account_id)
            WHERE {_REVIEWED}
        ),
        money AS (
            SELECT gkey, list(struct_pack(currency := currency, total := total) ORDER BY currency) AS totals,
                   sum(volume) AS volume
            FROM (SELECT gkey, currency, sum(amount) AS total, sum(abs(amount)) AS volume FROM r GROUP BY ALL)
            GROUP BY gkey
        ),
        names AS (
            SELECT gkey, first(m ORDER BY n DESC, m) AS merchant
            FROM (SELECT gkey, m, count(*) AS n FROM r GROUP BY ALL) GROUP BY gkey
        ),
        cats AS (
            SELECT gkey, list(struct_pack(category := category, source := category_source, n := n,
                                          confidence := confidence)) AS current
            FROM (SELECT gkey, category, category_source, count(*) AS n, avg(category_confidence) AS confidence
                  FROM r WHERE category IS NOT NULL GROUP BY ALL)
            GROUP BY gkey
        ),
        g AS (
            SELECT gkey, bool_or(flagged) AS flagged, count(*) AS n, min(posted_date) AS first_date,
                   max(posted_date) AS last_date, list(DISTINCT account ORDER BY account) AS accounts,
                   list(tx_id ORDER BY tx_id) AS tx_ids, list(DISTINCT coalesce(payee_raw, '')) AS payees
            FROM r GROUP BY gkey
        )
        SELECT g.gkey, names.merchant, g.flagged, g.n, money.totals, g.first_date, g.last_date, g.accounts,
               g.tx_ids, g.payees, cats.current
        FROM g JOIN money USING (gkey) JOIN names USING (gkey) LEFT JOIN cats USING (gkey)
        ORDER BY g.flagged DESC, money.volume * g.n DESC, names.merchant, g.gkey
        {"LIMIT ?" if limit is not None else ""}
        """,
        [below, *([limit] if limit is not None else [])],
    ).fetchall()
    known = {n for (n,) in con.execute("SELECT name FROM categories").fetchall()}
    labels = _labels_by_merchant(con, [r[0] for r in rows if not r[0].startswith("tx:")])
    groups = []
    for gkey, merchant, flagged, n, totals, first, last, accounts, tx_ids, _payees, current in rows:
        group: dict[str, Any] = {
            "merchant": merchant,
            "flagged": bool(flagged),
            "count": int(n),
            "totals": [{"currency": t["currency"], "total": t["total"]} for t in totals],
            "first_date": first,
            "last_date": last,
            "accounts": list(accounts),
            "suggested_category": None,
            "confidence": None,
            "suggestion_source": None,
            "reason": None,
            "command": None,
            "rule_pattern": None,
            "also_matches": [],
            "tx_ids": list(tx_ids),
        }
        if flagged and current:
            cat = current[0]["category"]
            group.update(
                suggested_category=cat,
                suggestion_source="held_label",
                reason=f"your label {cat} is held as possible poisoning and trains nothing: confirm it, "
                f"or label the transaction again with the right category",
                command=f"finanalytics tx label {tx_ids[0]} {shell_quote(cat)} --confirm",
            )
            groups.append(group)
            continue
        group.update(_from_current(current or [], n, known) or _from_labels(labels.get(gkey), merchant, known) or {})
        groups.append(group)
    _from_unserved_predictions(con, [g for g in groups if g["suggested_category"] is None], known)
    payees = {id(g): row[9] for g, row in zip(groups, rows, strict=True)}
    for g in groups:
        if g["command"] is None:
            _command(con, g, payees[id(g)])
    _overlaps(con, groups, payees)
    return groups


def review_counts(con: Any, below: float = DEFAULT_BELOW) -> dict[str, int]:
    """How many groups and transactions `review` has in all (it shows the first few)."""
    groups, rows = con.execute(
        f"SELECT count(DISTINCT {_GROUP_KEY}), count(*) FROM transactions t WHERE {_REVIEWED}", [below]
    ).fetchone()
    return {"groups": int(groups), "transactions": int(rows)}


def percent(share: float) -> str:
    """A confidence as a percentage that does not round an unsure 99.7% up to 100%."""
    return f"{share:.1%}" if 0.995 <= share < 1 else f"{share:.0%}"


def shell_quote(text: str) -> str:
    """``text`` in single quotes for a POSIX shell (a quote inside written '\\'')."""
    return "'" + text.replace("'", "'\\''") + "'"


# -- suggestions ------------------------------------------------------------------------
def _from_current(current: list[dict[str, Any]], n: int, known: set[str]) -> dict[str, Any] | None:
    """The category the model (or keyword rules) gave most of the group's rows."""
    by_cat: Counter[str] = Counter()
    conf: dict[str, list[tuple[float, int]]] = {}
    sources: dict[str, set[str]] = {}
    for c in current:
        if c["category"] not in known:
            continue  # a name no longer in the taxonomy (renamed): no command could accept it
        by_cat[c["category"]] += c["n"]
        if c["confidence"] is not None:
            conf.setdefault(c["category"], []).append((c["confidence"], c["n"]))
        sources.setdefault(c["category"], set()).add(c["source"])
    if not by_cat:
        return None
    cat, k = min(by_cat.items(), key=lambda kv: (-kv[1], kv[0]))
    weights = conf.get(cat, [])
    mean = sum(v * w for v, w in weights) / sum(w for _, w in weights) if weights else None
    source = next((s for s in ("model", "merchant", "keyword") if s in sources[cat]), "keyword")
    who = {"model": "the model's category", "merchant": "the merchant table's category"}.get(
        source, "the keyword rules' category"
    )
    sure = f", {percent(mean)} sure on average" if mean is not None else ""
    return {
        "suggested_category": cat,
        "confidence": round(mean, 3) if mean is not None else None,
        "suggestion_source": source,
        "reason": f"{who} for {k} of {n}{sure}",
    }


def _labels_by_merchant(con: Any, keys: list[str]) -> dict[str, Counter[str]]:
    """Your own labels (not the held ones) per merchant key, for the keys given."""
    if not keys:
        return {}
    out: dict[str, Counter[str]] = {}
    rows = con.execute(
        f"""
        SELECT gkey, category, count(*) FROM (
            SELECT {_MERCHANT_KEY} AS gkey, t.category FROM transactions t
            WHERE t.category_source = 'user' AND t.category IS NOT NULL AND NOT t.is_transfer
        ) WHERE gkey IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL
        """,
        [keys],
    ).fetchall()
    for key, cat, n in rows:
        out.setdefault(key, Counter())[cat] = int(n)
    return out


def _from_labels(labels: Counter[str] | None, merchant: str, known: set[str]) -> dict[str, Any] | None:
    """The category you gave most often to earlier transactions of the merchant."""
    counts = Counter({c: n for c, n in (labels or {}).items() if c in known})
    if not counts:
        return None
    cat, k = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(counts.values())
    return {
        "suggested_category": cat,
        "confidence": round(k / total, 3),  # the share of your labels of this merchant
        "suggestion_source": "labels",
        "reason": f"your label for {k} of your {total} earlier labels of {merchant}",
    }


def _from_unserved_predictions(con: Any, groups: list[dict[str, Any]], known: set[str]) -> None:
    """The model's latest guesses for rows it was too unsure of to categorize."""
    if not groups:
        return
    from finanalytics_cli.engine.models.category import MODEL_TYPE

    ids = [str(t) for g in groups for t in g["tx_ids"]]
    rows = con.execute(
        """
        SELECT entity_id, json_extract_string(payload, '$.category'), confidence FROM model_predictions
        WHERE model_type = ? AND entity_type = 'transaction' AND entity_id IN (SELECT unnest(?::VARCHAR[]))
              AND json_extract_string(payload, '$.mode') IN ('production', 'canary')
        QUALIFY row_number() OVER (PARTITION BY entity_id ORDER BY prediction_id DESC) = 1
        """,
        [MODEL_TYPE, ids],
    ).fetchall()
    guess = {int(e): (c, conf) for e, c, conf in rows if c in known and conf is not None}
    for g in groups:
        votes: Counter[str] = Counter()
        confs: dict[str, list[float]] = {}
        for t in g["tx_ids"]:
            if t in guess:
                cat, conf = guess[t]
                votes[cat] += 1
                confs.setdefault(cat, []).append(float(conf))
        if not votes:
            continue
        cat, k = min(votes.items(), key=lambda kv: (-kv[1], kv[0]))
        mean = sum(confs[cat]) / len(confs[cat])
        g.update(
            suggested_category=cat,
            confidence=round(mean, 3),
            suggestion_source="model_below_threshold",
            reason=f"the model's guess for {k} of {g['count']}, only {percent(mean)} sure (too unsure to apply it)",
        )


# -- the command ------------------------------------------------------------------------
def _command(con: Any, group: dict[str, Any], payees: list[str]) -> None:
    """The one command that gives every row of the group the suggested category."""
    cat = group["suggested_category"]
    target = shell_quote(cat) if cat else shell_quote(PLACEHOLDER)
    if cat is None:
        group["reason"] = f"no suggestion yet: put a category in place of {PLACEHOLDER} (see `finanalytics categories`)"
    if group["count"] == 1:
        group["command"] = f"finanalytics tx label {group['tx_ids'][0]} {target}"
        return
    pattern = rule_pattern(con, group["merchant"], payees)
    if pattern is None:  # no pattern of a sane length matches them all: one label at a time
        group["command"] = f"finanalytics tx label {group['tx_ids'][0]} {target}"
        group["reason"] = (group["reason"] or "") + (
            f"; no one rule matches all {group['count']} payees: label them one by one"
        )
        return
    group["command"] = f"finanalytics rules add {shell_quote(pattern)} {target}"
    group["rule_pattern"] = pattern


def _overlaps(con: Any, groups: list[dict[str, Any]], payees: dict[int, list[str]]) -> None:
    """A group's rule that also matches the payees of other groups listed: named in
    ``also_matches`` (accepting it categorizes those too)."""
    others = [g for g in groups if not g["flagged"]]
    flat = [(i, p) for i, g in enumerate(others) for p in payees[id(g)]]
    if not flat:
        return
    for g in others:
        if g["rule_pattern"] is None:
            continue
        hit = con.execute(
            "SELECT list(DISTINCT i ORDER BY i) FROM (SELECT unnest(?::INTEGER[]) AS i, unnest(?::VARCHAR[]) AS p) "
            "WHERE regexp_matches(p, ?, 'i')",
            [[i for i, _ in flat], [p for _, p in flat], g["rule_pattern"]],
        ).fetchone()[0]
        g["also_matches"] = [others[i]["merchant"] for i in hit or [] if others[i] is not g]


_META = set("\\.^$|?*+()[]{}")


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _META else c for c in text)


def _bounded(pattern: str, text: str) -> str:
    """``pattern`` between word boundaries where ``text`` starts and ends with a letter or
    digit (\\b is ASCII in DuckDB's RE2: only there do both engines agree)."""

    def word(c: str) -> bool:
        return c.isascii() and c.isalnum()

    return ("\\b" if word(text[0]) else "") + pattern + ("\\b" if word(text[-1]) else "")


def pattern_candidates(merchant: str) -> list[str]:
    """Patterns for a merchant's rule, most readable first: the name itself, its words
    with any punctuation between them, its words with anything between them."""
    words = re.findall(r"[^\W_]+", merchant)
    out = []
    if "'" not in merchant and merchant.strip():
        out.append(_bounded(_escape(merchant.strip()), merchant.strip()))
    if words:
        out.append(_bounded(r"\W+".join(words), words[0] + words[-1]))
        if len(words) > 1:
            out.append(_bounded(".*".join(words), words[0] + words[-1]))
    return list(dict.fromkeys(out))


def rule_pattern(con: Any, merchant: str, payees: list[str]) -> str | None:
    """The first candidate pattern that matches every payee the way a rule does (DuckDB's
    case-insensitive regexp_matches on payee_raw), else the payees themselves as one
    alternation when that is short enough, else None."""
    alternation = "^(?:" + "|".join(_escape(p) for p in sorted(set(payees))) + ")$"
    candidates = pattern_candidates(merchant)
    if len(alternation) <= MAX_PATTERN:
        candidates.append(alternation)
    for pattern in candidates:
        try:
            re.compile(pattern)
        except re.error:
            continue
        ok = con.execute(
            "SELECT bool_and(regexp_matches(p, ?, 'i')) FROM (SELECT unnest(?::VARCHAR[]) AS p)", [pattern, payees]
        ).fetchone()[0]
        if ok:
            return pattern
    return None
