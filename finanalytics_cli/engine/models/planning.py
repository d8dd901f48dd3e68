"""The goal_recommender and the budget_optimizer through the model pipeline.

goal_recommender: the Monte Carlo of `goals progress` assumes monthly savings vary as the
forecast says; trained here is how much they really vary. On the household's own months,
at each past month and for 3, 6 and 12 months ahead, hypothetical goals (half to one and
a half times what the months before saved) are scored: the probability under a spread
scaled by s against whether the saving happened. s is fitted on the earlier origins
(Brier score) and measured on the later ones against the straight-line rule (on track
when the average saving covers the target).

budget_optimizer: the weights that say where cuts should fall. A category the household
has already spent much less on in some months (its 25th-percentile month well under its
mean) can be cut with less pain; its weight is lowered accordingly. Measured on the last
months: with budgets made from the months before at a 10% lower total, how much of the
actual spending stayed within the budget, against a proportional cut.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from finanalytics_cli.engine.errors import InsufficientData
from finanalytics_cli.engine.models.params import parse_model_params
from finanalytics_cli.engine.models.registry import TrainOutcome, register_trained

HORIZONS = (3, 6, 12)
FACTORS = (0.5, 0.8, 1.0, 1.2, 1.5)
SCALES = [round(0.5 + 0.1 * i, 1) for i in range(26)]  # 0.5 .. 3.0
GOAL_PARAMS: dict[str, tuple[type, Any, str]] = {
    "window": (int, 12, "months of history behind each origin"),
}
BUDGET_PARAMS: dict[str, tuple[type, Any, str]] = {
    "holdout_months": (int, 6, "months measured at the end"),
    "cut": (float, 0.10, "the total cut the measurement asks for"),
}


def parse_goal_params(pairs: list[str]) -> dict[str, Any]:
    return parse_model_params(pairs, GOAL_PARAMS, "goal_recommender")


def parse_budget_params(pairs: list[str]) -> dict[str, Any]:
    return parse_model_params(pairs, BUDGET_PARAMS, "budget_optimizer")


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def monthly_net(con: Any) -> tuple[list[dt.date], list[float], str]:
    """Net saving per complete month in the main currency, other currencies converted at
    the household's own exchange rate."""
    from finanalytics_cli.engine.household import household

    h = household(con, months=1200)
    rows = con.execute(
        "SELECT currency, CAST(date_trunc('month', posted_date) AS DATE), sum(amount) FROM transactions "
        "WHERE NOT is_transfer GROUP BY ALL"
    ).fetchall()
    net = dict.fromkeys(h.months, 0.0)
    for cur, m, v in rows:
        rate = 1.0 if cur == h.currency else h.fx_rates.get(cur)
        if rate is not None and m in net:
            net[m] += float(v) * rate
    return h.months, [net[m] for m in h.months], h.currency


def train_goal_recommender(
    store: Any,
    params: dict[str, Any],
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    experiment: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainOutcome:
    stage = on_stage or (lambda s: None)
    started = time.perf_counter()
    stage("features")
    months, net, currency = monthly_net(store.con)
    keep = [
        i
        for i, m in enumerate(months)
        if (date_from is None or m >= date_from.replace(day=1)) and (date_to is None or m <= date_to)
    ]
    months, net = [months[i] for i in keep], [net[i] for i in keep]
    window = params["window"]
    if len(months) < window + 6:
        raise InsufficientData(
            f"the goal_recommender needs {window + 6} complete months of history; the data has {len(months)}"
        )
    cases = []  # (origin index, k, target, mean, sd, reached)
    for t in range(window, len(months)):
        past = net[t - window : t]
        mean, sd = statistics.mean(past), statistics.pstdev(past) or 1.0
        for k in HORIZONS:
            if t + k > len(months):
                continue
            saved = sum(net[t : t + k])
            base = k * mean if mean > 0 else math.sqrt(k) * sd
            for f in FACTORS:
                cases.append((t, k, f * base, mean, sd, saved >= f * base))
    stage("validate")
    origins = sorted({c[0] for c in cases})
    split = origins[len(origins) * 2 // 3]
    fit = [c for c in cases if c[0] + c[1] <= split]  # outcomes known before the test origins
    test = [c for c in cases if c[0] >= split]
    if not fit or not test:
        raise InsufficientData("too few months to fit on earlier origins and test on later ones")

    def prob(c: tuple, s: float) -> float:
        _, k, target, mean, sd, _ = c
        return 1 - _phi((target - k * mean) / (math.sqrt(k) * sd * s))

    def brier(cs: list[tuple], p: Callable[[tuple], float]) -> float:
        return sum((p(c) - c[5]) ** 2 for c in cs) / len(cs)

    stage("fit")
    scale = min(SCALES, key=lambda s: brier(fit, lambda c: prob(c, s)))
    metrics = {
        "brier": round(brier(test, lambda c: prob(c, scale)), 4),
        "brier_unscaled": round(brier(test, lambda c: prob(c, 1.0)), 4),
        "brier_straight_line": round(brier(test, lambda c: float(c[1] * c[3] >= c[2])), 4),
        "volatility_scale": scale,
        "test_cases": len(test),
        "fit_cases": len(fit),
        "currency": currency,
    }
    metrics["beats_straight_line"] = metrics["brier"] < metrics["brier_straight_line"]
    stage("register")
    return register_trained(
        store,
        model_type="goal_recommender",
        algorithm="monte_carlo_calibrated",
        features=["monthly net saving", "goal horizon", "goal size"],
        params=params,
        metrics=metrics,
        validation={"holdout": {"from": months[split], "cases": len(test)}},
        model={"volatility_scale": scale},
        data_from=months[0],
        data_to=months[-1],
        rows=len(months),
        started=started,
        experiment=experiment,
        deploy_if_first=metrics["beats_straight_line"],
    )


def learned_weights(spending: dict[str, list[float]], essential: set[str]) -> dict[str, float]:
    """Base weight (essential 2, discretionary 1) over how far below its mean the category's
    25th-percentile month is (the cuts the household has already managed)."""
    from finanalytics_cli.engine.budget import DISCRETIONARY_WEIGHT, ESSENTIAL_WEIGHT

    out = {}
    for c, values in spending.items():
        mean = sum(values) / len(values)
        if mean <= 0:
            continue
        q25 = sorted(values)[len(values) // 4]
        flex = max(0.0, 1 - q25 / mean)
        base = ESSENTIAL_WEIGHT if c in essential else DISCRETIONARY_WEIGHT
        out[c] = round(base * 0.75 / (0.25 + flex), 4)
    return out


def train_budget_optimizer(
    store: Any,
    params: dict[str, Any],
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    experiment: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainOutcome:
    from finanalytics_cli.engine.budget import (
        DISCRETIONARY_WEIGHT,
        ESSENTIAL_WEIGHT,
        _commitments,
        _objective,
        _proportional,
        _solve,
    )
    from finanalytics_cli.engine.household import household

    stage = on_stage or (lambda s: None)
    started = time.perf_counter()
    stage("features")
    h = household(store.con, months=1200)
    hold = params["holdout_months"]
    if len(h.months) < hold + 6:
        raise InsufficientData(
            f"the budget_optimizer needs {hold + 6} complete months of history; the data has {len(h.months)}"
        )
    train = {c: v[:-hold] for c, v in h.spending.items() if sum(v[:-hold]) > 0}
    test = {c: v[-hold:] for c, v in h.spending.items() if c in train}
    cats = sorted(train)
    habit = {c: sum(v) / len(v) for c, v in train.items()}
    commitments = _commitments(store.con, h.currency)
    lo = {c: min(commitments.get(c, (0.0, []))[0], habit[c]) for c in cats}
    hi = {c: math.inf for c in cats}
    cap = (1 - params["cut"]) * sum(habit.values())
    stage("fit")
    weights = learned_weights(train, h.essential)
    default = {c: ESSENTIAL_WEIGHT if c in h.essential else DISCRETIONARY_WEIGHT for c in cats}
    budgets = {
        "learned": _solve(cats, habit, weights, lo, hi, cap),
        "default_weights": _solve(cats, habit, default, lo, hi, cap),
        "proportional_cut": _proportional(cats, habit, lo, hi, cap),
    }
    stage("validate")

    def attainment(b: dict[str, float]) -> float:
        """Spending-weighted share of category-months that stayed within the budget."""
        total = sum(habit[c] * len(test[c]) for c in cats)
        kept = sum(habit[c] for c in cats for v in test[c] if v <= b[c] + 0.005)
        return kept / total if total else 0.0

    metrics = {
        "attainment": round(attainment(budgets["learned"]), 4),
        "attainment_default_weights": round(attainment(budgets["default_weights"]), 4),
        "attainment_proportional_cut": round(attainment(budgets["proportional_cut"]), 4),
        "habit_deviation": round(_objective(budgets["learned"], habit, default), 2),
        "habit_deviation_proportional_cut": round(_objective(budgets["proportional_cut"], habit, default), 2),
        "holdout_months": hold,
        "currency": h.currency,
    }
    metrics["beats_proportional_cut"] = metrics["attainment"] >= metrics["attainment_proportional_cut"]
    final = learned_weights(h.spending, h.essential)
    stage("register")
    return register_trained(
        store,
        model_type="budget_optimizer",
        algorithm="quadratic_program_learned_weights",
        features=["monthly spending per category", "recurring commitments"],
        params=params,
        metrics=metrics,
        validation={"holdout": {"months": [str(m) for m in h.months[-hold:]]}, "weights": final},
        model={"weights": final},
        data_from=h.months[0],
        data_to=h.months[-1],
        rows=len(h.months),
        started=started,
        experiment=experiment,
        deploy_if_first=metrics["beats_proportional_cut"],
    )
