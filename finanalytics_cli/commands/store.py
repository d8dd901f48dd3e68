"""`init`, `paths`, `status`: where the store lives, how it is created, what it holds."""

from __future__ import annotations

import typer

from finanalytics_cli.commands._common import (
    interactive_passphrase,
    open_store,
    paths,
    store_wait,
    waiting_for_store,
)
from finanalytics_cli.output import Result, emit, message


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("paths")(show_paths)
    app.command("status")(status)


def init() -> None:
    """Create the encrypted store for this profile (does nothing if it exists).

    Example: finanalytics --profile household init
    """
    from finanalytics_cli.engine.store import Store
    from finanalytics_cli.privacy.keys import KeyFile

    p = paths()
    wait = store_wait()
    if p.db_path.exists() or p.key_path.exists():  # a key without its database is refused, never replaced
        store = Store.open(p, passphrase_provider=interactive_passphrase, wait=wait, on_wait=waiting_for_store)
    else:
        store = Store.create(p, passphrase_provider=interactive_passphrase, wait=wait)
    with store:
        created = store.created
        info = {"created": created, **store.encryption_info(), **store.schema_info()}
    info.pop("migrations", None)
    status = KeyFile(p.key_path).status()
    data = {
        "profile": p.profile,
        "db_path": str(p.db_path),
        **info,
        "protected_by": status["protected_by"],
        "key_path": str(p.key_path),
    }
    message("Created a new encrypted store." if created else "The store already exists; nothing to do.")
    emit(Result("init", data))


def show_paths() -> None:
    """Print where this profile's store, key, config and cache live.

    Example: finanalytics --profile work paths
    """
    p = paths()
    data = p.as_dict()
    data["store_exists"] = p.db_path.exists()
    emit(Result("paths", data))


def status() -> None:
    """What the store holds: accounts, dates, transactions, models serving, privacy budget, last import.

    Example: finanalytics status
    """
    from finanalytics_cli.engine.ledger import list_accounts
    from finanalytics_cli.engine.models.registry import MODEL_TYPES, serving
    from finanalytics_cli.privacy.dp import budget_status

    with open_store(readonly=True) as store:
        con = store.con
        count, first, last = con.execute(
            "SELECT count(*), min(posted_date), max(posted_date) FROM transactions"
        ).fetchone()
        uncategorised = con.execute("SELECT count(*) FROM transactions WHERE category IS NULL").fetchone()[0]
        imported = con.execute(
            "SELECT source_name, created_at, rows_added FROM imports WHERE status <> 'running' "
            "ORDER BY import_id DESC LIMIT 1"
        ).fetchone()
        models = []
        for model_type in MODEL_TYPES:
            route = serving(con, model_type)
            if route.production is not None:
                version = con.execute(
                    "SELECT version, algorithm FROM ml_models WHERE model_id = ?", [route.production]
                ).fetchone()
                models.append(
                    {
                        "model_type": model_type,
                        "model_id": route.production,
                        "version": version[0],
                        "algorithm": version[1],
                    }
                )
        budget = budget_status(con)
        goals = con.execute("SELECT count(*) FROM goals").fetchone()[0]
        accounts = [
            {k: a[k] for k in ("name", "type", "currency", "transactions", "balance")} for a in list_accounts(con)
        ]
        info = {**store.encryption_info(), **store.schema_info()}
    data = {
        "profile": paths().profile,
        "encrypted": info["encrypted"],
        "schema_version": info["schema_version"],
        "transactions": count,
        "uncategorised": uncategorised,
        "from": first,
        "to": last,
        "accounts": accounts,
        "models_serving": models,
        "privacy_budget": {k: budget[k] for k in ("total_epsilon", "per", "epsilon_spent", "epsilon_remaining")},
        "goals": goals,
        "last_import": {"file": imported[0], "at": imported[1], "added": imported[2]} if imported else None,
    }
    emit(Result("status", data, title="Status", rows_key="accounts"))
