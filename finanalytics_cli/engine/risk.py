"""The risk assessor: a 0-100 score from factors that each say what they measured, how
much they weigh and why, the emergency-fund target, and the probability of a cash
shortfall within 30 days (the deployed risk_scorer model, else the rule of thumb)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData

# Factor weights (the credit-utilisation weight counts only when a card's limit is known).
WEIGHTS = {
    "emergency_fund_months": 0.25,
    "savings_rate": 0.20,
    "income_volatility": 0.15,
    "negative_balance_events": 0.15,
    "upcoming_recurring_payments": 0.15,
    "income_concentration": 0.10,
    "credit_utilisation": 0.10,
}
LEVELS = ((30, "low"), (60, "moderate"), (101, "high"))


@dataclass
class RiskFactor:
    name: str
    value: float | None
    weight: float
    risk: float  # 0 (no risk) .. 1
    sentence: str


@dataclass
class RiskAssessment:
    score: int
    level: str
    currency: str
    factors: list[RiskFactor]
    recommendations: list[dict[str, Any]]
    emergency_fund_target: dict[str, Any]
    shortfall: dict[str, Any]
    as_of: dt.date
    notes: list[str] = field(default_factory=list)


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def emergency_fund_target(h: Any, con: Any = None) -> dict[str, Any]:
    """Months of essential spending: 3 for a steady income, up to 6 as income varies more
    (coefficient of variation 0.3 or above). What the fund has now is the liquid money
    (checking and savings in the household's currency) less what sits in a goal's own
    account for that goal: the one figure `risk` and `budget` both show."""
    months = 3 + 3 * min(1.0, h.income_cv / 0.3)
    earmarked = earmarked_for_goals(con, h.currency) if con is not None else 0.0
    current = max(0.0, h.liquid - earmarked)
    return {
        "months": round(months, 1),
        "amount": round(months * h.essential_monthly, 2),
        "essential_monthly": round(h.essential_monthly, 2),
        "income_volatility": round(h.income_cv, 3),
        "current": round(current, 2),
        "earmarked_for_goals": round(earmarked, 2),
        "gap": round(max(0.0, months * h.essential_monthly - current), 2),
    }


def earmarked_for_goals(con: Any, currency: str) -> float:
    """Money in the goals' own accounts that is funding those goals (in ``currency``)."""
    from finanalytics_cli.engine.goals import funded_now, list_goals

    goals = [g for g in list_goals(con) if g.currency == currency]
    if not goals:
        return 0.0
    funded = funded_now(con, goals)
    return float(sum(funded[g.name] for g in goals if g.account is not None))


def assess_risk(store: Any, today: dt.date | None = None) -> RiskAssessment:
    from finanalytics_cli.engine.household import daily_balances, household
    from finanalytics_cli.engine.ledger import list_accounts
    from finanalytics_cli.engine.recurring import detect_recurring

    con = store.con
    h = household(con)
    cur = h.currency
    income = h.monthly_income
    spending = h.monthly_spending
    if income <= 0:
        raise InsufficientData(f"no income detected in {cur}: a risk score needs at least one month with income")
    factors: list[RiskFactor] = []
    target = emergency_fund_target(h, con)
    fund = target["current"]
    months = fund / h.essential_monthly if h.essential_monthly else math.inf
    factors.append(
        RiskFactor(
            "emergency_fund_months",
            round(months, 2) if math.isfinite(months) else None,
            WEIGHTS["emergency_fund_months"],
            _clamp(1 - months / max(target["months"], 1)) if math.isfinite(months) else 0.0,
            f"Checking and savings not set aside for a goal ({fund:,.2f} {cur}) cover {months:.1f} months of "
            "essential spending; "
            f"the target for your income is {target['months']:g} months."
            if math.isfinite(months)
            else "No essential spending recorded yet.",
        )
    )
    rate = (income - spending) / income
    factors.append(
        RiskFactor(
            "savings_rate",
            round(rate, 4),
            WEIGHTS["savings_rate"],
            _clamp((0.2 - rate) / 0.3),
            f"You keep {rate:.0%} of your income ({income:,.2f} in, {spending:,.2f} out a month); "
            "20% or more leaves room for the unexpected.",
        )
    )
    factors.append(
        RiskFactor(
            "income_volatility",
            round(h.income_cv, 3),
            WEIGHTS["income_volatility"],
            _clamp(h.income_cv / 0.5),
            f"Monthly income varies by {h.income_cv:.0%} (coefficient of variation over {len(h.months)} months).",
        )
    )
    since = h.months[0]
    events = 0
    balances = daily_balances(con)
    for path in balances.values():
        below = False
        for d, bal in path:
            if d >= since and bal < 0 and not below:
                events += 1
            below = bal < 0
    factors.append(
        RiskFactor(
            "negative_balance_events",
            float(events),
            WEIGHTS["negative_balance_events"],
            _clamp(events / 4),
            f"A checking account went below zero {events} time(s) since {since}."
            if events
            else f"No checking account went below zero since {since}.",
        )
    )
    as_of = h.as_of
    upcoming = []
    for s in detect_recurring(con).series:
        if (
            s.direction == "out"
            and s.status == "active"
            and s.currency == cur
            and s.next_expected_date
            and as_of < s.next_expected_date <= as_of + dt.timedelta(days=30)
        ):
            upcoming.append((s.merchant, abs(float(s.next_expected_amount or s.typical_amount)), s.next_expected_date))
    due = sum(a for _, a, _ in upcoming)
    ratio = due / h.liquid if h.liquid > 0 else (math.inf if due else 0.0)
    big = sorted(upcoming, key=lambda u: -u[1])[:3]
    factors.append(
        RiskFactor(
            "upcoming_recurring_payments",
            round(due, 2),
            WEIGHTS["upcoming_recurring_payments"],
            _clamp(ratio / 0.5) if math.isfinite(ratio) else 1.0,
            f"{due:,.2f} {cur} of recurring payments are due in the next 30 days "
            f"({', '.join(f'{m} {a:,.2f} on {d}' for m, a, d in big)}), {ratio:.0%} of your liquid money."
            if upcoming
            else "No recurring payments are due in the next 30 days.",
        )
    )
    total_income = sum(h.income_sources.values())
    if total_income > 0:
        payer, top = max(h.income_sources.items(), key=lambda kv: kv[1])
        share = top / total_income
        factors.append(
            RiskFactor(
                "income_concentration",
                round(share, 3),
                WEIGHTS["income_concentration"],
                _clamp((share - 0.5) / 0.5),
                f"{share:.0%} of your income comes from one payer ({payer}).",
            )
        )
    cards = [a for a in list_accounts(con) if a["type"] == "credit_card" and a["currency"] == cur]
    limits = {
        r[0]: float(r[1])
        for r in con.execute("SELECT account_id, credit_limit FROM accounts WHERE credit_limit > 0").fetchall()
    }
    known = [(a, limits[a["account_id"]]) for a in cards if limits.get(a["account_id"])]
    notes = []
    if known:
        owed = sum(max(0.0, -float(a["balance"] or 0)) for a, _ in known)
        limit = sum(v for _, v in known)
        util = owed / limit
        factors.append(
            RiskFactor(
                "credit_utilisation",
                round(util, 3),
                WEIGHTS["credit_utilisation"],
                _clamp((util - 0.3) / 0.6),
                f"Cards use {util:.0%} of their limits ({owed:,.2f} of {limit:,.2f}); under 30% is healthy.",
            )
        )
    elif cards:
        notes.append("credit utilization left out: the card's export carries no credit limit (OFX AVAILBAL)")
    weight = sum(f.weight for f in factors)
    score = round(100 * sum(f.weight * f.risk for f in factors) / weight)
    level = next(name for bound, name in LEVELS if score < bound)
    shortfall = shortfall_probability(store, balances)
    return RiskAssessment(
        score,
        level,
        cur,
        factors,
        _recommendations(factors, target, h, rate),
        target,
        shortfall,
        as_of,
        notes,
    )


def _recommendations(factors: list[RiskFactor], target: dict[str, Any], h: Any, rate: float) -> list[dict[str, Any]]:
    out = []
    by = {f.name: f for f in factors}
    cur = h.currency
    if target["gap"] > 0:
        monthly = target["gap"] / 12
        out.append(
            {
                "factor": "emergency_fund_months",
                "text": f"Build the emergency fund to {target['amount']:,.2f} {cur}: {monthly:,.2f} a month for a year",
                "expected_impact_monthly": round(monthly, 2),
                "difficulty": "medium",
                "timeframe": "12 months",
            }
        )
    if rate < 0.2:
        gap = (0.2 - rate) * h.monthly_income
        out.append(
            {
                "factor": "savings_rate",
                "text": f"Spend {gap:,.2f} {cur} less a month to keep 20% of income (`budget optimize` finds where)",
                "expected_impact_monthly": round(gap, 2),
                "difficulty": "hard" if gap > 0.1 * h.monthly_income else "medium",
                "timeframe": "3 months",
            }
        )
    if by.get("negative_balance_events") and by["negative_balance_events"].risk > 0:
        out.append(
            {
                "factor": "negative_balance_events",
                "text": "Keep a buffer of a week's spending in checking, or a low-balance alert with your bank",
                "expected_impact_monthly": 0.0,
                "difficulty": "easy",
                "timeframe": "this week",
            }
        )
    if by.get("income_concentration") and by["income_concentration"].risk > 0.5:
        out.append(
            {
                "factor": "income_concentration",
                "text": "Most income comes from one payer: a larger emergency fund offsets that",
                "expected_impact_monthly": 0.0,
                "difficulty": "hard",
                "timeframe": "12 months",
            }
        )
    if by.get("upcoming_recurring_payments") and by["upcoming_recurring_payments"].risk > 0.5:
        out.append(
            {
                "factor": "upcoming_recurring_payments",
                "text": "Large recurring payments are due soon: set the money aside now",
                "expected_impact_monthly": 0.0,
                "difficulty": "easy",
                "timeframe": "this month",
            }
        )
    return out


def shortfall_probability(store: Any, balances: dict[int, list[tuple[dt.date, float]]] | None = None) -> dict[str, Any]:
    """The chance that a checking account goes below zero within 30 days, per account,
    from the deployed risk_scorer (else the rule of thumb it is measured against)."""
    from finanalytics_cli.engine.models.registry import load_model, serving
    from finanalytics_cli.engine.models.risk import daily_features, rule_probability

    con = store.con
    route = serving(con, "risk_scorer")
    model = load_model(con, store.keys.active, route.production) if route.production else None
    frames = daily_features(con, labels=False, balances=balances)
    accounts = []
    for name, rows in frames.items():
        if not rows:
            continue
        x = rows[-1]
        if model is not None:
            import numpy as np

            p = float(model["classifier"].predict_proba(np.asarray([x["features"]], dtype=float))[0, 1])
        else:
            p = rule_probability(x["features"])
        accounts.append({"account": name, "as_of": x["date"], "probability": round(p, 3)})
    return {
        "method": f"risk_scorer model {route.production}" if model is not None else "rule of thumb (no risk_scorer)",
        "accounts": accounts,
        "probability": max((a["probability"] for a in accounts), default=0.0),
    }
