"""Retention, purging, forgetting (crypto-shredding) and exporting the user's data."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.errors import AnalyticsError, InvalidInput

RETENTION_KEY = "privacy:retention"
DURATION_RE = re.compile(r"^\s*(\d{1,3})\s*([ymd])\s*$", re.IGNORECASE)
EXPORT_TABLES = (
    "accounts",
    "transactions",
    "imports",
    "rejected_rows",
    "balances",
    "rules",
    "categories",
    "goals",
    "budgets",
    "financial_insights",
    "financial_profiles",
    "privacy_ledger",
    "audit_log",
)
FORMATS = ("parquet", "csv", "json")


def parse_duration(text: str) -> tuple[int, str]:
    m = DURATION_RE.match(text or "")
    if not m or int(m.group(1)) == 0:
        raise InvalidInput(f"a retention period is a number and y, m or d, such as 7y, 18m or 90d; not {text!r}")
    return int(m.group(1)), m.group(2).lower()


def cutoff(n: int, unit: str, today: dt.date) -> dt.date:
    if unit == "d":
        return today - dt.timedelta(days=n)
    months = n * 12 if unit == "y" else n
    y, m = divmod(today.year * 12 + today.month - 1 - months, 12)
    day = min(today.day, 28)
    return dt.date(y, m + 1, day)


def set_retention(con: Any, text: str) -> dict[str, Any]:
    n, unit = parse_duration(text)
    value = {"period": f"{n}{unit}"}
    con.execute("INSERT OR REPLACE INTO app_state (key, value) VALUES (?, ?)", [RETENTION_KEY, json.dumps(value)])
    return value


def unset_retention(con: Any) -> None:
    con.execute("DELETE FROM app_state WHERE key = ?", [RETENTION_KEY])


def retention_status(con: Any, today: dt.date | None = None) -> dict[str, Any]:
    row = con.execute("SELECT value FROM app_state WHERE key = ?", [RETENTION_KEY]).fetchone()
    if row is None:
        return {"period": None, "keeps_from": None}
    period = json.loads(row[0])["period"]
    n, unit = parse_duration(period)
    return {"period": period, "keeps_from": cutoff(n, unit, today or dt.date.today())}


def purge_before(con: Any, before: dt.date) -> dict[str, int]:
    """Delete every transaction posted before ``before`` and what derives from it (its
    features, predictions, replaced pending rows); a transfer's surviving half forgets
    its partner. Counts per table."""
    ids = "SELECT tx_id FROM transactions WHERE posted_date < ?"
    counts = {
        "transactions": con.execute(f"SELECT count(*) FROM ({ids})", [before]).fetchone()[0],
    }
    if (
        not counts["transactions"]
        and not con.execute("SELECT count(*) FROM superseded_transactions WHERE posted_date < ?", [before]).fetchone()[
            0
        ]
    ):
        return {"transactions": 0}
    counts["features"] = con.execute(
        f"DELETE FROM features WHERE entity_type = 'transaction' AND entity_id IN (SELECT CAST(tx_id AS VARCHAR) "
        f"FROM ({ids}))",
        [before],
    ).fetchone()[0]
    counts["predictions"] = con.execute(
        f"DELETE FROM model_predictions WHERE entity_type = 'transaction' AND entity_id IN "
        f"(SELECT CAST(tx_id AS VARCHAR) FROM ({ids}))",
        [before],
    ).fetchone()[0]
    con.execute(
        f"UPDATE transactions SET transfer_tx_id = NULL WHERE transfer_tx_id IN ({ids}) AND posted_date >= ?",
        [before, before],
    )
    counts["superseded"] = con.execute(
        "DELETE FROM superseded_transactions WHERE posted_date < ?", [before]
    ).fetchone()[0]
    con.execute("DELETE FROM transactions WHERE posted_date < ?", [before])
    return counts


def enforce_retention(con: Any, today: dt.date | None = None) -> dict[str, int] | None:
    """Run on every write: drop what is older than the retention period."""
    status = retention_status(con, today)
    if status["period"] is None:
        return None
    counts = purge_before(con, status["keeps_from"])
    return counts if counts["transactions"] else None


def forget(paths: Any) -> dict[str, Any]:
    """Crypto-shredding: destroy the key (file and keyring entry), show that the store can
    no longer be opened, then remove the store's files."""
    from finanalytics_cli.engine.store import Store, audit_spool_path
    from finanalytics_cli.privacy.keys import KeyFile, _keyring_delete, keyring_account

    key_path: Path = paths.key_path
    db: Path = paths.db_path
    if not key_path.exists() and not db.exists():
        raise InvalidInput(f"profile {paths.profile!r} has no store to forget")
    store_id = None
    if key_path.exists():
        try:
            store_id = keyring_account(KeyFile(key_path).read())
        except AnalyticsError:
            store_id = None
        size = key_path.stat().st_size
        with open(key_path, "r+b") as f:  # overwrite before unlinking
            f.write(os.urandom(max(size, 64)))
            f.flush()
            os.fsync(f.fileno())
        key_path.unlink()
    keyring_entry = _keyring_delete(store_id) if store_id else "none"
    try:
        Store.open(paths).close()
        proof = "the store still opened: NOT forgotten"
        opened = True
    except AnalyticsError as exc:
        proof = f"{exc.code}: {exc}"
        opened = False
    if opened:
        raise AnalyticsError("the store could still be opened after its key was destroyed")
    from finanalytics_cli.privacy.audit import anchor_path

    removed = []
    spool = audit_spool_path(paths)
    for f in (
        db,
        db.with_name(db.name + ".wal"),
        db.with_name(db.name + ".lock"),
        spool,
        spool.with_name(spool.name + ".folding"),
        anchor_path(db),
    ):
        if f.exists():
            f.unlink()
            removed.append(f.name)
    # The data key lived only in the key file (now overwritten and gone): the data cannot
    # be decrypted whatever else survives. What could not be destroyed is said, not hidden.
    not_destroyed = [] if keyring_entry in ("deleted", "none") else [f"the keyring entry: {keyring_entry}"]
    return {
        "key_destroyed": True,
        "keyring_entry": keyring_entry,
        "not_destroyed": not_destroyed,
        "open_attempt_after": proof,
        "files_removed": removed,
    }


def check_export_dir(out: Path, fmt: str) -> None:
    """The export's format and directory are usable (before anything is spent or read)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"--format for export must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if not str(out).strip():
        raise InvalidInput("--out is empty: give a new directory for the export")
    if os.path.lexists(out):
        raise InvalidInput(f"{out} already exists; choose a new directory")


@contextlib.contextmanager
def _new_export_dir(out: Path, fmt: str) -> Iterator[Path]:
    """A directory (0700) that becomes ``out`` only when everything in it is written: the
    files go to ``out.partial`` first, which is renamed at the end or removed on failure."""
    check_export_dir(out, fmt)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True, mode=0o700)
    except OSError as exc:
        raise InvalidInput(f"cannot create {out}: {exc.strerror}") from None
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export_data(con: Any, out: Path, fmt: str) -> dict[str, Any]:
    """Every table of the user's data, one file each (0600), into a new directory."""
    options = {"parquet": "FORMAT parquet", "csv": "FORMAT csv, HEADER", "json": "FORMAT json, ARRAY true"}
    files = {}
    with _new_export_dir(out, fmt) as tmp:
        for table in EXPORT_TABLES:
            target = tmp / f"{table}.{fmt}"
            con.execute(f"COPY (SELECT * FROM {table}) TO '{_sql_path(target)}' ({options[fmt]})")
            os.chmod(target, 0o600)
            files[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return {"directory": str(out), "format": fmt, "tables": files}


def write_dp_export(rows: list[dict[str, Any]], out: Path, fmt: str) -> dict[str, Any]:
    """A DP release written as one file (the only thing a DP export contains)."""
    import polars as pl

    with _new_export_dir(out, fmt) as tmp:
        frame = pl.DataFrame(rows)
        target = tmp / f"spending_dp.{fmt}"
        {"parquet": frame.write_parquet, "csv": frame.write_csv, "json": frame.write_json}[fmt](target)
        os.chmod(target, 0o600)
    return {"directory": str(out), "format": fmt, "tables": {"spending_dp": len(rows)}}


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
