"""The Typer root app: global options, command groups, and the one error boundary."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from finanalytics_cli import __version__, helptext
from finanalytics_cli.output import FORMATS, Settings, set_settings

# Global options may be written anywhere on the command line (`finanalytics tx list
# --json`); they are moved before the sub-command so the root callback sees them.
_GLOBAL_VALUED = ("--format", "--profile", "--db", "--wait")
_GLOBAL_FLAGS = ("--json", "--quiet", "--no-color", "--wide")
# `--format` is the output format everywhere. The input format of `import` is
# `--input-format`, the files' format of `data export` is `--file-format`, the form of
# `report weekly` is `--as`. Values that only made sense in their old meaning are usage
# errors that name the new option, never silently taken as something else.
_MOVED_FORMAT_VALUES = {
    ("import",): (("auto", "ofx", "qfx"), "--input-format"),
    ("data", "export"): (("parquet",), "--file-format"),
    ("report", "weekly"): (("html",), "--as"),
}


class MovedOption(Exception):
    """A `--format VALUE` written where the value now belongs to another option."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _moved_format(words: list[str], value: str | None, args: list[str]) -> str | None:
    """Why ``--format value`` after these command words is refused (None: it is the output format)."""
    for path, (values, option) in _MOVED_FORMAT_VALUES.items():
        if tuple(words[: len(path)]) != path:
            continue
        if value in values:
            return f"--format {value}: --format is the output format; the {_WHAT[option]} is {option} {value}"
        if path == ("data", "export") and value in ("csv", "json") and "--file-format" not in args:
            # It meant the files' format until this release: say which one is meant.
            return (
                f"--format {value} after `data export` is ambiguous: write --file-format {value} for the "
                f"files, or --format {value} before `data export` for the command's output"
            )
    return None


_WHAT = {"--input-format": "input's format", "--file-format": "files' format", "--as": "report's form"}


def hoist_global_options(args: list[str], strict: bool = True) -> list[str]:
    """Move global options that follow a sub-command to the front of ``args``.

    ``strict``: raise :class:`MovedOption` for a `--format` value that belongs to another
    option now (`import --format ofx`); otherwise leave it where it is.
    """
    front: list[str] = []
    rest: list[str] = []
    words: list[str] = []  # the command words seen so far, e.g. ["data", "export"]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name, eq, inline = arg.partition("=")
        if name in _GLOBAL_VALUED:
            value = inline if eq else (args[i + 1] if i + 1 < len(args) else None)
            taken = 1 if eq else 2
            why = _moved_format(words, value, args) if name == "--format" and words else None
            if why and strict:
                raise MovedOption(why)
            (rest if why else front).extend(args[i : i + taken])
            i += taken
            continue
        if arg in _GLOBAL_FLAGS:
            front.append(arg)
        else:
            if not arg.startswith("-") and len(words) < 2 and (not rest or not rest[-1].startswith("-")):
                words.append(arg)
            rest.append(arg)
        i += 1
    return front + rest


def _format_from_args(args: list[str]) -> str | None:
    if "--json" in args:
        return "json"
    for i, a in enumerate(args):
        if a == "--format" and i + 1 < len(args) and args[i + 1] in FORMATS:
            return args[i + 1]
        if a.startswith("--format=") and a.split("=", 1)[1] in FORMATS:
            return a.split("=", 1)[1]
    return None


class RootGroup(TyperGroup):
    """Hoists global options and turns every error into a message and an exit code."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        from typer._click.exceptions import UsageError

        ctx.meta["finanalytics.raw_args"] = list(args)
        try:
            try:
                hoisted = hoist_global_options(args)
            except MovedOption as moved:
                raise UsageError(moved.text, ctx=ctx) from None
            return super().parse_args(ctx, hoisted)
        except UsageError as err:
            _usage_envelope(ctx, list(args), err)
            _usage_line(ctx, list(args), err)

    def invoke(self, ctx: typer.Context) -> Any:
        from typer._click.exceptions import UsageError

        from finanalytics_cli.engine.errors import AnalyticsError
        from finanalytics_cli.exit_codes import INTERRUPTED, UNEXPECTED, exit_code_for
        from finanalytics_cli.output import render_error

        raw = ctx.meta.get("finanalytics.raw_args", [])
        _guard_numbers(self)
        try:
            return super().invoke(ctx)
        except AnalyticsError as err:
            if os.environ.get("FINANALYTICS_DEBUG") == "1":
                raise
            render_error(_command_name(ctx, raw), err.to_dict(), _error_format(ctx, raw))
            ctx.exit(exit_code_for(err.code))
        except UsageError as err:  # a sub-command's arguments: one line, exit 2
            _usage_envelope(ctx, raw, err)
            _usage_line(ctx, raw, err)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            ctx.exit(INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the one boundary that hides tracebacks
            if os.environ.get("FINANALYTICS_DEBUG") == "1":
                raise
            from finanalytics_cli.engine.store import translate_db_error

            if "INTERRUPT" in str(exc).upper():
                # Ctrl-C inside DuckDB or polars surfaces as their own error ("Query
                # interrupted", a RuntimeError): the work is rolled back; it is not a bug.
                sys.stderr.write("interrupted\n")
                ctx.exit(INTERRUPTED)
            known = translate_db_error(exc) or _translate_os_error(exc)
            if isinstance(known, AnalyticsError):
                render_error(_command_name(ctx, raw), known.to_dict(), _error_format(ctx, raw))
                ctx.exit(exit_code_for(known.code))
            payload = {
                "code": "UNEXPECTED",
                "message": f"unexpected {type(exc).__name__} (a bug; rerun with "
                "FINANALYTICS_DEBUG=1 for the traceback and report it)",
                "details": {},
                "retryable": False,
                "fallback_strategy": None,
            }
            render_error(_command_name(ctx, raw), payload, _error_format(ctx, raw))
            ctx.exit(UNEXPECTED)


# Every number this tool takes is an amount, an epsilon, a share, a count or an id: none
# is meaningfully beyond these, and beyond them DuckDB, Decimal and OpenDP overflow.
MAX_ABS_FLOAT = 1e12
MAX_ABS_INT = 2**62


def _guard_numbers(group: Any) -> None:
    """Wrap every leaf command's callback (once) so that a float option that is not
    finite or is beyond MAX_ABS_FLOAT, or an int beyond MAX_ABS_INT, is INVALID_INPUT
    naming the option, for every command, present and future."""
    import functools
    import math

    from finanalytics_cli.engine.errors import InvalidInput

    for cmd in getattr(group, "commands", {}).values():
        if getattr(cmd, "commands", None) is not None:
            _guard_numbers(cmd)
            continue
        if getattr(cmd, "_finanalytics_guarded", False) or cmd.callback is None:
            continue
        names = {
            p.name: (
                p.opts[0]
                if getattr(p, "opts", None) and p.param_type_name == "option"
                else (getattr(p, "metavar", None) or p.name)
            )
            for p in cmd.params
        }

        def check(name: str, value: Any, names: dict[str, str] = names) -> None:
            bad = (isinstance(value, float) and (not math.isfinite(value) or abs(value) > MAX_ABS_FLOAT)) or (
                isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ABS_INT
            )
            if bad:
                raise InvalidInput(f"{names.get(name, name)} {value!r} is out of range")

        def guarded(*args: Any, _callback: Any = cmd.callback, _check: Any = check, **kwargs: Any) -> Any:
            for name, value in kwargs.items():
                for v in value if isinstance(value, list | tuple) else (value,):
                    _check(name, v)
            return _callback(*args, **kwargs)

        cmd.callback = functools.wraps(cmd.callback)(guarded)
        cmd._finanalytics_guarded = True


def _translate_os_error(exc: BaseException) -> Exception | None:
    """An OS error on a path the user gave (a directory for a file, no permission): a
    clear INVALID_INPUT; a full or read-only disk: STORE_UNWRITABLE."""
    import errno

    from finanalytics_cli.engine.errors import InvalidInput, StoreUnwritable

    if not isinstance(exc, OSError):
        return None
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG):
        return StoreUnwritable(f"cannot write: {exc.strerror} (nothing was written; free some space and retry)")
    if exc.filename is not None and exc.strerror:
        return InvalidInput(f"{exc.filename}: {exc.strerror}")
    return None


def _usage_message(err: Any) -> str:
    # Typer words a bad choice as a validation error ("Value error, 'x' is not one of ...").
    return " ".join(err.format_message().replace("Value error, ", "").split())


def _usage_line(ctx: typer.Context, raw: list[str], err: Any) -> None:
    """A usage error as one line on stderr, with where to look, and exit 2 (an empty group
    still shows its help, as Typer does)."""
    from finanalytics_cli.exit_codes import USAGE

    if type(err).__name__ == "NoArgsIsHelpError":
        raise err
    where = " ".join(["finanalytics", _command_name(ctx.find_root(), raw)]).strip()
    sys.stderr.write(f"error: {_usage_message(err)} (see `{where} --help`) [USAGE]\n")
    ctx.exit(USAGE)


def _usage_envelope(ctx: typer.Context, raw: list[str], err: Any) -> None:
    """A usage error (exit 2) also as the JSON error envelope on stdout, when JSON is
    what the caller reads (--json, --format json, or stdout not a terminal)."""
    import json

    from finanalytics_cli.output import _write_stdout, to_jsonable

    fmt = _format_from_args(raw) or (None if sys.stdout.isatty() else "json")
    if fmt != "json" or any(a in ("-h", "--help") for a in raw):
        return
    payload = {
        "code": "USAGE",
        "message": _usage_message(err),
        "details": {},
        "retryable": False,
        "fallback_strategy": None,
    }
    from finanalytics_cli.output import SCHEMA_VERSION

    command = _command_name(ctx.find_root(), raw)
    _write_stdout(
        json.dumps({"schema_version": SCHEMA_VERSION, "command": command, "error": to_jsonable(payload)}, indent=2)
    )


def _command_name(ctx: typer.Context, raw: list[str]) -> str:
    words: list[str] = []
    group: Any = ctx.command
    for arg in hoist_global_options(raw, strict=False):
        if arg.startswith("-"):
            if words:
                break
            continue
        commands = getattr(group, "commands", None)
        if isinstance(commands, dict) and arg in commands:
            words.append(arg)
            group = commands[arg]
        elif words:
            break
    return " ".join(words)


def _error_format(ctx: typer.Context, raw: list[str]) -> str | None:
    obj = ctx.obj
    if isinstance(obj, Settings):
        return obj.resolved_format()
    fmt = _format_from_args(raw)
    if fmt:
        return fmt
    return None if sys.stdout.isatty() else "json"


helptext.install()

app = typer.Typer(
    cls=RootGroup,
    name="finanalytics",
    help="Local-first personal financial analytics: import bank exports into an encrypted "
    "store on this machine, then analyze spending, budgets, risk, goals and forecasts.",
    no_args_is_help=True,
    add_completion=True,
    # Rich tracebacks print local variables, which may hold keys: never.
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"finanalytics {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    output_format: str = typer.Option(
        None,
        "--format",
        help="Output format: table (default on a terminal), json (default when piped), csv or md.",
        metavar="[table|json|csv|md]",
    ),
    json_flag: bool = typer.Option(False, "--json", help="Same as --format json."),
    quiet: bool = typer.Option(False, "--quiet", help="No messages on stderr, only results and errors."),
    no_color: bool = typer.Option(False, "--no-color", help="No color (also: NO_COLOR=1)."),
    wide: bool = typer.Option(False, "--wide", help="Tables show every column, however wide the terminal."),
    profile: str = typer.Option(
        None,
        "--profile",
        help="Use a separate store for this profile (default: 'default').",
        envvar="FINANALYTICS_PROFILE",
    ),
    db: str = typer.Option(None, "--db", help="Use the database file at this path instead of the profile's."),
    wait: float = typer.Option(
        None,
        "--wait",
        help="Seconds to wait for a store another process is using (default: 600 at a terminal, else 0).",
        min=0,
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Global options, valid before or after the command."""
    if output_format is not None and output_format not in FORMATS:
        raise typer.BadParameter(f"{output_format!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    ctx.obj = set_settings(
        Settings(
            format="json" if json_flag else output_format,
            quiet=quiet,
            color=not no_color,
            wide=wide,
            profile=profile,
            db=db,
            wait=wait,
        )
    )


def _register() -> None:
    from finanalytics_cli.commands import (
        accounts,
        analytics,
        categories,
        categorize,
        demo,
        federated,
        imports,
        key,
        models,
        planning,
        privacy,
        report,
        store,
    )

    store.register(app)
    demo.register(app)
    imports.register(app)
    accounts.register(app)
    categorize.register(app)
    analytics.register(app)
    planning.register(app)
    privacy.register(app)
    app.add_typer(models.app, name="models")
    app.add_typer(key.app, name="key")
    app.add_typer(federated.app, name="federated")
    app.add_typer(report.app, name="report")
    app.add_typer(categories.app, name="categories")


_register()


class _NoPandasForDuckDB:
    """DuckDB's Python client imports pandas (0.3-0.5 s) before binding any query
    parameter, to recognize DataFrames; this tool never binds one. The import is refused
    when our own code's query triggers it; any other module (statsforecast, scikit-learn)
    still imports pandas as usual, and DuckDB works without it."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name != "pandas" or "pandas" in sys.modules:
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen")):
            frame = frame.f_back
        if frame is not None and frame.f_globals.get("__name__", "").startswith("finanalytics_cli."):
            raise ImportError("pandas is not needed to bind finanalytics' query parameters")
        return None


def main() -> None:
    """Console-script entry point."""
    # polars' allocator (jemalloc) gives freed pages back to the system after 0.2 s instead
    # of 10 s: a million-row import no longer carries the parsing's memory into its
    # categorisation (peak 1,216 MB -> 843 MB for about 0.2 s; 0 ms would be 807 MB for
    # 0.8 s). Set before polars loads; a setting of the user's own wins.
    os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:200,muzzy_decay_ms:0")
    if os.environ.get("FINANALYTICS_DUCKDB_PANDAS") != "1":
        sys.meta_path.insert(0, _NoPandasForDuckDB())
    app(prog_name="finanalytics")
