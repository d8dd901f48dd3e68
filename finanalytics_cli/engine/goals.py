"""Savings goals: what is funded, what each month must add, and the probability of getting
there by the date, from a Monte Carlo simulation over the cash-flow forecast.

Money for goals is the household's net cash flow (income minus spending; transfers
between own accounts are neither). Each simulated month it fills the goals in priority
order (1 first, then the earlier date): a goal gets money once the ones before it are
reached. A month that loses money is made up by the following months before goals
receive more. A goal linked to an account starts from that account's balance (goals
sharing an account share it in the same order); another starts from what its owner said
was saved. The required monthly contribution is what the goal lacks over the months left.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput

PATHS = 2000
SEED = 20231101
TARGET_PROBABILITY = 0.8
MAX_YEARS_AFTER = 10
FORECAST_HORIZON = 12
Z95 = 1.96
NAME_RE = re.compile(r"^[\w][\w .&'-]{0,59}$")


@dataclass
class Goal:
    goal_id: int
    name: str
    target: Decimal
    currency: str
    target_date: dt.date
    priority: int
    account: str | None
    saved: Decimal


@dataclass
class GoalProgress:
    name: str
    target: float
    currency: str
    target_date: dt.date
    priority: int
    account: str | None
    funded: float
    remaining: float
    months_left: int
    required_monthly: float
    probability: float
    straight_line_on_track: bool
    expected_date: dt.date | None
    fix: dict[str, Any] | None
    method: str


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months from ``start`` to ``end`` (a date later in the month counts the month)."""
    return (end.year - start.year) * 12 + end.month - start.month + (1 if end.day >= start.day else 0)


def _month_end(start: dt.date, months: int) -> dt.date:
    y, m = divmod(start.year * 12 + start.month - 1 + months, 12)
    first = dt.date(y, m + 1, 1)
    return (dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)) - dt.timedelta(days=1)


# -- the goals table ------------------------------------------------------------------
def parse_amount(text: str, what: str = "--target") -> Decimal:
    try:
        value = Decimal(str(text).replace(",", "").strip())
    except InvalidOperation:
        raise InvalidInput(f"{what} must be an amount such as 5000 or 12500.50, not {text!r}") from None
    if not value.is_finite() or abs(value) >= Decimal("1e16"):  # DECIMAL(18,2) holds below 10^16
        raise InvalidInput(f"{what} must be a finite amount below 10^16, not {text[:40]!r}")
    return value.quantize(Decimal("0.01"))


def add_goal(
    con: Any,
    name: str,
    target: Decimal,
    by: dt.date,
    priority: int = 3,
    account: str | None = None,
    saved: Decimal = Decimal("0"),
    today: dt.date | None = None,
) -> Goal:
    today = today or dt.date.today()
    name = name.strip()
    if not NAME_RE.match(name):
        raise InvalidInput("a goal's name is 1-60 letters, digits, spaces or . & ' - (e.g. 'House deposit')")
    if target <= 0:
        raise InvalidInput(f"--target must be above zero, not {target}")
    if target >= Decimal("1e15"):
        raise InvalidInput("--target is too large")
    if saved < 0:
        raise InvalidInput(f"--saved cannot be negative, not {saved}")
    if by <= today:
        raise InvalidInput(f"--by must be a date after today ({today}), not {by}")
    if not 1 <= priority <= 5:
        raise InvalidInput(f"--priority must be 1 (most important) to 5, not {priority}")
    if con.execute("SELECT 1 FROM goals WHERE lower(name) = lower(?)", [name]).fetchone():
        raise InvalidInput(f"a goal named {name!r} already exists; `goals rm` it first or choose another name")
    account_id, currency = None, None
    if account is not None:
        row = con.execute(
            "SELECT account_id, currency FROM accounts WHERE lower(name) = lower(?)", [account]
        ).fetchone()
        if row is None:
            names = [n for (n,) in con.execute("SELECT name FROM accounts ORDER BY name").fetchall()]
            raise InvalidInput(f"no account named {account!r}; accounts: {', '.join(names) or 'none yet'}")
        account_id, currency = row
    if currency is None:
        from finanalytics_cli.engine.household import main_currency

        try:
            currency = main_currency(con)
        except InsufficientData:
            currency = "USD"
    goal_id = con.execute(
        "INSERT INTO goals (name, target_amount, currency, target_date, priority, account_id, saved_amount) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING goal_id",
        [name, target, currency, by, priority, account_id, saved],
    ).fetchone()[0]
    return next(g for g in list_goals(con) if g.goal_id == goal_id)


def list_goals(con: Any) -> list[Goal]:
    rows = con.execute(
        """
        SELECT g.goal_id, g.name, g.target_amount, g.currency, g.target_date, g.priority, a.name,
               coalesce(g.saved_amount, 0)
        FROM goals g LEFT JOIN accounts a ON a.account_id = g.account_id
        ORDER BY g.priority, g.target_date, g.goal_id
        """
    ).fetchall()
    return [Goal(*r) for r in rows]


def find_goal(con: Any, name: str) -> Goal:
    for g in list_goals(con):
        if g.name.lower() == name.strip().lower():
            return g
    names = [g.name for g in list_goals(con)]
    raise InvalidInput(f"no goal named {name!r}; goals: {', '.join(names) or 'none yet (`goals add`)'}")


def remove_goal(con: Any, name: str) -> Goal:
    goal = find_goal(con, name)
    con.execute("DELETE FROM goals WHERE goal_id = ?", [goal.goal_id])
    return goal


# -- funding and the simulation -------------------------------------------------------
def funded_now(con: Any, goals: list[Goal]) -> dict[str, float]:
    """What each goal has now: its account's balance, shared in priority order, or what
    its owner saved elsewhere."""
    from finanalytics_cli.engine.ledger import list_accounts

    balances = {a["name"]: max(0.0, float(a["balance"] or 0)) for a in list_accounts(con)}
    out = {}
    for g in goals:  # already in priority order
        if g.account is not None:
            take = min(float(g.target), balances.get(g.account, 0.0))
            balances[g.account] = balances.get(g.account, 0.0) - take
            out[g.name] = take + float(g.saved)
        else:
            out[g.name] = float(g.saved)
    return out


def savings_distribution(
    store: Any, currency: str, months: int, start: dt.date
) -> tuple[list[float], list[float], str]:
    """Mean and standard deviation of the net cash flow of each coming month: from the
    stored forecast (`predict`), continued by its average beyond its horizon; from the
    history's months when the forecast cannot be made."""
    import math
    import statistics

    from finanalytics_cli.engine.forecast import predict

    try:
        p = predict(store, horizon=FORECAST_HORIZON)
        points = [pt for pt in p.cash_flow.get(currency) or [] if pt.date >= start]
    except InsufficientData:
        points = []
    if points:
        from finanalytics_cli.engine.household import fx_rates

        mean = [pt.value for pt in points]
        var = [((pt.hi95 - pt.lo95) / (2 * Z95)) ** 2 for pt in points]
        method = "cash-flow forecast"
        # Other currencies' net flow reaches these goals through the household's own
        # exchange transfers, at their rate.
        for other, rate in sorted(fx_rates(store.con, currency).items()):
            by_date = {pt.date: pt for pt in p.cash_flow.get(other) or []}
            for i, pt in enumerate(points):
                o = by_date.get(pt.date)
                if o is not None:
                    mean[i] += o.value * rate
                    var[i] += ((o.hi95 - o.lo95) / (2 * Z95) * rate) ** 2
            method += f" (+ {other} at {rate:.4g}, your own exchange rate)"
        sd = [math.sqrt(v) for v in var]
    else:
        from finanalytics_cli.engine.household import household

        h = household(store.con, currency)
        nets = [i - sum(s[k] for s in h.spending.values()) for k, i in enumerate(h.income)]
        mean = [statistics.mean(nets)]
        sd = [statistics.stdev(nets) if len(nets) > 1 else abs(mean[0]) * 0.25]
        method = "history (no forecast possible yet)"
    avg_mean = sum(mean) / len(mean)
    avg_sd = math.sqrt(sum(v * v for v in sd) / len(sd))
    mean = (mean + [avg_mean] * months)[:months]
    sd = (sd + [avg_sd] * months)[:months]
    return mean, sd, method


def simulate(
    goals: list[Goal],
    funded: dict[str, float],
    start: dt.date,
    mean: list[float],
    sd: list[float],
    paths: int = PATHS,
    seed: int = SEED,
    volatility_scale: float = 1.0,
) -> dict[str, Any]:
    """Each goal's funding at the end of every coming month, for every path (paths x months)."""
    import numpy as np

    months = len(mean)
    rng = np.random.default_rng(seed)
    flows = (
        np.asarray(mean)[None, :] + rng.standard_normal((paths, months)) * np.asarray(sd)[None, :] * volatility_scale
    )
    need = {g.name: max(0.0, float(g.target) - funded[g.name]) for g in goals}
    left = {g.name: max(1, months_between(start, g.target_date)) for g in goals}
    required = {g.name: need[g.name] / left[g.name] for g in goals}
    have = {g.name: np.full(paths, funded[g.name]) for g in goals}
    traj = {g.name: np.empty((paths, months)) for g in goals}
    carry = np.zeros(paths)
    for t in range(months):
        available = flows[:, t] + carry
        carry = np.minimum(available, 0.0)
        available = np.maximum(available, 0.0)
        for g in goals:  # priority order: the first goal is filled before the next gets money
            give = np.minimum(available, np.maximum(float(g.target) - have[g.name], 0.0))
            have[g.name] += give
            available -= give
        for g in goals:
            traj[g.name][:, t] = have[g.name]
    return {"trajectories": traj, "required": required, "months_left": left}


def goal_progress(store: Any, today: dt.date | None = None, paths: int = PATHS) -> list[GoalProgress]:
    """Every goal's funding, required contribution, probability and the change that fixes it."""
    import numpy as np

    con = store.con
    goals = list_goals(con)
    if not goals:
        return []
    today = today or dt.date.today()
    start = dt.date(today.year, today.month, 1)
    scale = _volatility_scale(store)
    out = []
    for currency in sorted({g.currency for g in goals}):
        group = [g for g in goals if g.currency == currency]
        funded = funded_now(con, group)
        horizon = max(months_between(start, g.target_date) for g in group) + 12 * MAX_YEARS_AFTER
        mean, sd, method = savings_distribution(store, currency, horizon, start)
        sim = simulate(group, funded, start, mean, sd, paths, volatility_scale=scale)
        straight = sum(mean[:12]) / min(12, len(mean))
        for g in group:
            target = float(g.target)
            traj = sim["trajectories"][g.name]
            idx = min(sim["months_left"][g.name], horizon) - 1
            reached = traj >= target - 0.005
            probability = float(reached[:, idx].mean())
            first = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
            expected = None
            if (first >= 0).mean() >= 0.5:
                expected = _month_end(start, int(np.median(np.where(first >= 0, first, horizon))))
            fix = None
            if probability < TARGET_PROBABILITY and target > funded[g.name]:
                shortfall = target - traj[:, idx]
                extra = max(0.0, float(np.quantile(shortfall, TARGET_PROBABILITY)) / (idx + 1))
                by_month = reached.mean(axis=0)
                later = np.nonzero(by_month >= TARGET_PROBABILITY)[0]
                lower = round(float(np.quantile(traj[:, idx], 1 - TARGET_PROBABILITY)), 2)
                fix = {
                    "extra_per_month": round(extra, 2),
                    "or_target_date": _month_end(start, int(later[0])) if later.size else None,
                    # a lower target only when it is above what the goal already has (never 0.00)
                    "or_target": lower if lower > funded[g.name] + 0.005 else None,
                }
            remaining = max(0.0, target - funded[g.name])
            out.append(
                GoalProgress(
                    g.name,
                    target,
                    g.currency,
                    g.target_date,
                    g.priority,
                    g.account,
                    round(funded[g.name], 2),
                    round(remaining, 2),
                    sim["months_left"][g.name],
                    round(sim["required"][g.name], 2),
                    round(probability, 3),
                    straight >= sim["required"][g.name],
                    expected,
                    fix,
                    f"Monte Carlo, {paths} paths over the {method}"
                    + (f", volatility x{scale:g} (goal_recommender)" if scale != 1.0 else ""),
                )
            )
    return out


def _volatility_scale(store: Any) -> float:
    """The deployed goal_recommender's calibrated spread of monthly savings, else 1."""
    from finanalytics_cli.engine.models.registry import load_model, serving

    route = serving(store.con, "goal_recommender")
    if route.production is None:
        return 1.0
    model = load_model(store.con, store.keys.active, route.production)
    return float(model.get("volatility_scale", 1.0))


def fix_sentence(p: GoalProgress) -> str:
    if p.fix is None:
        return ""
    parts = [f"save {p.fix['extra_per_month']:,.2f} {p.currency} more a month"]
    if p.fix.get("or_target_date"):
        parts.append(f"move the date to {p.fix['or_target_date']}")
    if p.fix.get("or_target"):
        parts.append(f"lower the target to {p.fix['or_target']:,.2f}")
    return "To reach 80%: " + ", or ".join(parts) + "."
