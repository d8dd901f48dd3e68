"""Real filesystems that refuse writes: a read-only mount and a full disk (small tmpfs
mounts, which need root: skipped with the reason otherwise)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.engine.store import Store
from finanalytics_cli.exit_codes import EXIT_CODES
from finanalytics_cli.privacy import audit
from tests.conftest import run_cli as _run


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _counts(store_paths: Any) -> tuple[int, int]:
    with Store.open(store_paths, readonly=True) as s:
        assert audit.verify(s.con)["ok"]
        return (
            s.con.execute("SELECT count(*) FROM transactions").fetchone()[0],
            s.con.execute("SELECT count(*) FROM imports").fetchone()[0],
        )


CSV = "Date,Description,Amount (USD)\n" + "".join(
    f"2024-01-{1 + i % 28:02d},SHOP {i},-{i % 90 + 1}.25\n" for i in range(300)
)


def test_read_only_filesystem_reads_work_and_writes_are_store_unwritable(
    sample_store: Any, store_paths: Any, tmp_path: Path
) -> None:
    sample_store.close()
    mnt = tmp_path / "ro"
    with _tmpfs(mnt, "64m"):
        db = mnt / "store.duckdb"
        shutil.copy2(store_paths.db_path, db)
        shutil.copy2(store_paths.key_path, str(db) + ".key")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        env = {**os.environ, "FINANALYTICS_NO_KEYRING": "1"}
        for args in (["tx", "list", "--limit", "5"], ["spending"], ["status"], ["audit", "verify"], ["accounts"]):
            r = _run("--db", str(db), *args, "--json", env=env)
            assert r.returncode == 0, (args, r.stdout[-600:], r.stderr[-600:])
        (tmp_path / "a.csv").write_text(CSV)
        for args in (
            ["import", str(tmp_path / "a.csv"), "--account", "New"],
            ["categorize"],
            ["goals", "add", "G", "--target", "10", "--by", "2030-01-01"],
        ):
            r = _run("--db", str(db), *args, "--json", env=env)
            assert r.returncode == EXIT_CODES["STORE_UNWRITABLE"], (
                args,
                r.returncode,
                r.stdout[-600:],
                r.stderr[-600:],
            )
            assert "Traceback" not in r.stderr


def test_full_disk_is_store_unwritable_and_the_store_is_as_before(
    sample_store: Any, store_paths: Any, tmp_path: Path
) -> None:
    sample_store.close()
    size = store_paths.db_path.stat().st_size
    mnt = tmp_path / "small"
    with _tmpfs(mnt, f"{(size * 2 + 3 * 2**20) // 2**20}m"):
        db = mnt / "store.duckdb"
        shutil.copy2(store_paths.db_path, db)
        shutil.copy2(store_paths.key_path, str(db) + ".key")
        from finanalytics_cli.engine.paths import resolve_paths

        p = resolve_paths(None, db)
        before = _counts(p)
        big = tmp_path / "big.csv"  # on the roomy disk; the store's disk fills up
        big.write_text(
            "Date,Description,Amount (USD)\n"
            + "".join(
                f"2024-{1 + i % 12:02d}-{1 + i % 28:02d},SHOP {i} {'X' * (i % 40)},-{i % 997}.25\n"
                for i in range(400_000)
            )
        )
        r = _run("--db", str(db), "import", str(big), "--account", "Big", "--json", env=dict(os.environ))
        assert r.returncode == EXIT_CODES["STORE_UNWRITABLE"], (r.returncode, r.stdout[-800:], r.stderr[-800:])
        assert "Traceback" not in r.stderr
        assert _counts(p) == before  # nothing half-written
        # The blocks the failed import had written are free: once there is room again (the
        # user frees some space), the next write gives them back.
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        env = dict(os.environ)
        r = _run("--db", str(db), "goals", "add", "G", "--target", "10", "--by", "2030-01-01", "--json", env=env)
        assert r.returncode == 0, (r.stdout[-500:], r.stderr[-500:])
        assert db.stat().st_size <= size + 2**21, (size, db.stat().st_size)  # a checkpoint's copy-on-write at most
        # And once there is room again, the same import lands.
        leftovers = [f for f in mnt.iterdir() if f.name.endswith((".tmp", ".wal"))]
        assert all(f.stat().st_size < 2**20 for f in leftovers), leftovers
