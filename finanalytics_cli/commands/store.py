"""`init`, `paths`: where the store lives and how it is created."""

from __future__ import annotations

import typer

from finanalytics_cli.commands._common import interactive_passphrase, paths
from finanalytics_cli.output import Result, emit, message


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("paths")(show_paths)


def init() -> None:
    """Create the encrypted store for this profile (does nothing if it exists).

    Example: finanalytics --profile household init
    """
    from finanalytics_cli.engine.store import Store
    from finanalytics_cli.privacy.keys import KeyFile

    p = paths()
    created = not p.db_path.exists()
    opener = Store.create if created else Store.open
    with opener(p, passphrase_provider=interactive_passphrase) as store:
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
