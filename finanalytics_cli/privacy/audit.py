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


# The chain is keyed: each link is an HMAC-SHA256 under a key derived from the store's
# data key, so nobody without the key can rewrite the chain consistently (a plain hash
# chain can be recomputed by anyone who edits the database). Chains written before
# (plain SHA-256) are converted by ``upgrade_chain`` when they verify.
CHAIN_STATE_KEY = "audit_chain"
CHAIN_KEYED = "hmac-sha256-v1"
_keys: dict[int, bytes] = {}  # id(connection) -> audit key, bound while a store is open


def audit_key(data_key: bytes) -> bytes:
    import hmac

    return hmac.new(data_key, b"finanalytics-audit-chain-v1", hashlib.sha256).digest()


def bind(con: Any, data_key: bytes) -> None:
    """The store's connection writes and checks the chain with this data key's audit key."""
    _keys[id(con)] = audit_key(data_key)


def unbind(con: Any) -> None:
    _keys.pop(id(con), None)


def _key_of(con: Any) -> bytes:
    key = _keys.get(id(con))
    if key is None:
        raise RuntimeError("the audit chain needs the store's key: open the store through Store.open")
    return key


def _digest(seq: int, ts: str, action: str, details: str, prev: str, key: bytes | None = None) -> str:
    import hmac

    message = json.dumps([seq, ts, action, details, prev]).encode()
    if key is None:  # the format before keyed chains (kept to verify and convert them)
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _keyed(con: Any) -> bool:
    row = con.execute("SELECT value FROM app_state WHERE key = ?", [CHAIN_STATE_KEY]).fetchone()
    if row is not None:
        return row[0] == CHAIN_KEYED
    # No mark: a new store (empty chain) is keyed from its first entry.
    return con.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0


def _mark_keyed(con: Any) -> None:
    con.execute(
        "INSERT OR REPLACE INTO app_state (key, value) VALUES (?, ?)",
        [CHAIN_STATE_KEY, CHAIN_KEYED],
    )


def append(con: Any, action: str, details: dict[str, Any] | None = None, ts: dt.datetime | None = None) -> int:
    """Add one entry at the end of the chain; returns its sequence number."""
    key = _key_of(con)
    last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    if last is None:
        _mark_keyed(con)
    elif not _keyed(con):
        key = None  # an old chain not yet converted (it did not verify): kept as it is
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    stamp = (ts or dt.datetime.now(dt.UTC).replace(tzinfo=None)).isoformat(timespec="microseconds")
    body = json.dumps(_clean(details), sort_keys=True)
    con.execute(
        "INSERT INTO audit_log (seq, ts, action, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)",
        [seq, stamp, action[:80], body, prev, _digest(seq, stamp, action[:80], body, prev, key)],
    )
    return seq


def upgrade_chain(con: Any) -> bool:
    """Convert a plain SHA-256 chain that verifies into the keyed one (in one transaction).
    Returns whether a conversion happened."""
    if _keyed(con):
        return False
    if not _verify_rows(con, None)["ok"]:
        return False  # a broken old chain stays as it is: `audit verify` keeps saying so
    _rechain(con, _key_of(con))
    _mark_keyed(con)
    return True


def rekey(con: Any, old_data_key: bytes, new_data_key: bytes) -> None:
    """Key rotation: the chain, verified under the old key, is re-linked under the new one."""
    old = audit_key(old_data_key)
    if _keyed(con) and not _verify_rows(con, old)["ok"]:
        return  # a broken chain is not made to look intact
    _rechain(con, audit_key(new_data_key))
    _mark_keyed(con)


def _rechain(con: Any, key: bytes) -> None:
    rows = con.execute("SELECT seq, ts, action, details FROM audit_log ORDER BY seq").fetchall()
    prev = GENESIS
    for seq, ts, action, details in rows:
        stamp = ts.isoformat(timespec="microseconds") if isinstance(ts, dt.datetime) else str(ts)
        digest = _digest(seq, stamp, action, details, prev, key)
        con.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", [prev, digest, seq])
        prev = digest


# -- the anchor: the chain's head, outside the database ---------------------------------
def anchor_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".audit-head")


def write_anchor(con: Any, path: Path) -> None:
    """Record the chain's head (sequence number and link) beside the database, under the
    audit key: a database cut back (newest entries deleted) or restored from an older copy
    no longer matches it."""
    import hmac

    from finanalytics_cli.privacy.keys import write_private_file

    head = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    if head is None or not _keyed(con):
        return
    seq, digest = int(head[0]), str(head[1])
    mac = hmac.new(_key_of(con), f"anchor:{seq}:{digest}".encode(), hashlib.sha256).hexdigest()
    write_private_file(path, json.dumps({"seq": seq, "hash": digest, "mac": mac}).encode())
    next_anchor_path(path).unlink(missing_ok=True)  # a rotation's anchor is no longer needed


def next_anchor_path(path: Path) -> Path:
    return path.with_name(path.name + ".next")


def write_next_anchor(con: Any, path: Path, new_data_key: bytes) -> None:
    """Key rotation, before the re-encrypted copy replaces the database: the copy's head
    under the new key, in ``<anchor>.next``. A rotation killed after the replace and
    before the anchor is rewritten leaves an anchor under the old key; this one (which
    only the new key can write) then vouches for the chain, instead of a false alarm."""
    import hmac

    from finanalytics_cli.privacy.keys import write_private_file

    head = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    if head is None:
        return
    seq, digest = int(head[0]), str(head[1])
    mac = hmac.new(audit_key(new_data_key), f"anchor:{seq}:{digest}".encode(), hashlib.sha256).hexdigest()
    write_private_file(next_anchor_path(path), json.dumps({"seq": seq, "hash": digest, "mac": mac}).encode())


_OTHER_KEY = "the chain's anchor file was not written with this store's key"


def _check_anchor(con: Any, path: Path | None, rows: list[Any]) -> str | None:
    """Why the chain does not match its anchor, or None. When the anchor does not match
    but a key rotation's ``.next`` anchor (written under the current key) does, the
    rotation was interrupted before the anchor was rewritten: the chain is intact."""
    if path is None:
        return None
    problem = _check_one_anchor(con, path, rows)
    # Only an anchor under another key (the old one) is what an interrupted rotation leaves;
    # a cut-back or rolled-back chain is reported whatever a `.next` file says.
    if problem == _OTHER_KEY and next_anchor_path(path).exists():
        if _check_one_anchor(con, next_anchor_path(path), rows) is None:
            return None
    return problem


def _check_one_anchor(con: Any, path: Path, rows: list[Any]) -> str | None:
    import hmac

    try:
        doc = json.loads(path.read_text())
        seq, digest, mac = int(doc["seq"]), str(doc["hash"]), str(doc["mac"])
    except FileNotFoundError:
        return "the chain's anchor file is missing (deleted, or the database comes from elsewhere)" if rows else None
    except (OSError, ValueError, KeyError, TypeError):
        return "the chain's anchor file is damaged"
    expected = hmac.new(_key_of(con), f"anchor:{seq}:{digest}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return _OTHER_KEY
    heads = {int(r[0]): r[5] for r in rows}
    last = max(heads, default=0)
    if seq > last:
        return (
            f"the chain ends at entry {last} but its anchor records entry {seq}: newest entries were removed, "
            "or the database was restored from an older copy"
        )
    if heads.get(seq) != digest:
        return f"entry {seq} differs from the one its anchor records"
    return None


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


def _spool_message(item: dict[str, Any]) -> bytes:
    body = {k: item.get(k) for k in ("ts", "id", "action", "details")}
    return b"spool:" + json.dumps(body, sort_keys=True).encode()


def spool(path: Path, action: str, details: dict[str, Any] | None = None, key: bytes | None = None) -> None:
    """Remember an entry a read-only command could not write (appended to a 0600 file).

    Each line carries an id, so that folding it twice (a fold killed after its commit,
    before the file was removed) adds it once."""
    import hmac
    import secrets

    item = {
        "ts": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds"),
        "id": secrets.token_hex(8),
        "action": action,
        "details": _clean(details),
    }
    if key is not None:  # the store's audit key: a line anyone could append is not folded
        item["mac"] = hmac.new(key, _spool_message(item), hashlib.sha256).hexdigest()
    line = json.dumps(item)
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
    import hmac

    key = _key_of(con)
    forged = 0
    n = 0
    con.execute("BEGIN TRANSACTION")
    try:
        for item, ts in items:
            mac = item.get("mac")
            expected = hmac.new(key, _spool_message(item), hashlib.sha256).hexdigest()
            if not isinstance(mac, str) or not hmac.compare_digest(mac, expected):
                forged += 1  # not written by a command holding this store's key
                continue
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
        if forged:
            append(con, "audit_spool_rejected", {"count": forged})
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


def verify(con: Any, anchor: Path | None = None) -> dict[str, Any]:
    """Recompute the chain (keyed links need the store's key); the first broken link is
    reported. With ``anchor`` (the file ``write_anchor`` keeps), a chain cut back or rolled
    back to an older copy is reported too."""
    keyed = _keyed(con)
    result = _verify_rows(con, _key_of(con) if keyed else None)
    result["keyed"] = keyed
    if not keyed and result["ok"] and result["entries"]:
        result["note"] = "an unkeyed chain from an older finanalytics (converted by the next writing command)"
    if result["ok"] and keyed:
        rows = con.execute("SELECT seq, ts, action, details, prev_hash, hash FROM audit_log ORDER BY seq").fetchall()
        problem = _check_anchor(con, anchor, rows)
        if problem:
            return {"ok": False, "entries": len(rows), "broken_at": None, "reason": problem, "keyed": keyed}
    return result


def _verify_rows(con: Any, key: bytes | None) -> dict[str, Any]:
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
        if _digest(seq, stamp, action, details, prev_hash, key) != digest:
            return {"ok": False, "entries": len(rows), "broken_at": seq, "reason": f"entry {seq} was edited"}
        prev, expected = digest, seq + 1
    return {"ok": True, "entries": len(rows), "head": prev[:16]}
