"""goals, budget and risk through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finanalytics_cli.exit_codes import EXIT_CODES


def test_goals_through_the_cli(cli, categorized_store: Any) -> None:
    categorized_store.close()
    added = cli.json(
        "goals",
        "add",
        "House deposit",
        "--target",
        "60,000",
        "--by",
        "2030-12-31",
        "--priority",
        "1",
        "--account",
        "Savings",
    )
    assert added["data"]["target"] == 60000 and added["data"]["account"] == "Savings"
    cli.json("goals", "add", "Trip", "--target", "3000", "--by", "2028-06-30", "--saved", "500")
    listed = cli.json("goals", "list")["data"]["goals"]
    assert [g["name"] for g in listed] == ["House deposit", "Trip"]
    progress = cli.json("goals", "progress")["data"]["goals"]
    for g in progress:
        assert 0 <= g["probability"] <= 1 and g["required_monthly"] >= 0 and g["advice"]
    table = cli("goals", "progress", "--format", "table")
    assert table.exit_code == 0 and "House deposit" in table.stdout
    for args, code in [
        (("goals", "add", "X", "--target", "0", "--by", "2030-01-01"), "INVALID_INPUT"),
        (("goals", "add", "X", "--target", "abc", "--by", "2030-01-01"), "INVALID_INPUT"),
        (("goals", "add", "X", "--target", "10", "--by", "2001-01-01"), "INVALID_INPUT"),
        (("goals", "add", "Trip", "--target", "10", "--by", "2030-01-01"), "INVALID_INPUT"),
        (("goals", "rm", "Nope"), "INVALID_INPUT"),
    ]:
        r = cli(*args, "--json")
        assert r.exit_code == EXIT_CODES[code], (args, r.stdout)
        assert json.loads(r.stdout)["error"]["code"] == code
    usage = cli("goals", "add", "X", "--target", "10", "--by", "31/12/2030")
    assert usage.exit_code == 2 and "YYYY-MM-DD" in usage.stderr
    assert cli.json("goals", "rm", "trip", "--yes")["data"]["name"] == "Trip"
    assert [g["name"] for g in cli.json("goals", "list")["data"]["goals"]] == ["House deposit"]


def test_budget_through_the_cli(cli, categorized_store: Any, tmp_path: Path) -> None:
    categorized_store.close()
    out = cli.json("budget", "optimize", "--income", "9000", "--constraint", "dining<=250")
    data = out["data"]
    assert set(data) >= {"optimized_budget", "recommendations", "expected_outcomes"}
    dining = next(x for x in data["optimized_budget"] if x["category"] == "Dining")
    assert dining["budget"] <= 250.01
    for rec in data["recommendations"]:
        assert rec["expected_impact_monthly"] > 0 and rec["difficulty"] in ("easy", "medium", "hard")
        assert rec["timeframe"]
    assert 0 < data["expected_outcomes"]["savings_rate"] < 1
    config = tmp_path / "budget.toml"
    config.write_text('income = 9000\nconstraints = ["shopping<=200"]\n[weights]\nGroceries = 5\n')
    via_config = cli.json("budget", "optimize", "--config", str(config))["data"]
    assert next(x for x in via_config["optimized_budget"] if x["category"] == "Shopping")["budget"] <= 200.01
    bad = tmp_path / "bad.toml"
    bad.write_text("income = [1\n")
    for args in (
        ("--config", str(bad)),
        ("--config", str(tmp_path / "missing.toml")),
        ("--constraint", "dining<=300", "--constraint", "dining>=400"),
        ("--constraint", "dining<300x"),
        ("--income", "0"),
        ("--goal", "Nope"),
    ):
        r = cli("budget", "optimize", *args, "--json")
        assert r.exit_code == EXIT_CODES["INVALID_INPUT"], (args, r.stdout)
    assert cli.json("budget", "accept")["data"]["accepted"] > 5
    shown = cli.json("budget", "show")["data"]
    assert shown["lines"] and {x["status"] for x in shown["lines"]} <= {"over", "on track", "ahead of pace"}
    r = cli("budget", "show", "--month", "2020-01", "--json")
    assert r.exit_code == EXIT_CODES["INVALID_INPUT"]


def test_no_income_needs_income_option(cli, store: Any) -> None:
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources

    rows = ["Date,Description,Amount"] + [f"2026-0{m}-1{d},GROCER,-{20 + d}.00" for m in range(1, 6) for d in range(5)]
    import_sources(store, [Source("x.csv", "\n".join(rows).encode())], ImportOptions(account="Checking"))
    store.close()
    r = cli("budget", "optimize", "--json")
    assert r.exit_code == EXIT_CODES["INSUFFICIENT_DATA"] and "--income" in json.loads(r.stdout)["error"]["message"]
    assert cli.json("budget", "optimize", "--income", "3000")["data"]["income_source"] == "given with --income"
    r = cli("risk", "--json")
    assert r.exit_code == EXIT_CODES["INSUFFICIENT_DATA"]


def test_risk_through_the_cli(cli, categorized_store: Any) -> None:
    categorized_store.close()
    data = cli.json("risk")["data"]
    assert 0 <= data["risk_score"] <= 100
    for f in data["risk_factors"]:
        assert set(f) == {"factor", "value", "weight", "risk", "explanation"}
    assert data["emergency_fund_target"]["months"] >= 3
    assert 0 <= data["shortfall_probability_30_days"] <= 1
    r = cli("models", "train", "risk_scorer", "--json")
    assert r.exit_code == EXIT_CODES["INSUFFICIENT_DATA"]  # this household never ran short
