"""The audit log: an append-only, hash-chained record of what was done to the store.

Each entry holds a sequence number, a time, an action and a few non-sensitive details
(command names, counts, model ids, epsilon; never amounts, payees or secrets), and the
SHA-256 of the previous entry's hash and its own content. `verify` recomputes the chain:
an edited entry breaks its own hash, a removed or reordered one breaks the sequence or
the link to its predecessor. Commands that open the store read-only cannot write to it:
they append to a spool file (mode 0600, command names and times only) that the next
writing command folds into the chain in order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
SAFE_KEYS = {
    "command",
    "exit",
    "rows",
    "count",
    "model_id",
    "model_type",
    "epsilon",
    "delta",
    "format",
    "tables",
    "files",
    "before",
    "deleted",
    "retention",
    "mechanism",
    "readonly",
    "spooled_at",
    "spool_id",
    "predictions",
    "entity_type",
}


def _clean(details: dict[str, Any] | None) -> dict[str, Any]:
    """Only whitelisted keys with short scalar values reach the log."""
    out = {}
    for k, v in (details or {}).items():
        if k not in SAFE_KEYS:
            continue
        if isinstance(v, float | int | bool) or v is None:
            out[k] = v
        elif isinstance(v, str):
            out[k] = v[:80]
        elif isinstance(v, list | tuple):
            out[k] = [str(x)[:40] for x in v][:20]
    return out


def _digest(seq: int, ts: str, action: str, details: str, prev: str) -> str:
    return hashlib.sha256(json.dumps([seq, ts, action, details, prev]).encode()).hexdigest()


def append(con: Any, action: str, details: dict[str, Any] | None = None, ts: dt.datetime | None = None) -> int:
    """Add one entry at the end of the chain; returns its sequence number."""
    last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    stamp = (ts or dt.datetime.now(dt.UTC).replace(tzinfo=None)).isoformat(timespec="microseconds")
    body = json.dumps(_clean(details), sort_keys=True)
    con.execute(
        "INSERT INTO audit_log (seq, ts, action, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
        [seq, stamp, action[:80], body, prev, _digest(seq, stamp, action[:80], body, prev)],
    )
    return seq


_pending: list[tuple[str, dict[str, Any]]] = []  # events seen on a read-only store, spooled at close


def log_event(con: Any, action: str, details: dict[str, Any] | None = None) -> None:
    """Record an event (model load, prediction batch, DP release, export): in the chain, or
    on a read-only store in the spool that the next writer folds in."""
    import duckdb

    try:
        append(con, action, details)
    except duckdb.Error as exc:
        if "read-only" not in str(exc):
            raise
        _pending.append((action, _clean(details)))


def take_pending() -> list[tuple[str, dict[str, Any]]]:
    out = list(_pending)
    _pending.clear()
    return out


def spool(path: Path, action: str, details: dict[str, Any] | None = None) -> None:
    """Remember an entry a read-only command could not write (appended to a 0600 file).

    Each line carries an id, so that folding it twice (a fold killed after its commit,
    before the file was removed) adds it once."""
    import secrets

    line = json.dumps(
        {
            "ts": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds"),
            "id": secrets.token_hex(8),
            "action": action,
            "details": _clean(details),
        }
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def fold_spool(con: Any, path: Path) -> int:
    """Move spooled entries into the chain (in their order), then remove the spool.

    The spool is first renamed to ``<spool>.folding`` (readers appending from then on
    start a new spool); a ``.folding`` left by an interrupted fold (kill, full disk) is
    folded first, never overwritten. Each file is folded in one transaction and removed
    only after its commit; entries already in the chain (a fold killed between its commit
    and the removal) are skipped by their id. Returns the entries added."""
    folding = path.with_name(path.name + ".folding")
    n = 0
    if folding.exists():
        n += _fold_file(con, folding)
    if path.exists():
        try:
            os.replace(path, folding)
        except FileNotFoundError:
            return n
        n += _fold_file(con, folding)
    return n


def _fold_file(con: Any, folding: Path) -> int:
    items = []
    for raw in folding.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(raw)
            ts = dt.datetime.fromisoformat(item["ts"])
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line after a crash: skipped
        items.append((item, ts))
    n = 0
    con.execute("BEGIN TRANSACTION")
    try:
        for item, ts in items:
            action = str(item.get("action", "unknown"))[:80]
            details = dict(item.get("details") or {})
            details["spooled_at"] = item["ts"]
            spool_id = item.get("id")
            if spool_id:
                details["spool_id"] = str(spool_id)[:40]
                seen = con.execute(
                    "SELECT count(*) FROM audit_log WHERE json_extract_string(details, '$.spool_id') = ?",
                    [details["spool_id"]],
                ).fetchone()[0]
            else:  # a line spooled before ids: its action and time identify it
                seen = con.execute(
                    "SELECT count(*) FROM audit_log WHERE action = ? "
                    "AND json_extract_string(details, '$.spooled_at') = ?",
                    [action, item["ts"]],
                ).fetchone()[0]
            if seen:
                continue
            append(con, action, details, ts=ts)
            n += 1
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            con.execute("ROLLBACK")
        raise
    folding.unlink()
    return n


def entries(con: Any, limit: int = 50, action: str | None = None) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT seq, ts, action, details, hash FROM audit_log WHERE ? IS NULL OR action LIKE ? "
        "ORDER BY seq DESC LIMIT ?",
        [action, f"{action}%" if action else None, limit],
    ).fetchall()
    return [
        {"seq": s, "at": t, "action": a, "details": json.loads(d or "{}"), "hash": h[:16]} for s, t, a, d, h in rows
    ]


def verify(con: Any) -> dict[str, Any]:
    """Recompute the chain; the first broken link is reported."""
    rows = con.execute("SELECT seq, ts, action, details, prev_hash, hash FROM audit_log ORDER BY seq").fetchall()
    prev, expected = GENESIS, 1
    for seq, ts, action, details, prev_hash, digest in rows:
        stamp = ts.isoformat(timespec="microseconds") if isinstance(ts, dt.datetime) else str(ts)
        if seq != expected:
            return {
                "ok": False,
                "entries": len(rows),
                "broken_at": seq,
                "reason": f"entry {expected} is missing or out of order (found {seq})",
            }
        if prev_hash != prev:
            return {
                "ok": False,
                "entries": len(rows),
                "broken_at": seq,
                "reason": f"entry {seq} does not follow entry {seq - 1} (removed, reordered or edited)",
            }
        if _digest(seq, stamp, action, details, prev_hash) != digest:
            return {"ok": False, "entries": len(rows), "broken_at": seq, "reason": f"entry {seq} was edited"}
        prev, expected = digest, seq + 1
    return {"ok": True, "entries": len(rows), "head": prev[:16]}
