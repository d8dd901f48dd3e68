"""The read-only commands' audit spool: folded into the chain once, whatever stops a fold."""

from __future__ import annotations

import json
from typing import Any

from finanalytics_cli.engine.store import Store, audit_spool_path
from finanalytics_cli.privacy import audit


def _key(store_paths: Any) -> bytes:
    from finanalytics_cli.privacy.keys import KeyFile

    return audit.audit_key(KeyFile(store_paths.key_path).unlock().active)


def _actions(store_paths: Any) -> list[str]:
    with Store.open(store_paths) as s:
        assert audit.verify(s.con)["ok"]
        return [r[0] for r in s.con.execute("SELECT action FROM audit_log ORDER BY seq").fetchall()]


def test_a_fold_interrupted_before_its_commit_is_finished_next_time(store: Any, store_paths: Any) -> None:
    store.close()
    spool = audit_spool_path(store_paths)
    folding = spool.with_name(spool.name + ".folding")
    audit.spool(spool, "command:first", key=_key(store_paths))
    audit.spool(spool, "command:second", key=_key(store_paths))
    spool.rename(folding)  # a fold was killed (or the disk filled) after the rename, before its commit
    audit.spool(spool, "command:third", key=_key(store_paths))  # a later read-only command starts a new spool
    actions = _actions(store_paths)
    assert [a for a in actions if a.startswith("command:") and a != "command:unknown"][-3:] == [
        "command:first",
        "command:second",
        "command:third",
    ]
    assert not spool.exists() and not folding.exists()


def test_a_fold_interrupted_after_its_commit_adds_nothing_twice(store: Any, store_paths: Any) -> None:
    store.close()
    spool = audit_spool_path(store_paths)
    audit.spool(spool, "command:once", key=_key(store_paths))
    lines = spool.read_text()
    assert _actions(store_paths).count("command:once") == 1
    # The same file again, as if the fold had been killed between its commit and the removal.
    spool.with_name(spool.name + ".folding").write_text(lines)
    assert _actions(store_paths).count("command:once") == 1


def test_unauthenticated_spool_lines_are_not_folded_but_counted(store: Any, store_paths: Any) -> None:
    # A line anyone with write access to the directory could append (no MAC under the
    # store's key, a wrong one, or an edited authentic one) never enters the chain.
    store.close()
    spool = audit_spool_path(store_paths)
    forged = json.dumps({"ts": "2026-11-30T10:00:00.000001", "id": "f1", "action": "command:forged", "details": {}})
    audit.spool(spool, "command:genuine", key=_key(store_paths))
    genuine = json.loads(spool.read_text().splitlines()[0])
    edited = json.dumps({**genuine, "action": "command:edited"})
    wrong = json.dumps({**json.loads(forged), "id": "f2", "mac": "0" * 64})
    spool.write_text("\n".join([spool.read_text().strip(), forged, edited, wrong, '{"ts": "torn']) + "\n")
    actions = _actions(store_paths)
    assert actions.count("command:genuine") == 1
    assert not {"command:forged", "command:edited"} & set(actions)
    with Store.open(store_paths, readonly=True) as s:
        rejected = s.con.execute(
            "SELECT details FROM audit_log WHERE action = 'audit_spool_rejected' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert json.loads(rejected[0]) == {"count": 3}


def test_a_failing_fold_keeps_the_file_and_the_chain(store: Any, store_paths: Any, monkeypatch: Any) -> None:
    store.close()
    spool = audit_spool_path(store_paths)
    audit.spool(spool, "command:kept", key=_key(store_paths))
    real_append = audit.append
    calls = {"n": 0}

    def failing(con: Any, action: str, *a: Any, **kw: Any) -> int:
        if action == "command:kept":
            calls["n"] += 1
            raise OSError(28, "No space left on device")
        return real_append(con, action, *a, **kw)

    monkeypatch.setattr(audit, "append", failing)
    try:
        Store.open(store_paths).close()
    except OSError:
        pass
    assert calls["n"] == 1
    folding = spool.with_name(spool.name + ".folding")
    assert folding.exists() and "command:kept" in folding.read_text()  # nothing lost
    monkeypatch.setattr(audit, "append", real_append)
    assert _actions(store_paths).count("command:kept") == 1
