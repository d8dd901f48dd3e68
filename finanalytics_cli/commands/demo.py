"""`demo`: the main job end to end on the bundled sample household."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import typer

from finanalytics_cli.output import Result, emit, message, status


@contextlib.contextmanager
def tour_steps() -> Iterator[Callable[[str, str], None]]:
    """The tour as it goes, on stderr: a spinner naming the step running (a terminal; else
    one line), then a line with what it found."""
    stop: list[Callable[[], None]] = []

    def on_step(kind: str, text: str) -> None:
        while stop:
            stop.pop()()
        if kind == "start":
            stop.append(status(text))
        else:
            message(f"  {text}.")

    try:
        yield on_step
    finally:
        while stop:
            stop.pop()()


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    keep: bool = typer.Option(False, "--keep", help="Keep the store (only with --profile)."),
) -> None:
    """Import a sample household's three years of bank exports and take a tour.

    Runs in a fresh, temporary encrypted store with a throw-away key (no passphrase,
    no keyring), or in a new --profile NAME, kept with --keep.

    Example: finanalytics demo
    """
    import secrets
    import shutil
    import tempfile
    from pathlib import Path

    from finanalytics_cli.commands._common import interactive_passphrase, settings
    from finanalytics_cli.engine.demo import run_demo
    from finanalytics_cli.engine.errors import InvalidInput
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    s = settings()
    if keep and not s.profile:
        raise InvalidInput("--keep needs --profile NAME (the temporary store is always removed)")
    tmpdir = Path(tempfile.mkdtemp(prefix="finanalytics-demo-"))
    try:
        if s.profile:
            p = resolve_paths(s.profile, s.db)
            if p.db_path.exists() or p.key_path.exists():
                raise InvalidInput(
                    f"profile {p.profile!r} already has a store (or its key file); demo needs a fresh profile"
                )
            provider = interactive_passphrase
        else:
            p = resolve_paths("demo", tmpdir / "store" / "demo.duckdb")
            throwaway = secrets.token_urlsafe(24)  # the key dies with the temporary store

            def provider(prompt: str, confirm: bool) -> str:
                return throwaway

        store = Store.create(p, passphrase_provider=provider)
        if not store.created:  # another process made this profile's store meanwhile: not ours to remove
            store.close()
            raise InvalidInput(f"profile {p.profile!r} already has a store; demo needs a fresh profile")
        try:
            with store, tour_steps() as on_step:
                tour = run_demo(store, tmpdir / "sample", on_step)
        except BaseException:
            # Only the files this demo created are removed.
            if s.profile and not keep:
                for f in (p.db_path, p.key_path, p.db_path.with_name(p.db_path.name + ".lock")):
                    f.unlink(missing_ok=True)
            raise
        if s.profile and not keep:
            for f in (p.db_path, p.key_path, p.db_path.with_name(p.db_path.name + ".lock")):
                f.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    message(
        f"Imported {tour.checks['transactions_imported']} transactions from 4 exports "
        f"({tour.checks['period']}) in {tour.seconds['import']} s; "
        f"{tour.checks['transfer_pairs_matched']} transfers between own accounts matched."
    )
    emit(
        Result(
            "demo",
            tour,
            meta={"store": "kept" if keep else "removed", "data": "sample household", "seconds": tour.seconds},
            title="Demo: a sample household",
            rows_key="spending_last_3_months",
        )
    )
