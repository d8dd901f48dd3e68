"""How `--help` reads: words for values, not Python types, and paragraphs that reflow.

Typer labels every parameter with its Python annotation (`<bool>`, `<list[str]>`,
`{TX_ID}`) and keeps the hard line breaks of our docstrings. `install()` makes the help
say what a person types instead: nothing after a flag, the option's metavar, or a plain
word (TEXT, INTEGER, NUMBER, PATH, DATE); usage lines name arguments as `TX_ID` and
`[NAME]`; a paragraph's single line breaks become spaces, except before lines that are
indented, bullets or examples.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, get_args, get_origin

_WORDS: dict[Any, str] = {
    str: "TEXT",
    int: "INTEGER",
    float: "NUMBER",
    Path: "PATH",
    dt.date: "DATE",
    dt.datetime: "DATE",
}
_KEEP_BREAK = re.compile(r"\n(?=\s|[-*•]|Example|Examples)")


def value_word(annotation: Any) -> str:
    """The word a help line shows for a value of this type (TEXT for anything unknown)."""
    if get_origin(annotation) in (list, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        return value_word(args[0]) if args else "TEXT"
    return _WORDS.get(annotation, "TEXT")


def reflow(paragraphs: list[str]) -> str:
    """Join each paragraph's lines, keeping breaks before indented, bullet or example lines."""
    out = []
    for para in paragraphs:
        kept = _KEEP_BREAK.sub("\0", para)
        out.append(kept.replace("\n", " ").replace("\0", "\n"))
    return "\n\n".join(out)


def _option_type(self: Any, ctx: Any) -> str | None:
    if getattr(self, "is_flag", False) or getattr(self, "is_bool_flag", False) or self.count:
        return None
    if self.metavar is not None:
        return str(self.metavar)
    desc = self.type_descriptor
    if desc.is_choice and desc.choices:
        return "[" + "|".join(str(c) for c in desc.choices) + "]"
    return value_word(desc.annotation)


def _argument_type(self: Any, ctx: Any) -> str | None:
    return None  # the name column already says it (TX_ID, PATH...)


def _argument_usage(self: Any) -> str:
    name = str(self.display_name_raw).upper()
    name = name if self.required else f"[{name}]"
    return name if self.nargs == 1 or name.endswith("...") or name.endswith("...]") else f"{name}..."


def _reflowing(format_help: Any) -> Any:
    """``format_help`` that first makes Typer's Rich help reflow paragraphs: rich_utils is
    imported only when a help page is shown, never on a command's start-up."""

    def wrapped(self: Any, ctx: Any, formatter: Any) -> Any:
        from typer import rich_utils

        rich_utils._fix_linebreaks = lambda paragraphs, markup_mode: reflow(paragraphs)
        return format_help(self, ctx, formatter)

    wrapped.__wrapped__ = format_help  # type: ignore[attr-defined]
    return wrapped


def install() -> None:
    """Patch Typer's help rendering (idempotent; called when the app is built)."""
    from typer import core

    core.TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign]
    core.TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
    for cls in (core.TyperCommand, core.TyperGroup):
        if not hasattr(cls.format_help, "__wrapped__"):
            cls.format_help = _reflowing(cls.format_help)  # type: ignore[method-assign]
