"""Width-aware tables (issue 19): at 80 and 120 columns no line is wider than the
terminal, nothing is cut with an ellipsis, and every number and date is shown whole."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest

COMMANDS = [
    ("accounts",),
    ("tx", "list", "--limit", "30"),
    ("status",),
    ("spending", "--period", "quarter"),
    ("predict",),
    ("risk",),
    ("insights",),
    ("anomalies",),
    ("recurring",),
    ("import", "list"),
    ("categories", "list"),
    ("models", "list"),
    ("models", "monitor"),
    ("privacy", "status"),
    ("audit", "log", "--limit", "5"),
    ("review",),
]


@pytest.mark.parametrize("width", [80, 120])
def test_every_command_fits_the_terminal(cli: Any, categorized_store: Any, width: int) -> None:
    categorized_store.close()
    for args in COMMANDS:
        out = cli(*args, "--format", "table", env={"COLUMNS": str(width)})
        assert out.exit_code == 0, (args, out.stderr)
        lines = out.stdout.splitlines()
        assert lines, args
        too_wide = [line for line in lines if len(line) > width]
        assert not too_wide, (args, too_wide[:2])
        assert "…" not in out.stdout, (args, [line for line in lines if "…" in line][:2])


def test_balances_and_dates_are_shown_whole_at_80_columns(cli: Any, categorized_store: Any) -> None:
    categorized_store.close()
    accounts = cli.json("accounts")["data"]
    table = cli("accounts", "--format", "table", env={"COLUMNS": "80"}).stdout
    for a in accounts:
        assert f"{Decimal(str(a['balance'])):,.2f}" in table, a["name"]
        assert a["name"] in table.replace("\n", " ") or a["name"].split()[0] in table
    rows = cli.json("tx", "list", "--limit", "20")["data"]
    listed = cli("tx", "list", "--limit", "20", "--format", "table", env={"COLUMNS": "80"}).stdout
    for r in rows:
        assert re.search(rf"│ +{r['id']} │ {r['date']} │ +{Decimal(str(r['amount'])):,.2f} │", listed), r


def test_narrow_tables_hide_columns_and_say_so_and_wide_shows_them() -> None:
    from rich.console import Console

    from finanalytics_cli.output import _rows_table

    rows = [
        {
            "id": i,
            "payee": "A VERY LONG PAYEE NAME THAT GOES ON AND ON " * 2,
            "date": dt.date(2026, 1, i + 1),
            "amount": Decimal("-1234567.89"),
            "notes": "more text here " * 5,
            "tags": ["a", "b"],
            "empty": None,
        }
        for i in range(5)
    ]

    def show(width: int, wide: bool = False) -> str:
        console = Console(width=width, record=True, color_system=None)
        console.print(_rows_table("T", rows, list(rows[0]), width, wide))
        return console.export_text()

    narrow = show(60)
    assert "-1,234,567.89" in narrow and "2026-01-05" in narrow and "…" not in narrow
    assert all(len(line) <= 60 for line in narrow.splitlines())
    assert "not shown at this width:" in narrow and "tags" in narrow and "empty" in narrow
    wide = show(60, wide=True)
    assert "not shown" not in wide and "more text here" in wide


def test_spending_and_predict_tables_answer_first_detail_shows_the_rest(cli: Any, categorized_store: Any) -> None:
    categorized_store.close()
    env = {"COLUMNS": "80"}
    spending = cli("spending", "--format", "table", env=env).stdout
    full = cli("spending", "--format", "table", "--detail", env=env).stdout
    assert "More: periods (with --detail" in spending and "More:" not in full
    assert len(spending.splitlines()) <= 40  # one screen at 80x24 (1,165 lines before)
    # The summary shows each currency's largest categories and says how many it leaves out.
    assert re.search(r"10 of \d+ categories shown", spending)
    shown = [ln for ln in spending.splitlines() if ln.startswith("│") and (" USD " in ln or " EUR " in ln)]
    assert any(" EUR " in ln for ln in shown) and any(" USD " in ln for ln in shown)
    assert cli.json("spending")["data"]["periods"]  # JSON carries everything either way
    forecast = cli("predict", "--format", "table", env=env).stdout
    assert len(forecast.splitlines()) <= 40 and "Cash flow" in forecast and re.search(r"Others \(\d+\)", forecast)
    # The forecast's model names and projection blobs stay in JSON.
    assert "AutoETS" not in forecast and "SeasonalWindowAverage" not in forecast and "lo80=" not in forecast
    data = cli.json("predict")["data"]
    assert data["table"] and data["summary"][0]["series"] == "Cash flow"
    flow = {(r["currency"], r["date"]): r["value"] for r in data["table"] if r["kind"] == "cash_flow"}
    for row in data["summary"]:
        if row["series"] == "Cash flow":
            assert row["value"] == flow[(row["currency"], row["next"])]  # the summary is the forecast's
    assert len(cli("predict", "--format", "table", "--detail", env=env).stdout.splitlines()) > 100


def test_summaries_fit_one_screen_and_say_it_in_words(cli: Any, categorized_store: Any) -> None:
    """budget optimize and insights answer on one 80x24 screen; no internal words in them."""
    categorized_store.close()
    env = {"COLUMNS": "80"}
    budget = cli("budget", "optimize", "--format", "table", env=env).stdout
    assert len(budget.splitlines()) <= 40 and "proportional cut" not in budget and "habit deviation" not in budget
    assert re.search(r"10 of \d+ optimized budget shown", budget)
    assert len(cli("budget", "optimize", "--format", "table", "--detail", env=env).stdout.splitlines()) > 40
    insights = cli("insights", "--format", "table", env=env).stdout
    assert len(insights.splitlines()) <= 40 and "recommendation" in insights
    assert "anomaly_detection" not in insights and "spending_pattern" not in insights
    data = cli.json("insights")["data"]
    with_rec = [r for r in data if r["recommendations"]]
    assert with_rec and all(r["recommendation"].startswith(r["recommendations"][0]["text"]) for r in with_rec)
    words = " ".join(insights.split())
    first = with_rec[0]["recommendations"][0]["text"]
    assert " ".join(first.split()[:3]) in words  # the table shows the recommendation itself
    report = cli("report", "weekly", "--format", "table", env=env).stdout
    assert sum(max(1, -(-len(line) // 80)) for line in report.splitlines()) <= 40  # wrapped lines count
    detail = cli("report", "weekly", "--format", "md", "--detail", env=env).stdout
    everything = cli.json("report", "weekly")["data"]
    for cur, s in everything["spending_by_currency"].items():
        assert all(f"| {c['category']} | " in detail for c in s["by_category"]), cur
    assert "more (--detail)" in report and "more (--detail)" not in detail
    categorize = cli("categorize", "--format", "table", env=env).stdout
    assert "canary" not in categorize and "shadow" not in categorize and "threshold" not in categorize
    performance = cli("models", "performance", "1", "--format", "table", env={"COLUMNS": "120"}).stdout
    assert "onehot:" not in performance and "keyword rule:" in performance and "calibration error" in performance
