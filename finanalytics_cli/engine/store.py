"""The encrypted local store: one DuckDB file per profile.

The database is encrypted at rest by DuckDB itself (AES-GCM). Writing an encrypted
DuckDB file securely needs the OpenSSL crypto module that ships in DuckDB's httpfs
extension; the PyPI package ``duckdb-extension-httpfs`` carries DuckDB's signed binary,
loaded from disk (never downloaded). Without it the store refuses to create or write,
rather than fall back to DuckDB's insecure mbedtls writer or to plaintext.

Concurrency: one writer at a time. Writers take an exclusive advisory lock beside the
database, readers a shared one; a process that cannot get it within ``wait`` seconds
gets STORE_LOCKED. DuckDB's own file lock backs this up.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.errors import (
    EncryptionUnavailable,
    KeyUnavailable,
    StoreCorrupt,
    StoreLocked,
    StoreNotFound,
    StoreUnwritable,
)
from finanalytics_cli.engine.paths import Paths
from finanalytics_cli.privacy.keys import KeyFile, PassphraseProvider, UnlockedKeys, no_prompt

DUCKDB_MAGIC = b"DUCK"
DB_ALIAS = "fa"
_LOCK_POLL_S = 0.1
# Called when the store is busy and the open waits; returns what to call when it ends.
OnWait = Callable[[], Callable[[], None] | None]


def httpfs_extension_path() -> Path:
    """Path of DuckDB's signed httpfs binary from the ``duckdb-extension-httpfs`` package."""
    import importlib.util

    import duckdb

    spec = importlib.util.find_spec("duckdb_extension_httpfs")
    if spec is None or not spec.submodule_search_locations:
        raise EncryptionUnavailable(
            "writing an encrypted store needs the package duckdb-extension-httpfs "
            f"=={duckdb.__version__} (DuckDB's OpenSSL crypto module); install it — "
            "finanalytics never falls back to an insecure cipher or to plaintext"
        )
    base = Path(next(iter(spec.submodule_search_locations)))
    candidate = base / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not candidate.exists():
        found = sorted(p.parent.name for p in base.glob("extensions/*/httpfs.duckdb_extension"))
        raise EncryptionUnavailable(
            f"duckdb-extension-httpfs ({', '.join(found) or 'no binary'}) does not match "
            f"duckdb {duckdb.__version__}; install duckdb-extension-httpfs=={duckdb.__version__}"
        )
    return candidate


def _check_is_duckdb(path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except PermissionError:
        raise StoreUnwritable(f"cannot read {path}: permission denied") from None
    except IsADirectoryError:
        raise StoreCorrupt(f"{path} is a directory, not a finanalytics store") from None
    if len(head) < 12 or head[8:12] != DUCKDB_MAGIC:
        raise StoreCorrupt(f"{path} is not a finanalytics store (not a DuckDB database file)")


class _AdvisoryLock:
    """A shared/exclusive lock on ``<db>.lock`` (POSIX flock; DuckDB's lock elsewhere)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, exclusive: bool, deadline: float, on_wait: OnWait | None = None) -> None:
        """Take the lock before ``deadline``; ``on_wait`` is called once if another process
        holds it (and its return value, a function, once the wait ends either way)."""
        try:
            import fcntl
        except ImportError:  # Windows: DuckDB's own file lock is the only guard
            return
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            import errno

            if not exclusive and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                try:  # a read-only location: an existing lock file still serves readers
                    self.fd = os.open(self.path, os.O_RDONLY)
                except OSError:
                    return  # no lock file: readers go on with DuckDB's own read-only open
            elif exc.errno == errno.EACCES or exc.errno == errno.EPERM:
                raise StoreUnwritable(f"cannot write in {self.path.parent}: permission denied") from None
            else:
                raise StoreUnwritable(f"cannot write in {self.path.parent}: {exc.strerror}") from None
        flag = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        done: Callable[[], None] | None = None
        try:
            while True:
                try:
                    fcntl.flock(self.fd, flag)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        self.release()
                        raise _locked() from None
                    if done is None:
                        done = (on_wait() if on_wait else None) or (lambda: None)
                    time.sleep(_LOCK_POLL_S)
        finally:
            if done is not None:
                done()

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def _key_init_tmp(paths: Paths) -> Path:
    return paths.key_path.with_name(paths.key_path.name + ".init-tmp")


def _missing_database(paths: Paths) -> StoreCorrupt:
    return StoreCorrupt(
        f"the database {paths.db_path} is missing but its key file {paths.key_path} is there: if the database "
        "was moved or is on a disk that is not mounted, put it back; nothing was changed. To start a new store "
        "instead, move the key file away first (without it the old database can never be opened)"
    )


def _finish_creation(paths: Paths) -> None:
    """A creation stopped after the database was renamed into place and before its key
    was: the key is the one written for this database (checked when it is opened)."""
    lock = _AdvisoryLock(paths.db_path.with_name(paths.db_path.name + ".lock"))
    lock.acquire(exclusive=True, deadline=time.monotonic())
    try:
        if not paths.key_path.exists() and _key_init_tmp(paths).exists():
            os.replace(_key_init_tmp(paths), paths.key_path)
    finally:
        lock.release()


def _locked() -> StoreLocked:
    return StoreLocked(
        "the store is in use by another finanalytics process; try again, or pass --wait SECONDS",
        fallback_strategy="retry",
    )


def _enforce_retention(con: Any) -> None:
    """The retention period holds on every write: older transactions go at once."""
    from finanalytics_cli.privacy.audit import append
    from finanalytics_cli.privacy.retention import enforce_retention

    con.execute("BEGIN TRANSACTION")
    try:
        counts = enforce_retention(con)
        if counts:
            append(con, "retention_purge", {"deleted": counts["transactions"]})
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def audit_spool_path(paths: Paths) -> Path:
    """Where read-only commands leave their audit entries for the next writer."""
    return paths.db_path.with_name(paths.db_path.name + ".audit-spool")


class Store:
    """An open, unlocked, migrated store. Use as a context manager."""

    def __init__(self, paths: Paths, con: Any, keys: UnlockedKeys, lock: _AdvisoryLock, readonly: bool) -> None:
        self.paths = paths
        self.con = con
        self.keys = keys
        self._lock = lock
        self.readonly = readonly
        self._tx_depth = 0  # nesting of transaction(): inner ones join the outer
        self.audit_action: str | None = None  # set by the CLI: the command, logged when the store closes
        self._audit_outcome = "ok"
        self.created = False  # made by this call of Store.create

    # -- lifecycle -------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        paths: Paths,
        *,
        readonly: bool = False,
        wait: float = 0.0,
        passphrase_provider: PassphraseProvider = no_prompt,
        keys: UnlockedKeys | None = None,
        on_wait: OnWait | None = None,
    ) -> Store:
        """Open an existing store (applying pending migrations when writable).

        ``keys``: already unlocked keys of this store (so a passphrase is asked once).
        ``on_wait``: told when another process holds the store and this open waits for it.
        """
        db = paths.db_path
        if not db.exists():
            if db.parent.exists() and paths.key_path.exists():
                raise _missing_database(paths)
            raise StoreNotFound(f"no store at {db}; run `finanalytics init` first")
        if not paths.key_path.exists() and _key_init_tmp(paths).exists():
            _finish_creation(paths)
        _check_is_duckdb(db)
        keyfile = KeyFile(paths.key_path, passphrase_provider)
        lock = _AdvisoryLock(db.with_name(db.name + ".lock"))
        deadline = time.monotonic() + max(wait, 0.0)
        lock.acquire(exclusive=not readonly, deadline=deadline, on_wait=on_wait)
        con = None
        try:
            if keys is None:
                keys = keyfile.unlock()
            con = _connect(need_write=not readonly)
            _recover_rotation(paths, keyfile, keys)
            wal = db.with_name(db.name + ".wal")
            replayed = wal.exists() and wal.stat().st_size > 0
            _attach(con, db, keys.active, readonly=readonly, deadline=deadline)
            if not replayed:  # (a replayed WAL counts blocks the file does not hold yet)
                _check_whole(con, db)  # before anything is written to it
                if not readonly:
                    _drop_unreferenced_tail(con, db)
            store = cls(paths, con, keys, lock, readonly)
            from finanalytics_cli.engine.migrations import migrate, pending_migrations
            from finanalytics_cli.privacy import audit as audit_chain

            audit_chain.bind(con, keys.active)

            if readonly:
                if pending_migrations(con):
                    store.close()
                    with cls.open(paths, readonly=False, wait=wait, keys=keys, on_wait=on_wait):
                        pass
                    return cls.open(paths, readonly=True, wait=wait, keys=keys, on_wait=on_wait)
            else:
                migrate(con)
                from finanalytics_cli.privacy.audit import fold_spool

                con.execute("BEGIN TRANSACTION")
                try:
                    audit_chain.upgrade_chain(con)  # an unkeyed chain from before becomes keyed
                    from finanalytics_cli.engine.models.registry import upgrade_artifact_tags

                    upgrade_artifact_tags(con, keys.active)  # tags bound to their model's row
                except BaseException:
                    with contextlib.suppress(Exception):
                        con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
                fold_spool(con, audit_spool_path(paths))
                _enforce_retention(con)
            return store
        except BaseException:
            if con is not None:
                with contextlib.suppress(Exception):
                    con.close()
            lock.release()
            raise

    @classmethod
    def create(cls, paths: Paths, *, passphrase_provider: PassphraseProvider = no_prompt, wait: float = 0.0) -> Store:
        """Create a new encrypted store, or open the one another process just created.

        Never touches an existing key file: a key without its database is a store whose
        database is missing (moved, on an unmounted disk), not a place to start afresh.
        The key file and the database appear only once both are complete: the key is
        written to ``<key>.init-tmp``, the database to ``<db>.init-tmp``; the database is
        renamed into place first, then the key, so an interrupted creation never leaves a
        key without a database (a database without its key is finished by the next open).
        ``wait``: seconds to wait for another process creating or using the store."""
        db = paths.db_path
        if db.exists():
            raise StoreCorrupt(f"a file already exists at {db}")
        if paths.key_path.exists():
            raise _missing_database(paths)
        ext = httpfs_extension_path()  # refuse before writing anything
        try:
            db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except PermissionError:
            raise StoreUnwritable(f"cannot create {db.parent}: permission denied") from None
        except OSError as exc:
            raise StoreUnwritable(f"cannot create {db.parent}: {exc.strerror}") from None
        if not os.access(db.parent, os.W_OK):
            raise StoreUnwritable(f"cannot write in {db.parent}: permission denied")
        lock = _AdvisoryLock(db.with_name(db.name + ".lock"))
        lock.acquire(exclusive=True, deadline=time.monotonic() + max(wait, 0.0))
        if db.exists() or paths.key_path.exists():  # another process created it meanwhile
            lock.release()
            if db.exists():
                return cls.open(paths, wait=wait, passphrase_provider=passphrase_provider)
            raise _missing_database(paths)
        tmp = db.with_name(db.name + ".init-tmp")
        key_tmp = _key_init_tmp(paths)
        try:
            for leftover in (tmp, tmp.with_name(tmp.name + ".wal"), key_tmp):
                leftover.unlink(missing_ok=True)
            keys = KeyFile(key_tmp, passphrase_provider).create()
            con = _connect(need_write=True, ext=ext)
            _attach(con, tmp, keys.active, readonly=False, deadline=time.monotonic())
            from finanalytics_cli.engine.migrations import migrate

            migrate(con)
            con.execute(f"CHECKPOINT {DB_ALIAS}")
            con.execute("USE memory")
            con.execute(f"DETACH {DB_ALIAS}")
            con.close()
            os.chmod(tmp, 0o600)
            os.replace(tmp, db)
            os.replace(key_tmp, paths.key_path)
        except BaseException:
            if not db.exists():
                for f in (tmp, tmp.with_name(tmp.name + ".wal"), key_tmp):
                    f.unlink(missing_ok=True)
            lock.release()
            raise
        lock.release()
        store = cls.open(paths, keys=keys)
        store.created = True
        return store

    def close(self) -> None:
        try:
            if self.con is not None and self.audit_action:
                self._audit_close()
        finally:
            if self.con is not None and not self.readonly and self._audit_outcome == "error":
                # A failed write (a full disk) leaves the blocks it had written free in the
                # file; a checkpoint after this command's own writes (its audit entry at
                # least) gives the free blocks at the end back instead of keeping the bloat.
                with contextlib.suppress(Exception):
                    size, free = self.con.execute(
                        "SELECT block_size, free_blocks FROM pragma_database_size() WHERE database_name = ?",
                        [DB_ALIAS],
                    ).fetchone()
                    if size and free and size * free >= _RECLAIM_BYTES:
                        self.con.execute(f"CHECKPOINT {DB_ALIAS}")
            if self.con is not None:
                from finanalytics_cli.privacy import audit

                audit.unbind(self.con)
                with contextlib.suppress(Exception):
                    self.con.close()
                self.con = None
            self._lock.release()

    def _audit_close(self) -> None:
        """The command's audit entry: in the chain, or (read-only) in the spool."""
        from finanalytics_cli.privacy import audit

        action, self.audit_action = self.audit_action, None
        details = {"exit": self._audit_outcome, "readonly": self.readonly}
        if self.readonly:
            # A store on a read-only medium still answers questions: its spool is skipped.
            key = audit.audit_key(self.keys.active)
            with contextlib.suppress(OSError):
                for event, event_details in audit.take_pending():
                    audit.spool(audit_spool_path(self.paths), event, event_details, key)
                audit.spool(audit_spool_path(self.paths), action, details, key)
        else:
            if self._audit_outcome == "ok":
                _enforce_retention(self.con)  # what this command wrote obeys the period too
            audit.append(self.con, action, details)
            with contextlib.suppress(OSError):  # (a full disk: the anchor stays behind, never ahead)
                audit.write_anchor(self.con, audit.anchor_path(self.paths.db_path))

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc and exc[0] is not None:
            self._audit_outcome = "error"
        self.close()

    # -- helpers ---------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """One database transaction: all of it lands, or none of it. Inside another, it
        joins the outer one (which decides)."""
        if self._tx_depth:
            self._tx_depth += 1
            try:
                yield self.con
            finally:
                self._tx_depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._tx_depth = 1
        try:
            yield self.con
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                self.con.execute("ROLLBACK")
            raise
        finally:
            self._tx_depth = 0
        self.con.execute("COMMIT")

    def encryption_info(self) -> dict[str, Any]:
        row = self.con.execute(
            "SELECT encrypted, cipher FROM duckdb_databases() WHERE database_name = ?", [DB_ALIAS]
        ).fetchone()
        return {"encrypted": bool(row[0]), "cipher": row[1]}

    def schema_info(self) -> dict[str, Any]:
        from finanalytics_cli.engine.migrations import SCHEMA_VERSION, applied_migrations

        applied = applied_migrations(self.con)
        return {"schema_version": len(applied), "supported_schema_version": SCHEMA_VERSION, "migrations": applied}

    def rotate_key(self) -> None:
        """Re-encrypt the whole database under a new data key (by copying it).

        Order, so that a crash anywhere leaves a store that opens: (1) the new key is
        added to the key file as pending; (2) a copy is written under it; (3) the copy
        replaces the database atomically; (4) the pending key becomes the only key.
        """
        if self.readonly:
            raise StoreUnwritable("the store is open read-only")
        keyfile = KeyFile(self.paths.key_path)
        db = self.paths.db_path
        tmp = db.with_name(db.name + ".rotate-tmp")
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
        keys = keyfile.add_pending(self.keys)
        assert keys.pending is not None
        con = self.con
        con.execute(f"FORCE CHECKPOINT {DB_ALIAS}")
        con.execute(f"ATTACH '{_sql_path(tmp)}' AS fa_new (ENCRYPTION_KEY '{keys.duckdb_key(keys.pending)}')")
        _verify_encrypted(con, "fa_new")
        con.execute(f"COPY FROM DATABASE {DB_ALIAS} TO fa_new")
        # Model artifacts are authenticated with a key derived from the data key: re-sign.
        from finanalytics_cli.engine.models.registry import resign_artifacts
        from finanalytics_cli.privacy import audit

        con.execute("USE fa_new")
        resign_artifacts(con, keys.active, keys.pending)
        audit.rekey(con, keys.active, keys.pending)  # the chain's links, under the new key
        audit.write_next_anchor(con, audit.anchor_path(db), keys.pending)
        con.execute("CHECKPOINT fa_new")
        con.execute("USE memory")
        con.execute("DETACH fa_new")
        con.execute(f"DETACH {DB_ALIAS}")
        wal = db.with_name(db.name + ".wal")
        # The old database was checkpointed: a leftover WAL must not replay onto the copy.
        wal.unlink(missing_ok=True)
        os.replace(tmp, db)
        os.chmod(db, 0o600)
        keyfile.promote_pending(keys)
        _attach(con, db, keys.active, readonly=False, deadline=time.monotonic())
        self.keys = keys
        audit.bind(con, keys.active)
        audit.write_anchor(con, audit.anchor_path(db))


_CORRUPTION_HINTS = (
    "Could not read enough bytes",
    "AES tag",  # "Computed AES tag differs from read AES tag": a damaged encrypted block
    "tag differs",
    "Corrupt",
    "corrupt",
    "checksum",
    "Checksum",
    "not a valid DuckDB database",
)


def translate_db_error(exc: BaseException) -> Exception | None:
    """The AnalyticsError a DuckDB failure stands for, or None when it is a bug."""
    module = type(exc).__module__ or ""
    if not module.startswith(("duckdb", "_duckdb")):
        return None
    text = str(exc)
    if any(h in text for h in _CORRUPTION_HINTS):
        return StoreCorrupt("the store is damaged (a database block could not be read); restore it from a backup")
    if "No space left on device" in text or "Disk full" in text or "disk is full" in text.lower():
        return StoreUnwritable("the disk is full; nothing was written (free some space and retry)")
    if "Could not set lock" in text or "Conflicting lock" in text:
        return _locked()
    return None


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _connect(need_write: bool, ext: Path | None = None) -> Any:
    import duckdb

    # DuckDB creates the WAL and its spill files with the process umask: none of the
    # store's files may be readable by others (the WAL holds encrypted rows, but its
    # size and timing are the user's business too). Only ever tightened.
    os.umask(os.umask(0o077) | 0o077)

    con = duckdb.connect(
        ":memory:",
        config={
            # Never fetch anything at run time.
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            # Spilled intermediate results are encrypted too.
            "temp_file_encryption": True,
        },
    )
    # DuckDB would draw its own progress bar on stdout, into our JSON.
    con.execute("SET enable_progress_bar = false")
    try:
        path = ext or httpfs_extension_path()
    except EncryptionUnavailable:
        if need_write:
            con.close()
            raise
        return con  # reading needs no OpenSSL: DuckDB's built-in module decrypts
    con.execute(f"LOAD '{_sql_path(path)}'")
    return con


_DB_HEADERS = 3 * 4096
_RECLAIM_BYTES = (
    4 * 2**20
)  # free blocks worth giving back to the disk at close  # DuckDB's file header and its two database headers


def _check_whole(con: Any, path: Path) -> None:
    """A database file shorter than the blocks in use that its header counts was
    truncated (a copy cut short, a full disk): refused before any write makes it grow or
    hides the loss. (Free blocks at the end may be cut off by DuckDB itself, so only the
    used ones count.) Only right when no WAL was replayed at the attach (the caller checks)."""
    row = con.execute(
        "SELECT block_size, used_blocks FROM pragma_database_size() WHERE database_name = ?", [DB_ALIAS]
    ).fetchone()
    if row is None or row[0] is None:
        return
    expected = _DB_HEADERS + int(row[0]) * int(row[1])
    size = path.stat().st_size
    if size < expected:
        raise StoreCorrupt(
            f"the store is damaged: {path} holds {size} bytes, less than the {expected} its header says are in use "
            "(truncated); nothing was changed. Restore it from a backup"
        )


def _drop_unreferenced_tail(con: Any, path: Path) -> None:
    """Blocks a write that failed (a full disk, a kill) had appended beyond the blocks the
    header counts belong to nothing: the file is cut back to what the header describes,
    so a failed import does not leave the store bloated."""
    block_size, total = con.execute(
        "SELECT block_size, total_blocks FROM pragma_database_size() WHERE database_name = ?", [DB_ALIAS]
    ).fetchone()
    if not block_size:
        return
    described = _DB_HEADERS + int(block_size) * int(total)
    if path.stat().st_size > described:
        with contextlib.suppress(OSError):
            os.truncate(path, described)


def _verify_encrypted(con: Any, alias: str) -> None:
    row = con.execute("SELECT encrypted, cipher FROM duckdb_databases() WHERE database_name = ?", [alias]).fetchone()
    if not row or not row[0] or row[1] != "GCM":
        raise EncryptionUnavailable(f"the store is not encrypted with AES-GCM (got {row!r}); refusing to use it")


def _attach(con: Any, path: Path, data_key: bytes, *, readonly: bool, deadline: float) -> None:
    import duckdb

    key = UnlockedKeys.duckdb_key(data_key)
    options = f"ENCRYPTION_KEY '{key}'" + (", READ_ONLY" if readonly else "")
    while True:
        try:
            con.execute(f"ATTACH '{_sql_path(path)}' AS {DB_ALIAS} ({options})")
            break
        except duckdb.Error as exc:
            # DuckDB's messages do not echo the statement, but keep ours key-free anyway.
            text = str(exc).replace(key, "***")
            if "Could not set lock" in text or "Conflicting lock" in text:
                if time.monotonic() < deadline:
                    time.sleep(_LOCK_POLL_S)
                    continue
                raise _locked() from None
            if "Wrong encryption key" in text:
                raise KeyUnavailable(
                    "the data key does not open this database (key file does not belong to it)"
                ) from None
            if "not a valid DuckDB database" in text or "Corrupt" in text or "corrupt" in text:
                raise StoreCorrupt(f"{path} is damaged or not a finanalytics store") from None
            if "Permission denied" in text or "read-only" in text.lower() and not readonly:
                raise StoreUnwritable(f"cannot write {path}: permission denied") from None
            if "read-only crypto module" in text:
                raise EncryptionUnavailable(
                    "writing needs DuckDB's OpenSSL crypto module (package duckdb-extension-httpfs)"
                ) from None
            raise StoreCorrupt(f"cannot open {path}: {text.splitlines()[0]}") from None
    _verify_encrypted(con, DB_ALIAS)
    con.execute(f"USE {DB_ALIAS}")


def _recover_rotation(paths: Paths, keyfile: KeyFile, keys: UnlockedKeys) -> None:
    """Finish or undo a key rotation that a crash interrupted."""
    if keys.pending is None:
        return
    import duckdb

    db = paths.db_path
    probe = duckdb.connect(
        ":memory:", config={"autoload_known_extensions": False, "autoinstall_known_extensions": False}
    )
    try:
        probe.execute(
            f"ATTACH '{_sql_path(db)}' AS probe (ENCRYPTION_KEY '{keys.duckdb_key(keys.pending)}', READ_ONLY)"
        )
        opened_with_pending = True
    except duckdb.Error:
        opened_with_pending = False
    finally:
        probe.close()
    if opened_with_pending:
        keyfile.promote_pending(keys)  # the copy had replaced the database
    else:
        db.with_name(db.name + ".rotate-tmp").unlink(missing_ok=True)
        keyfile.drop_pending(keys)  # the copy never replaced it
