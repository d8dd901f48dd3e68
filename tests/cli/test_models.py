"""models, categorize, review, rules and labels through the real CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from finanalytics_cli.exit_codes import EXIT_CODES


def _labelled(sample_store: Any, sample_truth_csv: str) -> None:
    from finanalytics_cli.engine.models import category_eval as ev

    truth = ev.truth_by_tx(sample_store.con, sample_truth_csv)
    # 800 labels spread over the whole period and every account (a fixed sample: the same
    # rows on every machine), so the model's training window is the store's.
    ev.label(sample_store.con, truth, random.Random(7).sample(sorted(truth), 800))
    sample_store.close()


def test_train_deploy_categorize_monitor(cli, sample_store: Any, sample_truth_csv: str) -> None:
    _labelled(sample_store, sample_truth_csv)
    out = cli.json("models", "train", "category_classifier", "--param", "algorithm=logreg", "--experiment", "cli")
    data = out["data"]
    assert data["trained"] is True and data["labels"] == 800
    assert set(data["metrics"]) >= {"accuracy", "macro_f1", "ece", "baseline_keyword_accuracy"}
    model_id = data["model_id"]
    perf = cli.json("models", "performance", str(model_id))["data"]
    assert perf["per_class"] and perf["folds"] and perf["feature_importance"]
    assert cli.json("models", "list")["data"][0]["deployed"] == ""
    dep = cli.json("models", "deploy", str(model_id), "--env", "production")["data"]
    assert dep["strategy"] == "immediate" and dep["traffic_pct"] == 100
    cat = cli.json("categorize")
    assert cat["data"]["by_model"] > 1000 and "fallback" not in cat["meta"]
    tx = cli.json("tx", "list", "--category", "Groceries", "--limit", "5")["data"]
    assert tx and all(t["category"] == "Groceries" for t in tx)
    explain = cli.json("categorize", "--explain", str(tx[0]["id"]))["data"]
    assert explain["drivers"]
    mon = cli.json("models", "monitor")["data"][0]
    assert mon["model_id"] == model_id and "drift" in mon
    skipped = cli.json("models", "train", "category_classifier", "--if-drift", "--param", "algorithm=logreg")
    assert skipped["data"]["trained"] is False, skipped["data"].get("reasons")
    assert cli("models", "deploy", str(model_id), "--env", "moon", "--json").exit_code == 2  # a usage error
    assert cli("models", "deploy", "77", "--env", "staging", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]
    bad = cli(
        "models", "deploy", str(model_id), "--env", "production", "--strategy", "canary", "--traffic", "-5", "--json"
    )
    assert bad.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert cli("models", "rollback", "category_classifier", "--json").exit_code == EXIT_CODES["MODEL_UNAVAILABLE"]


def test_train_errors(cli, sample_store: Any) -> None:
    sample_store.close()
    unknown = cli("models", "train", "crystal_ball", "--json")
    assert unknown.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert "category_classifier" in json.loads(unknown.stdout)["error"]["message"]
    bad_param = cli("models", "train", "category_classifier", "--param", "depth=3", "--json")
    assert bad_param.exit_code == EXIT_CODES["INVALID_INPUT"] and "valid:" in bad_param.stdout
    few = cli("models", "train", "category_classifier", "--json")
    assert few.exit_code == EXIT_CODES["INSUFFICIENT_DATA"]
    assert "needs at least 20" in json.loads(few.stdout)["error"]["message"]


def test_labels_rules_review(cli, sample_store: Any) -> None:
    sample_store.close()
    cat = cli.json("categorize")
    assert cat["meta"]["fallback"] == "merchant table and keyword rules"
    todo = cli.json("review", "--limit", "5")["data"]
    assert len(todo) == 5 and set(todo[0]) >= {"merchant", "count", "tx_ids", "suggested_category", "command"}
    tx_id = todo[0]["tx_ids"][0]
    labelled = cli.json("tx", "label", str(tx_id), "dining")["data"]  # case-insensitive
    assert labelled["category"] == "Dining"
    assert cli("tx", "label", str(tx_id), "Dinning", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]
    assert cli("tx", "label", "99999999", "Dining", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]
    rule = cli.json("rules", "add", "blue bottle", "Entertainment", "--amount-range", "-20:0")["data"]
    assert rule["transactions_categorised_by_rules"] > 10
    rules = cli.json("rules", "list")["data"]
    assert [r["pattern"] for r in rules] == ["blue bottle"]
    rm = cli.json("rules", "rm", str(rules[0]["rule_id"]), "--yes")["data"]
    assert rm["removed"]["category"] == "Entertainment"
    assert cli("rules", "rm", "42", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]
    assert cli.json("tx", "list", "--category", "none", "--limit", "3")["data"][0]["category"] is None


def test_import_category_column(cli, tmp_path: Path) -> None:
    f = tmp_path / "labelled.csv"
    f.write_text(
        "Date,Description,Amount,Category\n2024-01-02,CORNER SHOP,-4.50,groceries\n"
        "2024-01-03,MYSTERY,-9.00,Witchcraft\n2024-01-04,SALARY,2000,Income/Salary\n"
    )
    out = cli.json("import", str(f), "--account", "A", "--category-column", "Category")
    res = out["data"]["files"][0]
    assert res["labels_imported"] == 2 and res["labels_unknown"] == ["Witchcraft"]
    rows = {t["payee"]: t["category"] for t in cli.json("tx", "list")["data"]}
    assert rows == {"CORNER SHOP": "Groceries", "MYSTERY": None, "SALARY": "Income/Salary"}
    missing = cli("import", str(f), "--account", "A", "--category-column", "Kategorie", "--json")
    assert missing.exit_code == EXIT_CODES["INVALID_INPUT"]


def test_train_if_drift_retrains_when_the_model_saw_one_account(cli, sample_store: Any, sample_truth_csv: str) -> None:
    """A model trained on one account's rows sees another account mix in recent data:
    `--if-drift` retrains and says why."""
    from finanalytics_cli.engine.models import category_eval as ev

    truth = ev.truth_by_tx(sample_store.con, sample_truth_csv)
    first = sample_store.con.execute("SELECT min(account_id) FROM transactions").fetchone()[0]
    one = {
        r[0]
        for r in sample_store.con.execute("SELECT tx_id FROM transactions WHERE account_id = ?", [first]).fetchall()
    }
    ev.label(sample_store.con, truth, sorted(t for t in truth if t in one))
    sample_store.close()
    model_id = cli.json("models", "train", "category_classifier", "--param", "algorithm=logreg")["data"]["model_id"]
    cli.json("models", "deploy", str(model_id), "--env", "production")
    cli.json("categorize")
    again = cli.json("models", "train", "category_classifier", "--if-drift", "--param", "algorithm=logreg")
    assert again["data"]["trained"] is True and again["meta"]["if_drift"] is True
    assert any("account_mix" in r for r in again["data"]["reasons"]), again["data"]["reasons"]


def test_training_says_which_stage_it_is_in_at_a_terminal(categorized_store: Any) -> None:
    """At a terminal the spinner names the stage running (not a bar stopped at 60%); piped,
    stderr carries no spinner at all."""
    import os
    import pty
    import re
    import select
    import subprocess
    import sys

    categorized_store.close()
    cmd = [sys.executable, "-m", "finanalytics_cli", "--json", "models", "train", "spending_predictor"]
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    parent, child = pty.openpty()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=child, stdin=subprocess.DEVNULL, env=env)
    os.close(child)
    seen = b""
    while select.select([parent], [], [], 120)[0]:
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    proc.stdout.read()
    assert proc.wait(timeout=120) == 0
    os.close(parent)
    stages = set(re.findall(r"Training spending_predictor: ([a-z ]+[a-z])", seen.decode(errors="replace")))
    assert {"building the features", "fitting the model"} <= stages, stages
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert piped.returncode == 0 and "Training spending_predictor:" not in piped.stderr
