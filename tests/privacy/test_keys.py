from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from finanalytics_cli.engine.errors import KeyUnavailable, StoreCorrupt
from finanalytics_cli.privacy.keys import KeyFile, keyring_usable


def test_key_file_is_0600_and_holds_no_plain_key(tmp_path: Path) -> None:
    kf = KeyFile(tmp_path / "s.key")
    keys = kf.create()
    mode = stat.S_IMODE((tmp_path / "s.key").stat().st_mode)
    assert mode == 0o600
    raw = (tmp_path / "s.key").read_text()
    assert keys.active.hex() not in raw
    assert json.loads(raw)["kek"]["source"] == "passphrase"


def test_unlock_roundtrip_and_wrong_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kf = KeyFile(tmp_path / "s.key")
    keys = kf.create()
    assert kf.unlock().active == keys.active
    monkeypatch.setenv("FINANALYTICS_PASSPHRASE", "something else entirely")
    with pytest.raises(KeyUnavailable, match="wrong passphrase"):
        kf.unlock()


def test_change_passphrase_keeps_the_data_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kf = KeyFile(tmp_path / "s.key")
    keys = kf.create()
    salt_before = json.loads((tmp_path / "s.key").read_text())["kek"]["salt"]
    kf.change_passphrase("a brand new passphrase")
    assert stat.S_IMODE((tmp_path / "s.key").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "s.key").read_text())["kek"]["salt"] != salt_before
    with pytest.raises(KeyUnavailable):
        kf.unlock()  # the old passphrase (still in the environment) no longer works
    monkeypatch.setenv("FINANALYTICS_PASSPHRASE", "a brand new passphrase")
    assert kf.unlock().active == keys.active


def test_short_passphrase_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINANALYTICS_PASSPHRASE", "short")
    with pytest.raises(KeyUnavailable, match="at least"):
        KeyFile(tmp_path / "s.key").create()
    assert not (tmp_path / "s.key").exists()


def test_prompt_is_used_when_no_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINANALYTICS_PASSPHRASE")
    asked: list[tuple[str, bool]] = []

    def provider(prompt: str, confirm: bool) -> str:
        asked.append((prompt, confirm))
        return "typed at the prompt"

    kf = KeyFile(tmp_path / "s.key", provider)
    keys = kf.create()
    assert asked[0][1] is True  # a new passphrase is confirmed
    assert kf.unlock().active == keys.active


def test_no_keyring_in_tests() -> None:
    assert keyring_usable() is False


def test_status_reveals_no_secret(tmp_path: Path) -> None:
    kf = KeyFile(tmp_path / "s.key")
    keys = kf.create()
    status = json.dumps(kf.status())
    assert keys.active.hex() not in status
    assert "wrapped" not in status and "salt" not in status


def test_future_key_file_version_refused(tmp_path: Path) -> None:
    kf = KeyFile(tmp_path / "s.key")
    kf.create()
    doc = json.loads((tmp_path / "s.key").read_text())
    doc["version"] = 99
    (tmp_path / "s.key").write_text(json.dumps(doc))
    with pytest.raises(StoreCorrupt, match="newer"):
        kf.unlock()


class _MemoryKeyring:
    """An in-memory keyring backend, so the keyring path is tested without the OS keyring."""

    def __init__(self) -> None:
        import keyring.backend

        class Backend(keyring.backend.KeyringBackend):
            priority = 1  # type: ignore[assignment]
            store: dict[tuple[str, str], str] = {}

            def get_password(self, service: str, username: str) -> str | None:
                return self.store.get((service, username))

            def set_password(self, service: str, username: str, password: str) -> None:
                self.store[(service, username)] = password

            def delete_password(self, service: str, username: str) -> None:
                self.store.pop((service, username), None)

        self.backend = Backend()


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch):
    import keyring

    mem = _MemoryKeyring().backend
    previous = keyring.get_keyring()
    monkeypatch.delenv("FINANALYTICS_NO_KEYRING")
    monkeypatch.delenv("FINANALYTICS_PASSPHRASE")
    keyring.set_keyring(mem)
    yield mem
    keyring.set_keyring(previous)


def test_keyring_wraps_the_key_when_usable(tmp_path: Path, memory_keyring) -> None:
    kf = KeyFile(tmp_path / "s.key")
    keys = kf.create()
    assert kf.status()["protected_by"] == "keyring"
    assert len(memory_keyring.store) == 1
    assert kf.unlock().active == keys.active
    memory_keyring.store.clear()
    with pytest.raises(KeyUnavailable, match="keyring holds no key"):
        kf.unlock()


def test_change_passphrase_moves_from_keyring_to_passphrase(tmp_path: Path, memory_keyring, monkeypatch) -> None:
    kf = KeyFile(tmp_path / "s.key")
    keys = kf.create()
    kf.change_passphrase("passphrase from now on")
    assert kf.status()["protected_by"] == "passphrase"
    assert memory_keyring.store == {}  # the keyring entry is removed
    monkeypatch.setenv("FINANALYTICS_PASSPHRASE", "passphrase from now on")
    assert kf.unlock().active == keys.active


def _old_kek_unwraps_new_key(doc_before: dict, doc_after: dict, old_kek: bytes) -> bool:
    from finanalytics_cli.privacy.keys import _unwrap

    entry = next(k for k in doc_after["keys"] if k["state"] == "active")
    return _unwrap(old_kek, entry, doc_after["store_id"]) is not None


def test_rotation_renews_the_salt_and_kek_of_a_passphrase_store(tmp_path: Path, store_paths) -> None:
    """Whoever kept a copy of the old key file and learnt its KEK (or brute-forced the old
    salt) cannot unwrap the data key of a rotated store: the rotation derives a new KEK
    from the same passphrase with a new salt."""
    from finanalytics_cli.engine.store import Store

    with Store.create(store_paths) as store:
        before = json.loads(store_paths.key_path.read_text())
        old_kek = store.keys.kek
        store.rotate_key()
        after = json.loads(store_paths.key_path.read_text())
        assert store.keys.kek != old_kek
    assert after["kek"]["salt"] != before["kek"]["salt"]
    assert not _old_kek_unwraps_new_key(before, after, old_kek)
    with Store.open(store_paths) as again:  # the same passphrase still opens it
        assert again.keys.active_id == next(k["key_id"] for k in after["keys"])
        again.rotate_key()  # and a store opened (not created) in this process rotates too
    third = json.loads(store_paths.key_path.read_text())
    assert third["kek"]["salt"] not in (before["kek"]["salt"], after["kek"]["salt"])


def test_rotation_renews_the_keyring_kek_and_removes_the_old_entry(store_paths, memory_keyring) -> None:
    from finanalytics_cli.engine.store import Store

    with Store.create(store_paths) as store:
        assert json.loads(store_paths.key_path.read_text())["kek"]["source"] == "keyring"
        old_kek = store.keys.kek
        before = json.loads(store_paths.key_path.read_text())
        store.rotate_key()
    after = json.loads(store_paths.key_path.read_text())
    assert after["kek"]["source"] == "keyring" and after["kek"]["account"].startswith(after["store_id"] + ":")
    assert list(memory_keyring.store) == [("finanalytics", after["kek"]["account"])]  # the old entry is gone
    assert not _old_kek_unwraps_new_key(before, after, old_kek)
    with Store.open(store_paths) as again:
        assert again.con.execute("SELECT count(*) FROM accounts").fetchone()[0] >= 0
    from finanalytics_cli.privacy.retention import forget

    result = forget(store_paths)
    assert memory_keyring.store == {}, result  # forget finds the renewed entry


def test_a_rotation_that_cannot_write_the_keyring_keeps_the_kek_and_the_store_opens(
    store_paths, memory_keyring, monkeypatch
) -> None:
    """The KEK is renewed after the database was replaced: a keyring that cannot be written
    then must not lock the store out (nor delete its only keyring entry)."""
    from finanalytics_cli.engine.store import Store
    from finanalytics_cli.privacy import keys as keys_module

    with Store.create(store_paths) as store:
        before = json.loads(store_paths.key_path.read_text())

        def locked(*a, **kw):
            raise RuntimeError("keyring locked")

        monkeypatch.setattr(keys_module, "_keyring_set", locked)
        store.rotate_key()
    after = json.loads(store_paths.key_path.read_text())
    assert after["kek"] == before["kek"] and [k["state"] for k in after["keys"]] == ["active"]
    assert list(memory_keyring.store) == [("finanalytics", before["store_id"])]
    with Store.open(store_paths) as again:
        assert again.keys.active_id == after["keys"][0]["key_id"]
