"""A damaged store: every command fails with STORE_CORRUPT (13) and changes nothing on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.engine.ledger import NewTransaction, ensure_account, insert_transactions
from finanalytics_cli.engine.store import audit_spool_path
from finanalytics_cli.exit_codes import EXIT_CODES
from finanalytics_cli.privacy import audit
from tests.conftest import run_cli as _run

CORRUPT = EXIT_CODES["STORE_CORRUPT"]


def _fill(store: Any, n: int = 40_000) -> None:
    import datetime as dt
    from decimal import Decimal

    with store.transaction() as con:
        acc = ensure_account(con, "Checking", currency="USD")
        insert_transactions(
            con,
            acc,
            None,
            [
                NewTransaction(
                    dt.date(2024, 1, 1) + dt.timedelta(days=i % 700), Decimal(-(i % 500) - 1), "USD", f"SHOP {i}"
                )
                for i in range(n)
            ],
        )
    store.con.execute("CHECKPOINT")


def _snapshot(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


WRITERS = [
    ["import", "{csv}", "--account", "Checking"],
    ["categorize"],
    ["key", "rotate"],
    ["init"],
    ["budget", "optimize"],
]
READERS = [["tx", "list"], ["spending"], ["status"], ["audit", "verify"]]


@pytest.fixture
def truncated(store: Any, store_paths: Any, tmp_path: Path) -> dict[str, str]:
    _fill(store)
    store.close()
    data = store_paths.db_path.read_bytes()
    store_paths.db_path.write_bytes(data[: len(data) // 2])
    audit.spool(audit_spool_path(store_paths), "command:earlier")  # a spool waiting to be folded
    (tmp_path / "a.csv").write_text("Date,Description,Amount (USD)\n2024-01-02,X,-1.00\n")
    return _snapshot(store_paths.db_path.parent)


@pytest.mark.parametrize("args", WRITERS + READERS, ids=lambda a: " ".join(a[:2]))
def test_truncated_store_is_refused_and_left_as_it_was(
    truncated: dict[str, str], store_paths: Any, tmp_path: Path, args: list[str]
) -> None:
    result = _run(*[a.replace("{csv}", str(tmp_path / "a.csv")) for a in args], "--json")
    assert result.returncode == CORRUPT, (result.returncode, result.stdout[-500:], result.stderr[-500:])
    assert "Traceback" not in result.stderr
    assert _snapshot(store_paths.db_path.parent) == truncated  # no byte written, no file added


def test_a_damaged_block_is_store_corrupt_not_a_bug(store: Any, store_paths: Any) -> None:
    _fill(store)
    store.close()
    data = bytearray(store_paths.db_path.read_bytes())
    # Flip bytes in the middle of every data block (past the three 4 KiB headers).
    block = 256 * 1024
    for start in range(3 * 4096, len(data) - block // 2, block):
        for offset in range(start + block // 2, start + block // 2 + 64):
            data[offset] ^= 0xFF
    store_paths.db_path.write_bytes(bytes(data))
    before = _snapshot(store_paths.db_path.parent)
    codes = {}
    for args in (["tx", "list", "--limit", "100000"], ["spending"], ["import", "/dev/null", "--account", "Checking"]):
        r = _run(*args, "--json")
        codes[args[0]] = r.returncode
        assert "Traceback" not in r.stderr, r.stderr[-800:]
        assert r.returncode != 1, (args, r.stdout[-400:], r.stderr[-400:])
    assert codes["tx"] == CORRUPT, codes
    assert _snapshot(store_paths.db_path.parent).keys() >= before.keys()


@pytest.mark.parametrize(
    "damage",
    ["directory", "n=0", "n=3", "r=0", "p=0", "n=2**40", "short salt", "not base64"],
)
def test_damaged_key_file_is_store_corrupt(store: Any, store_paths: Any, damage: str) -> None:
    import json
    import shutil

    store.close()
    key = store_paths.key_path
    if damage == "directory":
        key.unlink()
        key.mkdir()
    else:
        doc = json.loads(key.read_text())
        kek = doc["kek"]
        if damage == "short salt":
            kek["salt"] = "AAAA"
        elif damage == "not base64":
            kek["salt"] = "***"
        else:
            field, value = damage.split("=")
            kek[field] = eval(value)  # noqa: S307 - the test's own literal
        key.write_text(json.dumps(doc))
    before = _snapshot(store_paths.db_path.parent)
    r = _run("tx", "list", "--json")
    assert r.returncode == CORRUPT, (damage, r.returncode, r.stdout[-400:], r.stderr[-400:])
    assert "Traceback" not in r.stderr
    assert _snapshot(store_paths.db_path.parent) == before
    if damage == "directory":
        shutil.rmtree(key)
