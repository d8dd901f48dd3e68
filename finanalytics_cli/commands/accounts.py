"""`accounts` and `tx list`."""

from __future__ import annotations

import typer

from finanalytics_cli.commands._common import learn_after, open_store, parse_period
from finanalytics_cli.output import Result, emit, message

tx_app = typer.Typer(
    help="List and inspect transactions.\n\nExample: finanalytics tx list --category Groceries --from 2026-01-01",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.command("accounts")(accounts)
    app.add_typer(tx_app, name="tx")


def accounts() -> None:
    """List accounts with their balances.

    Example: finanalytics accounts --format json
    """
    from finanalytics_cli.engine.ledger import list_accounts

    with open_store(readonly=True) as store:
        rows = list_accounts(store.con)
    emit(Result("accounts", rows, title="Accounts"))


@tx_app.command("list")
def tx_list(
    account: str = typer.Option(None, "--account", help="Only this account."),
    date_from: str = typer.Option(None, "--from", help="From this date (YYYY-MM-DD), inclusive."),
    date_to: str = typer.Option(None, "--to", help="To this date (YYYY-MM-DD), inclusive."),
    search: str = typer.Option(None, "--search", help="Text in the payee, merchant or memo."),
    limit: int = typer.Option(100, "--limit", help="At most N rows, newest first (0: all).", min=0),
    category: str = typer.Option(
        None,
        "--category",
        help="Only this category (a top-level one includes its subcategories); 'none' for uncategorized.",
    ),
) -> None:
    """List transactions, newest first.

    Example: finanalytics tx list --account Checking --from 2024-01-01 --search coffee
    """
    from finanalytics_cli.engine.ledger import TX_LIST_COLUMNS, list_transactions

    start, end = parse_period(date_from, date_to)
    with open_store(readonly=True) as store:
        rows = list_transactions(
            store.con,
            account=account,
            date_from=start,
            date_to=end,
            search=search,
            limit=limit or None,
            category=category,
        )
    emit(Result("tx list", rows, columns=TX_LIST_COLUMNS, title="Transactions"))


@tx_app.command("label")
def tx_label(
    tx_id: int = typer.Argument(..., metavar="TX_ID"),
    category: str = typer.Argument(..., help="A category of the taxonomy, e.g. Dining or Income/Salary."),
    confirm: bool = typer.Option(False, "--confirm", help="Keep a label that was held for review: it trains."),
) -> None:
    """Give a transaction your own category: it is never overwritten, and the model learns from it.

    A label that contradicts both the rules and a very confident model is applied but held
    for review (`review`) and trains nothing until you repeat it with --confirm.

    Example: finanalytics tx label 1234 Groceries
    """
    from finanalytics_cli.engine.categories import label_transaction
    from finanalytics_cli.engine.categorize import label_check

    with open_store() as store:
        with store.transaction():
            flagged = None if confirm else label_check(store, tx_id, category)
            data = label_transaction(store.con, tx_id, category, flagged)
        learned = learn_after(store)
    if flagged:
        from finanalytics_cli.engine.review import shell_quote

        again = f"tx label {tx_id} {shell_quote(data['category'])} --confirm"
        message(f"Held for review: {flagged['reason']}; `{again}` keeps it for training.")
    emit(Result("tx label", {**data, "learning": learned} if learned else data))
