"""import, import list/undo, accounts and tx list through the real CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from finanalytics_cli.exit_codes import EXIT_CODES, PARTIAL_IMPORT
from tests.engine.ingest.ofx_fixtures import SGML_CHECKING

CHECKING = "Date,Description,Amount,Balance\n01/15/2024,PAYROLL,2450.00,3450.00\n01/16/2024,GROCER,-84.12,3365.88\n"


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    d = tmp_path / "exports"
    d.mkdir()
    (d / "checking.csv").write_text(CHECKING)
    (d / "bank.ofx").write_bytes(SGML_CHECKING.encode("cp1252"))
    (d / ".hidden").write_text("ignored")
    return d


def test_import_json_reports_layout_and_counts(cli, exports: Path) -> None:
    out = cli.json("import", str(exports / "checking.csv"), "--account", "Checking")
    [f] = out["data"]["files"]
    assert f["status"] == "imported" and f["format"] == "csv"
    assert (f["read"], f["added"], f["duplicate"], f["rejected"]) == (2, 2, 0, 0)
    layout = f["layout"]
    assert layout["encoding"] == "utf-8" and layout["delimiter"] == "," and layout["date_format"] == "%m/%d/%Y"
    assert layout["decimal_mark"] == "." and layout["columns_used"]["amount"] == "Amount"
    again = cli.json("import", str(exports / "checking.csv"), "--account", "Checking")
    assert again["data"]["files"][0]["duplicate"] == 2


def test_import_directory_and_input_format_option(cli, exports: Path) -> None:
    out = cli.json("import", str(exports), "--account", "Checking")
    assert sorted(f["format"] for f in out["data"]["files"]) == ["csv", "ofx"]
    assert out["data"]["totals"]["added"] == 6
    # The input format is --input-format; the output stays JSON.
    forced = cli("import", str(exports / "checking.csv"), "--account", "Checking", "--input-format", "csv", "--json")
    assert forced.exit_code == 0 and json.loads(forced.stdout)["data"]["files"][0]["format"] == "csv"


def test_import_from_stdin(cli) -> None:
    result = cli("import", "-", "--account", "Cash", "--json", input=CHECKING)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["data"]["files"][0]["file"] == "<stdin>"


def test_bad_file_exit_code_and_store_unchanged(cli, tmp_path: Path) -> None:
    cli.json("import", "-", "--account", "Cash", input=CHECKING)
    bad = tmp_path / "statement.pdf"
    bad.write_bytes(b"%PDF-1.4 binary")
    result = cli("import", str(bad), "--json")
    assert result.exit_code == EXIT_CODES["INVALID_INPUT"]
    err = json.loads(result.stdout)["error"]
    assert "statement.pdf" in err["message"] and "PDF" in err["message"]
    assert len(cli.json("tx", "list")["data"]) == 2
    missing = cli("import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == EXIT_CODES["INVALID_INPUT"] and "no such file" in missing.stderr


def test_one_bad_file_among_many(cli, exports: Path) -> None:
    (exports / "junk.csv").write_bytes(b"\x00\x01\x02" * 200)
    result = cli("import", str(exports), "--account", "Checking", "--json")
    # Some files imported, one failed: its own exit code, and the envelope names the file.
    assert result.exit_code == PARTIAL_IMPORT
    data = json.loads(result.stdout)["data"]
    assert data["totals"]["failed"] == 1 and data["totals"]["added"] == 6
    [failed] = data["failed_files"]
    assert failed["file"].endswith("junk.csv") and failed["error"]["code"] == "INVALID_INPUT"
    assert [f["status"] for f in data["files"] if f["file"].endswith("junk.csv")] == ["failed"]
    assert all(Path(f["file"]).parent == exports for f in data["files"])
    # Every file failing gives the error's own exit code.
    only_junk = exports / "only"
    only_junk.mkdir()
    (only_junk / "a.csv").write_bytes(b"\x00\x01" * 300)
    (only_junk / "b.csv").write_bytes(b"\x00\x02" * 300)
    assert cli("import", str(only_junk), "--account", "Checking", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]


def test_ambiguous_layout_prints_the_map(cli, tmp_path: Path) -> None:
    f = tmp_path / "amb.csv"
    f.write_text("Date,Description,Amount\n01/02/2024,A,-1\n01/02/2024,B,-2\n")
    result = cli("import", str(f), "--account", "X", "--format", "table")
    assert result.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert 'date_format = "%d/%m/%Y"' in result.stderr
    m = tmp_path / "m.toml"
    m.write_text('[csv]\ndate_format = "%m/%d/%Y"\n')
    ok = cli.json("import", str(f), "--account", "X", "--map", str(m), "--save-map", "amb")
    assert ok["data"]["files"][0]["added"] == 2
    assert ok["data"]["files"][0]["saved_map"].endswith("amb.toml")


def test_dry_run_and_strict(cli, tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("Date,Description,Amount\n2024-01-02,A,-1\n2024-01-03,B,oops\n")
    dry = cli.json("import", str(f), "--account", "X", "--dry-run")
    assert dry["meta"]["dry_run"] is True and dry["data"]["files"][0]["added"] == 1
    strict = cli("import", str(f), "--account", "X", "--strict", "--json")
    assert strict.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert cli.json("tx", "list")["data"] == []


def test_import_list_and_undo(cli, exports: Path) -> None:
    cli.json("import", str(exports / "checking.csv"), "--account", "Checking")
    history = cli.json("import", "list")["data"]
    assert [(h["import_id"], h["added"], h["status"]) for h in history] == [(1, 2, "done")]
    undone = cli.json("import", "undo", "1", "--yes")["data"]
    assert undone["transactions_removed"] == 2
    assert cli.json("tx", "list")["data"] == []
    again = cli("import", "undo", "1", "--json")
    assert again.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert cli("import", "undo", "x").exit_code == 2


def test_accounts_and_tx_list_every_format(cli, exports: Path) -> None:
    cli.json("import", str(exports / "checking.csv"), "--account", "Checking")
    cli.json("import", str(exports / "bank.ofx"))  # names its own account
    accounts = cli.json("accounts")["data"]
    by_name = {a["name"]: a for a in accounts}
    assert by_name["Checking"]["balance"] == 3365.88  # from the CSV's running balance
    [ofx_account] = [a for a in accounts if a["name"] != "Checking"]
    assert ofx_account["balance"] == 1503.33 and ofx_account["balance_source"] == "statement"
    tx = cli.json("tx", "list", "--account", "Checking", "--search", "grocer")["data"]
    assert [(t["amount"], t["payee"], t["account"]) for t in tx] == [(-84.12, "GROCER", "Checking")]
    assert set(tx[0]) == {"id", "date", "amount", "currency", "payee", "merchant", "account", "category"}
    csv_out = cli("tx", "list", "--format", "csv", "--limit", "0").stdout
    rows = list(csv.DictReader(io.StringIO(csv_out)))
    assert len(rows) == 6 and rows[0].keys() >= {"id", "date", "amount"}
    assert "-84.12" in csv_out  # exact decimal text, no thousands separators
    md = cli("tx", "list", "--format", "md").stdout
    assert md.startswith("### Transactions") and "| id | date | amount |" in md
    table = cli("tx", "list", "--format", "table", "--from", "2024-01-16", "--to", "2024-01-16").stdout
    assert "GROCER" in table and "PAYROLL" not in table
    assert cli("tx", "list", "--from", "yesterday").exit_code == 2
    assert cli("tx", "list", "--account", "Nope", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]


def test_read_commands_before_init_say_so(cli) -> None:
    result = cli("accounts", "--json")
    assert result.exit_code == EXIT_CODES["STORE_NOT_FOUND"]


def test_no_duckdb_progress_bar_in_piped_json(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    lines = ["Date,Description,Amount"] + [f"2024-01-{1 + i % 28:02d},SHOP {i},-{i % 97}.50" for i in range(60000)]
    big.write_text("\n".join(lines))
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "finanalytics_cli", "import", str(big), "--account", "A"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # stdout is pure JSON
    assert out["data"]["files"][0]["added"] == 60000
