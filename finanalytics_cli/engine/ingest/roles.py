"""Column roles by evidence: content checks over names, and the running balance as arbiter.

A header name proposes a role; the column's cells confirm it (a column called "Betrag"
holding names is text). Without a header, roles come from content alone: every
date-looking column is a date (never an amount), money-looking columns are amounts or
balances, the longest text is the payee. Where the file has a running balance, the amount
is the column (or debit/credit pair, with the sign) whose steps reproduce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from typing import Any

from finanalytics_cli.engine.ingest.currency import ISO_CODES
from finanalytics_cli.engine.ingest.dates import date_share
from finanalytics_cli.engine.ingest.layout import CREDIT_WORDS, DEBIT_WORDS, normalise_header
from finanalytics_cli.engine.ingest.money import decide_decimal, money_share, parse_money

MONEY_ROLES = ("amount_column", "debit_column", "credit_column", "balance_column")
MIN_DATE_SHARE = 0.8
MIN_MONEY_SHARE = 0.9
# Arbitration needs this many balance steps to overrule the header's names.
MIN_STEPS = 3


@dataclass
class ColumnFacts:
    """What the cells of one column look like."""

    name: str
    filled: float  # share of rows with a value
    dates: float  # share of values one date format reads
    money: float  # share of values that read as money
    text_length: float  # mean length of the values
    cents: bool = False  # some value has a decimal part ("12.50"), unlike cheque or reference numbers


def column_facts(frame: Any, columns: list[str]) -> dict[str, ColumnFacts]:
    """Facts per column from a sample of the rows (the first few thousand)."""
    sample = frame.head(5000)
    out = {}
    for col in columns:
        s = sample[col].str.strip_chars()
        nonempty = s.filter(s.is_not_null() & (s != ""))
        n = sample.height or 1
        out[col] = ColumnFacts(
            name=col,
            filled=nonempty.len() / n,
            dates=date_share(nonempty) if nonempty.len() else 0.0,
            money=money_share(nonempty),
            text_length=float(nonempty.str.len_chars().mean() or 0.0),
            cents=bool(nonempty.str.contains(r"[.,]\d{1,3}\b").any()),
        )
    return out


def is_date(f: ColumnFacts) -> bool:
    return f.filled > 0 and f.dates >= MIN_DATE_SHARE


def is_money(f: ColumnFacts) -> bool:
    return f.filled > 0 and f.money >= MIN_MONEY_SHARE and not is_date(f)


def contradicts_date(f: ColumnFacts) -> bool:
    """A column named as the date whose cells are mostly not dates (a named role needs a majority)."""
    return f.filled == 0 or f.dates < 0.5


def contradicts_money(f: ColumnFacts) -> bool:
    return f.filled > 0 and (f.money < 0.5 or is_date(f))


def _assigned(layout: Any) -> set[str]:
    roles = (
        layout.date_column,
        layout.amount_column,
        layout.debit_column,
        layout.credit_column,
        layout.balance_column,
        layout.currency_column,
        layout.payee_column,
        layout.status_column,
        layout.reference_column,
        layout.account_column,
        layout.value_date_column,
        layout.mcc_column,
        *layout.memo_columns,
    )
    return {c for c in roles if c}


def flag_shares(frame: Any, columns: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Per column of short tokens, the share that are debit/credit flags and that are ISO currency codes."""
    words = list(DEBIT_WORDS | CREDIT_WORDS)
    flags, codes = {}, {}
    sample = frame.head(5000)
    for col in columns:
        s = sample[col].drop_nulls().str.strip_chars()
        s = s.filter(s != "")
        if s.len() < max(2, 0.9 * sample.height) or (s.str.len_chars().max() or 0) > 6:
            continue
        flags[col] = float(s.str.to_lowercase().is_in(words).mean())
        codes[col] = float(s.str.to_uppercase().is_in(list(ISO_CODES)).mean())
    return flags, codes


def check_named_roles(
    layout: Any,
    facts: dict[str, ColumnFacts],
    named: set[str],
    frame_flags: dict[str, float] | None = None,
    frame_codes: dict[str, float] | None = None,
) -> list[str]:
    """Drop auto-detected roles the cells contradict; returns what was changed (evidence).

    ``named`` holds the layout attributes a --map set: those are never second-guessed.
    """
    frame_flags, frame_codes = frame_flags or {}, frame_codes or {}
    notes = []
    if layout.date_column and "date_column" not in named and contradicts_date(facts[layout.date_column]):
        notes.append(f"column {layout.date_column!r} holds no dates")
        layout.date_column = None
    for attr in MONEY_ROLES:
        col = getattr(layout, attr)
        if col is None or attr in named:
            continue
        f = facts[col]
        if f.filled == 0 and attr in ("debit_column", "credit_column"):
            continue  # an empty credit column in a month of spending
        if contradicts_money(f) or (f.filled == 0 and attr == "amount_column"):
            notes.append(f"column {col!r} is named like money but holds {'dates' if is_date(f) else 'text'}")
            setattr(layout, attr, None)
    if layout.payee_column and "payee_column" not in named:
        f = facts[layout.payee_column]
        if f.filled == 0 or is_money(f) or is_date(f):
            layout.payee_column = None
    if layout.date_column is None and "date_column" not in named:
        dates = [c for c, f in facts.items() if is_date(f)]
        if dates:
            layout.date_column = dates[0]
            notes.append(f"dates read from column {dates[0]!r} (by content)")
    has_amount = layout.amount_column or layout.debit_column or layout.credit_column
    with_cents = {f.name for f in facts.values() if f.cents}  # cheque numbers have none
    if not has_amount and not named & {"amount_column", "debit_column", "credit_column"}:
        used = {layout.date_column, layout.balance_column, layout.payee_column, *layout.memo_columns}
        money = [c for c, f in facts.items() if is_money(f) and c not in used and f.filled >= 0.5]
        partly = [
            c for c, f in facts.items() if is_money(f) and c not in used and 0 < f.filled < 0.5 and c in with_cents
        ]
        if len(money) == 1 and not partly:
            layout.amount_column = money[0]
            notes.append(f"amounts read from column {money[0]!r}, the one column of money (by content)")
    if layout.value_date_column and "currency_column" not in named and layout.currency_column is None:
        # "Valuta" is the value date in Dutch and Italian, the currency in Scandinavian exports.
        if frame_codes.get(layout.value_date_column, 0.0) >= 0.9:
            layout.currency_column, layout.value_date_column = layout.value_date_column, None
    if layout.direction_column is None and "direction_column" not in named:
        flags = [c for c, share in frame_flags.items() if share >= 0.95 and c not in _assigned(layout)]
        if len(flags) == 1:
            layout.direction_column = flags[0]
            notes.append(f"debit/credit flags read from column {flags[0]!r} (by content)")
    if layout.payee_column is None and "payee_column" not in named:
        used = _assigned(layout) | {layout.direction_column}
        texts = [f for c, f in facts.items() if c not in used and not is_money(f) and not is_date(f) and f.filled]
        if texts:
            layout.payee_column = max(texts, key=lambda f: f.text_length * f.filled).name
    return notes


def _amount_and_balance(frame: Any, layout: Any, a: str, b: str) -> tuple[str, str]:
    """Of two full money columns, (amount, balance): the pair whose balance steps agree more."""
    import polars as pl

    decided = decide_decimal([frame[a], frame[b]], layout.delimiter)
    decimal, thousands = (".", None) if isinstance(decided, str) else decided[:2]

    def money(col: str) -> Any:
        return parse_money(pl.col(col), decimal, thousands)[0]

    ab = agreement(frame, money(a), money(b))
    ba = agreement(frame, money(b), money(a))
    return (b, a) if ba.agree > ab.agree else (a, b)


def headerless_roles(layout: Any, facts: dict[str, ColumnFacts], frame: Any) -> str | None:
    """Roles of a file without a header, by content; returns what is ambiguous, if anything."""
    dates = [c for c, f in facts.items() if is_date(f)]
    if layout.date_column:  # named by a map, with its format
        dates = [layout.date_column, *[c for c in dates if c != layout.date_column]]
    if not dates:
        return "no column of dates"
    layout.date_column = layout.date_column or dates[0]
    money = [c for c, f in facts.items() if is_money(f) and c not in dates]
    with_decimals = [c for c in money if frame[c].drop_nulls().str.contains(r"[.,]\d{1,3}\b").any()]
    if with_decimals:  # whole numbers beside amounts with cents: check or reference numbers
        money = with_decimals
    if frame.height > 2:  # a constant column (the account number, an opening balance) is no amount
        money = [c for c in money if frame[c].drop_nulls().n_unique() > 1]
    flags, _ = flag_shares(frame, list(facts))
    direction = [c for c, share in flags.items() if share >= 0.95 and c not in dates]
    if direction and layout.direction_column is None:
        layout.direction_column = direction[0]
    if not (layout.amount_column or layout.debit_column or layout.credit_column):
        if not money:
            return "no column of amounts"
        full = [c for c in money if facts[c].filled >= 0.95]
        if len(money) == 1:
            layout.amount_column = money[0]
        elif len(money) == 2 and len(full) == 2:
            # An amount and a running balance: the one whose steps the other reproduces is the balance.
            layout.amount_column, layout.balance_column = _amount_and_balance(frame, layout, money[0], money[1])
        elif len(money) == 2:
            return "no header, and two partly filled money columns (debit and credit?) and no balance to tell which"
        elif len(full) == 2 and len(money) == 3:
            return "no header, and three columns look like amounts"
        else:
            return f"no header, and {len(money)} columns look like amounts"
    used = _assigned(layout) | {layout.direction_column}
    texts = [f for c, f in facts.items() if c not in used and c not in dates and not is_money(f) and f.filled]
    if texts and layout.payee_column is None:
        layout.payee_column = max(texts, key=lambda f: f.text_length * f.filled).name
    return None


# -- the running balance as arbiter -------------------------------------------------------
@dataclass
class Agreement:
    steps: int  # balance steps checked
    agree: int  # steps the amounts reproduce
    order: str  # ascending | descending
    sign: int  # 1: amounts as read; -1: flipped
    total_ok: bool  # last balance - first balance == the amounts in between
    plus: int = 0  # steps reproduced with the amounts as read (the better order)
    minus: int = 0  # steps reproduced with the amounts flipped


def agreement(frame: Any, amount: Any, balance: Any) -> Agreement:
    """How well an amount expression reproduces a balance expression, both orders, both signs."""
    rows = frame.select(amount.alias("a"), balance.alias("b")).drop_nulls()
    if rows.height < 2:
        return Agreement(0, 0, "ascending", 1, False)
    a, b = rows["a"], rows["b"]
    up = b.diff()
    down = -b.diff()
    prev = a.shift(1)
    results = {
        ("ascending", 1): int((up == a).sum()),
        ("ascending", -1): int((up == -a).sum()),
        ("descending", 1): int((down == prev).sum()),
        ("descending", -1): int((down == -prev).sum()),
    }
    (order, sign), best = max(results.items(), key=lambda kv: (kv[1], kv[0][1]))
    # Order-free check: the balance moved by the sum of the amounts after the first row
    # (ascending) or before the last (descending).
    first, last = b[0], b[-1]
    inner = a[1:].sum() if order == "ascending" else -a[:-1].sum()
    total_ok = (last - first) == (inner * sign)
    plus = max(results[("ascending", 1)], results[("descending", 1)])
    minus = max(results[("ascending", -1)], results[("descending", -1)])
    return Agreement(rows.height - 1, best, order, sign, bool(total_ok), plus, minus)


def _amount_expr(layout: Any, amount_column: str | None, debit: str | None, credit: str | None) -> Any:
    import polars as pl

    zero = pl.lit(0).cast(pl.Decimal(18, 2))
    if amount_column:
        return parse_money(pl.col(amount_column), layout.decimal, layout.thousands)[0]
    total = zero
    for col, sign in ((debit, -1), (credit, 1)):
        if col:
            v = parse_money(pl.col(col), layout.decimal, layout.thousands)[0]
            total = total + pl.when(v.is_not_null()).then(v.abs() * sign).otherwise(zero)
    return total


_FEE_HEADERS = {"fee", "fees", "fee amount", "gebuhr", "gebuhren", "commission", "frais", "comision", "commissione"}


def arbitrate(frame: Any, layout: Any, facts: dict[str, ColumnFacts], named: set[str]) -> str | None:
    """Let the running balance choose the amount column(s) and sign; returns the evidence.

    The header's choice stands when there are fewer than MIN_STEPS balance steps or it
    reproduces at least 80% of them; otherwise the candidate (a fee beside the amount,
    another column, a debit/credit pair, either sign) that reproduces the most steps wins,
    if it reproduces at least 80% and more than the header's choice. A map that names the
    amount columns is never overruled (its result is still checked, and warned about).
    """
    import polars as pl

    if not layout.balance_column or named & {"amount_column", "debit_column", "credit_column", "invert_sign"}:
        return None
    balance = parse_money(pl.col(layout.balance_column), layout.decimal, layout.thousands)[0]
    current = (layout.amount_column, layout.debit_column, layout.credit_column)
    if layout.direction_column:
        return None  # signs come from the flags; checked after the batch is built
    cur = agreement(frame, _amount_expr(layout, *current), balance)
    if cur.steps < MIN_STEPS or cur.plus >= 0.8 * cur.steps:
        return None
    fee = next((c for c in facts if normalise_header(c) in _FEE_HEADERS and facts[c].money >= 0.9), None)
    if fee and layout.amount_column:
        # Revolut-style: the fee is charged beside the amount; the balance moves by both.
        with_fee = _amount_expr(layout, *current) - parse_money(pl.col(fee), layout.decimal, layout.thousands)[
            0
        ].abs().fill_null(0)
        ag = agreement(frame, with_fee, balance)
        if ag.plus >= 0.8 * ag.steps and ag.plus > cur.plus:
            layout.fee_column = fee
            return (
                f"running balance: column {layout.amount_column!r} less the fee in {fee!r} reproduces "
                f"{ag.plus} of {ag.steps} balance steps"
            )
    money = [c for c, f in facts.items() if is_money(f) and c not in (layout.balance_column, layout.date_column)] + [
        c for c in current if c and facts[c].filled == 0
    ]
    candidates: list[tuple[str | None, str | None, str | None]] = [(c, None, None) for c in money]
    for d, c in permutations(money[:8], 2):
        candidates.append((None, d, c))
    if current not in candidates and any(current):
        candidates.append(current)
    if layout.debit_column and layout.credit_column:
        # Debit and credit in the account holder's books (debit = money in): the balance tells.
        candidates.append((None, layout.credit_column, layout.debit_column))
    # Best first by steps reproduced, then unflipped over flipped, then the header's own choice.
    scored = []
    for i, cand in enumerate([current, *[c for c in candidates if c != current]]):
        ag = agreement(frame, _amount_expr(layout, *cand), balance)
        scored.append(((ag.plus, 1, -i), cand, ag, False))
        scored.append(((ag.minus, 0, -i), cand, ag, True))
    (agree, _, _), best, best_agreement, flipped = max(scored, key=lambda t: t[0])
    if agree < 0.8 * cur.steps or agree <= cur.plus:
        return None
    layout.amount_column, layout.debit_column, layout.credit_column = best
    if flipped:
        layout.invert_sign = not layout.invert_sign
    what = best[0] and f"column {best[0]!r}" or f"debit {best[1]!r} / credit {best[2]!r}"
    return (
        f"running balance: {what}{' with signs flipped' if flipped else ''} reproduces "
        f"{agree} of {best_agreement.steps} balance steps"
        + ("" if best == current else f" (the header's choice: {cur.plus})")
    )
