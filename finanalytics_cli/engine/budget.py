"""The budget optimizer: per-category monthly budgets as close as possible to the
household's habits, subject to covering its goals and an emergency-fund build-up, and to
the user's own constraints.

A quadratic program: minimize sum_c w_c (b_c - h_c)^2 / h_c over the budgets b_c, where
h_c is the habitual monthly spending of category c and w_c its weight (essential
categories weigh more, so cuts fall on discretionary ones first, in proportion to their
size), subject to
  * sum_c b_c <= income - the goals' required contributions - the emergency build-up
    (and <= `total<=X`, and <= income - X for `savings>=X`),
  * b_c >= the recurring commitments in c (rent cannot be budgeted away) and the user's
    minimums, b_c <= the user's maximums.
Solved with scipy's SLSQP; the baseline it must beat is a proportional cut of every
category. Infeasible constraints are reported by name, with the amount they miss by.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput

ESSENTIAL_WEIGHT = 2.0
DISCRETIONARY_WEIGHT = 1.0
EMERGENCY_BUILD_MONTHS = 12
# A category's name as `categories add` allows it (a '/' too, to say a subcategory is no
# budget line rather than that the constraint is unreadable).
CONSTRAINT_RE = re.compile(r"^\s*([^\W_][\w &'.()+/-]*?)\s*(<=|>=|==|=|<|>)\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*$")
PROPOSAL_KEY = "budget:proposal"


@dataclass
class Constraint:
    text: str
    subject: str  # a category, "total" or "savings"
    op: str  # <= | >= | ==
    amount: float


@dataclass
class BudgetPlan:
    currency: str
    income: float
    income_source: str
    available: float
    goals: list[dict[str, Any]]
    emergency: dict[str, Any]
    lines: list[dict[str, Any]]
    recommendations: list[dict[str, Any]]
    outcomes: dict[str, Any]
    constraints: list[str]
    baseline: dict[str, Any] = field(default_factory=dict)
    weights: str = ""


def parse_constraint(text: str, categories: list[str]) -> Constraint:
    m = CONSTRAINT_RE.match(text)
    if not m:
        raise InvalidInput(
            f"cannot read the constraint {text!r}: write CATEGORY<=AMOUNT, CATEGORY>=AMOUNT or CATEGORY=AMOUNT "
            '(also total<=AMOUNT, savings>=AMOUNT), e.g. "dining<=300"'
        )
    name, op, amount = m.group(1).strip(), m.group(2), float(m.group(3).replace(",", ""))
    op = {"<": "<=", ">": ">=", "=": "=="}.get(op, op)
    lowered = name.lower()
    if lowered in ("total", "savings"):
        if (lowered, op) not in (("total", "<="), ("savings", ">=")):
            raise InvalidInput(f"{text!r}: only total<=AMOUNT and savings>=AMOUNT are supported")
        return Constraint(text.strip(), lowered, op, amount)
    match = [c for c in categories if c.lower() == lowered]
    if not match:
        raise InvalidInput(f"{text!r}: {_unknown_budget_category(name, categories)}")
    return Constraint(text.strip(), match[0], op, amount)


def _unknown_budget_category(name: str, categories: list[str]) -> str:
    """Why ``name`` is no budget line: a subcategory (budgets are per top-level category)
    or an unknown name, with the close ones."""
    from finanalytics_cli.engine.categories import close_category_names

    top = name.split("/")[0].strip()
    if "/" in name and any(c.lower() == top.lower() for c in categories):
        parent = next(c for c in categories if c.lower() == top.lower())
        return f"{name.strip()} is a subcategory: budgets are per top-level category, use {parent}"
    close = close_category_names(name, categories)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"unknown category {name!r}{hint}; categories: {', '.join(sorted(categories))}"


def load_config(path: Path) -> dict[str, Any]:
    """A TOML file: income = 9000, goals = ["Car"], constraints = ["dining<=300"],
    [weights] Dining = 2."""
    from finanalytics_cli.engine.files import read_user_file

    raw = read_user_file(path, max_bytes=1024 * 1024, option="--config")  # not /dev/zero, not a directory
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path} is not valid TOML: {e}") from None
    unknown = set(data) - {"income", "goals", "constraints", "weights", "currency"}
    if unknown:
        raise InvalidInput(f"{path}: unknown keys {', '.join(sorted(unknown))} (income, goals, constraints, weights)")
    if "income" in data and not isinstance(data["income"], int | float):
        raise InvalidInput(f"{path}: income must be a number")
    for key in ("goals", "constraints"):
        if key in data and not (isinstance(data[key], list) and all(isinstance(x, str) for x in data[key])):
            raise InvalidInput(f"{path}: {key} must be a list of strings")
    weights = data.get("weights", {})
    if not isinstance(weights, dict) or not all(isinstance(v, int | float) and v > 0 for v in weights.values()):
        raise InvalidInput(f"{path}: [weights] maps categories to positive numbers")
    return data


UNCATEGORIZED = "Uncategorized"


def _commitments(con: Any, currency: str) -> dict[str, tuple[float, list[str]]]:
    """Monthly recurring commitments per category (active outgoing series)."""
    from finanalytics_cli.engine.recurring import detect_recurring

    out: dict[str, tuple[float, list[str]]] = {}
    for s in detect_recurring(con).series:
        if s.direction != "out" or s.status != "active" or s.currency != currency:
            continue
        cat = (s.category or "Uncategorized").split("/")[0]
        total, names = out.get(cat, (0.0, []))
        out[cat] = (total + float(s.monthly_equivalent), [*names, s.merchant])
    return out


def optimize_budget(
    store: Any,
    income: float | None = None,
    goal_names: list[str] | None = None,
    constraints: list[str] | None = None,
    weights: dict[str, float] | None = None,
    today: dt.date | None = None,
) -> BudgetPlan:
    from finanalytics_cli.engine.goals import find_goal, funded_now, list_goals, months_between
    from finanalytics_cli.engine.household import household
    from finanalytics_cli.engine.risk import emergency_fund_target

    con = store.con
    today = today or dt.date.today()
    h = household(con)
    if income is not None:
        if income <= 0:
            raise InvalidInput(f"--income must be above zero, not {income:g}")
        monthly_income, income_source = float(income), "given with --income"
    else:
        monthly_income = h.monthly_income
        if monthly_income <= 0:
            raise InsufficientData(
                f"no income detected in {h.currency} over {h.months[0]:%Y-%m}..{h.months[-1]:%Y-%m}; "
                "give your monthly income with --income"
            )
        income_source = f"mean of {len(h.months)} months ({h.months[0]:%Y-%m}..{h.months[-1]:%Y-%m})"
        if h.fx_surplus:
            income_source += f", with {h.fx_surplus:,.2f} left over in other currencies at your own exchange rate"
    # Uncategorized spending gets no budget line (no one can plan "Uncategorized"): it is
    # reserved as spent, and the plan asks for it to be categorized.
    unsorted = h.habitual(UNCATEGORIZED) if UNCATEGORIZED in h.spending else 0.0
    categories = sorted(c for c in h.spending if h.habitual(c) > 0 and c != UNCATEGORIZED)
    known = categories + [
        n for (n,) in con.execute("SELECT name FROM categories WHERE kind = 'expense' AND parent IS NULL").fetchall()
    ]
    known = sorted(set(known))
    parsed = [parse_constraint(c, known) for c in constraints or []]
    for c in parsed:  # a category with a constraint takes part even without spending
        if c.subject not in ("total", "savings") and c.subject not in categories:
            categories.append(c.subject)
    served = _served_weights(store)
    weight_source = "budget_optimizer model" if served else "essential 2, discretionary 1"
    if weights:
        weight_source += " with --config [weights]"
    weights = {**{k.lower(): v for k, v in served.items()}, **{k.lower(): float(v) for k, v in (weights or {}).items()}}
    unknown_w = [k for k in weights if k not in {c.lower() for c in known} and k not in {c.lower() for c in served}]
    if unknown_w:
        raise InvalidInput(
            "weights for unknown categories: " + "; ".join(_unknown_budget_category(k, known) for k in unknown_w)
        )

    # Goals: all goals in this currency, or the ones named.
    all_goals = [g for g in list_goals(con) if g.currency == h.currency]
    chosen = [find_goal(con, n) for n in goal_names] if goal_names else all_goals
    for g in chosen:
        if g.currency != h.currency:
            raise InvalidInput(f"goal {g.name!r} is in {g.currency}; this budget is in {h.currency}")
    funded = funded_now(con, all_goals)
    start = dt.date(today.year, today.month, 1)
    goals = []
    for g in chosen:
        left = max(1, months_between(start, g.target_date))
        remaining = max(0.0, float(g.target) - funded[g.name])
        goals.append(
            {
                "name": g.name,
                "target": float(g.target),
                "target_date": g.target_date,
                "funded": round(funded[g.name], 2),
                # rounded up to the cent: paying it reaches the goal by its date, not a month late
                "required_monthly": math.ceil(remaining / left * 100 - 1e-9) / 100,
                "months_left": left,
            }
        )
    need_goals = sum(g["required_monthly"] for g in goals)
    target = emergency_fund_target(h, con)
    current = target["current"]  # the same figure `risk` shows
    build = max(0.0, target["amount"] - current) / EMERGENCY_BUILD_MONTHS
    emergency = {
        "target": target["amount"],
        "months": target["months"],
        "current": round(current, 2),
        "build_up_monthly": round(build, 2),
    }
    cap = monthly_income - need_goals - build - unsorted
    cap_parts = [f"income {monthly_income:,.2f}"]
    cap_parts += [f"goal {g['name']!r} {g['required_monthly']:,.2f}" for g in goals]
    if unsorted:
        cap_parts.append(f"uncategorized spending {unsorted:,.2f}")
    if build:
        cap_parts.append(f"emergency-fund build-up {build:,.2f}")
    cap_reason = "after " + ", ".join(cap_parts[1:]) if len(cap_parts) > 1 else "the income"
    for c in parsed:
        if c.subject == "total" and c.amount < cap:
            cap, cap_reason = c.amount, f"{c.text!r}"
        if c.subject == "savings" and monthly_income - c.amount - need_goals - build - unsorted < cap:
            cap = monthly_income - c.amount - need_goals - build - unsorted
            cap_reason = f"{c.text!r} on top of the goals and the emergency build-up"

    commitments = _commitments(con, h.currency)
    essential = h.essential
    habit = {c: h.habitual(c) for c in categories}
    lo = {c: commitments.get(c, (0.0, []))[0] for c in categories}
    hi = {c: float("inf") for c in categories}
    lo_why = {c: f"recurring charges in {c} ({', '.join(commitments[c][1][:3])})" for c in categories if lo[c]}
    hi_why: dict[str, str] = {}
    for c in parsed:
        if c.subject in ("total", "savings"):
            continue
        if c.op in (">=", "==") and c.amount > lo[c.subject]:
            lo[c.subject], lo_why[c.subject] = c.amount, repr(c.text)
        if c.op in ("<=", "==") and c.amount < hi[c.subject]:
            hi[c.subject], hi_why[c.subject] = c.amount, repr(c.text)
    conflicts = []
    for c in categories:
        if lo[c] > hi[c] + 0.005:
            conflicts.append(f"{hi_why[c]} conflicts with {lo_why[c]} by {lo[c] - hi[c]:,.2f}")
    if conflicts:
        raise InvalidInput("the constraints cannot all hold: " + "; ".join(conflicts))
    floor_total = sum(lo.values())
    if floor_total > cap + 0.005:
        named = [f"{lo_why[c]} {lo[c]:,.2f}" for c in categories if lo[c] > 0]
        raise InvalidInput(
            f"the constraints cannot all hold: the budget needs at least {floor_total:,.2f} {h.currency} a month "
            f"({'; '.join(named)}) but only {max(cap, 0):,.2f} is left {cap_reason}: short by "
            f"{floor_total - cap:,.2f}. Lower a goal, move its date, or relax a constraint."
        )
    w = {c: weights.get(c.lower(), ESSENTIAL_WEIGHT if c in essential else DISCRETIONARY_WEIGHT) for c in categories}
    # No category to plan (all spending uncategorized): the plan is the advice to categorize it.
    budget = _solve(categories, habit, w, lo, hi, cap) if categories else {}
    baseline = _proportional(categories, habit, lo, hi, cap) if categories else {}
    lines, recs = [], []
    for c in sorted(categories, key=lambda c: -habit[c]):
        b = budget[c]
        change = b - habit[c]
        lines.append(
            {
                "category": c,
                "essential": c in essential,
                "habitual": round(habit[c], 2),
                "budget": round(b, 2),
                "change": round(change, 2),
                "change_pct": round(change / habit[c] * 100, 1) if habit[c] else None,
                "committed": round(lo[c], 2) if lo_why.get(c, "").startswith("recurring") else 0.0,
            }
        )
        cut = habit[c] - b
        if cut >= max(5.0, 0.01 * habit[c]):
            share = cut / habit[c] if habit[c] else 1.0
            if c in essential:
                difficulty = "hard" if share > 0.1 else "medium"
            else:
                difficulty = "easy" if share < 0.1 else "medium" if share < 0.25 else "hard"
            recs.append(
                {
                    "category": c,
                    "text": f"Spend {b:,.2f} {h.currency} a month on {c} instead of {habit[c]:,.2f}",
                    "expected_impact_monthly": round(cut, 2),
                    "difficulty": difficulty,
                    "timeframe": "from next month" if difficulty != "hard" else "over the next 3 months",
                }
            )
    recs.sort(key=lambda r: -r["expected_impact_monthly"])
    if unsorted:
        recs.insert(
            0,
            {
                "category": UNCATEGORIZED,
                "text": (
                    f"Categorize the {unsorted:,.2f} {h.currency} a month of uncategorized spending "
                    "(`finanalytics review`): the budget keeps it aside but cannot plan it"
                ),
                "expected_impact_monthly": 0.0,
                "difficulty": "easy",
                "timeframe": "this week",
            },
        )
    total = sum(budget.values())
    savings = monthly_income - total - unsorted
    outcomes = {
        "budget_total": round(total, 2),
        "monthly_savings": round(savings, 2),
        "savings_rate": round(savings / monthly_income, 4),
        "habitual_savings_rate": round((monthly_income - sum(habit.values()) - unsorted) / monthly_income, 4),
        "uncategorized_monthly": round(unsorted, 2),
        "goals": _goal_dates(goals, savings - need_goals - build, start),
        "emergency_fund_reached": _reached(emergency["current"], emergency["target"], build, start),
        "habit_deviation": round(_objective(budget, habit, w), 2),
        "habit_deviation_proportional_cut": round(_objective(baseline, habit, w), 2),
    }
    return BudgetPlan(
        h.currency,
        round(monthly_income, 2),
        income_source,
        round(cap, 2),
        goals,
        emergency,
        lines,
        recs,
        outcomes,
        [c.text for c in parsed],
        {c: round(v, 2) for c, v in baseline.items()},
        weight_source,
    )


def _served_weights(store: Any) -> dict[str, float]:
    """Per-category weights of the deployed budget_optimizer (none: the defaults)."""
    from finanalytics_cli.engine.models.registry import load_model, serving

    route = serving(store.con, "budget_optimizer")
    if route.production is None:
        return {}
    return dict(load_model(store.con, store.keys.active, route.production)["weights"])


def _objective(b: dict[str, float], habit: dict[str, float], w: dict[str, float]) -> float:
    return sum(w[c] * (b[c] - habit[c]) ** 2 / max(habit[c], 1.0) for c in b)


def _solve(
    cats: list[str],
    habit: dict[str, float],
    w: dict[str, float],
    lo: dict[str, float],
    hi: dict[str, float],
    cap: float,
) -> dict[str, float]:
    import numpy as np
    from scipy.optimize import minimize

    h = np.array([habit[c] for c in cats])
    scale = np.array([w[c] / max(habit[c], 1.0) for c in cats])
    lower = np.array([lo[c] for c in cats])
    upper = np.array([hi[c] for c in cats])
    x0 = np.clip(h, lower, upper)
    if x0.sum() > cap:  # start from a feasible point: scale the part above the floors
        room = x0 - lower
        x0 = lower + room * ((cap - lower.sum()) / room.sum() if room.sum() else 0.0)
    res = minimize(
        lambda x: float(np.sum(scale * (x - h) ** 2)),
        x0,
        jac=lambda x: 2 * scale * (x - h),
        bounds=[(a, b if np.isfinite(b) else None) for a, b in zip(lower, upper, strict=True)],
        constraints=[{"type": "ineq", "fun": lambda x: cap - x.sum(), "jac": lambda x: -np.ones_like(x)}],
        method="SLSQP",
        options={"ftol": 1e-10, "maxiter": 500},
    )
    if not res.success:
        from finanalytics_cli.engine.errors import PredictionFailed

        raise PredictionFailed(f"the budget optimizer did not converge: {res.message}")
    x = np.clip(res.x, lower, upper)
    return {c: float(v) for c, v in zip(cats, x, strict=True)}


def _proportional(
    cats: list[str], habit: dict[str, float], lo: dict[str, float], hi: dict[str, float], cap: float
) -> dict[str, float]:
    """The baseline: every category cut by the same share, within its bounds, the share
    found so the total fits (bisection; categories at their floor stay there)."""

    def at(f: float) -> dict[str, float]:
        return {c: min(max(habit[c] * f, lo[c]), hi[c]) for c in cats}

    if sum(at(1.0).values()) <= cap:
        return at(1.0)
    a, b = 0.0, 1.0
    for _ in range(60):
        mid = (a + b) / 2
        a, b = (mid, b) if sum(at(mid).values()) <= cap else (a, mid)
    return at(a)


def _goal_dates(goals: list[dict[str, Any]], extra: float, start: dt.date) -> list[dict[str, Any]]:
    """With the budget, each goal gets its required contribution (plus a share of any
    surplus, by priority order first): the month it is reached at that pace."""
    out = []
    surplus = max(0.0, extra)
    for g in goals:
        monthly = g["required_monthly"] + surplus
        surplus = 0.0  # the surplus goes to the first goal in priority order
        reached = _reached(g["funded"], g["target"], monthly, start)
        out.append(
            {
                "name": g["name"],
                "target_date": g["target_date"],
                "monthly_contribution": round(monthly, 2),
                "reached_by": reached,
                # the dates say it, not the pace (a goal's month counts, as in its required monthly)
                "on_time": reached is not None
                and (reached.year, reached.month) <= (g["target_date"].year, g["target_date"].month),
            }
        )
    return out


def _reached(have: float, target: float, monthly: float, start: dt.date) -> dt.date | None:
    from finanalytics_cli.engine.goals import _month_end

    if have >= target:
        return start
    if monthly <= 0:
        return None
    return _month_end(start, math.ceil((target - have) / monthly) - 1)


# -- proposals, accepted budgets, budget versus actual --------------------------------
def save_proposal(con: Any, plan: BudgetPlan) -> None:
    payload = json.dumps(
        {"currency": plan.currency, "lines": [{k: x[k] for k in ("category", "budget")} for x in plan.lines]},
        default=str,
    )
    con.execute("INSERT OR REPLACE INTO app_state (key, value) VALUES (?, ?)", [PROPOSAL_KEY, payload])


def accept_proposal(store: Any, today: dt.date | None = None) -> dict[str, Any]:
    """Store the last proposal as the budget from this month on (the previous one ends)."""
    con = store.con
    row = con.execute("SELECT value FROM app_state WHERE key = ?", [PROPOSAL_KEY]).fetchone()
    if row is None:
        raise InvalidInput("no budget proposal to accept; run `finanalytics budget optimize` first")
    proposal = json.loads(row[0])
    valid_from = _budget_month(con, today)
    set_id = dt.datetime.now().strftime("%Y%m%dT%H%M%S%f")
    with store.transaction():
        con.execute(
            "UPDATE budgets SET valid_to = ? WHERE valid_to IS NULL AND currency = ? AND valid_from < ?",
            [valid_from - dt.timedelta(days=1), proposal["currency"], valid_from],
        )
        con.execute(
            "DELETE FROM budgets WHERE valid_to IS NULL AND currency = ? AND valid_from >= ?",
            [proposal["currency"], valid_from],
        )
        con.executemany(
            "INSERT INTO budgets (category, period, amount, currency, valid_from, source, budget_set) "
            "VALUES (?, 'month', ?, ?, ?, 'optimizer', ?)",
            [
                (x["category"], Decimal(str(x["budget"])), proposal["currency"], valid_from, set_id)
                for x in proposal["lines"]
            ],
        )
        con.execute("DELETE FROM app_state WHERE key = ?", [PROPOSAL_KEY])
    return {"accepted": len(proposal["lines"]), "valid_from": valid_from, "currency": proposal["currency"]}


def _budget_month(con: Any, today: dt.date | None) -> dt.date:
    """The month a budget accepted now starts: this month, or the month of the latest
    transaction when the data has not caught up yet."""
    today = today or dt.date.today()
    last = con.execute("SELECT max(posted_date) FROM transactions").fetchone()[0] or today
    return min(dt.date(today.year, today.month, 1), dt.date(last.year, last.month, 1))


def budget_vs_actual(con: Any, month: dt.date | None = None, until: dt.date | None = None) -> dict[str, Any]:
    """The accepted budget of the latest data month (or ``month``) against what was spent
    (up to ``until``, a day of that month, when given: the month as it stood that day)."""
    if month is None:
        last = con.execute("SELECT max(posted_date) FROM transactions").fetchone()[0]
        month = dt.date(last.year, last.month, 1) if last else dt.date.today().replace(day=1)
    days_in = (dt.date(month.year + month.month // 12, month.month % 12 + 1, 1) - month).days
    month_end = month + dt.timedelta(days=days_in - 1)
    stop = month_end if until is None else min(until, month_end)
    rows = con.execute(
        """
        WITH b AS (
            SELECT category, amount, currency FROM budgets
            WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to >= ?)
        ),
        s AS (
            SELECT split_part(coalesce(category, 'Uncategorized'), '/', 1) AS category, currency,
                   -sum(amount) AS spent
            FROM transactions
            WHERE NOT is_transfer AND posted_date >= ? AND posted_date <= ?
            GROUP BY ALL
        )
        SELECT b.category, b.currency, b.amount, coalesce(s.spent, 0)
        FROM b LEFT JOIN s ON s.category = b.category AND s.currency = b.currency
        ORDER BY b.amount DESC
        """,
        [month, month, month, stop],
    ).fetchall()
    if not rows:
        raise InvalidInput("no accepted budget for this month; run `budget optimize`, then `budget accept`")
    last_day = con.execute(
        "SELECT max(posted_date) FROM transactions WHERE posted_date >= ? AND posted_date <= ?",
        [month, stop],
    ).fetchone()[0]
    if until is not None and until >= month:  # the month as it stood that day, quiet days included
        data_end = con.execute("SELECT max(posted_date) FROM transactions").fetchone()[0]
        if data_end is not None and data_end >= month:
            last_day = min(stop, data_end)
    elapsed = (last_day - month).days + 1 if last_day else 0
    lines = []
    for cat, cur, amount, spent in rows:
        amount, spent = float(amount), max(0.0, float(spent))
        lines.append(
            {
                "category": cat,
                "currency": cur,
                "budget": round(amount, 2),
                "spent": round(spent, 2),
                "remaining": round(amount - spent, 2),
                "used_pct": round(spent / amount * 100, 1) if amount else None,
                "status": "over"
                if spent > amount
                else "on track"
                if spent <= amount * elapsed / days_in + 0.005
                else "ahead of pace",
            }
        )
    return {"month": month, "days_elapsed": elapsed, "days_in_month": days_in, "lines": lines}
