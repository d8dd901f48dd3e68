"""Files the user names (``--out``): one rule for writing them.

- The text must name a file: an empty path, ``.``, ``..`` or a directory is refused.
- Symbolic links are followed: the file written is the link's target (a link pointing
  nowhere yet creates its target). The rules below apply to that target.
- Only a regular file or a path that does not exist is written; a device (``/dev/null``),
  a FIFO, a socket or a directory is refused, never replaced.
- The data goes to a temporary file in the target's own directory (mode 0600 unless
  told otherwise), is flushed to disk, and is renamed over the target at the end: a
  reader sees the old file or the new one, never half of one; a failure leaves the old
  file as it was and no temporary file behind.
- ``overwrite=False`` refuses an existing target, atomically (a hard link, which fails
  if anything appeared at that name meanwhile).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from finanalytics_cli.engine.errors import InvalidInput


def resolve_output(path: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """The file a user-given output path stands for (symlinks followed), or InvalidInput."""
    text = os.fspath(path)
    if not text.strip():
        raise InvalidInput(f"{option} is empty: give the path of a file to write")
    given = Path(text).expanduser()
    if given.name in ("", ".", "..") or text.endswith(("/", os.sep)):
        raise InvalidInput(f"{option} {text!r} names a directory, not a file")
    target = Path(os.path.realpath(given))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InvalidInput(f"{option} {text!r}: {exc.strerror}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a device or special file"
        raise InvalidInput(f"{option} {text!r} is {kind}, not a regular file: refusing to replace it")
    if st is not None and _is_store_file(target):
        raise InvalidInput(f"{option} {text!r} is a finanalytics store's database or key file: refusing to replace it")
    if not target.parent.is_dir():
        raise InvalidInput(f"{option} {text!r}: the directory {target.parent} does not exist")
    return target


def _is_store_file(path: Path) -> bool:
    """A DuckDB database, a finanalytics key file or one of a store's own files: never an
    output (``report --out`` aimed at the key file would destroy the store for good)."""
    name = path.name
    if name.endswith((".duckdb", ".duckdb.key", ".duckdb.wal", ".audit-head", ".audit-spool")):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head[8:12] == b"DUCK" or b'"finanalytics-key"' in head


def read_user_file(path: str | os.PathLike[str], *, max_bytes: int, option: str) -> bytes:
    """The bytes of a file the user named, refused when it is not a regular file (a device
    such as /dev/zero never ends) or larger than ``max_bytes``."""
    p = Path(os.fspath(path)).expanduser()
    try:
        st = os.stat(p)
    except OSError as exc:
        raise InvalidInput(f"{option} {os.fspath(path)!r}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{option} {os.fspath(path)!r} is not a regular file")
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidInput(f"{option} {os.fspath(path)!r}: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise InvalidInput(f"{option} {os.fspath(path)!r} is larger than {max_bytes:,} bytes")
    return data


def write_user_file(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int = 0o600,
    overwrite: bool = True,
    option: str = "--out",
) -> Path:
    """Write ``data`` to the file the user named, by the module's rule. Returns the file written."""
    target = resolve_output(path, option=option)
    # No overwrite means nothing at the name at all: not even a (dangling) symbolic link,
    # which would make the write land wherever it points.
    if not overwrite and (os.path.lexists(target) or os.path.lexists(Path(os.fspath(path)).expanduser())):
        raise InvalidInput(f"{option} {os.fspath(path)!r} already exists: refusing to overwrite it")
    tmp = target.with_name(f".{target.name[:100]}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise InvalidInput(f"cannot write in {target.parent}: {exc.strerror}") from None
    try:
        write_synced(fd, tmp, data, mode)
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # fails if anything is at the name by now
            except FileExistsError:
                raise InvalidInput(f"{option} {os.fspath(path)!r} already exists: refusing to overwrite it") from None
            finally:
                tmp.unlink(missing_ok=True)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {target}: {exc.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return target


def write_synced(fd: int, path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to the file just created as ``fd`` at ``path``, flush it to disk and
    set its mode (the first half of an atomic write; the caller renames it into place)."""
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, mode)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: some filesystems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
