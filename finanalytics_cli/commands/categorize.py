"""`categorize`, `review` and `rules add | list | rm`."""

from __future__ import annotations

from typing import Literal

import typer

from finanalytics_cli.commands._common import learn_after, open_store
from finanalytics_cli.output import Result, emit, message

rules_app = typer.Typer(
    help=(
        "Your own categorization rules (they win over the model).\n\nExample: finanalytics rules add 'costco' Groceries"
    ),
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.command("categorize")(categorize)
    app.command("review")(review)
    app.add_typer(rules_app, name="rules")


def categorize(
    threshold: float = typer.Option(
        None,
        "--threshold",
        help="Confidence below which the model's guess is not used (default: the model's own, 0.5).",
    ),
    everything: bool = typer.Option(False, "--all", help="Re-categorize everything except your own labels."),
    explain: int = typer.Option(
        None,
        "--explain",
        metavar="TX_ID",
        help="Show what drove the model's prediction for one transaction; changes nothing.",
    ),
) -> None:
    """Categorize new and uncategorized transactions: your labels, your rules, the model, keyword rules.

    Example: finanalytics categorize
    """
    from dataclasses import asdict

    from finanalytics_cli.engine.categorize import categorize as run
    from finanalytics_cli.engine.categorize import explain_transaction

    if explain is not None:
        with open_store() as store:  # writable: the features of rows imported since are computed and kept
            data = explain_transaction(store, explain)
        emit(Result("categorize explain", data, title=f"Transaction {explain}"))
        return
    with open_store() as store:
        result = run(store, threshold=threshold, everything=everything)
        learned = learn_after(store)  # labels changed enough since the last training: retrain
    meta = {"fallback": result.fallback} if result.fallback else {}
    if learned:
        meta["learning"] = learned
    if result.notes:
        meta["notes"] = result.notes
    message(
        f"Categorized {result.considered - result.uncategorised} of {result.considered} transactions (rules "
        f"{result.by_rule}, model {result.by_model + result.by_canary}, merchant table {result.by_merchant}, "
        f"keyword rules {result.by_keyword}); "
        + (f"{result.uncategorised} left for `finanalytics review`." if result.uncategorised else "none left.")
    )
    # The table: where the categories came from. Canary and shadow counts only when such a
    # deployment exists (the words are the user's own then); the rest is in the JSON.
    shown = ["considered", "by_rule", "by_model", "by_merchant", "by_keyword", "uncategorised"]
    shown += ["by_canary"] if result.canary_model_id is not None else []
    shown += ["shadow_recorded"] if result.shadow_recorded else []
    shown += [k for k in ("fallback", "notes") if getattr(result, k)]
    emit(Result("categorize", asdict(result), meta=meta, table_keys=shown, more="--format json"))


def review(
    limit: int = typer.Option(20, "--limit", min=1, help="At most N groups (one per merchant)."),
    below: float = typer.Option(
        0.65, "--below", min=0, max=1, help="Review the model's categories below this confidence."
    ),
) -> None:
    """Transactions that need you, one group per merchant, each with a suggestion and the command that accepts it.

    Labels held as possible poisoning come first, then uncategorized and low-confidence
    transactions, the groups that move the most money most often first. A suggestion is
    the model's category, else your own earlier labels of the merchant, else the model's
    unsure guess; without one the command shows <Category> for you to fill in.

    Example: finanalytics review --limit 10
    """
    from finanalytics_cli.engine.review import review_counts, review_groups

    with open_store(readonly=True) as store:
        groups = review_groups(store.con, limit=limit, below=below)
        counts = review_counts(store.con, below=below)
    meta = {"groups_total": counts["groups"], "transactions_total": counts["transactions"], "below": below}
    emit(Result("review", groups, meta=meta, title="To review", columns=REVIEW_COLUMNS))


# csv and md: one line per group (JSON has every key, tx_ids included).
REVIEW_COLUMNS = [
    "merchant",
    "count",
    "totals",
    "first_date",
    "last_date",
    "accounts",
    "suggested_category",
    "confidence",
    "suggestion_source",
    "command",
]


@rules_app.command("add")
def rules_add(
    pattern: str = typer.Argument(..., help="A case-insensitive regular expression, e.g. 'whole ?foods'."),
    category: str = typer.Argument(..., help="A category of the taxonomy, e.g. Groceries or Transport/Fuel."),
    field: Literal["payee", "memo"] = typer.Option("payee", "--field", help="payee or memo."),
    amount_range: str = typer.Option(
        None, "--amount-range", help="MIN:MAX (either side may be empty); money out is negative, e.g. -100:-10."
    ),
) -> None:
    """Add a rule; it applies at once to every transaction you have not labeled yourself.

    Example: finanalytics rules add 'costco' Groceries --amount-range -1000:-50
    """
    from finanalytics_cli.engine.categories import add_rule, apply_rules

    with open_store() as store, store.transaction():
        rule = add_rule(store.con, pattern, category, field, amount_range)
        applied = apply_rules(store.con)
    emit(Result("rules add", {"rule": rule, "transactions_categorised_by_rules": applied}))


@rules_app.command("list")
def rules_list() -> None:
    """List your rules (the first matching rule wins).

    Example: finanalytics rules list
    """
    from finanalytics_cli.engine.categories import list_rules

    with open_store(readonly=True) as store:
        rows = list_rules(store.con)
    emit(Result("rules list", rows, title="Rules"))


@rules_app.command("rm")
def rules_rm(
    rule_id: int = typer.Argument(..., metavar="RULE_ID"),
    yes: bool = typer.Option(False, "--yes", help="Remove it without asking."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the rule and what it categorized; change nothing."),
) -> None:
    """Remove a rule; what it categorized is categorized again by `categorize` (asks first on
    a terminal, needs --yes elsewhere).

    Example: finanalytics rules rm 3 --dry-run
    """
    from finanalytics_cli.commands._common import go_ahead
    from finanalytics_cli.engine.categories import RULE, find_rule, remove_rule

    with open_store(readonly=dry_run) as store:
        rule = find_rule(store.con, rule_id)
        used = store.con.execute(
            "SELECT count(*) FROM transactions WHERE category_source = ?", [f"{RULE}:{rule_id}"]
        ).fetchone()[0]
        data = {"rule": rule, "transactions_recategorised": int(used)}
        what = f"remove rule {rule_id} ({rule.pattern!r} -> {rule.category}), which categorized {used} transactions"
        if dry_run:
            message(f"Would {what} (dry run).")
            emit(Result("rules rm", data, meta={"dry_run": True}))
            return
        go_ahead(what, yes, f"rules rm {rule_id}")
        with store.transaction():
            remove_rule(store.con, rule_id)
    emit(Result("rules rm", {"removed": rule, "transactions_recategorised": int(used)}, meta={"dry_run": False}))
