"""Creating a store: a key is never overwritten, creations race safely, a kill during
creation leaves either no store or a whole one."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.engine.errors import StoreCorrupt
from finanalytics_cli.engine.store import Store
from finanalytics_cli.exit_codes import EXIT_CODES
from tests.conftest import run_cli as _run

CSV = "Date,Description,Amount (USD)\n2024-01-02,COFFEE,-3.50\n2024-01-03,SALARY,2000.00\n"


def _missing_database(store_paths: Any) -> bytes:
    """A store whose database file is gone (moved, unmounted) while its key stays."""
    Store.create(store_paths).close()
    key = store_paths.key_path.read_bytes()
    store_paths.db_path.rename(store_paths.db_path.with_name("moved-away.duckdb"))
    return key


@pytest.mark.parametrize(
    "args",
    [["init"], ["import", "{csv}", "--account", "A"], ["--profile", "default", "demo"]],
    ids=["init", "import", "demo-profile"],
)
def test_a_key_without_its_database_is_never_replaced(
    store_paths: Any, tmp_path: Path, cli: Any, args: list[str]
) -> None:
    key = _missing_database(store_paths)
    csv = tmp_path / "a.csv"
    csv.write_text(CSV)
    result = cli(*[a.replace("{csv}", str(csv)) for a in args], "--json")
    assert result.exit_code in (EXIT_CODES["STORE_CORRUPT"], EXIT_CODES["INVALID_INPUT"]), result.stdout
    assert "Created a new encrypted store" not in result.stdout + result.stderr
    assert store_paths.key_path.read_bytes() == key  # untouched: the moved database still opens with it
    assert not store_paths.db_path.exists()
    store_paths.db_path.with_name("moved-away.duckdb").rename(store_paths.db_path)
    with Store.open(store_paths) as s:
        assert s.con.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0


def test_missing_database_error_says_how_to_recover(store_paths: Any) -> None:
    _missing_database(store_paths)
    with pytest.raises(StoreCorrupt, match="put it back"):
        Store.open(store_paths)
    with pytest.raises(StoreCorrupt, match="move the key file away"):
        Store.create(store_paths)


def test_creation_stopped_between_its_two_renames_is_finished_by_the_next_open(store_paths: Any) -> None:
    # The database is in place, the key still under its temporary name (a kill between them).
    Store.create(store_paths).close()
    tmp_key = store_paths.key_path.with_name(store_paths.key_path.name + ".init-tmp")
    store_paths.key_path.rename(tmp_key)
    with Store.open(store_paths) as s:
        assert s.con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0
    assert store_paths.key_path.exists() and not tmp_key.exists()


def test_creation_stopped_before_the_renames_leaves_no_store(store_paths: Any, cli: Any, tmp_path: Path) -> None:
    # Leftovers of a kill before anything was renamed: neither half is a store yet.
    store_paths.db_path.parent.mkdir(parents=True)
    store_paths.db_path.with_name(store_paths.db_path.name + ".init-tmp").write_bytes(b"half a database")
    store_paths.key_path.with_name(store_paths.key_path.name + ".init-tmp").write_text("{half a key")
    csv = tmp_path / "a.csv"
    csv.write_text(CSV)
    assert cli("import", str(csv), "--account", "A").exit_code == 0
    with Store.open(store_paths) as s:
        assert s.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 2
    leftovers = [p.name for p in store_paths.db_path.parent.iterdir() if p.name.endswith(".init-tmp")]
    assert leftovers == []


def test_kill_during_first_creation_then_the_next_command_works(store_paths: Any, tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text(CSV)
    for delay in (0.3, 0.6, 0.9, 1.2):  # seconds into the first import: start-up, key, migrations
        import shutil
        import signal
        import time

        shutil.rmtree(store_paths.db_path.parent, ignore_errors=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", "finanalytics_cli", "import", str(csv), "--account", "A"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Never a key without its database: the next command either creates or opens.
        assert not (store_paths.key_path.exists() and not store_paths.db_path.exists()), delay
        again = _run("import", str(csv), "--account", "A", "--json")
        assert again.returncode == 0, (delay, again.stdout, again.stderr)
        with Store.open(store_paths) as s:
            assert s.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 2


def test_parallel_first_imports_with_wait_all_succeed(store_paths: Any, tmp_path: Path) -> None:
    files = []
    for i in range(4):
        f = tmp_path / f"a{i}.csv"
        f.write_text(f"Date,Description,Amount (USD)\n2024-01-0{i + 1},SHOP {i},-{i + 1}.00\n")
        files.append(f)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "finanalytics_cli", "--wait", "120", "import", str(f), "--account", "A"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for f in files
    ]
    outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes
    assert sum("Created a new encrypted store" in err for _, err in outcomes) == 1
    with Store.open(store_paths) as s:
        assert s.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 4


def test_every_store_file_is_private_including_the_wal(store: Any, store_paths: Any) -> None:
    import datetime as dt
    from decimal import Decimal

    from finanalytics_cli.engine.ledger import NewTransaction, ensure_account, insert_transactions

    with store.transaction() as con:
        insert_transactions(
            con, ensure_account(con, "A"), None, [NewTransaction(dt.date(2024, 1, 2), Decimal("-1"), "USD", "X")]
        )
    files = [p for p in store_paths.db_path.parent.iterdir() if p.is_file()]
    assert any(p.name.endswith(".wal") for p in files), [p.name for p in files]
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, (p.name, oct(p.stat().st_mode))
