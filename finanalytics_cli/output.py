"""The one module that renders results and errors: table | json | csv | md.

Data goes to stdout; messages, warnings and progress go to stderr. JSON output is
the envelope ``{"schema_version", "command", "data", "meta"}`` (errors:
``{"schema_version", "command", "error"}``), pinned by a contract test.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import dataclasses
import datetime as dt
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

SCHEMA_VERSION = 1
FORMATS = ("table", "json", "csv", "md")


@dataclass(frozen=True)
class Settings:
    """Global options, set once by the root callback."""

    format: str | None = None  # None: table on a terminal, json otherwise
    quiet: bool = False
    color: bool = True
    profile: str | None = None
    db: str | None = None
    wait: float = 0.0

    def resolved_format(self) -> str:
        if self.format:
            return self.format
        return "table" if _isatty(sys.stdout) else "json"


@dataclass(frozen=True)
class Result:
    """What a command hands to :func:`emit`.

    ``data`` is JSON-able (dicts, lists, scalars, dates, Decimals, dataclasses).
    ``columns`` orders (and labels) the columns of a list-of-rows result;
    ``rows_key`` names the list inside a dict that csv output should print.
    """

    command: str
    data: Any
    meta: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    columns: Sequence[str] | None = None
    rows_key: str | None = None
    # Bars drawn under the tables in table format: (title, [(label, value)]).
    chart: tuple[str, list[tuple[str, float]]] | None = None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


_SETTINGS: contextvars.ContextVar[Settings] = contextvars.ContextVar("finanalytics_settings")


def set_settings(settings: Settings) -> Settings:
    """Record the global options of this invocation (done once, by the root callback)."""
    _SETTINGS.set(settings)
    return settings


def current_settings() -> Settings:
    return _SETTINGS.get(Settings())


# -- conversion -----------------------------------------------------------------------
def to_jsonable(value: Any) -> Any:
    """Dates as ISO strings, money as numbers, dataclasses as dicts."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "to_dicts"):  # a polars frame
        return [to_jsonable(r) for r in value.to_dicts()]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(r, Mapping) for r in value)


def _sections(result: Result) -> list[tuple[str | None, Any, Sequence[str] | None]]:
    """Split data into (title, rows-or-mapping, columns) sections for table and md output."""
    data = to_jsonable_keep(result.data)
    if isinstance(data, list):
        return [(result.title, data, result.columns)]
    if not isinstance(data, Mapping):
        return [(result.title, [{"value": data}], None)]
    scalars = {k: v for k, v in data.items() if not _is_rows(v) and not isinstance(v, Mapping)}
    sections: list[tuple[str | None, Any, Sequence[str] | None]] = []
    if scalars:
        sections.append((result.title, scalars, None))
    for k, v in data.items():
        if _is_rows(v) or isinstance(v, Mapping):
            cols = result.columns if k == result.rows_key else None
            sections.append((k.replace("_", " "), v, cols))
    return sections


def to_jsonable_keep(value: Any) -> Any:
    """Like to_jsonable but keeps Decimals and dates for human formatting."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable_keep(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable_keep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable_keep(v) for v in value]
    if hasattr(value, "to_dicts"):
        return value.to_dicts()
    return value


def _columns(rows: list[Mapping[str, Any]], preferred: Sequence[str] | None) -> list[str]:
    if preferred:
        return list(preferred)
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    return cols


# -- renderers ------------------------------------------------------------------------
def render_json(result: Result) -> str:
    envelope = {
        "schema_version": SCHEMA_VERSION,
        "command": result.command,
        "data": to_jsonable(result.data),
        "meta": to_jsonable(result.meta),
    }
    return json.dumps(envelope, indent=2, ensure_ascii=False)


def render_csv(result: Result) -> str:
    data = to_jsonable_keep(result.data)
    if isinstance(data, Mapping) and result.rows_key:
        data = data.get(result.rows_key, [])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if isinstance(data, list):
        rows = [r if isinstance(r, Mapping) else {"value": r} for r in data]
        cols = _columns(rows, result.columns)
        writer.writerow(cols)
        for r in rows:
            writer.writerow([_csv_cell(r.get(c)) for c in cols])
    elif isinstance(data, Mapping):
        writer.writerow(["key", "value"])
        for k, v in _flatten(data):
            writer.writerow([k, _csv_cell(v)])
    else:
        writer.writerow(["value"])
        writer.writerow([_csv_cell(data)])
    return buf.getvalue().rstrip("\n")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value)  # plain, no thousands separators: machine-readable
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(to_jsonable(value), ensure_ascii=False)
    return str(value)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            yield from _flatten(v, key + ".")
        else:
            yield key, v


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_md(result: Result) -> str:
    parts: list[str] = []
    for title, body, preferred in _sections(result):
        if title:
            parts.append(f"### {title}\n")
        if isinstance(body, Mapping):
            rows = [{"key": k, "value": v} for k, v in body.items()]
            cols = ["key", "value"]
        else:
            rows = [r if isinstance(r, Mapping) else {"value": r} for r in body]
            cols = _columns(rows, preferred)
        if not rows:
            parts.append("_(none)_\n")
            continue
        parts.append("| " + " | ".join(_md_escape(c) for c in cols) + " |")
        parts.append("|" + "|".join("---" for _ in cols) + "|")
        for r in rows:
            parts.append("| " + " | ".join(_md_escape(_cell(r.get(c))) for c in cols) + " |")
        parts.append("")
    return "\n".join(parts).rstrip("\n")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    settings = current_settings()
    no_color = not settings.color or bool(os.environ.get("NO_COLOR"))
    stream = sys.stderr if stderr else sys.stdout
    # Piped tables (`| less`, cron mail) are not squeezed into 80 columns.
    width = None if _isatty(stream) else max(160, int(os.environ.get("COLUMNS", "0") or 0))
    return Console(stderr=stderr, no_color=no_color, highlight=False, soft_wrap=False, width=width)


def render_table(result: Result) -> None:
    from rich.table import Table

    console = _console()
    sections = _sections(result)
    if not sections or all(not body for _, body, _ in sections):
        console.print("(nothing to show)")
        return
    for title, body, preferred in sections:
        if isinstance(body, Mapping):
            table = Table(title=title, show_header=False, title_justify="left")
            table.add_column("key", style="bold")
            table.add_column("value", overflow="fold")
            for k, v in body.items():
                table.add_row(str(k).replace("_", " "), _cell(v))
        else:
            rows = [r if isinstance(r, Mapping) else {"value": r} for r in body]
            cols = _columns(rows, preferred)
            table = Table(title=title, title_justify="left")
            for c in cols:
                numeric = any(
                    isinstance(r.get(c), (int, float, Decimal)) and not isinstance(r.get(c), bool) for r in rows
                )
                table.add_column(c.replace("_", " "), justify="right" if numeric else "left")
            for r in rows:
                table.add_row(*(_cell(r.get(c)) for c in cols))
        console.print(table)


def render_chart(title: str, items: list[tuple[str, float]], width: int = 40) -> None:
    """Horizontal bars in the terminal."""
    from rich.table import Table

    console = _console()
    top = max((abs(v) for _, v in items), default=0) or 1
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    table.add_column("label", style="bold")
    table.add_column("bar")
    table.add_column("value", justify="right")
    for label, value in items:
        n = int(round(abs(value) / top * width))
        table.add_row(label, ("█" * n) or "▏", f"{value:,.2f}")
    console.print(table)


def emit(result: Result) -> None:
    """Render a result to stdout in the chosen format."""
    fmt = current_settings().resolved_format()
    if fmt == "json":
        _write_stdout(render_json(result))
    elif fmt == "csv":
        _write_stdout(render_csv(result))
    elif fmt == "md":
        _write_stdout(render_md(result))
    else:
        render_table(result)
        if result.chart:
            render_chart(*result.chart)


def _write_stdout(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def message(text: str, *, style: str | None = None) -> None:
    """A message for people, on stderr (silenced by --quiet)."""
    if current_settings().quiet:
        return
    _console(stderr=True).print(text, style=style, markup=False)


def warn(text: str) -> None:
    """A warning on stderr (shown even with --quiet)."""
    _console(stderr=True).print(f"warning: {text}", style="yellow", markup=False)


def render_error(command: str, payload: Mapping[str, Any], fmt: str | None) -> None:
    """Print an error: always one line on stderr (for people and cron mail), and with
    --format json also a JSON object on stdout (for the program reading it)."""
    if fmt == "json":
        _write_stdout(
            json.dumps(
                {"schema_version": SCHEMA_VERSION, "command": command, "error": to_jsonable(payload)},
                indent=2,
                ensure_ascii=False,
            )
        )
    text = f"error: {payload['message']}"
    if payload.get("code"):
        text += f" [{payload['code']}]"
    sys.stderr.write(text.replace("\n", " ") + "\n")
    sys.stderr.flush()


@contextlib.contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal; a no-op otherwise."""
    settings = current_settings()
    if settings.quiet or not _isatty(sys.stderr):
        yield lambda advance: None
        return
    from rich.progress import Progress

    with Progress(console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda advance: bar.advance(task, advance)
