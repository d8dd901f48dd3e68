"""`data forget` says what it could not destroy, and leaves none of the store's files."""

from __future__ import annotations

from typing import Any

from finanalytics_cli.privacy import keys, retention


def test_a_keyring_entry_that_cannot_be_deleted_is_reported(store: Any, store_paths: Any, monkeypatch: Any) -> None:
    store.close()
    monkeypatch.setattr(keys, "_keyring_delete", lambda store_id: "not deleted (KeyringLocked)")
    result = retention.forget(store_paths)
    assert result["not_destroyed"] == ["the keyring entry: not deleted (KeyringLocked)"]
    assert result["key_destroyed"] is True  # the data key was only in the key file, now gone
    assert not any(store_paths.db_path.parent.iterdir()), list(store_paths.db_path.parent.iterdir())


def test_forget_removes_the_audit_anchor_and_spools(cli: Any, store: Any, store_paths: Any) -> None:
    store.close()
    assert cli("goals", "add", "G", "--target", "10", "--by", "2030-01-01", "--json").exit_code == 0
    assert cli("tx", "list", "--json").exit_code == 0  # leaves a spool line
    result = retention.forget(store_paths)
    assert result["not_destroyed"] == [] and result["keyring_entry"] == "none"
    assert not any(store_paths.db_path.parent.iterdir()), list(store_paths.db_path.parent.iterdir())
