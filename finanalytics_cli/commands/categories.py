"""`categories`, `categories list | add | rename`."""

from __future__ import annotations

from typing import Literal

import typer

from finanalytics_cli.commands._common import open_store
from finanalytics_cli.output import Result, emit, message, warn

app = typer.Typer(invoke_without_command=True)  # the help is the callback's docstring

LIST_COLUMNS = ["name", "parent", "kind", "essential", "custom", "transactions"]


@app.callback()
def categories(ctx: typer.Context) -> None:
    """The categories (the taxonomy and your own), with their number of transactions.

    Also: `categories add NAME`, `categories rename OLD NEW`.

    Example: finanalytics categories
    """
    if ctx.invoked_subcommand is None:
        categories_list()


@app.command("list")
def categories_list() -> None:
    """List the categories: parent, kind, essential or not, yours or built in, and transactions in each.

    Example: finanalytics categories list --format csv
    """
    from finanalytics_cli.engine.categories import list_categories

    with open_store(readonly=True) as store:
        rows = list_categories(store.con)
    unknown = [r.name for r in rows if r.kind is None]
    if unknown:
        warn(f"transactions use categories the taxonomy lacks: {', '.join(unknown)}")
    emit(Result("categories list", rows, title="Categories", columns=LIST_COLUMNS))


@app.command("add")
def categories_add(
    name: str = typer.Argument(..., help="The new category, e.g. Hobbies, or Top/Sub for a subcategory."),
    parent: str = typer.Option(None, "--parent", metavar="TOP", help="Make it a subcategory of this top-level one."),
    essential: bool = typer.Option(
        None, "--essential/--not-essential", help="Essential spending (default: the parent's, else not)."
    ),
    kind: Literal["expense", "income", "transfer"] | None = typer.Option(
        None, "--kind", help="expense (default), income or transfer; a subcategory has its parent's."
    ),
) -> None:
    """Add a category of your own (names are case-insensitive: an existing one is refused).

    Example: finanalytics categories add Climbing --parent Entertainment
    """
    from finanalytics_cli.engine.categories import add_category

    with open_store() as store, store.transaction():
        out = add_category(store.con, name, parent=parent, essential=essential, kind=kind)
    for note in out["notes"]:
        message(f"Note: {note}.")
    emit(Result("categories add", out["category"]))


@app.command("rename")
def categories_rename(
    old: str = typer.Argument(..., help="One of your own categories (any case)."),
    new: str = typer.Argument(..., help="Its new name; for a subcategory, Sub or Top/Sub."),
) -> None:
    """Rename one of your categories in transactions, rules and budgets at once (subcategories follow).

    Built-in categories keep their names; an existing name is refused. All of it changes
    in one transaction, or none of it.

    Example: finanalytics categories rename Hobbies Leisure
    """
    from finanalytics_cli.engine.categories import rename_category

    with open_store() as store:
        result = rename_category(store, old, new)

    def n(k: int, what: str) -> str:
        return f"{k} {what}{'' if k == 1 else 's'}"

    message(
        f"Renamed {result.old} to {result.new}: {n(result.transactions, 'transaction')}, {n(result.rules, 'rule')}, "
        f"{n(result.budgets, 'budget line')}."
    )
    for w in result.warnings:
        warn(w)
    emit(Result("categories rename", result))
