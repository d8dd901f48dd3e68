"""`demo`: the main job end to end on bundled data, in a throw-away store."""

from __future__ import annotations

import typer

from finanalytics_cli.output import Result, emit, message


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    keep: bool = typer.Option(False, "--keep", help="Keep the store (only with --profile)."),
) -> None:
    """Run finanalytics on a built-in household in a fresh, temporary encrypted store.

    Example: finanalytics demo
    """
    import secrets
    import shutil
    import tempfile
    from pathlib import Path

    from finanalytics_cli.commands._common import interactive_passphrase, settings
    from finanalytics_cli.engine.demo import load_builtin
    from finanalytics_cli.engine.errors import InvalidInput
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.spending import spending_by_category
    from finanalytics_cli.engine.store import Store

    s = settings()
    if keep and not s.profile:
        raise InvalidInput("--keep needs --profile NAME (the temporary store is always removed)")
    tmpdir: str | None = None
    if s.profile:
        p = resolve_paths(s.profile, s.db)
        if p.db_path.exists():
            raise InvalidInput(f"profile {p.profile!r} already has a store; demo needs a fresh profile")
        provider = interactive_passphrase
    else:
        tmpdir = tempfile.mkdtemp(prefix="finanalytics-demo-")
        p = resolve_paths("demo", Path(tmpdir) / "demo.duckdb")
        # A throw-away store: a random passphrase that dies with it.
        throwaway = secrets.token_urlsafe(24)
        provider = lambda prompt, confirm: throwaway  # noqa: E731
    try:
        with Store.create(p, passphrase_provider=provider) as store:
            n = load_builtin(store.con)
            message(f"Imported {n} built-in transactions into an encrypted store at {p.db_path}.")
            summary = spending_by_category(store.con, "month")
    finally:
        if tmpdir and not keep:
            shutil.rmtree(tmpdir, ignore_errors=True)
        elif s.profile and not keep:
            for f in (p.db_path, p.key_path, p.db_path.with_name(p.db_path.name + ".lock")):
                f.unlink(missing_ok=True)
    rows = [
        {"month": r.period[:7], "category": r.category, "spent": r.total, "transactions": r.count} for r in summary.rows
    ]
    data = {
        "transactions": n,
        "income": summary.income,
        "spending": summary.spending,
        "transfers_excluded": summary.transfers_excluded,
        "spending_by_month": rows,
    }
    emit(
        Result(
            "demo",
            data,
            meta={"store": "kept" if keep else "removed", "data": "built-in"},
            title="Demo household",
            rows_key="spending_by_month",
        )
    )
