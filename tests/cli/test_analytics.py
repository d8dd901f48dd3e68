"""spending, anomalies, recurring and insights through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from finanalytics_cli.exit_codes import EXIT_CODES


def test_spending_json_table_and_chart(cli, categorized_store: Any) -> None:
    categorized_store.close()
    out = cli.json("spending", "--period", "quarter", "--categories", "Dining,Travel")
    data = out["data"]
    assert set(data) >= {"period", "from", "to", "income", "categories", "recommendations", "periods"}
    assert set(data["periods"][0]) >= {
        "period",
        "category",
        "currency",
        "total",
        "count",
        "share_of_income",
        "change_vs_previous_pct",
        "change_vs_last_year_pct",
        "top_merchants",
    }
    assert {c["trend"] for c in data["categories"]} <= {"increasing", "decreasing", "stable"}
    assert out["meta"]["next_period_method"].startswith("heuristic")
    table = cli("spending", "--chart", "--format", "table", "--from", "2026-01-01")
    assert table.exit_code == 0 and "█" in table.stdout
    bad = cli("spending", "--categories", "Dinning", "--json")
    assert bad.exit_code == EXIT_CODES["INVALID_INPUT"] and "valid:" in json.loads(bad.stdout)["error"]["message"]
    short = cli("spending", "--from", "2026-10-01", "--json")
    assert short.exit_code == EXIT_CODES["INSUFFICIENT_DATA"]


def test_anomalies_and_recurring(cli, categorized_store: Any) -> None:
    categorized_store.close()
    out = cli.json("anomalies")
    assert out["meta"]["fallback"] == "explicit detectors only"
    assert all(set(f) >= {"tx_id", "kind", "score", "reason"} for f in out["data"])
    recent = cli.json("anomalies", "--since", "2026-06-01")["data"]
    assert recent and all(f["date"] >= "2026-06-01" for f in recent)
    rec = cli.json("recurring")["data"]
    assert rec["monthly_commitment"]["USD"] > 4000
    assert any(s["status"] == "stopped" for s in rec["series"])
    md = cli("recurring", "--format", "md").stdout
    assert "| id | merchant |" in md


def test_insights_commands(cli, categorized_store: Any) -> None:
    categorized_store.close()
    first = cli.json("insights", "--limit", "50")
    assert first["meta"]["regenerated"] is True and first["data"]
    again = cli.json("insights", "--limit", "50")
    assert again["meta"]["regenerated"] is False and len(again["data"]) == len(first["data"])
    risk = cli.json("insights", "--type", "risk_alert")["data"]
    assert risk and all(i["type"] == "risk_alert" for i in risk)
    target = first["data"][0]["id"]
    assert cli.json("insights", "dismiss", str(target))["data"]["dismissed"] is True
    assert target not in {i["id"] for i in cli.json("insights", "--limit", "50", "--refresh")["data"]}
    assert cli.json("insights", "accept", str(first["data"][1]["id"]))["data"]["accepted"] is True
    stats = cli.json("insights", "stats")["data"]
    assert stats["dismissed"] == 1 and stats["accepted"] == 1
    bad = cli("insights", "--type", "gossip", "--json")
    assert bad.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert cli("insights", "dismiss", "4242", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]


def test_train_anomaly_detector_and_spending_predictor_via_cli(cli, categorized_store: Any) -> None:
    categorized_store.close()
    anomaly = cli.json("models", "train", "anomaly_detector", "--deploy", "production")["data"]
    assert anomaly["algorithm"] == "isolation_forest" and anomaly["deployment"]["environment"] == "production"
    assert cli.json("anomalies")["meta"]["model_id"] == anomaly["model_id"]
    spend = cli.json("models", "train", "spending_predictor", "--param", "n_estimators=20")["data"]
    metrics = spend["metrics"]
    assert set(metrics) == {"statsforecast", "lightgbm_challenger", "better"}
    assert metrics["statsforecast"]["pooled_ratio_to_seasonal_naive"] > 0
    assert metrics["lightgbm_challenger"]["pooled_ratio_to_seasonal_naive"] > 0
    types = {m["type"] for m in cli.json("models", "list")["data"]}
    assert {"anomaly_detector", "spending_predictor", "category_classifier"} <= types
    pred = cli.json("predict", "--horizon", "2")
    assert pred["data"]["expense_predictions"] and pred["data"]["cash_flow_prediction"]
    again = cli.json("predict", "--horizon", "2")
    assert again["meta"]["served_from_store"] is True
    assert cli("predict", "--horizon", "99", "--json").exit_code == EXIT_CODES["INVALID_INPUT"]


def test_signed_bars_point_from_a_zero_axis() -> None:
    from finanalytics_cli.output import signed_bar

    out, into = signed_bar(-50, 100, 20, True, True), signed_bar(100, 100, 20, True, True)
    assert out == " " * 5 + "█" * 5 + "│" and into == " " * 10 + "│" + "█" * 10
    assert signed_bar(-100, 100, 20, True, False) == "█" * 20 + "│"  # money out only: axis on the right
    assert signed_bar(40, 100, 20, False, True) == "█" * 8  # money in only: no axis
    assert len({len(signed_bar(v, 100, 20, True, True)) for v in (-100, -1, 0.5, 100)}) <= 2


def test_share_of_income_is_also_a_percentage_and_anomalies_take_a_window(cli, categorized_store) -> None:
    categorized_store.close()
    rows = cli.json("spending", "--detail")["data"]["periods"]
    shared = [r for r in rows if r["share_of_income"] is not None]
    assert shared and all(abs(r["share_of_income_pct"] - r["share_of_income"] * 100) < 0.01 for r in shared)
    found = cli.json("anomalies", "--from", "2026-01-01", "--to", "2026-03-31")["data"]
    assert all("2026-01-01" <= r["date"] <= "2026-03-31" for r in found)
    since = cli.json("anomalies", "--since", "2026-01-01")["data"]
    assert since == cli.json("anomalies", "--from", "2026-01-01")["data"]
    assert cli("anomalies", "--from", "2026-05-01", "--to", "2026-01-01").exit_code == 2


def test_an_import_updates_the_forecasts_in_use(cli: Any, categorized_store: Any, tmp_path: Path) -> None:
    """`predict` and `goals progress` were asked before: the import recomputes them for the
    new data, so both are served at once after it, and what is served is the forecast of
    the new data (equal to recomputing it), not the old one."""
    from finanalytics_cli.engine.forecast import predict

    predict(categorized_store, horizon=3)
    predict(categorized_store, horizon=12)
    categorized_store.close()
    new = tmp_path / "new.csv"
    new.write_text("Date,Description,Amount\n2026-10-30,CORNER BAKERY 0042,-8.40\n2026-10-31,ACME PAYROLL,950.00\n")
    before = cli.json("predict")["data"]["summary"]
    out = cli.json("import", str(new), "--account", "Checking")
    assert out["data"]["forecasts_refreshed"] == {"questions": ["3m", "12m"]}
    served = cli.json("predict")
    assert served["meta"]["served_from_store"] is True
    again = cli.json("predict", "--refresh")
    assert again["meta"]["served_from_store"] is False
    assert served["data"]["summary"] == again["data"]["summary"] != before
    # A dry run of new rows stores nothing, so it recomputes nothing either.
    newer = tmp_path / "newer.csv"
    newer.write_text("Date,Description,Amount\n2026-10-31,SHELL OIL 5521,-41.07\n")
    dry = cli.json("import", str(newer), "--account", "Checking", "--dry-run")
    assert dry["data"]["totals"]["added"] == 1 and dry["data"]["forecasts_refreshed"] is None
