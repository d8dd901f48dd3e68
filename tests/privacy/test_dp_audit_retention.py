"""Differential privacy (real OpenDP), the privacy budget, the audit chain, retention,
forgetting and export, on real encrypted stores and through the CLI."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.engine.errors import InvalidInput, PrivacyViolation
from finanalytics_cli.exit_codes import EXIT_CODES


def test_budget_arithmetic_and_windows(store: Any) -> None:
    from finanalytics_cli.privacy.dp import budget_status, check_budget, record_release, set_budget

    con = store.con
    assert budget_status(con)["total_epsilon"] == 10.0 and not budget_status(con)["configured"]
    set_budget(con, 2.0, "month")
    for eps in (0.5, 1.0):
        check_budget(con, eps)
        record_release(con, "q", "laplace", eps, 0.0, {})
    status = budget_status(con)
    assert status["epsilon_spent"] == pytest.approx(1.5) and status["epsilon_remaining"] == pytest.approx(0.5)
    check_budget(con, 0.5)  # exactly what is left is allowed
    with pytest.raises(PrivacyViolation, match="only 0.5 of the 2 budget"):
        check_budget(con, 0.6)
    # Last month's releases do not count against this month; they do for a lifetime budget.
    con.execute("UPDATE privacy_ledger SET created_at = current_timestamp - INTERVAL 40 DAY WHERE epsilon = 1.0")
    assert budget_status(con)["epsilon_spent"] == pytest.approx(0.5)
    set_budget(con, 2.0, None)
    assert budget_status(con)["epsilon_spent"] == pytest.approx(1.5)
    for bad in (0, -1, math.inf):
        with pytest.raises(InvalidInput):
            set_budget(con, bad, "month")


def test_noise_matches_epsilon() -> None:
    """The count's noise is discrete Laplace with scale 1/epsilon, and neighbouring data sets
    (one transaction more) give output probabilities within a factor e^epsilon."""
    import numpy as np

    from finanalytics_cli.privacy.dp import count_mechanism, sum_mechanism

    eps = 0.5
    count = count_mechanism(eps)
    draws = np.array([count([1.0] * 10) for _ in range(6000)]) - 10
    t = math.exp(-eps)
    expected_var = 2 * t / (1 - t) ** 2  # discrete Laplace with scale 1/eps
    assert abs(draws.mean()) < 0.15
    assert draws.var() == pytest.approx(expected_var, rel=0.12)
    neighbour = np.array([count([1.0] * 11) for _ in range(6000)]) - 10
    for k in (0, 1):
        p, q = (draws == k).mean(), (neighbour == k).mean()
        assert math.exp(-eps) / 1.3 <= p / q <= math.exp(eps) * 1.3
    # The sum: Laplace with scale upper/epsilon (clamped values).
    total = sum_mechanism(100.0, eps)
    sums = np.array([total([50.0, 500.0]) for _ in range(4000)]) - 150.0  # 500 is clamped to 100
    assert abs(sums.mean()) < 15
    assert sums.std() == pytest.approx(math.sqrt(2) * 100 / eps, rel=0.1)


def test_dp_spending_covers_the_public_grid(categorized_store: Any) -> None:
    from finanalytics_cli.privacy.dp import dp_spending

    con = categorized_store.con
    r = dp_spending(con, "month", dt.date(2026, 7, 1), dt.date(2026, 9, 30), 2.0, upper=500.0)
    public = con.execute("SELECT count(*) FROM categories WHERE parent IS NULL AND kind = 'expense'").fetchone()[0]
    assert r.cells == 3 * public and len(r.rows) == r.cells  # every cell, used or not
    assert r.bounds == {"lower": 0.0, "upper": 500.0, "source": "configured", "currency": "USD"}
    assert all(x["count"] >= 0 and x["total"] >= 0 for x in r.rows)
    estimated = dp_spending(con, "month", dt.date(2026, 7, 1), dt.date(2026, 9, 30), 2.0)
    assert estimated.bounds["source"].startswith("estimated privately") and estimated.bounds["upper"] > 0


def test_dp_through_the_cli(cli, categorized_store: Any, tmp_path: Path) -> None:
    categorized_store.close()
    assert cli.json("privacy", "budget", "set", "1.5", "--per", "month")["data"]["total_epsilon"] == 1.5
    out = cli.json("spending", "--dp", "--epsilon", "1", "--bound", "400", "--from", "2026-08-01")
    dp = out["meta"]["dp"]
    assert dp["epsilon_spent"] == 1 and dp["budget_remaining"] == pytest.approx(0.5)
    assert dp["bounds"]["upper"] == 400 and dp["unit"] == "one transaction"
    assert {"period", "category", "count", "total", "mean"} <= set(out["data"]["cells"][0])
    refused = cli("spending", "--dp", "--epsilon", "1", "--json")
    assert refused.exit_code == EXIT_CODES["PRIVACY_VIOLATION"]
    body = json.loads(refused.stdout)
    assert set(body) == {"schema_version", "command", "error"} and "cells" not in refused.stdout
    for bad in ("0", "-1", "abc", "nan", "50"):
        r = cli("spending", "--dp", "--epsilon", bad, "--json")
        assert r.exit_code == EXIT_CODES["INVALID_INPUT"], bad
    status = cli.json("privacy", "status")["data"]
    assert status["releases"] == 1 and status["ledger"][0]["mechanism"].startswith("OpenDP")
    # A DP export spends from the same budget; refused, it writes nothing.
    r = cli("data", "export", "--out", str(tmp_path / "dp"), "--dp", "--epsilon", "1", "--json")
    assert r.exit_code == EXIT_CODES["PRIVACY_VIOLATION"] and not (tmp_path / "dp").exists()
    cli.json("privacy", "budget", "set", "5")
    done = cli.json("data", "export", "--out", str(tmp_path / "dp"), "--file-format", "csv", "--dp", "--epsilon", "1")
    f = tmp_path / "dp" / "spending_dp.csv"
    assert f.exists() and oct(f.stat().st_mode & 0o777) == "0o600" and done["meta"]["dp"]["epsilon_spent"] == 1
    assert "payee" not in f.read_text() and "merchant" not in f.read_text()


def test_audit_chain_records_and_detects_tampering(cli, categorized_store: Any) -> None:
    categorized_store.close()
    cli.json("privacy", "budget", "set", "3")
    cli.json("spending", "--dp", "--epsilon", "0.5")
    cli.json("categorize")
    cli.json("accounts")  # read-only: spooled, folded in by the next writer
    cli.json("goals", "add", "Car", "--target", "9000", "--by", "2030-01-01")
    actions = [e["action"] for e in cli.json("audit", "log", "--limit", "100")["data"]["entries"]]
    for expected in (
        "command:privacy budget set",
        "dp_release",
        "command:categorize",
        "command:accounts",
        "command:goals add",
        "model_load",
        "prediction_batch",
    ):
        assert expected in actions, expected
    assert cli.json("audit", "verify")["data"]["ok"] is True
    # Nothing sensitive: no payee, merchant or amount from the data is in the log.
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    with Store.open(resolve_paths()) as s:
        text = json.dumps(s.con.execute("SELECT action, details FROM audit_log").fetchall())
        merchants = [
            m
            for (m,) in s.con.execute(
                "SELECT DISTINCT merchant FROM transactions WHERE merchant IS NOT NULL"
            ).fetchall()
        ]
        assert not [m for m in merchants if len(m) > 4 and m in text]
        assert "2650" not in text and "passphrase" not in text.lower()
        seqs = [r[0] for r in s.con.execute("SELECT seq FROM audit_log ORDER BY seq").fetchall()]
        s.con.execute('UPDATE audit_log SET details = \'{"command": "other"}\' WHERE seq = ?', [seqs[2]])
    r = cli("audit", "verify", "--json")
    assert r.exit_code == EXIT_CODES["STORE_CORRUPT"] and "was edited" in r.stdout
    with Store.open(resolve_paths()) as s:
        s.con.execute("DELETE FROM audit_log WHERE seq >= ?", [seqs[2]])  # the tail only: a valid shorter chain
        from finanalytics_cli.privacy.audit import append, verify

        for i in range(4):
            append(s.con, f"test:{i}")
        assert verify(s.con)["ok"]
        s.con.execute("DELETE FROM audit_log WHERE seq = ?", [seqs[2] + 1])
        assert "missing or out of order" in verify(s.con)["reason"]
        s.con.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > ?", [seqs[2] + 1])  # renumbered to hide it
        assert not verify(s.con)["ok"]


def test_retention_purge_and_export(cli, categorized_store: Any, tmp_path: Path) -> None:
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    con = categorized_store.con
    before = con.execute("SELECT count(*) FROM transactions").fetchone()[0]
    old = con.execute("SELECT count(*) FROM transactions WHERE posted_date < '2024-06-01'").fetchone()[0]
    categorized_store.close()
    refused = cli("data", "purge", "--before", "2024-06-01", "--json")
    assert refused.exit_code == EXIT_CODES["INVALID_INPUT"] and "add --yes" in refused.stdout
    out = cli.json("data", "purge", "--before", "2024-06-01", "--yes")
    assert out["data"]["deleted"]["transactions"] == old > 0
    out = cli.json("data", "retention", "set", "2y", "--yes")
    keeps = dt.date.fromisoformat(out["data"]["keeps_from"])
    with Store.open(resolve_paths()) as s:
        assert s.con.execute("SELECT min(posted_date) FROM transactions").fetchone()[0] >= keeps
        assert (
            s.con.execute(
                "SELECT count(*) FROM features WHERE entity_type = 'transaction' AND CAST(entity_id AS BIGINT) NOT IN "
                "(SELECT tx_id FROM transactions)"
            ).fetchone()[0]
            == 0
        )
        left = s.con.execute("SELECT count(*) FROM transactions").fetchone()[0]
    assert left < before - old
    # Re-importing old history: the retention holds as soon as the import's write ends.
    from finanalytics_cli.engine.sample_household import write_sample

    files = write_sample(tmp_path / "sample")
    cli.json("import", str(files["exports/checking_us.csv"]), "--account", "Checking")
    with Store.open(resolve_paths()) as s:
        assert s.con.execute("SELECT min(posted_date) FROM transactions").fetchone()[0] >= keeps
    for bad in ("7", "0y", "abc", "7w"):
        assert cli("data", "retention", "set", bad, "--json").exit_code == EXIT_CODES["INVALID_INPUT"]
    for fmt in ("parquet", "csv", "json"):
        res = cli.json("data", "export", "--out", str(tmp_path / fmt), "--file-format", fmt)["data"]
        assert res["tables"]["transactions"] == left or res["tables"]["transactions"] > 0
        for table in ("transactions", "accounts", "audit_log"):
            f = tmp_path / fmt / f"{table}.{fmt}"
            assert f.exists() and oct(os.stat(f).st_mode & 0o777) == "0o600"
    import polars as pl

    frame = pl.read_parquet(tmp_path / "parquet" / "transactions.parquet")
    assert frame.height == res["tables"]["transactions"] and "amount" in frame.columns
    again = cli("data", "export", "--out", str(tmp_path / "csv"), "--json")
    assert again.exit_code == EXIT_CODES["INVALID_INPUT"]


def test_forget_destroys_the_key_and_the_store(cli, sample_store: Any, store_paths: Any) -> None:
    sample_store.close()
    refused = cli("data", "forget", "--json")
    assert refused.exit_code == EXIT_CODES["INVALID_INPUT"] and store_paths.key_path.exists()
    db_bytes = store_paths.db_path.read_bytes()
    out = cli.json("data", "forget", "--yes")["data"]
    assert (
        out["key_destroyed"] and "KEY_UNAVAILABLE" in out["open_attempt_after"] or "STORE" in out["open_attempt_after"]
    )
    assert not store_paths.key_path.exists() and not store_paths.db_path.exists()
    # Even with the passphrase and a copy of the database file, nothing opens.
    store_paths.db_path.write_bytes(db_bytes)
    r = cli("accounts", "--json")
    assert r.exit_code != 0 and "Checking" not in r.stdout
    assert b"Oakwood" not in db_bytes and b"OAKWOOD" not in db_bytes  # it was encrypted all along


def test_account_numbers_masked_and_memos_dropped(cli, store: Any, tmp_path: Path) -> None:
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources

    ofx = (
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD"
        "<BANKACCTFROM><BANKID>121000248<ACCTID>9876543210<ACCTTYPE>CHECKING</BANKACCTFROM><BANKTRANLIST>"
        "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20250610<TRNAMT>-12.00<FITID>a1<NAME>CAFE<MEMO>card 9876543210 ref</STMTTRN>"
        "</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    )
    [first] = import_sources(store, [Source("a.ofx", ofx.encode())], ImportOptions())
    [again] = import_sources(store, [Source("a.ofx", ofx.replace("a1", "a2").encode())], ImportOptions())
    assert first.accounts == again.accounts and first.accounts[0].endswith("3210")  # recognised, not duplicated
    ext = store.con.execute("SELECT external_id FROM accounts").fetchall()
    assert len(ext) == 1 and ext[0][0].endswith("****3210") and "9876543210" not in ext[0][0]
    csv = "Date,Description,Memo,Amount\n2025-06-01,SHOP,secret note about my health,-5.00\n"
    import_sources(store, [Source("b.csv", csv.encode())], ImportOptions(account="Checking", drop_memos=True))
    memo, raw = store.con.execute("SELECT memo, raw_row FROM transactions WHERE payee_raw = 'SHOP'").fetchone()
    assert memo is None and raw is None
    dump = json.dumps(store.con.execute("SELECT * FROM transactions").fetchall(), default=str)
    assert "secret note" not in dump


def test_poisoning_defence(cli, categorized_store: Any) -> None:
    from finanalytics_cli.engine.categorize import label_check
    from finanalytics_cli.engine.models.category import labelled_frame, merchant_weights

    con = categorized_store.con
    # A confident model and a keyword rule agree on this transaction: a label saying otherwise is held.
    tx = con.execute(
        "SELECT tx_id FROM transactions WHERE category_source = 'model' AND category_confidence >= 0.97 "
        "AND split_part(category, '/', 1) = 'Groceries' ORDER BY tx_id LIMIT 40"
    ).fetchall()
    flagged_tx = next(t for (t,) in tx if label_check(categorized_store, t, "Travel"))
    assert label_check(categorized_store, flagged_tx, "Groceries") is None  # agreeing labels pass
    # In any spelling: "groceries" is the taxonomy's Groceries, not a contradiction of it.
    assert label_check(categorized_store, flagged_tx, "groceries") is None
    assert label_check(categorized_store, flagged_tx, "GROCERIES") is None
    categorized_store.close()
    out = cli.json("tx", "label", str(flagged_tx), "Travel")
    assert "the rules say" in out["data"]["held_for_review"]
    review = cli.json("review")["data"]
    # The held label is a group of its own, first, with the command that confirms it.
    assert review[0]["flagged"] and review[0]["tx_ids"] == [flagged_tx]
    assert review[0]["suggested_category"] == "Travel" and "--confirm" in review[0]["command"]
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    with Store.open(resolve_paths()) as s:
        assert s.con.execute("SELECT category_source FROM transactions WHERE tx_id = ?", [flagged_tx]).fetchone()[
            0
        ] == ("user-flagged")
        assert flagged_tx not in labelled_frame(s.con)["tx_id"].to_list()  # it trains nothing
    cli.json("tx", "label", str(flagged_tx), "Travel", "--confirm")
    with Store.open(resolve_paths()) as s:
        assert flagged_tx in labelled_frame(s.con)["tx_id"].to_list()
    # No merchant weighs more than the cap, however many labels it has.
    import polars as pl

    frame = pl.DataFrame({"merchant": ["Spam"] * 400 + [f"M{i}" for i in range(100)], "payee_raw": ["x"] * 500})
    w = merchant_weights(frame)
    assert w[:400].sum() == pytest.approx(25) and w[400:].min() == 1.0
