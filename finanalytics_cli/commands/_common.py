"""What every command needs: the global settings, paths and an open store."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from finanalytics_cli.engine.errors import KeyUnavailable
from finanalytics_cli.output import Settings, current_settings

if TYPE_CHECKING:
    from finanalytics_cli.engine.paths import Paths
    from finanalytics_cli.engine.store import Store


def interactive_passphrase(prompt: str, confirm: bool) -> str | None:
    """Ask on the terminal; None when there is no terminal to ask (never hangs)."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    import getpass

    first = getpass.getpass(f"{prompt}: ", stream=sys.stderr)
    if confirm:
        second = getpass.getpass("Repeat it: ", stream=sys.stderr)
        if first != second:
            raise KeyUnavailable("the two passphrases differ")
    return first or None


def on_terminal() -> bool:
    """Whether a person can be asked: standard input and error are a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def go_ahead(what: str, yes: bool, command: str) -> None:
    """A destructive step (``what``: "delete 1,188 transactions before 2025-01-01") goes
    ahead with --yes, or when the person at the terminal answers yes; elsewhere (a script,
    cron, a pipe) it is refused and nothing changes."""
    from finanalytics_cli.engine.errors import InvalidInput

    if yes:
        return
    if on_terminal():
        import typer

        if typer.confirm(f"{command} will {what}. Go ahead?", default=False, err=True):
            return
        raise InvalidInput(f"{command}: not confirmed; nothing was changed")
    raise InvalidInput(f"{command} would {what}; nothing was changed: add --yes (or --dry-run to see it first)")


MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)


def parse_date(value: str | None, option: str) -> dt.date | None:
    """A YYYY-MM-DD option value (usage error, exit 2, when it is not a date)."""
    import typer

    if value is None:
        return None
    try:
        date = dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value[:40]!r} is not a date (use YYYY-MM-DD)", param_hint=option) from None
    if not MIN_DATE <= date <= MAX_DATE:  # year 1 or 9999: date arithmetic would overflow
        raise typer.BadParameter(f"{value!r} is outside {MIN_DATE.year}-{MAX_DATE.year}", param_hint=option)
    return date


def parse_period(date_from: str | None, date_to: str | None) -> tuple[dt.date | None, dt.date | None]:
    """--from and --to; --from after --to is a usage error, not an empty answer."""
    import typer

    start, end = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    if start and end and start > end:
        raise typer.BadParameter(f"--from {start} is after --to {end}", param_hint="--from")
    return start, end


def settings() -> Settings:
    return current_settings()


def paths() -> Paths:
    from finanalytics_cli.engine.paths import resolve_paths

    s = settings()
    return resolve_paths(s.profile, s.db)


def open_store(*, readonly: bool = False, create: bool = False) -> Store:
    """Open the profile's store with the global --wait, prompting only on a terminal.

    ``create``: make the store first if this profile has none (commands that write data).
    """
    from finanalytics_cli.engine.store import Store
    from finanalytics_cli.output import message

    p = paths()
    wait = store_wait()
    if create and not p.db_path.exists() and not p.key_path.exists():
        store = Store.create(p, passphrase_provider=interactive_passphrase, wait=wait)
        if store.created:  # (not when another process made it while this one waited)
            message(f"Created a new encrypted store at {p.db_path}.")
    else:
        store = Store.open(
            p, readonly=readonly, wait=wait, passphrase_provider=interactive_passphrase, on_wait=waiting_for_store
        )
    store.audit_action = f"command:{command_path()}"
    return store


# At a terminal a command waits this long for another one using the store (and says so);
# scripts and cron jobs get STORE_LOCKED at once unless they pass --wait.
TERMINAL_WAIT_S = 600.0


def store_wait() -> float:
    """Seconds to wait for a store another process holds: --wait, else a long wait at a
    terminal (a person sees it waiting and can press Ctrl-C), else none."""
    given = settings().wait
    if given is not None:
        return given
    return TERMINAL_WAIT_S if on_terminal() else 0.0


def waiting_for_store() -> Callable[[], None]:
    """Say the command waits for the store: a spinner on a terminal, one line otherwise."""
    from finanalytics_cli.output import status

    return status("Waiting for the store: another finanalytics command is using it (Ctrl-C to stop)")


def command_path() -> str:
    """The running command without the program name, e.g. "goals add" (for the audit log)."""
    from typer._click.globals import get_current_context

    ctx = get_current_context(silent=True)
    if ctx is None:
        return "unknown"
    return " ".join(ctx.command_path.split()[1:]) or ctx.command_path


def learn_after(store: Store, recategorise: bool = True) -> dict[str, object] | None:
    """The end of `import`, `tx label` and `categorize`: retrain the category classifier
    when your labels changed enough (engine/autolearn.py) and say what happened. What the
    command itself did has been committed: a failure here is reported, never the command's."""
    from finanalytics_cli.engine.autolearn import maybe_retrain
    from finanalytics_cli.engine.errors import AnalyticsError
    from finanalytics_cli.output import message, warn

    try:
        out = maybe_retrain(store, recategorise=recategorise)
    except AnalyticsError as exc:
        warn(f"the category model was not retrained ({exc.code}: {exc})")
        return {"error": f"{exc.code}: {exc}"}
    if out is None:
        return None
    if out.get("deployed"):
        message(
            f"Learned from your {out['labels']} labels: a new category model serves "
            f"({out['gate']})"
            + (f"; {out['recategorised']} transactions categorized again." if "recategorised" in out else ".")
        )
    elif out.get("trained"):
        message(f"Retrained on your {out['labels']} labels, not deployed: the model is {out['gate']}.")
    return out
