"""The store's data key, wrapped by a key-encryption key (KEK).

The data key is 32 random bytes that DuckDB uses to encrypt the database (AES-GCM).
It is never stored in the clear: the key file beside the database holds it wrapped
with AES-GCM under a KEK that comes either from the OS keyring (a random 32-byte
secret stored there) or from a passphrase through scrypt with a per-store salt.

The key file is JSON, mode 0600, replaced atomically. During a key rotation it holds
the new data key as ``pending`` beside the ``active`` one, so that a crash at any
point leaves a store that one of the two keys opens.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.errors import KeyUnavailable, StoreCorrupt, StoreUnwritable

KEYRING_SERVICE = "finanalytics"
KEY_FILE_FORMAT = "finanalytics-key"
KEY_FILE_VERSION = 1
# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB of memory, about 0.1 s per derivation.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
PASSPHRASE_ENV = "FINANALYTICS_PASSPHRASE"
NEW_PASSPHRASE_ENV = "FINANALYTICS_NEW_PASSPHRASE"
NO_KEYRING_ENV = "FINANALYTICS_NO_KEYRING"
MIN_PASSPHRASE_LEN = 8

# (prompt, confirm) -> passphrase, or None when nobody can be asked.
PassphraseProvider = Callable[[str, bool], "str | None"]


def no_prompt(prompt: str, confirm: bool) -> str | None:
    """The provider for unattended runs: nobody to ask."""
    return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _derive_kek(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _aad(store_id: str, key_id: str) -> bytes:
    return f"finanalytics-data-key-v1|{store_id}|{key_id}".encode()


def _wrap(kek: bytes, data_key: bytes, store_id: str, key_id: str) -> dict[str, str]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    wrapped = AESGCM(kek).encrypt(nonce, data_key, _aad(store_id, key_id))
    return {"nonce": _b64(nonce), "wrapped": _b64(wrapped)}


def _unwrap(kek: bytes, entry: dict[str, Any], store_id: str) -> bytes | None:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(kek).decrypt(_unb64(entry["nonce"]), _unb64(entry["wrapped"]), _aad(store_id, entry["key_id"]))
    except InvalidTag:
        return None


def keyring_usable() -> bool:
    """True when an OS keyring backend that really stores secrets is available."""
    if os.environ.get(NO_KEYRING_ENV):
        return False
    try:
        import keyring
        from keyring.backends import chainer, fail

        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - any keyring failure means "no keyring"
        return False
    if isinstance(backend, fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return False
    module = type(backend).__module__
    # keyrings.alt offers plaintext or unauthenticated files only: not a keyring.
    if module.startswith("keyrings.alt") or module.startswith("keyring.backends.null"):
        return False
    return True


def _keyring_get(store_id: str) -> bytes:
    try:
        import keyring

        value = keyring.get_password(KEYRING_SERVICE, store_id)
    except Exception as exc:  # noqa: BLE001 - report as KEY_UNAVAILABLE, without secrets
        raise KeyUnavailable(
            f"the OS keyring could not be read ({type(exc).__name__}); the store's key is kept there"
        ) from None
    if not value:
        raise KeyUnavailable("the OS keyring holds no key for this store")
    try:
        kek = bytes.fromhex(value)
    except ValueError:
        kek = b""
    if len(kek) != 32:
        raise KeyUnavailable("the key in the OS keyring for this store is not valid")
    return kek


def _keyring_set(store_id: str, kek: bytes) -> None:
    import keyring

    keyring.set_password(KEYRING_SERVICE, store_id, kek.hex())


def keyring_account(doc: dict[str, Any]) -> str:
    """The keyring entry that holds a key file's KEK: the store id, or (after a key
    rotation gave the store a new KEK) the account the key file names."""
    account = doc.get("kek", {}).get("account")
    return account if isinstance(account, str) and account.startswith(str(doc.get("store_id"))) else doc["store_id"]


def _keyring_delete(store_id: str) -> str:
    """Remove the store's keyring entry: "deleted", "none" (there was none), or why not."""
    if os.environ.get("FINANALYTICS_NO_KEYRING") == "1":
        return "none"
    try:
        import keyring
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(KEYRING_SERVICE, store_id)
        except PasswordDeleteError:
            return "none"
        return "deleted"
    except Exception as exc:  # noqa: BLE001 - reported to the caller, never raised
        return f"not deleted ({type(exc).__name__})"


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except PermissionError:
        raise StoreUnwritable(f"cannot write in {path.parent}: permission denied") from None
    except OSError as exc:
        raise StoreUnwritable(f"cannot write in {path.parent}: {exc.strerror}") from None
    from finanalytics_cli.engine.files import fsync_dir, write_synced

    try:
        write_synced(fd, tmp, data, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreUnwritable(f"cannot write {path.name}: {exc.strerror}") from None
    fsync_dir(path.parent)


@dataclass
class UnlockedKeys:
    """The unwrapped keys of one store. Never log or print this object."""

    store_id: str
    kek: bytes = field(repr=False)
    active_id: str
    active: bytes = field(repr=False)
    pending_id: str | None = None
    pending: bytes | None = field(default=None, repr=False)
    # The passphrase this process unlocked with (passphrase stores only): a rotation
    # derives a new KEK from it with a new salt. Kept in memory, never written.
    passphrase: str | None = field(default=None, repr=False)

    @staticmethod
    def duckdb_key(data_key: bytes) -> str:
        """The form in which DuckDB's ENCRYPTION_KEY takes a data key."""
        return data_key.hex()


class KeyFile:
    """The wrapped-key file of one store."""

    def __init__(self, path: Path, passphrase_provider: PassphraseProvider = no_prompt) -> None:
        self.path = path
        self.passphrase_provider = passphrase_provider

    def exists(self) -> bool:
        return self.path.exists()

    # -- reading -------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise KeyUnavailable(
                f"the key file {self.path} is missing; without it the store cannot be opened"
            ) from None
        except PermissionError:
            raise KeyUnavailable(f"the key file {self.path} cannot be read: permission denied") from None
        except IsADirectoryError:
            raise StoreCorrupt(f"the key file {self.path} is a directory, not a finanalytics key file") from None
        except OSError as exc:
            raise KeyUnavailable(f"the key file {self.path} cannot be read: {exc.strerror}") from None
        try:
            doc = json.loads(raw.decode("utf-8"))
            ok = (
                doc.get("format") == KEY_FILE_FORMAT
                and isinstance(doc.get("store_id"), str)
                and isinstance(doc.get("keys"), list)
                and doc["keys"]
                and all(
                    isinstance(k, dict) and {"key_id", "state", "nonce", "wrapped"} <= k.keys() for k in doc["keys"]
                )
                and isinstance(doc.get("kek"), dict)
                and doc["kek"].get("source") in ("keyring", "passphrase")
            )
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            ok = False
        if not ok:
            raise StoreCorrupt(f"the key file {self.path} is damaged or not a finanalytics key file")
        if doc.get("version", 0) > KEY_FILE_VERSION:
            raise StoreCorrupt(
                f"the key file {self.path} was written by a newer finanalytics (format "
                f"{doc['version']}); upgrade finanalytics"
            )
        return doc

    def _kek_for(self, doc: dict[str, Any], *, confirm: bool = False) -> bytes:
        return self._kek_and_passphrase(doc, confirm=confirm)[0]

    def _kek_and_passphrase(self, doc: dict[str, Any], *, confirm: bool = False) -> tuple[bytes, str | None]:
        kek_info = doc["kek"]
        if kek_info["source"] == "keyring":
            return _keyring_get(keyring_account(doc)), None
        passphrase = os.environ.get(PASSPHRASE_ENV) or self.passphrase_provider(
            "Passphrase for the finanalytics store", confirm
        )
        if not passphrase:
            raise KeyUnavailable(f"this store is protected by a passphrase: set {PASSPHRASE_ENV} or run in a terminal")
        try:
            salt = _unb64(kek_info["salt"])
            n, r, p = int(kek_info["n"]), int(kek_info["r"]), int(kek_info["p"])
        except (KeyError, ValueError, TypeError):
            raise StoreCorrupt(f"the key file {self.path} is damaged (KDF parameters)") from None
        # Parameters this tool writes (n=2**15, r=8, p=1) and sane neighbours; anything else
        # is damage or tampering (n=0 fails, n=2**40 would run for hours in 128 TiB).
        if (
            not (2**10 <= n <= 2**22 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 and 128 * n * r <= 2**30)
            or len(salt) < 16
        ):
            raise StoreCorrupt(f"the key file {self.path} is damaged (KDF parameters out of range)")
        return _derive_kek(passphrase, salt, n, r, p), passphrase

    def unlock(self) -> UnlockedKeys:
        """Unwrap the data key(s). Wrong passphrase or keyring entry: KEY_UNAVAILABLE."""
        doc = self.read()
        kek, passphrase = self._kek_and_passphrase(doc)
        keys: dict[str, tuple[str, bytes]] = {}
        for entry in doc["keys"]:
            data_key = _unwrap(kek, entry, doc["store_id"])
            if data_key is None:
                if doc["kek"]["source"] == "passphrase":
                    raise KeyUnavailable("wrong passphrase for this store")
                raise KeyUnavailable("the key in the OS keyring does not unlock this store")
            keys[entry["state"]] = (entry["key_id"], data_key)
        if "active" not in keys:
            raise StoreCorrupt(f"the key file {self.path} holds no active key")
        pending = keys.get("pending")
        return UnlockedKeys(
            store_id=doc["store_id"],
            kek=kek,
            active_id=keys["active"][0],
            active=keys["active"][1],
            pending_id=pending[0] if pending else None,
            pending=pending[1] if pending else None,
            passphrase=passphrase,
        )

    def status(self) -> dict[str, Any]:
        """What the key file says about itself; no secrets."""
        doc = self.read()
        mode = self.path.stat().st_mode & 0o777
        kek = doc["kek"]
        return {
            "key_file": str(self.path),
            "key_file_mode": oct(mode),
            "store_id": doc["store_id"],
            "protected_by": kek["source"],
            "kdf": f"scrypt(n={kek['n']}, r={kek['r']}, p={kek['p']})" if kek["source"] == "passphrase" else None,
            "data_key_id": next(k["key_id"] for k in doc["keys"] if k["state"] == "active"),
            "rotation_pending": any(k["state"] == "pending" for k in doc["keys"]),
            "created_at": doc.get("created_at"),
            "rotated_at": doc.get("rotated_at"),
        }

    # -- writing -------------------------------------------------------------------
    def _new_kek(
        self, store_id: str, prefer_keyring: bool, new_passphrase: str | None, account: str | None = None
    ) -> tuple[bytes, dict[str, Any], str | None]:
        """A new KEK, what the key file records about it, and the passphrase it came from."""
        if new_passphrase is None and prefer_keyring and keyring_usable():
            kek = secrets.token_bytes(32)
            try:
                _keyring_set(account or store_id, kek)
                if _keyring_get(account or store_id) == kek:
                    return kek, {"source": "keyring", **({"account": account} if account else {})}, None
            except Exception:  # noqa: BLE001 - fall through to a passphrase
                pass
        passphrase = (
            new_passphrase
            or os.environ.get(PASSPHRASE_ENV)
            or self.passphrase_provider("New passphrase for the finanalytics store", True)
        )
        if not passphrase:
            raise KeyUnavailable(
                f"no OS keyring is usable here and no passphrase was given: set {PASSPHRASE_ENV} or run in a terminal"
            )
        if len(passphrase) < MIN_PASSPHRASE_LEN:
            raise KeyUnavailable(f"the passphrase must have at least {MIN_PASSPHRASE_LEN} characters")
        salt = secrets.token_bytes(16)
        kek = _derive_kek(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        info = {
            "source": "passphrase",
            "kdf": "scrypt",
            "salt": _b64(salt),
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
        }
        return kek, info, passphrase

    def _write(self, doc: dict[str, Any]) -> None:
        write_private_file(self.path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))

    def create(self) -> UnlockedKeys:
        """Make a new store id and data key, wrap it, and write the key file."""
        from datetime import UTC, datetime

        store_id = str(uuid.uuid4())
        kek, kek_info, passphrase = self._new_kek(store_id, prefer_keyring=True, new_passphrase=None)
        data_key = secrets.token_bytes(32)
        key_id = secrets.token_hex(8)
        doc = {
            "format": KEY_FILE_FORMAT,
            "version": KEY_FILE_VERSION,
            "store_id": store_id,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "kek": kek_info,
            "keys": [{"key_id": key_id, "state": "active", **_wrap(kek, data_key, store_id, key_id)}],
        }
        self._write(doc)
        return UnlockedKeys(store_id=store_id, kek=kek, active_id=key_id, active=data_key, passphrase=passphrase)

    def change_passphrase(self, new_passphrase: str | None = None) -> dict[str, Any]:
        """Re-wrap the data key(s) under a new passphrase (new salt). Data is untouched."""
        doc = self.read()
        old = dict(doc)
        unlocked = self.unlock()
        if new_passphrase is None:
            new_passphrase = os.environ.get(NEW_PASSPHRASE_ENV) or self.passphrase_provider("New passphrase", True)
        if not new_passphrase:
            raise KeyUnavailable(f"no new passphrase given: set {NEW_PASSPHRASE_ENV} or run in a terminal")
        kek, kek_info, _ = self._new_kek(unlocked.store_id, prefer_keyring=False, new_passphrase=new_passphrase)
        doc["kek"] = kek_info
        doc["keys"] = self._wrapped_entries(kek, unlocked)
        self._write(doc)
        _keyring_delete(keyring_account(old))
        return self.status()

    @staticmethod
    def _wrapped_entries(kek: bytes, unlocked: UnlockedKeys) -> list[dict[str, str]]:
        entries = [
            {
                "key_id": unlocked.active_id,
                "state": "active",
                **_wrap(kek, unlocked.active, unlocked.store_id, unlocked.active_id),
            }
        ]
        if unlocked.pending is not None and unlocked.pending_id is not None:
            entries.append(
                {
                    "key_id": unlocked.pending_id,
                    "state": "pending",
                    **_wrap(kek, unlocked.pending, unlocked.store_id, unlocked.pending_id),
                }
            )
        return entries

    def add_pending(self, unlocked: UnlockedKeys) -> UnlockedKeys:
        """Step 1 of a rotation: record a new data key as pending beside the active one."""
        doc = self.read()
        unlocked.pending_id = secrets.token_hex(8)
        unlocked.pending = secrets.token_bytes(32)
        doc["keys"] = self._wrapped_entries(unlocked.kek, unlocked)
        self._write(doc)
        return unlocked

    def promote_pending(self, unlocked: UnlockedKeys) -> None:
        """Last step of a rotation: the pending key becomes the only, active key."""
        from datetime import UTC, datetime

        if unlocked.pending is None or unlocked.pending_id is None:
            return
        doc = self.read()
        old_account = keyring_account(doc) if doc["kek"]["source"] == "keyring" else None
        # A rotation renews the KEK too: a new salt for a passphrase, a new random KEK in
        # a new keyring entry; whoever copied the old key file and KEK unwraps nothing new.
        kek, kek_info = self._renewed_kek(doc, unlocked)
        unlocked.active, unlocked.active_id = unlocked.pending, unlocked.pending_id
        unlocked.pending, unlocked.pending_id = None, None
        unlocked.kek = kek
        doc["kek"] = kek_info
        doc["keys"] = self._wrapped_entries(kek, unlocked)
        doc["rotated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self._write(doc)
        if old_account is not None and keyring_account(doc) != old_account:
            _keyring_delete(old_account)  # (kept when the rotation had to keep the KEK)

    def _renewed_kek(self, doc: dict[str, Any], unlocked: UnlockedKeys) -> tuple[bytes, dict[str, Any]]:
        """A new KEK for a rotation, or the current one when none can be made here (the
        keyring cannot be written, no passphrase in this process): this runs after the
        database was replaced, so it must never fail and lock the store out."""
        if doc["kek"]["source"] == "keyring":
            account = f"{unlocked.store_id}:{secrets.token_hex(4)}"
            kek = secrets.token_bytes(32)
            try:
                _keyring_set(account, kek)
                if _keyring_get(account) == kek:
                    return kek, {"source": "keyring", "account": account}
            except Exception:  # noqa: BLE001 - keep the current KEK
                pass
            return unlocked.kek, doc["kek"]
        if not unlocked.passphrase:
            return unlocked.kek, doc["kek"]
        kek, info, _ = self._new_kek(unlocked.store_id, prefer_keyring=False, new_passphrase=unlocked.passphrase)
        return kek, info

    def drop_pending(self, unlocked: UnlockedKeys) -> None:
        """Abandon an unfinished rotation whose new database never replaced the old one."""
        if unlocked.pending is None:
            return
        doc = self.read()
        unlocked.pending, unlocked.pending_id = None, None
        doc["keys"] = self._wrapped_entries(unlocked.kek, unlocked)
        self._write(doc)
