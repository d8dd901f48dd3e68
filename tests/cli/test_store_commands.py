"""init, paths, key and demo through the real CLI, on real encrypted stores."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finanalytics_cli.exit_codes import EXIT_CODES
from tests.conftest import PASSPHRASE, env_without_passphrase


def test_init_creates_encrypted_store_once(cli) -> None:
    out = cli.json("init")["data"]
    assert out["created"] is True
    assert out["encrypted"] is True and out["cipher"] == "GCM"
    assert out["protected_by"] == "passphrase"
    assert stat.S_IMODE(os.stat(out["key_path"]).st_mode) == 0o600
    again = cli.json("init")["data"]
    assert again["created"] is False
    assert PASSPHRASE not in json.dumps(out)


def test_profiles_are_separate(cli) -> None:
    a = cli.json("--profile", "alice", "init")["data"]
    b = cli.json("init", "--profile", "bob")["data"]
    assert a["db_path"] != b["db_path"]
    assert cli.json("paths", "--profile", "alice")["data"]["store_exists"] is True
    assert cli.json("paths", "--profile", "carol")["data"]["store_exists"] is False


def test_db_option(cli, tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "my.duckdb"
    out = cli.json("--db", str(db), "init")["data"]
    assert out["db_path"] == str(db)
    assert db.exists() and Path(str(db) + ".key").exists()


def test_key_status_change_passphrase_and_rotate(cli) -> None:
    cli.json("init")
    status = cli.json("key", "status")["data"]
    assert status["protected_by"] == "passphrase"
    assert status["key_file_mode"] == "0o600"
    assert status["database_cipher"] == "GCM"
    changed = cli.json("key", "change-passphrase", env={"FINANALYTICS_NEW_PASSPHRASE": "new passphrase 2"})
    assert changed["data"]["protected_by"] == "passphrase"
    wrong = cli("key", "status", "--json")
    assert wrong.exit_code == EXIT_CODES["KEY_UNAVAILABLE"]
    assert "wrong passphrase" in json.loads(wrong.stdout)["error"]["message"]
    new_env = {"FINANALYTICS_PASSPHRASE": "new passphrase 2"}
    before = cli.json("key", "status", env=new_env)["data"]["data_key_id"]
    rotated = cli.json("key", "rotate", env=new_env)["data"]
    assert rotated["data_key_id"] != before
    assert rotated["database_encrypted"] is True
    assert cli.json("key", "status", env=new_env)["data"]["data_key_id"] == rotated["data_key_id"]


def test_non_interactive_without_passphrase_is_key_unavailable(tmp_path: Path) -> None:
    env = env_without_passphrase()
    proc = subprocess.run(
        [sys.executable, "-m", "finanalytics_cli", "init"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == EXIT_CODES["KEY_UNAVAILABLE"]
    assert "FINANALYTICS_PASSPHRASE" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_non_duckdb_file_at_db(cli, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("hello\n" * 1000)
    result = cli("--db", str(bogus), "key", "status", "--json")
    assert result.exit_code == EXIT_CODES["STORE_CORRUPT"]
    assert bogus.read_text() == "hello\n" * 1000


def _hold_store(seconds: float) -> subprocess.Popen:
    """Another process holding the profile's store as a writer for ``seconds`` (it is
    open once this returns)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom finanalytics_cli.engine.paths import resolve_paths\n"
            "from finanalytics_cli.engine.store import Store\ns = Store.open(resolve_paths())\n"
            f"print('ready', flush=True)\ntime.sleep({seconds})\ns.close()",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    return holder


def test_second_writer_gets_store_locked_exit_code(cli) -> None:
    cli.json("init")
    holder = _hold_store(30)
    try:
        result = cli("key", "rotate", "--json")
        assert result.exit_code == EXIT_CODES["STORE_LOCKED"]
        err = json.loads(result.stdout)["error"]
        assert err["retryable"] is True and "--wait" in err["message"]
    finally:
        holder.kill()
        holder.wait()


def test_demo_runs_and_leaves_nothing(cli, isolated_home: Path) -> None:
    import json as _json

    from finanalytics_cli.engine.sample_household import sample_files

    truth = _json.loads(sample_files()["truth/summary.json"])
    run = cli("demo", "--json", env={"FINANALYTICS_PASSPHRASE": ""})  # needs no passphrase
    assert run.exit_code == 0, run.stderr
    out = _json.loads(run.stdout)
    # The tour is told as it goes (stderr): each step as it starts, then what it found.
    told = run.stderr
    steps = ["Importing checking_us.csv", "Imported checking_us.csv (csv): 388", "Training the category model"]
    steps += ["Categorized 947 transactions", "Found ", "Forecasting the next three months"]
    steps += ["Forecast net cash flow for 2026-11", "Risk score"]
    places = [told.find(step) for step in steps]
    assert -1 not in places and places == sorted(places), told
    checks = out["data"]["checks"]
    assert checks["transactions_imported"] == checks["transactions_in_truth"] == truth["transactions"]
    assert checks["transfer_pairs_matched"] == truth["transfer_pairs"]
    assert [i["rejected"] for i in out["data"]["imports"]] == [0, 0, 0, 0]
    balances = {a["name"]: a["balance"] for a in out["data"]["accounts"]}
    assert balances == {name: float(v["closing_balance"]) for name, v in truth["accounts"].items()}
    assert out["data"]["spending_last_3_months"] and out["data"]["top_merchants_last_90_days"]
    flows = out["data"]["cash_flow_forecast"]
    assert {f["currency"] for f in flows} == {"USD", "EUR"} and len(flows) == 6
    assert all(f["low_80"] <= f["net"] <= f["high_80"] for f in flows)
    rent = next(e for e in out["data"]["next_month_expenses"] if e["category"] == "Housing")
    assert rent["of_which_scheduled"] == rent["expected"] > 0  # rent is scheduled, not guessed
    risk = out["data"]["risk"]
    assert 0 <= risk["score"] <= 100 and risk["level"] in ("low", "moderate", "high") and risk["factor 1"]
    assert out["meta"]["store"] == "removed"
    assert not list(isolated_home.rglob("*.duckdb"))


def test_demo_keep_with_profile(cli) -> None:
    out = cli.json("--profile", "demo1", "demo", "--keep")
    assert out["meta"]["store"] == "kept"
    assert cli.json("--profile", "demo1", "paths")["data"]["store_exists"] is True
    refused = cli("--profile", "demo1", "demo", "--json")
    assert refused.exit_code == EXIT_CODES["INVALID_INPUT"]


def test_a_reader_waits_for_a_writer_and_says_so(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never a bare STORE_LOCKED for a person: at a terminal a command waits (default 600 s)
    with a visible 'Waiting for the store'; a script without --wait fails at once."""
    from finanalytics_cli.commands import _common

    cli.json("init")
    holder = _hold_store(2.5)
    try:
        assert cli("accounts", "--json").exit_code == EXIT_CODES["STORE_LOCKED"]  # a script: at once
        # A person at a terminal: it waits, says so, and answers once the writer is done.
        monkeypatch.setattr(_common, "on_terminal", lambda: True)
        started = time.monotonic()
        waited = cli("accounts", "--json")
        assert waited.exit_code == 0, waited.stderr
        assert "Waiting for the store" in waited.stderr and time.monotonic() - started > 0.5
    finally:
        holder.kill()
        holder.wait()
    monkeypatch.setattr(_common, "on_terminal", lambda: False)
    assert _common.store_wait() == 0.0
    monkeypatch.setattr(_common, "on_terminal", lambda: True)
    assert _common.store_wait() == _common.TERMINAL_WAIT_S


def test_working_spinner_only_at_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Slow steps show a spinner on a terminal's stderr; piped, nothing is added to stderr."""
    import io

    from finanalytics_cli import output
    from finanalytics_cli.output import Settings, set_settings, working

    set_settings(Settings())
    with working("Forecasting"):
        pass
    assert capsys.readouterr().err == ""
    tty = io.StringIO()
    tty.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(output.sys, "stderr", tty)
    monkeypatch.setattr(
        output,
        "_console",
        lambda stderr=False: __import__("rich.console").console.Console(file=tty, force_terminal=True, width=80),
    )
    with working("Forecasting"):
        pass
    assert "Forecasting" in tty.getvalue()
