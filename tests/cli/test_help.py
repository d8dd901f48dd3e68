"""Every command explains itself, and docs/COMMANDS.md stays equal to the help."""

from __future__ import annotations

import re
from pathlib import Path

from finanalytics_cli.docs import _walk, command_reference

ROOT = Path(__file__).parents[2]


def _commands() -> list[tuple[str, object]]:
    from typer.main import get_command

    from finanalytics_cli.app import app

    return [(p, c) for p, c in _walk(get_command(app), "finanalytics") if p != "finanalytics"]


def test_every_command_has_a_summary_and_an_example(cli) -> None:
    commands = _commands()
    assert len(commands) > 40
    for path, cmd in commands:
        text = (cmd.help or "").strip()
        first = text.splitlines()[0] if text else ""
        assert first and len(first) <= 120, f"{path}: no one-line summary"
        assert "Example: finanalytics" in text, f"{path}: no example"
    shown = cli("goals", "add", "--help")
    assert shown.exit_code == 0 and "Example: finanalytics goals add" in shown.stdout


def test_command_reference_equals_the_help() -> None:
    doc = (ROOT / "docs" / "COMMANDS.md").read_text(encoding="utf-8")
    assert doc == command_reference(), "run: python -m finanalytics_cli.docs > docs/COMMANDS.md"


def test_shell_completion_is_typers_own() -> None:
    import subprocess
    import sys

    # The same program as the console script, found without relying on PATH.
    r = subprocess.run(
        [sys.executable, "-m", "finanalytics_cli", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "_finanalytics_completion" in r.stdout and "complete " in r.stdout


def test_sparklines_in_charts(cli, categorized_store) -> None:
    from finanalytics_cli.output import sparkline

    assert sparkline([1, 2, 3]) == "▁▄█" and sparkline([5, 5]) == "▁▁" and sparkline([]) == ""
    categorized_store.close()
    out = cli("spending", "--chart", "--format", "table", "--from", "2026-01-01")
    assert out.exit_code == 0 and "█" in out.stdout and any(c in out.stdout for c in "▂▃▄▅▆▇")
    out = cli("predict", "--chart", "--format", "table")
    assert out.exit_code == 0 and "Cash flow forecast (USD)" in out.stdout and "Cash flow forecast (EUR)" in out.stdout
    # Spending drawn as money out: left of the zero axis, with a negative value.
    housing = next(line for line in out.stdout.splitlines() if line.strip().startswith("Housing ") and "│" in line)
    assert housing.index("█") < housing.index("│") and "-2,650.00" in housing


def test_status_summarises_the_store(cli, categorized_store) -> None:
    categorized_store.close()
    cli.json("privacy", "budget", "set", "3")
    data = cli.json("status")["data"]
    assert data["transactions"] == 3039 and data["from"] == "2023-11-01" and data["to"] == "2026-10-31"
    assert {a["name"] for a in data["accounts"]} == {"Checking", "Credit card", "Savings", "Girokonto"}
    assert [m["model_type"] for m in data["models_serving"]] == ["category_classifier"]
    assert data["privacy_budget"]["epsilon_remaining"] == 3 and data["encrypted"] is True
    assert data["last_import"]["file"] and data["last_import"]["added"] > 0
    table = cli("status", "--format", "table")
    assert table.exit_code == 0 and "Girokonto" in table.stdout


BRITISH = re.compile(
    r"\b(\w*categoris\w*|\w*optimis\w*|\w*normalis\w*|minimis\w*|labell\w*|colour|behaviour|favour\w*|"
    r"analys(e|ed|ing)|summaris\w*|recognis\w*|utilis\w*|cancelled|judgement)\b",
    re.IGNORECASE,
)


def test_help_reads_as_words_not_python_types(cli) -> None:
    """No `<bool>`, `<list[str]>` or `{TX_ID}`: flags show nothing, values a word or metavar."""
    pages = {path: cli(*path.split()[1:], "--help") for path, _ in _commands()}
    for path, shown in pages.items():
        assert shown.exit_code == 0, path
        out = shown.stdout
        assert not re.search(r"<(bool|str|int|float|list\[\w+\]|Path|date)>", out), f"{path}: a Python type"
        assert not re.search(r"\{[A-Za-z_]+\}", out), f"{path}: a {{NAME}} in the usage line"
    label = pages["finanalytics tx label"].stdout
    assert "TX_ID CATEGORY" in label
    imp = pages["finanalytics import"].stdout
    assert re.search(r"--account\s+TEXT", imp) and re.search(r"--strict\s+Refuse", imp)


def test_paragraphs_reflow_instead_of_breaking_mid_sentence(cli) -> None:
    out = cli("tx", "label", "--help", env={"COLUMNS": "200"}).stdout
    # The docstring breaks its line after "held": the help joins it with the next.
    assert "applied but held for review" in " ".join(out.split())
    assert re.search(r"held\s*\n", out) is None


def test_every_group_has_an_example(cli) -> None:
    from typer.main import get_command

    from finanalytics_cli.app import app

    groups = [(p, c) for p, c in _walk(get_command(app), "finanalytics") if getattr(c, "commands", None)]
    assert len(groups) >= 14
    for path, group in groups:
        if path == "finanalytics":
            continue
        assert "Example: finanalytics" in (group.help or ""), f"{path}: no example"
        shown = cli(*path.split()[1:], "--help")
        assert shown.exit_code == 0 and "Example: finanalytics" in shown.stdout, path


def test_import_list_and_undo_have_their_own_help(cli) -> None:
    listed = cli("import", "list", "--help")
    assert listed.exit_code == 0
    assert "Usage: finanalytics import list" in listed.stdout and "--account" not in listed.stdout
    undo = cli("import", "undo", "-h")
    assert undo.exit_code == 0
    assert "Usage: finanalytics import undo [OPTIONS] IMPORT_ID" in undo.stdout
    assert "--dry-run" in undo.stdout and "--yes" in undo.stdout and "--map" not in undo.stdout
    whole = cli("import", "--help")
    assert "--account" in whole.stdout and "import list" in whole.stdout
    doc = (ROOT / "docs" / "COMMANDS.md").read_text(encoding="utf-8")
    assert "## `finanalytics import list`" in doc and "## `finanalytics import undo`" in doc


def test_us_spelling_in_help_and_docs(cli) -> None:
    texts = {"docs/COMMANDS.md": (ROOT / "docs" / "COMMANDS.md").read_text(encoding="utf-8")}
    texts["README.md"] = (ROOT / "README.md").read_text(encoding="utf-8")
    for path, _ in _commands():
        texts[path] = cli(*path.split()[1:], "--help").stdout
    for where, text in texts.items():
        found = sorted({m.group(0) for m in BRITISH.finditer(text)})
        assert not found, f"{where}: {found}"
