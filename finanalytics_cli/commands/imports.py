"""`import PATH...`, `import list`, `import undo IMPORT_ID`."""

from __future__ import annotations

import sys
from typing import Any, Literal

import typer
from typer import _click as click
from typer.core import TyperCommand

from finanalytics_cli.commands._common import learn_after, open_store, paths
from finanalytics_cli.output import Result, emit, message, progress, warn, working

FILE_COLUMNS = [
    "file",
    "status",
    "format",
    "accounts",
    "read",
    "added",
    "duplicate",
    "rejected",
    "pending_matched",
    "transfers_matched",
    "currency",
    "import_id",
]


def register(app: typer.Typer) -> None:
    app.command(
        "import",
        help=(
            "Import bank exports (CSV, OFX 1.x/2.x, QFX, QIF, CAMT.052/053/054, MT940/MT942): files, "
            "directories, "
            "or - for stdin.\n\n"
            "Also: `finanalytics import list` (history) and `finanalytics import undo IMPORT_ID`.\n\n"
            "Example: finanalytics import ~/Downloads/checking.csv --account Checking"
        ),
        short_help="Import bank exports (CSV, OFX, QFX, QIF, CAMT, MT940); `import list`, `import undo ID`.",
        cls=_ImportCommand,
    )(import_command)


_SUBCOMMANDS = typer.Typer()


@_SUBCOMMANDS.command("list")
def _list_help() -> None:
    """The imports so far, newest first: file, when, rows added, duplicates, rejected, status.

    Example: finanalytics import list --format json
    """


@_SUBCOMMANDS.command("undo")
def _undo_help(
    import_id: int = typer.Argument(..., metavar="IMPORT_ID", help="The import's id (see `finanalytics import list`)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what it removes; change nothing."),
    yes: bool = typer.Option(False, "--yes", help="Remove without asking (needed when not on a terminal)."),
) -> None:
    """Remove what one import added, your labels among them (asks first on a terminal).

    Example: finanalytics import undo 12 --dry-run
    """


class _ImportCommand(TyperCommand):
    """`import PATH...`, whose `import list --help` and `import undo --help` are their own."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["finanalytics.import_sub"] = args[0] if args and args[0] in ("list", "undo") else None
        return super().parse_args(ctx, args)

    @staticmethod
    def help_subcommands() -> dict[str, click.Command]:
        """`list` and `undo`, as commands whose help (and docs/COMMANDS.md) describe them."""
        return dict(typer.main.get_command(_SUBCOMMANDS).commands)  # type: ignore[attr-defined]

    def get_help(self, ctx: click.Context) -> str:
        sub = ctx.meta.get("finanalytics.import_sub")
        if not sub:
            return super().get_help(ctx)
        cmd = self.help_subcommands()[sub]
        with click.Context(cmd, info_name=f"{ctx.info_name} {sub}", parent=ctx.parent) as sub_ctx:
            return cmd.get_help(sub_ctx)


def import_command(
    paths_: list[str] = typer.Argument(..., metavar="PATH...", help="Files, directories, or - for stdin."),
    account: str = typer.Option(
        None,
        "--account",
        help="The account these exports belong to (CSV and QIF need it unless the file names it; OFX names its own).",
    ),
    input_format: Literal["auto", "csv", "ofx", "qfx", "qif", "camt", "mt940"] = typer.Option(
        "auto", "--input-format", help="The files' format: auto (by content), csv, ofx, qfx, qif, camt or mt940."
    ),
    map_: str = typer.Option(None, "--map", help="A TOML file (or saved map name) fixing the CSV layout."),
    save_map: str = typer.Option(
        None, "--save-map", help="Remember this file's CSV layout under NAME for the account."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Parse and check everything, store nothing (with `undo`: show what it removes)."
    ),
    yes: bool = typer.Option(False, "--yes", help="With `import undo`: remove without asking."),
    strict: bool = typer.Option(False, "--strict", help="Refuse a whole file if any row is rejected."),
    category_column: str = typer.Option(
        None,
        "--category-column",
        help="A CSV column with your own categories: imported as labels (the model learns from them).",
    ),
    drop_memos: bool = typer.Option(
        False, "--drop-memos", help="Data minimization: store no memo (nor the raw line that holds it)."
    ),
    currency: str = typer.Option(
        None,
        "--currency",
        help=(
            "The currency (ISO code, e.g. EUR) of CSV files that do not say theirs; "
            "a file that says another is refused."
        ),
    ),
    no_categorize: bool = typer.Option(
        False, "--no-categorize", help="Store the rows uncategorized (run `finanalytics categorize` later)."
    ),
) -> None:
    if paths_ and paths_[0] == "list":
        if len(paths_) > 1:
            raise typer.BadParameter("`import list` takes no arguments (use ./list for a file named list)")
        return _list_imports()
    if paths_ and paths_[0] == "undo":
        if len(paths_) != 2 or not paths_[1].isdigit():
            raise typer.BadParameter("usage: finanalytics import undo IMPORT_ID (see `finanalytics import list`)")
        return _undo(int(paths_[1]), dry_run, yes)
    from finanalytics_cli.engine.ingest import ImportOptions, import_sources, sources_from_paths

    sources = sources_from_paths(paths_, stdin=sys.stdin.buffer if "-" in paths_ else None)
    options = ImportOptions(
        account=account,
        format=input_format,
        map=map_,
        save_map=save_map,
        dry_run=dry_run,
        strict=strict,
        maps_dir=paths().maps_dir,
        category_column=category_column,
        drop_memos=drop_memos,
        currency=_currency_code(currency),
    )
    categorized = None
    refreshed: dict[str, Any] | None = None
    with open_store(create=True) as store:
        with progress("Importing", total=len(sources)) as advance:
            results = import_sources(store, sources, options, on_file=lambda r: advance(1))
        learned = None
        if not dry_run and not no_categorize and any(r.added for r in results):
            # Labels the file brought (--category-column) may train a model first; then the
            # new rows (and those the built-in knowledge had categorised) are categorised.
            with working("Categorizing the new transactions"):
                learned = learn_after(store, recategorise=False)
                categorized = _categorize_new(store)
        if not dry_run and any(r.added for r in results):
            refreshed = _refresh_forecasts(store)
    failed = [r for r in results if r.status == "failed"]
    for r in results:
        if r.status == "failed":
            warn(f"{r.file}: {r.error['message'] if r.error else 'failed'}")
            continue
        if r.rejected:
            warn(f"{r.file}: {r.rejected} row(s) rejected (see rejected_rows in --json output)")
        for w in r.warnings:
            warn(f"{r.file}: {w}")
    totals = {
        k: sum(getattr(r, k) for r in results)
        for k in ("read", "added", "duplicate", "rejected", "pending_matched", "transfers_matched")
    }
    totals["files"] = len(results)
    totals["failed"] = len(failed)
    totals["warnings"] = sum(len(r.warnings) for r in results)
    if dry_run:
        message("Dry run: nothing was stored.")
    if categorized is not None:
        c = categorized
        if "error" in c:
            warn(f"the new transactions were stored but not categorized ({c['error']}): run `finanalytics categorize`")
        else:
            done = c["considered"] - c["uncategorised"]
            message(
                f"Categorized {done} of {c['considered']} transactions (rules {c['by_rule']}, model "
                f"{c['by_model'] + c['by_canary']}, merchant table {c['by_merchant']}, keyword rules "
                f"{c['by_keyword']}); "
                + (
                    f"{c['uncategorised']} left uncategorized: `finanalytics review` groups them."
                    if c["uncategorised"]
                    else "none left uncategorized."
                )
            )
    emit(
        Result(
            "import",
            {
                "files": results,
                "totals": totals,
                "failed_files": [{"file": r.file, "error": r.error} for r in failed],
                "categorized": categorized,
                "learning": learned,
                "forecasts_refreshed": refreshed,
            },
            meta={"dry_run": dry_run},
            columns=FILE_COLUMNS,
            rows_key="files",
            title="Import",
        )
    )
    if failed:
        from finanalytics_cli.exit_codes import PARTIAL_IMPORT, exit_code_for

        if len(failed) < len(results):
            raise typer.Exit(PARTIAL_IMPORT)  # the others were imported: see failed_files
        raise typer.Exit(exit_code_for(failed[0].error["code"] if failed[0].error else "INVALID_INPUT"))


def _refresh_forecasts(store: Any) -> dict[str, Any] | None:
    """Forecasts the user has asked for (`predict`, `goals progress`) are recomputed for the
    new data now, so the next answer is served at once. The import has committed: a failure
    here is reported, never the import's. None when no forecast was ever asked for."""
    from finanalytics_cli.engine.errors import AnalyticsError
    from finanalytics_cli.engine.forecast import refresh_stored

    if not store.con.execute("SELECT count(*) FROM app_state WHERE key LIKE 'prediction:%'").fetchone()[0]:
        return None
    try:
        with working("Updating the forecasts you use for the new data"):
            return {"questions": refresh_stored(store)}
    except AnalyticsError as exc:
        error = f"{exc.code}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a model library failing must not look like a failed import
        error = f"{type(exc).__name__}: {exc}"
    warn(f"the import is stored, but the forecasts were not updated ({error}); `predict` recomputes them")
    return {"questions": [], "error": error}


def _categorize_new(store: object) -> dict[str, object]:
    """Categorize what the import added (your labels, rules, the model, keyword rules). The
    import has committed: a failure here is reported, never the import's."""
    from dataclasses import asdict

    from finanalytics_cli.engine.categorize import categorize
    from finanalytics_cli.engine.errors import AnalyticsError

    try:
        result = categorize(store)
    except AnalyticsError as exc:
        return {"error": f"{exc.code}: {exc}"}
    out = asdict(result)
    return {
        k: out[k]
        for k in (
            "considered",
            "by_rule",
            "by_model",
            "by_canary",
            "by_merchant",
            "by_keyword",
            "uncategorised",
            "fallback",
            "notes",
        )
    }


def _currency_code(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise typer.BadParameter(f"--currency takes an ISO 4217 code such as EUR or USD, not {value!r}")
    return code


def _list_imports() -> None:
    from finanalytics_cli.engine.ingest import list_imports

    with open_store(readonly=True) as store:
        rows = list_imports(store.con)
    emit(Result("import list", rows, title="Imports"))


def _undo(import_id: int, dry_run: bool, yes: bool) -> None:
    """Undo an import: --dry-run shows what goes; it asks first on a terminal, needs --yes elsewhere."""
    from finanalytics_cli.commands._common import go_ahead
    from finanalytics_cli.engine.ingest import undo_import

    with open_store(readonly=dry_run) as store:
        plan: dict[str, Any] = undo_import(store, import_id, dry_run=True)
        labels = f", {plan['labels_removed']} of them labeled by you" if plan["labels_removed"] else ""
        what = f"remove {plan['transactions_removed']} transactions of {plan['file']}{labels}"
        if dry_run:
            message(f"Import {import_id} undo would {what} (dry run).")
            emit(Result("import undo", plan, meta={"dry_run": True}))
            return
        if plan["transactions_removed"]:
            go_ahead(what, yes, f"import undo {import_id}")
        data: dict[str, Any] = undo_import(store, import_id)
    message(f"Import {import_id} undone: {data['transactions_removed']} transaction(s) removed.")
    emit(Result("import undo", data, meta={"dry_run": False}))
