"""`privacy budget set | status`, `audit log | verify`, `data retention set | purge | forget | export`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from finanalytics_cli.commands._common import go_ahead, open_store, parse_date, parse_period, paths
from finanalytics_cli.output import Result, emit, message

privacy_app = typer.Typer(
    help="Differential privacy: the budget and its ledger.\n\nExample: finanalytics privacy status",
    no_args_is_help=True,
)
budget_app = typer.Typer(
    help="The privacy budget (epsilon) DP releases spend.\n\nExample: finanalytics privacy budget set 3.0",
    no_args_is_help=True,
)
audit_app = typer.Typer(
    help="The hash-chained audit log of what was done to the store.\n\nExample: finanalytics audit verify",
    no_args_is_help=True,
)
data_app = typer.Typer(
    help=(
        "Your data: retention, purging, forgetting and exporting.\n\n"
        "Example: finanalytics data export --out ~/finance-export"
    ),
    no_args_is_help=True,
)
retention_app = typer.Typer(
    help="How long transactions are kept.\n\nExample: finanalytics data retention set 7y --dry-run",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    privacy_app.add_typer(budget_app, name="budget")
    data_app.add_typer(retention_app, name="retention")
    app.add_typer(privacy_app, name="privacy")
    app.add_typer(audit_app, name="audit")
    app.add_typer(data_app, name="data")


@budget_app.command("set")
def budget_set(
    total: str = typer.Argument(..., metavar="TOTAL", help="Total epsilon, e.g. 5."),
    per: str = typer.Option(
        "lifetime", "--per", help="lifetime (default), year or month (renewing: a transaction's exposure adds up)."
    ),
) -> None:
    """Set the privacy budget: the epsilon all DP releases together may spend, ever (or per year or month).

    Example: finanalytics privacy budget set 5
    """
    from finanalytics_cli.privacy.audit import append
    from finanalytics_cli.privacy.dp import budget_status, parse_budget, set_budget

    value = parse_budget(total)
    with open_store() as store, store.transaction():
        before = budget_status(store.con)
        set_budget(store.con, value, None if per == "lifetime" else per)
        status = budget_status(store.con)
        # Raising the budget is a privacy decision: it is in the audit log.
        append(
            store.con,
            "privacy_budget_set",
            {"epsilon": value, "retention": per, "before": f"{before['total_epsilon']:g} per {before['per']}"},
        )
    if per != "lifetime":
        message(
            f"note: a budget per {per} renews: a transaction inside several periods' releases is exposed to their sum"
        )
    message(f"Privacy budget: epsilon {status['total_epsilon']:g} per {status['per']}.")
    emit(Result("privacy budget set", status))


@privacy_app.command("status")
def privacy_status(limit: int = typer.Option(20, "--limit", min=1, help="How many ledger entries to show.")) -> None:
    """The privacy budget, what is spent and left, and the ledger of DP releases.

    Example: finanalytics privacy status --json
    """
    from finanalytics_cli.privacy.dp import budget_status, ledger

    with open_store(readonly=True) as store:
        data = {**budget_status(store.con), "ledger": ledger(store.con, limit)}
    emit(Result("privacy status", data, title="Privacy budget", rows_key="ledger"))


@audit_app.command("log")
def audit_log(
    limit: int = typer.Option(50, "--limit", min=1, help="How many entries, newest first."),
    action: str = typer.Option(None, "--action", help="Only actions starting with this, e.g. command or dp_release."),
) -> None:
    """The audit log: commands, model loads, prediction batches, DP releases, exports (no amounts or payees).

    Example: finanalytics audit log --limit 20
    """
    from finanalytics_cli.privacy.audit import entries

    with open_store(readonly=True) as store:
        rows = entries(store.con, limit, action)
    emit(Result("audit log", {"entries": rows}, title="Audit log", rows_key="entries"))


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit log's keyed chain and check its anchor: an edited, removed or
    reordered entry, newest entries cut off, or a database restored from an older copy fails (exit 13).

    Example: finanalytics audit verify
    """
    from finanalytics_cli.engine.errors import StoreCorrupt
    from finanalytics_cli.privacy.audit import anchor_path, verify

    with open_store(readonly=True) as store:
        result = verify(store.con, anchor_path(store.paths.db_path))
    if not result["ok"]:
        raise StoreCorrupt(f"the audit log does not verify: {result['reason']}")
    message(f"The audit log verifies: {result['entries']} entries.")
    emit(Result("audit verify", result))


@retention_app.command("set")
def retention_set(
    period: str = typer.Argument(..., help="e.g. 7y, 18m or 400d."),
    yes: bool = typer.Option(False, "--yes", help="Delete the transactions older than that without asking."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be deleted; change nothing."),
) -> None:
    """Keep transactions for this long; older ones are deleted now and on every later write.

    Deleting transactions asks first on a terminal and needs --yes elsewhere ("1d" for
    "1y" would empty the store); --dry-run shows how many would go.

    Example: finanalytics data retention set 7y --dry-run
    """
    import datetime as dt

    from finanalytics_cli.privacy.audit import append
    from finanalytics_cli.privacy.retention import (
        cutoff,
        enforce_retention,
        parse_duration,
        retention_status,
        set_retention,
    )

    n, unit = parse_duration(period)
    keeps_from = cutoff(n, unit, dt.date.today())
    with open_store(readonly=dry_run) as store:
        doomed = _count_before(store.con, keeps_from)
        if dry_run:
            message(f"Would keep transactions from {keeps_from} on and delete {doomed} older ones (dry run).")
            emit(
                Result(
                    "data retention set",
                    {"period": f"{n}{unit}", "keeps_from": keeps_from, "would_delete": {"transactions": doomed}},
                    meta={"dry_run": True},
                )
            )
            return
        if doomed:
            go_ahead(f"delete {doomed} transactions before {keeps_from}", yes, f"data retention set {period}")
        with store.transaction():
            set_retention(store.con, period)
            counts = enforce_retention(store.con) or {"transactions": 0}
            append(store.con, "retention_set", {"retention": period, "deleted": counts["transactions"]})
            status = retention_status(store.con)
    message(f"Keeping transactions from {status['keeps_from']} on; {counts['transactions']} older ones deleted.")
    emit(Result("data retention set", {**status, "deleted": counts}, meta={"dry_run": False}))


@retention_app.command("show")
def retention_show() -> None:
    """The retention period in force, if any, and the first day it keeps.

    Example: finanalytics data retention show
    """
    from finanalytics_cli.privacy.retention import retention_status

    with open_store(readonly=True) as store:
        status = retention_status(store.con)
        oldest = store.con.execute("SELECT min(posted_date) FROM transactions").fetchone()[0]
    if status["period"] is None:
        message("No retention period: transactions are kept until you delete them.")
    else:
        message(f"Transactions are kept for {status['period']}: from {status['keeps_from']} on.")
    emit(Result("data retention show", {**status, "oldest_transaction": oldest}))


@retention_app.command("unset")
def retention_unset() -> None:
    """Stop deleting old transactions (nothing already deleted comes back).

    Example: finanalytics data retention unset
    """
    from finanalytics_cli.privacy.audit import append
    from finanalytics_cli.privacy.retention import retention_status, unset_retention

    with open_store() as store, store.transaction():
        before = retention_status(store.con)["period"]
        unset_retention(store.con)
        append(store.con, "retention_unset", {"retention": before})
    message(
        f"Retention period {before} removed: transactions are kept until you delete them."
        if before
        else "There was no retention period."
    )
    emit(Result("data retention unset", {"period": None, "was": before}))


@data_app.command("purge")
def data_purge(
    before: str = typer.Option(..., "--before", help="Delete transactions before this date."),
    yes: bool = typer.Option(False, "--yes", help="Delete them without asking."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be deleted; change nothing."),
) -> None:
    """Delete every transaction before a date, with its features and predictions (asks first
    on a terminal, needs --yes elsewhere; --dry-run shows how many).

    Example: finanalytics data purge --before 2020-01-01 --dry-run
    """
    from finanalytics_cli.privacy.audit import append
    from finanalytics_cli.privacy.retention import purge_before

    date = parse_date(before, "--before")
    with open_store(readonly=dry_run) as store:
        doomed = _count_before(store.con, date)
        if dry_run:
            message(f"Would delete {doomed} transactions before {date} (dry run).")
            data = {"before": date, "would_delete": {"transactions": doomed}}
            emit(Result("data purge", data, meta={"dry_run": True}))
            return
        if doomed:
            go_ahead(f"delete {doomed} transactions before {date}", yes, f"data purge --before {date}")
        with store.transaction():
            counts = purge_before(store.con, date)
            append(store.con, "purge", {"before": str(date), "deleted": counts["transactions"]})
    message(f"Deleted {counts['transactions']} transactions before {date}.")
    emit(Result("data purge", {"before": date, "deleted": counts}, meta={"dry_run": False}))


def _count_before(con: object, before: object) -> int:
    return int(con.execute("SELECT count(*) FROM transactions WHERE posted_date < ?", [before]).fetchone()[0])  # type: ignore[attr-defined]


@data_app.command("forget")
def data_forget(yes: bool = typer.Option(False, "--yes", help="Really destroy the key and the store.")) -> None:
    """Destroy the store's key and the store (crypto-shredding), and show it can no longer be opened.

    Example: finanalytics data forget --yes
    """
    from finanalytics_cli.engine.errors import InvalidInput
    from finanalytics_cli.privacy.retention import forget

    if not yes:
        raise InvalidInput("this destroys the key and every transaction for good; add --yes to go ahead")
    result = forget(paths())
    message("The key is destroyed and the store removed: " + result["open_attempt_after"])
    emit(Result("data forget", result))


@data_app.command("export")
def data_export(
    out: Path = typer.Option(..., "--out", help="A new directory for the files."),
    fmt: Literal["parquet", "csv", "json"] = typer.Option(
        "parquet", "--file-format", help="The files' format: parquet, csv or json."
    ),
    dp: bool = typer.Option(False, "--dp", help="Export a differentially private release of spending instead."),
    epsilon: str = typer.Option("1.0", "--epsilon", help="With --dp: the epsilon this export spends."),
    bound: float = typer.Option(None, "--bound", help="With --dp: clamp each transaction to this amount."),
    date_from: str = typer.Option(None, "--from", help="With --dp: the window's first day (default: 12 months ago)."),
    date_to: str = typer.Option(None, "--to", help="With --dp: its last day (default: the end of last month)."),
    currency: str = typer.Option(None, "--currency", help="With --dp: the currency released (default: the accounts')."),
) -> None:
    """Export all of your data (one file per table), or with --dp a DP release of it.

    Example: finanalytics data export --out ~/finance-export --file-format csv
    """
    from finanalytics_cli.privacy.audit import append
    from finanalytics_cli.privacy.retention import export_data

    if dp:
        data, meta = dp_spending_release(
            "data export", epsilon, bound, "month", date_from, date_to, out=out, fmt=fmt, currency=currency
        )
        emit(Result("data export", data, meta=meta))
        return
    with open_store() as store:
        result = export_data(store.con, out, fmt)
        with store.transaction():
            append(store.con, "export", {"format": fmt, "tables": list(result["tables"])})
    message(f"Exported {len(result['tables'])} tables to {out}.")
    emit(Result("data export", result, meta={"dp": None}))


def dp_spending_release(
    query: str,
    epsilon_text: str,
    bound: float | None,
    period: str,
    date_from: str | None,
    date_to: str | None,
    out: Path | None = None,
    fmt: str = "parquet",
    currency: str | None = None,
) -> tuple[dict, dict]:
    """Parse the options and hand the release to `privacy.dp.release_spending`."""
    from finanalytics_cli.privacy.dp import parse_epsilon, release_spending

    eps = parse_epsilon(epsilon_text)
    since, until = parse_period(date_from, date_to)
    with open_store() as store:
        return release_spending(store, query, eps, bound, period, since, until, out, fmt, currency)
