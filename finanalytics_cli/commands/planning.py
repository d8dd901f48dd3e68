"""`goals add | list | progress | rm`, `budget optimize | show | accept`, `risk`."""

from __future__ import annotations

from pathlib import Path

import typer

from finanalytics_cli.commands._common import open_store, parse_date
from finanalytics_cli.output import Result, emit, message, working

goals_app = typer.Typer(
    help=(
        "Savings goals: targets, dates, progress and the chance of making it.\n\nExample: finanalytics goals progress"
    ),
    no_args_is_help=True,
)
budget_app = typer.Typer(
    help=(
        "An optimized monthly budget, accepted budgets and budget versus actual."
        '\n\nExample: finanalytics budget optimize --constraint "dining<=400"'
    ),
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(goals_app, name="goals")
    app.add_typer(budget_app, name="budget")
    app.command("risk")(risk)


def _goal_row(g: object) -> dict:
    return {
        "name": g.name,
        "target": g.target,
        "currency": g.currency,
        "by": g.target_date,
        "priority": g.priority,
        "account": g.account,
        "saved": g.saved,
    }


@goals_app.command("add")
def goals_add(
    name: str = typer.Argument(..., help="The goal's name, e.g. 'House deposit'."),
    target: str = typer.Option(..., "--target", help="The amount to reach, e.g. 20000."),
    by: str = typer.Option(..., "--by", help="The date to reach it by (YYYY-MM-DD)."),
    priority: int = typer.Option(3, "--priority", help="1 (most important) to 5."),
    account: str = typer.Option(None, "--account", help="The account whose balance funds it, e.g. Savings."),
    saved: str = typer.Option("0", "--saved", help="What is already saved for it outside that account."),
) -> None:
    """Add a savings goal.

    Example: finanalytics goals add "House deposit" --target 60000 --by 2028-12-31 --priority 1 --account Savings
    """
    from finanalytics_cli.engine.goals import add_goal, parse_amount

    amount = parse_amount(target)
    already = parse_amount(saved, "--saved")
    date = parse_date(by, "--by")
    if date is None:
        raise typer.BadParameter("--by is required")
    with open_store() as store, store.transaction():
        g = add_goal(store.con, name, amount, date, priority, account, already)
    message(f"Added goal {g.name!r}: {g.target:,.2f} {g.currency} by {g.target_date}.")
    emit(Result("goals add", _goal_row(g)))


@goals_app.command("list")
def goals_list() -> None:
    """List the goals.

    Example: finanalytics goals list
    """
    from finanalytics_cli.engine.goals import list_goals

    with open_store(readonly=True) as store:
        rows = [_goal_row(g) for g in list_goals(store.con)]
    emit(Result("goals list", {"goals": rows}, title="Goals", rows_key="goals"))


@goals_app.command("rm")
def goals_rm(
    name: str = typer.Argument(..., help="The goal's name."),
    yes: bool = typer.Option(False, "--yes", help="Remove it without asking."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the goal; change nothing."),
) -> None:
    """Remove a goal (asks first on a terminal, needs --yes elsewhere).

    Example: finanalytics goals rm "Trip" --yes
    """
    from finanalytics_cli.commands._common import go_ahead
    from finanalytics_cli.engine.goals import find_goal, remove_goal
    from finanalytics_cli.engine.review import shell_quote

    with open_store(readonly=dry_run) as store:
        g = find_goal(store.con, name)
        if dry_run:
            message(f"Would remove goal {g.name!r} (dry run).")
            emit(Result("goals rm", _goal_row(g), meta={"dry_run": True}))
            return
        go_ahead(f"remove goal {g.name!r}", yes, f"goals rm {shell_quote(g.name)}")
        with store.transaction():
            g = remove_goal(store.con, name)
    message(f"Removed goal {g.name!r}.")
    emit(Result("goals rm", _goal_row(g), meta={"dry_run": False}))


@goals_app.command("progress")
def goals_progress() -> None:
    """Funded so far, the monthly contribution needed, the probability of making it, and the fix.

    Example: finanalytics goals progress --json
    """
    from finanalytics_cli.engine.goals import fix_sentence, goal_progress

    with open_store() as store, working("Simulating your goals"):
        progress = goal_progress(store)
    rows = [
        {
            "name": p.name,
            "target": p.target,
            "currency": p.currency,
            "by": p.target_date,
            "priority": p.priority,
            "funded": p.funded,
            "remaining": p.remaining,
            "months_left": p.months_left,
            "required_monthly": p.required_monthly,
            "probability": p.probability,
            "straight_line_on_track": p.straight_line_on_track,
            "expected_date": p.expected_date,
            "fix": p.fix,
            "advice": fix_sentence(p) or "On track (80% or better).",
            "method": p.method,
        }
        for p in progress
    ]
    if not rows:
        message("No goals yet: `finanalytics goals add NAME --target AMOUNT --by DATE`.")
    columns = ["name", "by", "funded", "remaining", "required_monthly", "probability", "expected_date", "advice"]
    emit(Result("goals progress", {"goals": rows}, title="Goal progress", rows_key="goals", columns=columns))


@budget_app.command("optimize")
def budget_optimize(
    income: float = typer.Option(None, "--income", help="Monthly income to plan with (default: detected)."),
    goal: list[str] = typer.Option([], "--goal", help="Plan for this goal (repeatable; default: all goals)."),
    constraint: list[str] = typer.Option([], "--constraint", help='E.g. "dining<=300", "savings>=1000".'),
    config: Path = typer.Option(None, "--config", help="A TOML file with income, goals, constraints, [weights]."),
    detail: bool = typer.Option(False, "--detail", help="The whole plan in the table (JSON always has it)."),
) -> None:
    """Optimize per-category monthly budgets: closest to your habits, covering goals and an emergency fund.

    Example: finanalytics budget optimize --goal "House deposit" --constraint "dining<=400"
    """
    from finanalytics_cli.engine.budget import load_config, optimize_budget, save_proposal

    cfg = load_config(config) if config else {}
    with open_store() as store:
        plan = optimize_budget(
            store,
            income=income if income is not None else cfg.get("income"),
            goal_names=list(goal) or cfg.get("goals"),
            constraints=[*cfg.get("constraints", []), *constraint],
            weights=cfg.get("weights"),
        )
        if not store.readonly:
            with store.transaction():
                save_proposal(store.con, plan)
    message(
        f"Budget {plan.outcomes['budget_total']:,.2f} {plan.currency} a month, saving "
        f"{plan.outcomes['savings_rate']:.0%} of income; `finanalytics budget accept` stores it."
    )
    data = {
        "currency": plan.currency,
        "income": plan.income,
        "income_source": plan.income_source,
        "available_for_spending": plan.available,
        "optimized_budget": plan.lines,
        "recommendations": plan.recommendations,
        "expected_outcomes": plan.outcomes,
        "goals": plan.goals,
        "emergency_fund": plan.emergency,
        "constraints": plan.constraints,
        "proportional_cut_baseline": plan.baseline,
        "weights": plan.weights,
    }
    # The table answers "what do I budget": the largest lines, the advice, the outcome and
    # the emergency fund; JSON (and --detail) carry the whole plan.
    summary = ("currency", "income", "available_for_spending") + tuple(
        k for k in ("optimized_budget", "recommendations", "expected_outcomes", "emergency_fund") if data[k]
    )
    emit(
        Result(
            "budget optimize",
            data,
            title="Optimized budget",
            rows_key="optimized_budget",
            table_keys=None if detail else summary,
            table_rows={} if detail else {"optimized_budget": plan.lines[:10]},
            table_hide=() if detail else _BUDGET_HIDDEN,
        )
    )


_BUDGET_HIDDEN = (
    "expected_outcomes.habit_deviation",
    "expected_outcomes.habit_deviation_proportional_cut",
    "expected_outcomes.goals",
    "optimized_budget.committed",
)


@budget_app.command("accept")
def budget_accept() -> None:
    """Store the last optimized budget as this month's budget (the previous one ends).

    Example: finanalytics budget accept
    """
    from finanalytics_cli.engine.budget import accept_proposal

    with open_store() as store:
        result = accept_proposal(store)
    message(f"Accepted a budget of {result['accepted']} categories from {result['valid_from']}.")
    emit(Result("budget accept", result))


@budget_app.command("show")
def budget_show(
    month: str = typer.Option(None, "--month", help="The month to show (YYYY-MM; default: the latest data month)."),
) -> None:
    """The accepted budget against what was spent this month.

    Example: finanalytics budget show --month 2026-10
    """
    from finanalytics_cli.engine.budget import budget_vs_actual

    when = parse_date(f"{month}-01", "--month") if month else None
    with open_store(readonly=True) as store:
        data = budget_vs_actual(store.con, when)
    emit(Result("budget show", data, title=f"Budget {data['month']:%Y-%m}", rows_key="lines"))


def risk() -> None:
    """A 0-100 risk score with the factors behind it, an emergency-fund target and the shortfall chance.

    Example: finanalytics risk --json
    """
    from finanalytics_cli.engine.risk import assess_risk

    with open_store(readonly=True) as store, working("Assessing risk"):
        r = assess_risk(store)
    data = {
        "risk_score": r.score,
        "level": r.level,
        "currency": r.currency,
        "as_of": r.as_of,
        "risk_factors": [
            {
                "factor": f.name,
                "value": f.value,
                "weight": f.weight,
                "risk": round(f.risk, 3),
                "explanation": f.sentence,
            }
            for f in r.factors
        ],
        "recommendations": r.recommendations,
        "emergency_fund_target": r.emergency_fund_target,
        "shortfall_probability_30_days": r.shortfall["probability"],
        "shortfall_method": r.shortfall["method"],
        "shortfall_by_account": r.shortfall["accounts"],
    }
    emit(
        Result("risk", data, meta={"notes": r.notes}, title=f"Risk {r.score}/100 ({r.level})", rows_key="risk_factors")
    )
