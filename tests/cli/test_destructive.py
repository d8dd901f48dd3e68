"""Destructive commands (issue 19): --dry-run shows what would go and changes nothing; on a
terminal they ask; elsewhere they need --yes, and without it nothing changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.exit_codes import EXIT_CODES

CSV = (
    "Date,Description,Amount\n"
    "2024-01-02,CORNER SHOP,-4.50\n"
    "2024-02-03,ACME PAYROLL,2500.00\n"
    "2025-03-04,BLUE BOTTLE,-6.00\n"
    "2025-04-05,BLUE BOTTLE,-7.00\n"
)


@pytest.fixture
def store(cli: Any, tmp_path: Path) -> Path:
    f = tmp_path / "checking.csv"
    f.write_text(CSV)
    cli.json("import", str(f), "--account", "Checking", "--currency", "USD")
    return f


def count(cli: Any) -> int:
    return len(cli.json("tx", "list", "--limit", "1000")["data"])


def test_purge_dry_run_counts_what_the_real_one_deletes(cli: Any, store: Path) -> None:
    dry = cli.json("data", "purge", "--before", "2025-01-01", "--dry-run")
    assert dry["meta"]["dry_run"] is True and dry["data"]["would_delete"]["transactions"] == 2
    assert count(cli) == 4  # nothing changed
    refused = cli("data", "purge", "--before", "2025-01-01", "--json")
    assert refused.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert "would delete 2 transactions" in json.loads(refused.stdout)["error"]["message"]
    assert count(cli) == 4
    done = cli.json("data", "purge", "--before", "2025-01-01", "--yes")
    assert done["data"]["deleted"]["transactions"] == 2 and count(cli) == 2
    # nothing to delete: no question, no --yes needed
    assert cli.json("data", "purge", "--before", "2000-01-01")["data"]["deleted"]["transactions"] == 0


def test_retention_dry_run_show_and_unset(cli: Any, store: Path) -> None:
    assert cli.json("data", "retention", "show")["data"]["period"] is None
    dry = cli.json("data", "retention", "set", "1y", "--dry-run")
    doomed = dry["data"]["would_delete"]["transactions"]
    assert doomed == 4  # every row is more than a year old (the newest is 2025-04-05)
    assert cli.json("data", "retention", "show")["data"]["period"] is None  # the dry run saved nothing
    assert cli("data", "retention", "set", "1y", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]
    assert cli.json("data", "retention", "show")["data"]["period"] is None and count(cli) == 4
    done = cli.json("data", "retention", "set", "1y", "--yes")
    assert done["data"]["deleted"]["transactions"] == doomed and count(cli) == 4 - doomed
    shown = cli.json("data", "retention", "show")["data"]
    assert shown["period"] == "1y" and shown["keeps_from"] == done["data"]["keeps_from"]
    assert cli.json("data", "retention", "unset")["data"]["was"] == "1y"
    assert cli.json("data", "retention", "show")["data"]["period"] is None


def test_import_undo_rules_rm_goals_rm_need_yes(cli: Any, store: Path) -> None:
    plan = cli.json("import", "undo", "1", "--dry-run")["data"]
    assert plan["transactions_removed"] == 4 and plan["file"] == "checking.csv"
    assert cli("import", "undo", "1", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]
    assert count(cli) == 4

    rule = cli.json("rules", "add", "blue bottle", "Dining")["data"]
    rule_id = str(cli.json("rules", "list")["data"][0]["rule_id"])
    assert rule["transactions_categorised_by_rules"] == 2
    dry = cli.json("rules", "rm", rule_id, "--dry-run")["data"]
    assert dry["transactions_recategorised"] == 2
    assert cli("rules", "rm", rule_id, "--json").exit_code == EXIT_CODES["INVALID_INPUT"]
    assert len(cli.json("rules", "list")["data"]) == 1
    cli.json("rules", "rm", rule_id, "--yes")
    assert cli.json("rules", "list")["data"] == []

    cli.json("goals", "add", "Trip", "--target", "1000", "--by", "2031-01-01")
    assert cli.json("goals", "rm", "Trip", "--dry-run")["data"]["name"] == "Trip"
    assert cli("goals", "rm", "Trip", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]
    assert [g["name"] for g in cli.json("goals", "list")["data"]["goals"]] == ["Trip"]

    undone = cli.json("import", "undo", "1", "--yes")["data"]
    assert undone["transactions_removed"] == 4 and count(cli) == 0


def test_on_a_terminal_it_asks_and_no_means_nothing_changes(
    cli: Any, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finanalytics_cli.commands import _common

    monkeypatch.setattr(_common, "on_terminal", lambda: True)
    no = cli("data", "purge", "--before", "2025-01-01", input="n\n")
    assert no.exit_code == EXIT_CODES["INVALID_INPUT"] and "will delete 2 transactions" in no.stderr
    assert count(cli) == 4
    yes = cli("data", "purge", "--before", "2025-01-01", input="y\n")
    assert yes.exit_code == 0, yes.stderr
    assert count(cli) == 2
