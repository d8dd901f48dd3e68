"""The command reference in docs/COMMANDS.md, made from the same text as `--help`.

Run `python -m finanalytics_cli.docs > docs/COMMANDS.md` after changing a command; a test
keeps the file equal to what this prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _walk(cmd: Any, path: str) -> Iterator[tuple[str, Any]]:
    subs = getattr(cmd, "commands", None)
    if not subs:
        yield path, cmd
        for name, sub in sorted(getattr(cmd, "help_subcommands", dict)().items()):
            yield f"{path} {name}", sub  # `import list`, `import undo`: words of one command
        return
    yield path, cmd
    for name in sorted(subs):
        yield from _walk(subs[name], f"{path} {name}")


def _option(param: Any) -> str:
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    if getattr(param, "is_flag", False):
        return names
    metavar = (param.metavar or param.name or "").upper()
    return f"{names} {metavar}".strip()


def command_reference() -> str:
    from typer.main import get_command

    from finanalytics_cli.app import app

    root = get_command(app)
    lines = [
        "# Command reference",
        "",
        "Made from the commands' own help (`finanalytics COMMAND --help`); regenerate with",
        "`python -m finanalytics_cli.docs > docs/COMMANDS.md`. Global options (anywhere on the",
        "line): `--format table|json|csv|md`, `--json`, `--quiet`, `--no-color`, `--profile NAME`,",
        "`--db PATH`, `--wait SECONDS`. Exit codes: see the README.",
        "",
    ]
    for path, cmd in _walk(root, "finanalytics"):
        if path == "finanalytics":
            continue
        lines += [f"## `{path}`", ""]
        text = (cmd.help or "").strip()
        lines += [ln.rstrip() for ln in text.splitlines()] + [""]
        params = [p for p in cmd.params if p.name not in ("help",)]
        args = [p for p in params if p.param_type_name == "argument"]
        opts = [p for p in params if p.param_type_name == "option"]
        if args:
            lines.append("Arguments: " + ", ".join(f"`{(a.metavar or a.name).upper()}`" for a in args))
            lines.append("")
        for o in opts:
            default = o.default
            shown = "" if default in (None, False, [], ()) or callable(default) else f" (default: {default})"
            lines.append(f"- {_option(o)}: {(o.help or '').strip()}{shown}")
        if opts:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(command_reference())
