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
import re
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
    wait: float | None = None  # --wait; None: the command's default (a long wait at a terminal)
    wide: bool = False  # tables show every column, however wide

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
    chart: tuple[str, list[tuple[str, float]]] | list[tuple[str, list[tuple]]] | None = None
    # The keys of ``data`` the table shows (the summary); None: all. JSON, CSV and
    # Markdown always carry everything; the table says what it leaves out.
    table_keys: Sequence[str] | None = None
    # Where the rest is, in the note under a table that leaves keys out.
    more: str = "with --detail, or --format json"
    # Columns of row tables the table leaves to JSON (internal names: a forecast's method):
    # "column" in every section, or "section.column" in one.
    table_hide: Sequence[str] = ()
    # The rows of a section the table shows ({"categories": the top ones}); how many it
    # leaves out is said under it (JSON, CSV and Markdown carry all).
    table_rows: Mapping[str, list[Any]] = dataclasses.field(default_factory=dict)

    def charts(self) -> list[tuple[str, list[tuple]]]:
        """The charts to draw: one (title, items), or a list of them (one per currency)."""
        if not self.chart:
            return []
        return list(self.chart) if isinstance(self.chart, list) else [self.chart]


# JSON keys keep their names (scripts read them); what a person reads is US English.
_US = {
    "uncategorised": "uncategorized",
    "categorised": "categorized",
    "recategorised": "recategorized",
    "labelled": "labeled",
    "utilisation": "utilization",
    "behaviour": "behavior",
    "optimised": "optimized",
}


_WORDS = {"ece": "calibration error", "proportional_cut_baseline": "an even cut, for comparison"}


def _label(key: str) -> str:
    """A column or row label from its JSON key: words, in US spelling."""
    return _WORDS.get(key) or " ".join(_US.get(w, w) for w in key.split("_"))


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
            sections.append((_label(k), v, cols))
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
    # Piped tables (`| less`, cron mail) are not squeezed into 80 columns, unless COLUMNS says so.
    columns = os.environ.get("COLUMNS", "")
    width = None if _isatty(stream) else (int(columns) if columns.isdigit() and int(columns) >= 40 else 160)
    return Console(stderr=stderr, no_color=no_color, highlight=False, soft_wrap=False, width=width)


def render_table(result: Result, console: Any = None) -> None:
    from rich.table import Table

    console = console or _console()
    if result.command in _TABLE_RENDERERS:
        _TABLE_RENDERERS[result.command](result, console)
        return
    left_out: list[str] = []
    if result.table_keys is not None and isinstance(result.data, Mapping):
        keep = set(result.table_keys)
        # The note names the sections left out (single values the title or JSON carries are not listed).
        left_out = [
            k
            for k in result.data
            if k not in keep and isinstance(result.data[k], (list, tuple, Mapping)) and result.data[k]
        ]
        result = dataclasses.replace(result, data={k: v for k, v in result.data.items() if k in keep})
    sections = _sections(result)
    if not sections or all(not body for _, body, _ in sections):
        console.print("(nothing to show)")
        return
    if result.title and sections[0][0] != result.title:
        console.print(result.title, style="bold", highlight=False)  # no single values carry it
    keys = {_label(str(k)): str(k) for k in result.data} if isinstance(result.data, Mapping) else {}
    hide = set(result.table_hide)
    for title, body, preferred in sections:
        cut = ""
        key = keys.get(title or "", "")
        if isinstance(body, Mapping):
            table = Table(title=title, show_header=False, title_justify="left")
            table.add_column("key", style="bold")
            table.add_column("value", overflow="fold")
            for k, v in body.items():
                if f"{key}.{k}" not in hide:
                    table.add_row(_label(str(k)), _cell(v))
        else:
            rows = [r if isinstance(r, Mapping) else {"value": r} for r in body]
            if key in result.table_rows and len(result.table_rows[key]) < len(rows):
                picked = to_jsonable_keep(result.table_rows[key])
                cut = f"{len(picked)} of {len(rows)} {title} shown; the rest {result.more}."
                rows = [r if isinstance(r, Mapping) else {"value": r} for r in picked]
            cols = [c for c in _columns(rows, preferred) if c not in hide and f"{key}.{c}" not in hide]
            table = _rows_table(title, rows, cols, console.width, current_settings().wide)
        console.print(table)
        if cut:
            console.print(cut, style="dim")
    if left_out:
        names = ", ".join(_label(k) for k in left_out)
        console.print(f"More: {names} ({result.more}).", style="dim")


_DATE_TEXT = re.compile(r"\d{4}-\d{2}(-\d{2})?([T ][\d:.+-]+)?|\d{4}-(Q\d|W\d{2})")
_SAYS = {"text", "action", "fix", "message", "recommendation"}
_TEXT_MIN = 20  # words up to this long are not broken when a text column is squeezed


def _kind(values: list[Any]) -> str:
    """A column's kind: number, date, list (of names), text, or empty."""
    present = [v for v in values if v not in (None, "", [], {})]
    if not present:
        return "empty"
    if all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in present):
        return "number"
    if all(isinstance(v, (dt.date, dt.datetime)) or (isinstance(v, str) and _DATE_TEXT.fullmatch(v)) for v in present):
        return "date"
    if all(isinstance(v, (list, tuple, Mapping)) for v in present):
        return "list"
    return "text"


def _rows_table(title: str | None, rows: list[Mapping[str, Any]], cols: list[str], width: int, wide: bool) -> Any:
    """Rows as a table that fits ``width``: numbers and dates are never wrapped or cut
    (a column is as wide as its widest cell), text wraps; when even that does not fit,
    empty columns go first, then lists, then the rightmost text, number, short-code
    (currency) and date columns, money last (the first column and the first text column
    stay), and the caption names what is hidden. ``wide``: every column."""
    from rich.table import Table

    cells = {c: [_cell(r.get(c)) for r in rows] for c in cols}
    kinds = {c: _kind([r.get(c) for r in rows]) for c in cols}

    def need(c: str) -> int:
        header = max((len(w) for w in c.split("_")), default=1)
        longest = max((len(x) for x in cells[c]), default=0)
        if kinds[c] in ("number", "date"):
            return max(header, longest)
        word = max((len(w) for x in cells[c] for w in x.split()), default=0)  # text wraps between words
        return max(header, min(word, _TEXT_MIN))

    def code(c: str) -> bool:  # a currency, a flag: short, and worth its few columns
        return kinds[c] == "text" and max((len(x) for x in cells[c]), default=0) <= 4

    def rank(c: str) -> str:
        if kinds[c] == "number" and any(isinstance(r.get(c), Decimal) for r in rows):
            return "money"  # amounts and balances go last
        return "code" if code(c) else kinds[c]

    shown = list(cols)
    hidden: list[str] = []
    if not wide:
        ranks = ("empty", "list", "text", "number", "code", "date", "money")
        order = [c for k in ranks for c in reversed(shown) if rank(c) == k]
        # the first column and the first text column (a name, a payee) are what a row is
        kept = {shown[0], next((c for c in shown if kinds[c] == "text" and not code(c)), shown[0])}
        kept |= {c for c in shown if c in _SAYS}  # the sentence a row exists for
        candidates = [c for c in dict.fromkeys(order) if c not in kept]
        while candidates and sum(need(c) + 3 for c in shown) + 1 > width:
            drop = candidates.pop(0)
            shown.remove(drop)
            hidden.append(drop)
    # Every column's width is set here, so the table never squeezes a number: text
    # columns share what is left beyond their minimum, by how much more they would use.
    widths = {c: need(c) for c in shown}
    natural = {c: max([len(c), *(len(x) for x in cells[c])]) for c in shown}
    left = width - sum(widths[c] + 3 for c in shown) - 1
    wants = {c: natural[c] - widths[c] for c in shown if kinds[c] not in ("number", "date") and natural[c] > widths[c]}
    total_want = sum(wants.values())
    for c, want in wants.items():
        widths[c] += want if wide or total_want <= left else max(0, left * want // total_want)
    caption = None
    if hidden:
        names = ", ".join(_label(c) for c in cols if c in hidden)
        caption = f"not shown at this width: {names} (--wide, or --format json, shows them)"
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for c in shown:
        justify = "right" if kinds[c] == "number" else "left"
        table.add_column(_label(c), justify=justify, width=widths[c], overflow="fold")
    for i in range(len(rows)):
        table.add_row(*(cells[c][i] for c in shown))
    return table


def _totals(totals: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{_cell(t['total'])} {t['currency']}" for t in totals)


def render_review(result: Result, console: Any) -> None:
    """`review` as one block per group, readable at 80 columns: what, how much, when and
    where; the suggestion and why; then the command on a line of its own (never broken
    by the renderer, so it copies whole)."""
    import textwrap

    from rich.text import Text

    groups = to_jsonable_keep(result.data)
    meta = result.meta

    def say(text: str, indent: int = 0, style: str | None = None) -> None:
        width = max(20, (console.width or 80) - indent)
        for line in textwrap.wrap(text, width=width, break_on_hyphens=False, break_long_words=False):
            console.print(Text(" " * indent + line, style=style or ""))

    if not groups:
        say("Nothing to review: every transaction has a category from you, a rule, or a sure model.")
        return
    total_groups = meta.get("groups_total", len(groups))
    total_rows = meta.get("transactions_total", sum(g["count"] for g in groups))
    shown = f"{len(groups)} of {total_groups}" if total_groups > len(groups) else f"{len(groups)}"
    say(
        f"To review: {shown} group{'s' if total_groups != 1 else ''} of transactions ({total_rows} in all). "
        "Each command accepts the suggestion above it for the whole group."
    )
    pad = len(str(len(groups))) + 2
    for i, g in enumerate(groups, start=1):
        console.print()
        head = Text(f"{i:>{pad - 2}}. ")
        head.append(g["merchant"] or "(no payee)", style="bold")
        if g["flagged"]:
            head.append("  (held label)", style="yellow")
        console.print(head)
        dates = str(g["first_date"]) if g["first_date"] == g["last_date"] else f"{g['first_date']}..{g['last_date']}"
        n = g["count"]
        say(
            f"{n} transaction{'s' if n != 1 else ''} · {_totals(g['totals'])} · {dates} · {', '.join(g['accounts'])}",
            pad,
        )
        if g["suggested_category"] and g["suggestion_source"] != "held_label":
            say(f"suggested: {g['suggested_category']} ({g['reason']})", pad)
        else:
            say(g["reason"] or "no suggestion", pad)
        if g.get("also_matches"):
            say(f"the rule also matches: {', '.join(g['also_matches'])}", pad)
        # soft_wrap: the terminal wraps a long command, the renderer never breaks it.
        console.print(" " * pad + g["command"], soft_wrap=True, markup=False, highlight=False, style="cyan")


_TABLE_RENDERERS: dict[str, Callable[[Result, Any], None]] = {"review": render_review}


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """A series as one line of block characters (lowest to highest)."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(SPARKS[int((v - lo) / span * (len(SPARKS) - 1))] for v in values)


def signed_bar(value: float, top: float, width: int, left: bool, right: bool) -> str:
    """A bar from a zero axis (│): money out to its left, money in to its right. ``left``/
    ``right``: the chart has negative/positive values, so that side has room (half the
    width each when it has both); a chart of positive values only has no axis."""
    if not left:
        n = int(round(abs(value) / (top or 1) * width))
        return ("█" * n) or "▏"
    lw = width // 2 if right else width
    rw = width - lw if right else 0
    n = int(round(abs(value) / (top or 1) * (lw if value < 0 else rw)))
    return (" " * (lw - n) + "█" * n + "│") if value < 0 else (" " * lw + "│" + "█" * n)


def render_chart(title: str, items: Sequence[tuple], width: int = 40) -> None:
    """Horizontal bars in the terminal, drawn from a zero axis when values have both signs
    (negative to the left); an item's optional third element, a series, is drawn as a
    sparkline beside its bar."""
    from rich.table import Table

    console = _console()
    top = max((abs(item[1]) for item in items), default=0) or 1
    left, right = any(item[1] < 0 for item in items), any(item[1] > 0 for item in items)
    # Labels and values are never cut: the bars take what the terminal has left.
    label_w = max((len(str(item[0])) for item in items), default=0)
    value_w = max((len(f"{item[1]:,.2f}") for item in items), default=0)
    spark_w = max((min(len(item[2]), 12) for item in items if len(item) > 2), default=-2) + 2
    width = max(10, min(width, console.width - label_w - value_w - spark_w - 6 - (1 if left else 0)))
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    table.add_column("label", style="bold", no_wrap=True)
    table.add_column("bar", no_wrap=True)
    table.add_column("value", justify="right")
    with_series = any(len(item) > 2 for item in items)
    if with_series:
        table.add_column("trend", no_wrap=True)
    for item in items:
        label, value = item[0], item[1]
        shown = f"{value:,.2f}"
        row = [label, signed_bar(value, top, width, left, right), "0.00" if shown == "-0.00" else shown]
        if with_series:
            row.append(sparkline(item[2][-12:]) if len(item) > 2 else "")  # the last 12 periods
        table.add_row(*row)
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
        for chart in result.charts():
            render_chart(*chart)


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


def status(text: str) -> Callable[[], None]:
    """Show that something slow is going on: a spinner on stderr at a terminal, else one
    line (none with --quiet). Returns the function that ends it."""
    settings = current_settings()
    if settings.quiet:
        return lambda: None
    if not _isatty(sys.stderr):
        message(text + " ...")
        return lambda: None
    spinner = _console(stderr=True).status(text)
    spinner.start()
    return spinner.stop


@contextlib.contextmanager
def stage_status(text: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr (a terminal only) whose text the step in progress updates: a
    long job says where it is instead of a bar that stops at one fraction."""
    settings = current_settings()
    if settings.quiet or not _isatty(sys.stderr):
        yield lambda text: None
        return
    with _console(stderr=True).status(text) as spinner:
        yield spinner.update


@contextlib.contextmanager
def working(text: str) -> Iterator[None]:
    """A spinner on stderr while a step that may take seconds runs (a terminal only)."""
    settings = current_settings()
    if settings.quiet or not _isatty(sys.stderr):
        yield
        return
    with _console(stderr=True).status(text):
        yield


# -- the weekly report ----------------------------------------------------------------
def _money(v: Any, cur: str | None = None) -> str:
    if v is None:
        return "—"
    return f"{float(v):,.2f}" + (f" {cur}" if cur else "")


def _month(value: Any) -> str:
    return str(value)[:7]


def _pct(v: float | None) -> str:
    return "" if v is None else f", {v:+.0f}%"


REPORT_SHORT = {"categories": 6, "other_categories": 3, "insights": 3, "upcoming": 4, "goals": 3}


_MD_SPECIAL = re.compile(r"([\\`*_\[\]()!<>#|~])")


def _md_text(text: Any) -> str:
    """Bank text (payees, memos: third parties write them) as literal Markdown: no links,
    images, HTML or emphasis can come from it into a mail or chat."""
    return _MD_SPECIAL.sub(r"\\\1", str(text).replace("\n", " "))


def render_report_md(r: Mapping[str, Any], detail: bool = False) -> str:
    """The weekly report as Markdown (for mail, chat and the terminal). The default is one
    screen (the largest categories, the top insights, the next charges); ``detail`` lists
    everything, as the JSON and HTML forms do."""
    esc = _md_text
    cap = (lambda n: None) if detail else (lambda n: n)  # noqa: E731
    spend = r.get("spending_by_currency") or {r["currency"]: r["spending"]}
    lines = [f"# Weekly report {r['week']} ({r['from']} to {r['to']})", ""]
    for cur, s in spend.items():
        lines.append(
            f"- {cur}: spent **{_money(s['total'])}** against a typical week of {_money(s['typical_week'])}"
            + _pct(s["difference_pct"])
        )
    alerts = r.get("alerts") or []
    if alerts:
        lines += ["", "## Alerts"]
        lines += [f"- **{a['impact']}** {a['source']}, {a['date']}: {esc(a['title'])}" for a in alerts]
    else:
        lines.append("- No alerts this week.")
    lines += ["", "## Spending by category", "| category | this week | typical week | difference |"]
    lines.append("|---|---:|---:|---:|")
    hidden = 0
    for i, (cur, s) in enumerate(spend.items()):
        shown = s["by_category"][: cap(REPORT_SHORT["categories" if i == 0 else "other_categories"])]
        hidden += len(s["by_category"]) - len(shown)
        lines += [
            f"| {esc(c['category'])} | {_money(c['this_week'], cur)} | {_money(c['typical_week'], cur)} "
            f"| {_money(c['difference'], cur)} |"
            for c in shown
        ]
    if hidden:
        lines.append(f"| {hidden} more (--detail) | | | |")
    insights = r.get("insights") or []
    if insights:
        lines += ["", f"## Top insights (as of {r.get('data_until', 'the end of the data')})"]
        for i in insights[: cap(REPORT_SHORT["insights"])]:
            if detail:
                lines.append(f"- **{esc(i['title'])}** ({i['impact']}): {esc(i['description'])}")
                lines += [f"  - {esc(t)}" for t in i["recommendations"] if t]
            else:
                lines.append(f"- **{esc(i['title'])}** ({i['impact']})")
    if detail and r.get("anomalies"):
        lines += ["", "## Anomalies"]
        lines += [
            f"- {a['date']} {esc(a['payee'])} {_money(a['amount'], a['currency'])}: {esc(a['reason'])}"
            for a in r["anomalies"]
        ]
    upcoming = r.get("upcoming_recurring") or []
    if upcoming:
        shown = upcoming[: cap(REPORT_SHORT["upcoming"])]
        lines += ["", "## Recurring charges in the next 14 days"]
        lines += [f"- {u['date']} {esc(u['merchant'])}: {_money(u['amount'], u['currency'])}" for u in shown]
        if len(shown) < len(upcoming):
            lines.append(f"- and {len(upcoming) - len(shown)} more (--detail)")
    b = r.get("budget")
    if b:
        off = [x for x in b["lines"] if detail or x["status"] != "on track"]
        lines += ["", f"## Budget {_month(b['month'])}, {b['days_elapsed']} of {b['days_in_month']} days"]
        if len(off) < len(b["lines"]):
            lines.append(f"- {len(b['lines']) - len(off)} of {len(b['lines'])} categories on track.")
        lines += [
            f"- {esc(x['category'])}: {_money(x['spent'])} of {_money(x['budget'], x['currency'])} ({x['status']})"
            for x in off
        ]
    goals = r.get("goals") or []
    if goals:
        lines += ["", "## Goals"]
        lines += [
            f"- {esc(g['name'])}: {_money(g['funded'])} of {_money(g['target'], g.get('currency'))} by {g['by']}, "
            f"{g['probability']:.0%} likely. {esc(g['advice'])}"
            for g in goals[: cap(REPORT_SHORT["goals"])]
        ]
    f = r.get("cash_flow_forecast")
    if f and f["by_currency"]:
        lines += ["", f"## Cash-flow forecast (net per month, from the months through {_month(f['history_until'])})"]
        months = sorted({_month(p["month"]) for pts in f["by_currency"].values() for p in pts})
        order = [c for c in r.get("currencies", []) if c in f["by_currency"]]
        order += [c for c in f["by_currency"] if c not in order]
        for m in months:
            parts = []
            for cur in order:
                pts = f["by_currency"][cur]
                for p in pts:
                    if _month(p["month"]) == m:
                        parts.append(
                            f"{_money(p['net'], cur)} (80%: {p['low_80']:,.0f} to {p['high_80']:,.0f})"
                            + (f", 95%: {p['low_95']:,.0f} to {p['high_95']:,.0f}" if detail else "")
                        )
            lines.append(f"- {m}: " + "; ".join(parts))
    if r.get("notes"):
        lines += ["", "## Notes"] + [f"- {esc(n)}" for n in r["notes"]]
    return "\n".join(lines) + "\n"


# -- the weekly report's HTML: a Jinja2 template; charts as shapes computed here -------
_BLUE, _GREY, _RED, _LIGHT, _DARK = "#2b6cb0", "#a0aec0", "#c53030", "#bee3f8", "#1a365d"


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """Round axis values spanning lo..hi (zero among them when in range)."""
    import math

    span = (hi - lo) or abs(hi) or 1.0
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    out, v = [], first
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def _chart(width: int, height: int, label: str) -> dict[str, Any]:
    return {"width": width, "height": height, "label": label, "rects": [], "lines": [], "texts": []}


def _category_chart(rows: list[Mapping[str, Any]], cur: str, width: int = 460) -> dict[str, Any]:
    """Paired horizontal bars from a zero axis: this week and the typical week."""
    rows = list(rows)[:10]
    bar, gap, left, right, top = 9, 9, 120, 64, 8
    height = top + len(rows) * (2 * bar + gap) + 28
    c = _chart(width, height, f"Spending by category in {cur}, this week and a typical week")
    most = max([max(x["this_week"], x["typical_week"]) for x in rows] + [1.0])
    scale = (width - left - right) / most
    y = top
    for x in rows:
        c["texts"].append({"x": left - 6, "y": y + bar + 4, "anchor": "end", "text": _clip(x["category"], 18)})
        for k, (val, fill) in enumerate(((x["this_week"], _BLUE), (x["typical_week"], _GREY))):
            c["rects"].append(
                {
                    "x": left,
                    "y": y + k * bar,
                    "w": max(val * scale, 0),
                    "h": bar - 1,
                    "fill": fill,
                    "title": f"{'this week' if k == 0 else 'typical week'}: {val:,.2f} {cur}",
                }
            )
        c["texts"].append(
            {
                "x": left + max(x["this_week"], x["typical_week"]) * scale + 4,
                "y": y + bar + 4,
                "anchor": "start",
                "text": f"{x['this_week']:,.0f}",
                "size": 10,
            }
        )
        y += 2 * bar + gap
    c["lines"].append({"x1": left, "x2": left, "y1": top - 4, "y2": y - gap + 4, "stroke": "#4a5568"})
    for t in _ticks(0, most, 3):
        if 0 <= t <= most:
            c["texts"].append(
                {
                    "x": left + t * scale,
                    "y": height - 6,
                    "anchor": "middle",
                    "text": f"{t:,.0f}",
                    "size": 10,
                    "fill": "#4a5568",
                }
            )
    return c


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _columns_chart(
    labels: list[str],
    values: list[float],
    cur: str,
    label: str,
    mark: int | None = None,
    reference: float | None = None,
    bands: Mapping[int, tuple[float, float, float, float]] | None = None,
    width: int = 460,
    height: int = 210,
) -> dict[str, Any]:
    """Vertical bars around a zero line, y axis in ``cur``. ``mark``: the bar drawn as the
    report's own; ``reference``: a dashed level (the typical week); ``bands``: index ->
    (low95, low80, high80, high95) whiskers on forecast bars."""
    bands = bands or {}
    import math

    values = [v if v is not None and math.isfinite(v) else 0.0 for v in values]  # a missing value draws no bar
    bands = {i: b for i, b in bands.items() if all(v is not None and math.isfinite(v) for v in b)}
    right, top, bottom = 12, 10, 34
    extent = values + [0.0] + ([reference] if reference is not None else [])
    extent += [v for b in bands.values() for v in b]
    ticks = _ticks(min(extent), max(extent))
    left = 14 + 6 * max(len(f"{t:,.0f}") for t in ticks)  # room for the longest axis label
    lo, hi = min(ticks + extent), max(ticks + extent)
    c = _chart(width, height, label)
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(values), 1)

    def y(v: float) -> float:
        return top + plot_h * (hi - v) / ((hi - lo) or 1.0)

    for t in ticks:
        c["lines"].append({"x1": left, "x2": width - right, "y1": y(t), "y2": y(t), "stroke": "#edf2f7"})
        c["texts"].append(
            {"x": left - 5, "y": y(t) + 3, "anchor": "end", "text": f"{t:,.0f}", "size": 10, "fill": "#4a5568"}
        )
    c["texts"].append({"x": left + 4, "y": top + 2, "anchor": "start", "text": cur, "size": 10, "fill": "#4a5568"})
    # Labels as far apart as their width needs, counted back from the last one (always shown).
    every = max(1, -(-int(max([len(n) for n in labels] + [1]) * 6.5 + 8) // max(int(step), 1)))
    labeled = set(range(len(labels) - 1, -1, -every))
    for i, (name, v) in enumerate(zip(labels, values, strict=True)):
        x = left + i * step + step * 0.15
        w = step * 0.7
        forecast = i in bands
        fill = _RED if v < 0 else _BLUE
        if forecast:
            fill = "#feb2b2" if v < 0 else "#90cdf4"
        if mark is not None and i != mark and not forecast:
            fill = "#fc8181" if v < 0 else "#90cdf4"
        c["rects"].append(
            {
                "x": x,
                "y": min(y(v), y(0)),
                "w": w,
                "h": abs(y(v) - y(0)),
                "fill": fill,
                "title": f"{name}: {v:,.2f} {cur}" + (" (forecast)" if forecast else ""),
            }
        )
        if forecast:
            lo95, lo80, hi80, hi95 = bands[i]
            mid = x + w / 2
            c["lines"].append({"x1": mid, "x2": mid, "y1": y(hi95), "y2": y(lo95), "stroke": _DARK, "width": 1})
            c["lines"].append({"x1": mid, "x2": mid, "y1": y(hi80), "y2": y(lo80), "stroke": _DARK, "width": 4})
        if i in labeled:
            last = i == len(labels) - 1
            c["texts"].append(
                {
                    "x": x + w if last else x + w / 2,
                    "y": height - bottom + 14,
                    "anchor": "end" if last else "middle",
                    "text": name,
                    "size": 10,
                    "bold": i == mark,
                }
            )
    if mark is not None:
        x = left + mark * step + step / 2
        c["texts"].append(
            {
                "x": min(x, width - right),
                "y": height - 6,
                "anchor": "end" if mark else "start",
                "text": "▲ this report's week",
                "size": 10,
                "bold": True,
            }
        )
    if reference is not None:
        c["lines"].append(
            {
                "x1": left,
                "x2": width - right,
                "y1": y(reference),
                "y2": y(reference),
                "stroke": "#2d3748",
                "dash": "4 3",
            }
        )
    c["lines"].append({"x1": left, "x2": width - right, "y1": y(0), "y2": y(0), "stroke": "#2d3748", "width": 1.2})
    return c


def report_html_context(r: Mapping[str, Any]) -> dict[str, Any]:
    """What the HTML template shows: the report's sections with their charts."""
    spend = r.get("spending_by_currency") or {r["currency"]: r["spending"]}
    currencies = []
    for cur, s in spend.items():
        weeks = s["weekly_totals"]
        currencies.append(
            {
                "code": cur,
                "spending": s,
                "categories_chart": _category_chart(s["by_category"], cur) if s["by_category"] else None,
                "weeks_chart": _columns_chart(
                    [w["week"][5:] for w in weeks],
                    [w["total"] for w in weeks],
                    cur,
                    f"Money spent per week in {cur}, the report's week marked, the typical week dashed",
                    mark=len(weeks) - 1,
                    reference=s["typical_week"],
                ),
            }
        )
    forecasts = []
    f = r.get("cash_flow_forecast")
    if f:
        order = [c for c in r.get("currencies", []) if c in f["by_currency"]]
        order += [c for c in f["by_currency"] if c not in order]
        for cur in order:
            pts = f["by_currency"][cur]
            hist = (f.get("history") or {}).get(cur, [])
            labels = [_month(h["month"]) for h in hist] + [_month(p["month"]) for p in pts]
            values = [float(h["net"]) for h in hist] + [float(p["net"]) for p in pts]
            bands = {len(hist) + i: (p["low_95"], p["low_80"], p["high_80"], p["high_95"]) for i, p in enumerate(pts)}
            forecasts.append(
                {
                    "code": cur,
                    "points": pts,
                    "chart": _columns_chart(
                        labels, values, cur, f"Net cash flow per month in {cur}, then the forecast", bands=bands
                    ),
                }
            )
    return {
        "r": r,
        "currencies": currencies,
        "forecasts": forecasts,
        "month": _month,
        "colors": {"blue": _BLUE, "grey": _GREY, "red": _RED, "light": "#90cdf4", "dark": _DARK},
    }


def render_report_html(r: Mapping[str, Any]) -> str:
    """The weekly report as one self-contained HTML page (a Jinja2 template, autoescaped):
    inline CSS and SVG, no scripts, nothing fetched from the network."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("finanalytics_cli", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = lambda v, cur=None: _money(v, cur)
    return env.get_template("weekly_report.html.j2").render(**report_html_context(r))
