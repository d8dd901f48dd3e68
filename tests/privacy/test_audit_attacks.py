"""Attacks on the audit chain: rewriting it without the key, cutting off its newest
entries, restoring an older copy of the database; all are caught by `audit verify`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.store import Store
from finanalytics_cli.exit_codes import EXIT_CODES
from finanalytics_cli.privacy import audit


def _verify(cli: Any) -> tuple[int, str]:
    r = cli("audit", "verify", "--json")
    return r.exit_code, r.stdout


def _goals(cli: Any, n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        assert cli("goals", "add", f"G{i}", "--target", "100", "--by", "2030-01-01", "--json").exit_code == 0


def test_an_intact_chain_verifies_and_is_keyed(cli: Any, store: Any) -> None:
    store.close()
    _goals(cli, 2)
    code, out = _verify(cli)
    assert code == 0 and json.loads(out)["data"]["keyed"] is True


def test_a_chain_recomputed_without_the_key_does_not_verify(cli: Any, store: Any, store_paths: Any) -> None:
    # The attacker edits an entry and recomputes every plain SHA-256 link after it.
    store.close()
    _goals(cli, 3)
    with Store.open(store_paths) as s:
        rows = s.con.execute("SELECT seq, ts, action, details FROM audit_log ORDER BY seq").fetchall()
        prev = audit.GENESIS
        for seq, ts, action, details in rows:
            details = details.replace("goals", "nothing") if seq == 2 else details
            stamp = ts.isoformat(timespec="microseconds")
            digest = hashlib.sha256(json.dumps([seq, stamp, action, details, prev]).encode()).hexdigest()
            s.con.execute(
                "UPDATE audit_log SET details = ?, prev_hash = ?, hash = ? WHERE seq = ?", [details, prev, digest, seq]
            )
            prev = digest
        s.audit_action = None  # leave no entry of this tampering session
    code, out = _verify(cli)
    assert code == EXIT_CODES["STORE_CORRUPT"], out


def test_cutting_off_the_newest_entries_is_caught(cli: Any, store: Any, store_paths: Any) -> None:
    store.close()
    _goals(cli, 3)
    with Store.open(store_paths) as s:
        top = s.con.execute("SELECT max(seq) FROM audit_log").fetchone()[0]
        s.con.execute("DELETE FROM audit_log WHERE seq > ?", [top - 2])
        s.audit_action = None
    code, out = _verify(cli)
    assert code == EXIT_CODES["STORE_CORRUPT"] and "removed" in out, out


def test_deleting_every_entry_is_caught(cli: Any, store: Any, store_paths: Any) -> None:
    store.close()
    _goals(cli, 1)
    with Store.open(store_paths) as s:
        s.con.execute("DELETE FROM audit_log")
        s.audit_action = None
    code, out = _verify(cli)
    assert code == EXIT_CODES["STORE_CORRUPT"], out


def test_a_database_restored_from_an_older_copy_is_caught(
    cli: Any, store: Any, store_paths: Any, tmp_path: Path
) -> None:
    store.close()
    _goals(cli, 1)
    old = tmp_path / "old-copy.duckdb"
    shutil.copy2(store_paths.db_path, old)
    _goals(cli, 2, first=1)  # later work, then the old copy is put back (its WAL too, if any)
    wal = Path(str(store_paths.db_path) + ".wal")
    wal.unlink(missing_ok=True)
    shutil.copy2(old, store_paths.db_path)
    code, out = _verify(cli)
    assert code == EXIT_CODES["STORE_CORRUPT"] and "older copy" in out, out


def test_a_forged_anchor_is_caught(cli: Any, store: Any, store_paths: Any) -> None:
    store.close()
    _goals(cli, 1)
    anchor = audit.anchor_path(store_paths.db_path)
    doc = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**doc, "hash": "0" * 64}))  # an anchor not made with the key
    code, out = _verify(cli)
    assert code == EXIT_CODES["STORE_CORRUPT"] and "key" in out, out


def test_key_rotation_keeps_the_chain_verifying(cli: Any, store: Any) -> None:
    store.close()
    _goals(cli, 2)
    assert cli("key", "rotate", "--json").exit_code == 0
    assert _verify(cli)[0] == 0


def test_a_rotation_killed_before_the_anchor_is_rewritten_is_no_false_alarm(
    cli: Any, store: Any, store_paths: Any, monkeypatch: Any
) -> None:
    """Killed after the re-encrypted copy replaced the database and the key was promoted,
    before the anchor was rewritten: the old anchor is under the old key, the rotation's
    `.next` anchor (under the new key) vouches for the chain. A forged `.next` does not."""
    store.close()
    _goals(cli, 2)
    calls = []

    def killed(*a: Any, **kw: Any) -> None:
        calls.append(a)  # the process dies here: this anchor, and any later, is never written
        if len(calls) == 1:
            raise KeyboardInterrupt

    original = audit.write_anchor
    monkeypatch.setattr(audit, "write_anchor", killed)
    s = Store.open(store_paths)
    try:
        s.rotate_key()
    except KeyboardInterrupt:
        pass
    s.close()
    monkeypatch.setattr(audit, "write_anchor", original)
    anchor = audit.anchor_path(store_paths.db_path)
    assert audit.next_anchor_path(anchor).exists()
    code, out = _verify(cli)
    assert code == 0, out
    nxt = audit.next_anchor_path(anchor)
    doc = json.loads(nxt.read_text())
    nxt.write_text(json.dumps({**doc, "mac": "0" * 64}))
    code, out = _verify(cli)
    assert code == EXIT_CODES["STORE_CORRUPT"], out
