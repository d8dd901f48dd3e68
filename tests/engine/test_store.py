"""The encrypted store, against real DuckDB files on disk."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.engine import migrations
from finanalytics_cli.engine.errors import (
    KeyUnavailable,
    SchemaTooNew,
    StoreCorrupt,
    StoreLocked,
    StoreNotFound,
    StoreUnwritable,
)
from finanalytics_cli.engine.ledger import NewTransaction, ensure_account, insert_transactions
from finanalytics_cli.engine.store import Store
from finanalytics_cli.privacy.keys import KeyFile

SECRET_PAYEE = "ZQXJ SECRET PAYEE 8841"


def _add_secret(store: Store, n: int = 1, day: dt.date = dt.date(2024, 3, 1)) -> None:
    with store.transaction() as con:
        acc = ensure_account(con, "Checking")
        insert_transactions(
            con,
            acc,
            None,
            [NewTransaction(day, Decimal("-12.34"), "USD", SECRET_PAYEE) for _ in range(n)],
        )


def _file_bytes(paths: Any) -> bytes:
    data = paths.db_path.read_bytes()
    wal = paths.db_path.with_name(paths.db_path.name + ".wal")
    if wal.exists():
        data += wal.read_bytes()
    return data


def test_store_is_encrypted_with_gcm(store: Store) -> None:
    assert store.encryption_info() == {"encrypted": True, "cipher": "GCM"}


def test_payee_is_not_in_database_or_wal_bytes(store: Store, store_paths: Any) -> None:
    _add_secret(store, n=50)
    # Before a checkpoint the rows sit in the WAL; after it, in the database file.
    assert SECRET_PAYEE.encode() not in _file_bytes(store_paths)
    store.con.execute("CHECKPOINT")
    assert SECRET_PAYEE.encode() not in _file_bytes(store_paths)
    store.close()
    with Store.open(store_paths, readonly=True) as again:
        assert (
            again.con.execute("SELECT count(*) FROM transactions WHERE payee_raw = ?", [SECRET_PAYEE]).fetchone()[0]
            == 50
        )
        assert again.con.execute("SELECT amount FROM transactions LIMIT 1").fetchone()[0] == Decimal("-12.34")


def test_wrong_passphrase_fails_cleanly(store: Store, store_paths: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store.close()
    before = store_paths.db_path.read_bytes()
    monkeypatch.setenv("FINANALYTICS_PASSPHRASE", "not the passphrase")
    with pytest.raises(KeyUnavailable, match="wrong passphrase"):
        Store.open(store_paths)
    assert store_paths.db_path.read_bytes() == before


def test_no_passphrase_and_nobody_to_ask_is_key_unavailable(
    store: Store, store_paths: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.close()
    monkeypatch.delenv("FINANALYTICS_PASSPHRASE")
    with pytest.raises(KeyUnavailable, match="FINANALYTICS_PASSPHRASE"):
        Store.open(store_paths)


def test_key_file_from_another_store_fails_cleanly(store: Store, store_paths: Any, tmp_path: Path) -> None:
    store.close()
    from finanalytics_cli.engine.paths import resolve_paths

    other = resolve_paths("other")
    Store.create(other).close()
    store_paths.key_path.write_bytes(other.key_path.read_bytes())
    with pytest.raises(KeyUnavailable, match="does not open this database"):
        Store.open(store_paths)


def test_missing_and_corrupted_key_file(store: Store, store_paths: Any) -> None:
    store.close()
    saved = store_paths.key_path.read_bytes()
    store_paths.key_path.unlink()
    with pytest.raises(KeyUnavailable, match="missing"):
        Store.open(store_paths)
    store_paths.key_path.write_bytes(b"{not json")
    with pytest.raises(StoreCorrupt, match="damaged"):
        Store.open(store_paths)
    store_paths.key_path.write_bytes(saved[:-40])
    with pytest.raises(StoreCorrupt):
        Store.open(store_paths)


def test_non_duckdb_file_is_refused_untouched(tmp_path: Path) -> None:
    from finanalytics_cli.engine.paths import resolve_paths

    bogus = tmp_path / "notes.txt"
    bogus.write_bytes(b"this is not a database\n" * 500)
    p = resolve_paths(None, bogus)
    with pytest.raises(StoreCorrupt, match="not a DuckDB database"):
        Store.open(p)
    assert bogus.read_bytes() == b"this is not a database\n" * 500
    assert not p.key_path.exists()


def test_truncated_database_is_store_corrupt(store: Store, store_paths: Any, cli: Any) -> None:
    from finanalytics_cli.engine.store import translate_db_error
    from finanalytics_cli.exit_codes import EXIT_CODES

    _add_secret(store, n=3000)
    store.con.execute("CHECKPOINT")
    store.close()
    data = store_paths.db_path.read_bytes()
    store_paths.db_path.write_bytes(data[: len(data) // 3])
    # Opening may succeed (blocks are read lazily); the first read of a lost block fails,
    # and that failure is STORE_CORRUPT, not a crash.
    try:
        with Store.open(store_paths, readonly=True) as s:
            s.con.execute("SELECT * FROM transactions").fetchall()
    except StoreCorrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - the raw DuckDB error must translate
        assert isinstance(translate_db_error(exc), StoreCorrupt), exc
    else:
        pytest.fail("reading a truncated store did not fail")
    result = cli("tx", "list", "--json")
    assert result.exit_code == EXIT_CODES["STORE_CORRUPT"], result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_missing_store_says_run_init(store_paths: Any) -> None:
    with pytest.raises(StoreNotFound, match="finanalytics init"):
        Store.open(store_paths)


def test_newer_schema_is_refused_and_untouched(store: Store, store_paths: Any) -> None:
    store.con.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'm099_from_the_future')")
    store.con.execute("CHECKPOINT")
    store.close()
    before = store_paths.db_path.read_bytes()
    with pytest.raises(SchemaTooNew, match="upgrade finanalytics"):
        Store.open(store_paths)
    with pytest.raises(SchemaTooNew):
        Store.open(store_paths, readonly=True)
    assert store_paths.db_path.read_bytes() == before


def test_unwritable_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finanalytics_cli.engine.paths import resolve_paths

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("FINANALYTICS_HOME", str(blocker / "home"))
    with pytest.raises(StoreUnwritable):
        Store.create(resolve_paths())
    assert blocker.read_text() == "x"


def test_migrations_are_named_ordered_and_recorded(store: Store) -> None:
    rows = store.con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert [name for _, name in rows] == [name for name, _ in migrations.MIGRATIONS]
    assert [v for v, _ in rows] == list(range(1, len(migrations.MIGRATIONS) + 1))
    tables = {r[0] for r in store.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    for t in (
        "users",
        "accounts",
        "imports",
        "transactions",
        "rejected_rows",
        "categories",
        "rules",
        "financial_profiles",
        "financial_insights",
        "ml_models",
        "deployments",
        "experiments",
        "features",
        "model_predictions",
        "goals",
        "budgets",
        "privacy_ledger",
        "audit_log",
        "schema_migrations",
    ):
        assert t in tables
    money = store.con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE table_name='transactions' AND column_name='amount'"
    ).fetchone()[0]
    assert money == "DECIMAL(18,2)"
    cats = {r[0] for r in store.con.execute("SELECT name FROM categories WHERE parent IS NULL").fetchall()}
    assert {"Income", "Housing", "Transfers", "Uncategorized", "Gifts & donations"} <= cats
    assert store.con.execute("SELECT kind FROM categories WHERE name='Transfers'").fetchone()[0] == "transfer"


def test_rotate_keeps_data_and_retires_old_key(store: Store, store_paths: Any) -> None:
    _add_secret(store, n=3)
    old_key = store.keys.active
    store.rotate_key()
    assert store.keys.active != old_key
    assert store.encryption_info()["cipher"] == "GCM"
    store.close()
    with Store.open(store_paths) as again:
        assert again.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 3
        # Sequences survive the copy: new ids do not collide.
        _add_secret(again, day=dt.date(2024, 3, 2))
        assert again.con.execute("SELECT count(DISTINCT tx_id) FROM transactions").fetchone()[0] == 4
    import duckdb

    con = duckdb.connect(":memory:")
    with pytest.raises(duckdb.Error):
        con.execute(f"ATTACH '{store_paths.db_path}' AS x (ENCRYPTION_KEY '{old_key.hex()}', READ_ONLY)")
    assert SECRET_PAYEE.encode() not in _file_bytes(store_paths)


def test_rotation_interrupted_before_replace_is_undone(store: Store, store_paths: Any) -> None:
    _add_secret(store)
    kf = KeyFile(store_paths.key_path)
    kf.add_pending(store.keys)  # crash right after step 1
    store.close()
    assert KeyFile(store_paths.key_path).status()["rotation_pending"]
    with Store.open(store_paths) as again:
        assert again.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 1
    assert not KeyFile(store_paths.key_path).status()["rotation_pending"]


def test_rotation_interrupted_after_replace_is_finished(store: Store, store_paths: Any) -> None:
    _add_secret(store)
    keys = KeyFile(store_paths.key_path).add_pending(store.keys)
    db = store_paths.db_path
    tmp = db.with_name("copy.duckdb")
    store.con.execute(f"ATTACH '{tmp}' AS cp (ENCRYPTION_KEY '{keys.pending.hex()}')")
    store.con.execute("COPY FROM DATABASE fa TO cp")
    store.con.execute("DETACH cp")
    store.close()
    tmp.replace(db)  # crash right after step 3
    with Store.open(store_paths) as again:
        assert again.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 1
        assert again.keys.active == keys.pending
    assert not KeyFile(store_paths.key_path).status()["rotation_pending"]


HOLDER = textwrap.dedent(
    """
    import sys, time
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store
    s = Store.open(resolve_paths())
    print("ready", flush=True)
    time.sleep(float(sys.argv[1]))
    s.close()
    """
)


def _hold_store(seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_second_writer_gets_store_locked(store: Store, store_paths: Any) -> None:
    store.close()
    holder = _hold_store(30)
    try:
        with pytest.raises(StoreLocked) as info:
            Store.open(store_paths)
        assert info.value.retryable
        with pytest.raises(StoreLocked):
            Store.open(store_paths, readonly=True)
    finally:
        holder.kill()
        holder.wait()


def test_writer_waits_for_the_lock(store: Store, store_paths: Any) -> None:
    store.close()
    holder = _hold_store(1.0)
    try:
        with Store.open(store_paths, wait=20) as s:
            assert s.con.execute("SELECT 1").fetchone()[0] == 1
    finally:
        holder.wait()


def test_readers_share(store: Store, store_paths: Any) -> None:
    store.close()
    with Store.open(store_paths, readonly=True) as a, Store.open(store_paths, readonly=True) as b:
        assert (
            a.con.execute("SELECT count(*) FROM categories").fetchone()
            == b.con.execute("SELECT count(*) FROM categories").fetchone()
        )


def test_refuses_to_write_without_the_secure_crypto_module(store_paths: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from finanalytics_cli.engine.errors import EncryptionUnavailable

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "duckdb_extension_httpfs" else real_find_spec(name, *a),
    )
    with pytest.raises(EncryptionUnavailable, match="duckdb-extension-httpfs"):
        Store.create(store_paths)
    assert not store_paths.db_path.exists()
    assert not store_paths.key_path.exists()


def test_nested_transactions_join_the_outer_one(store: Any) -> None:
    con = store.con
    with pytest.raises(RuntimeError):
        with store.transaction():
            con.execute("INSERT INTO app_state (key, value) VALUES ('outer', '1')")
            with store.transaction():
                con.execute("INSERT INTO app_state (key, value) VALUES ('inner', '1')")
            raise RuntimeError("the outer work fails after the inner one finished")
    assert con.execute("SELECT count(*) FROM app_state WHERE key IN ('outer', 'inner')").fetchone()[0] == 0
    with store.transaction():
        with store.transaction():
            con.execute("INSERT INTO app_state (key, value) VALUES ('inner', '1')")
    assert con.execute("SELECT count(*) FROM app_state WHERE key = 'inner'").fetchone()[0] == 1


def test_m006_rebuilds_transactions_without_the_key_and_keeps_every_row(
    store_paths: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store made before m006: the rows must come through the rebuild as they were.
    every = migrations.MIGRATIONS
    monkeypatch.setattr(migrations, "MIGRATIONS", every[:5])
    with Store.create(store_paths) as old:
        old.con.execute("ALTER TABLE transactions ADD COLUMN mcc VARCHAR")  # today's importer writes it (m008)
        _add_secret(old, n=3)
        _add_secret(old, n=2, day=dt.date(2024, 3, 2))
        old.con.execute("ALTER TABLE transactions DROP COLUMN mcc")
        # The fingerprints as the code before m006 wrote them: md5 hex text.
        for tx_id, number in old.con.execute("SELECT tx_id, fingerprint FROM transactions").fetchall():
            hex_text = int(number).to_bytes(16, "little").hex()
            old.con.execute("UPDATE transactions SET fingerprint = ? WHERE tx_id = ?", [hex_text, tx_id])
        before = old.con.execute("SELECT * FROM transactions ORDER BY tx_id").fetchall()
        keyed = old.con.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'transactions' "
            "AND constraint_type = 'PRIMARY KEY'"
        ).fetchone()[0]
    assert keyed == 1 and len(before) == 5
    monkeypatch.setattr(migrations, "MIGRATIONS", every)
    with Store.open(store_paths) as new:
        after = new.con.execute("SELECT * EXCLUDE (mcc) FROM transactions ORDER BY tx_id").fetchall()
        fp = [d[0] for d in new.con.execute("SELECT * FROM transactions LIMIT 0").description].index("fingerprint")
        # Fingerprints are the same md5, now as numbers: the rows dedupe as before.
        assert [r[:fp] + r[fp + 1 :] for r in after] == [r[:fp] + r[fp + 1 :] for r in before]
        assert [r[fp] for r in after] == [int.from_bytes(bytes.fromhex(r[fp]), "little") for r in before]
        assert (
            new.con.execute(
                "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'transactions' "
                "AND constraint_type = 'PRIMARY KEY'"
            ).fetchone()[0]
            == 0
        )
        _add_secret(new, n=3)  # the same rows again: recognised as stored
        assert new.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 5
        _add_secret(new, n=1, day=dt.date(2024, 3, 3))  # the importer writes to the rebuilt table
        ids = [r[0] for r in new.con.execute("SELECT tx_id FROM transactions ORDER BY tx_id").fetchall()]
        assert len(ids) == 6 and len(set(ids)) == 6
