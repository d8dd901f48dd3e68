"""`key status | change-passphrase | rotate`."""

from __future__ import annotations

import typer

from finanalytics_cli.commands._common import interactive_passphrase, open_store, paths
from finanalytics_cli.output import Result, emit, message

app = typer.Typer(
    help="Inspect and change the key that unlocks the store.\n\nExample: finanalytics key status", no_args_is_help=True
)


@app.command("status")
def status() -> None:
    """Show how the store's key is protected (no secrets are shown).

    Example: finanalytics key status
    """
    from finanalytics_cli.privacy.keys import KeyFile

    with open_store(readonly=True) as store:
        info = store.encryption_info()
    data = {**KeyFile(paths().key_path).status(), **{"database_" + k: v for k, v in info.items()}}
    emit(Result("key status", data))


@app.command("change-passphrase")
def change_passphrase() -> None:
    """Protect the data key with a new passphrase (re-wraps it; data is not rewritten).

    The current passphrase comes from FINANALYTICS_PASSPHRASE or a prompt, the new one
    from FINANALYTICS_NEW_PASSPHRASE or a prompt.

    Example: finanalytics key change-passphrase
    """
    from finanalytics_cli.privacy.keys import KeyFile

    with open_store():  # holds the writer lock while the key file changes
        data = KeyFile(paths().key_path, interactive_passphrase).change_passphrase()
    message("The store is now protected by the new passphrase.")
    emit(Result("key change-passphrase", data))


@app.command("rotate")
def rotate() -> None:
    """Re-encrypt the whole database under a new random data key.

    Example: finanalytics key rotate
    """
    from finanalytics_cli.privacy.keys import KeyFile

    with open_store() as store:
        store.rotate_key()
        info = store.encryption_info()
    data = {**KeyFile(paths().key_path).status(), **{"database_" + k: v for k, v in info.items()}}
    message("The database was re-encrypted under a new data key.")
    emit(Result("key rotate", data))
