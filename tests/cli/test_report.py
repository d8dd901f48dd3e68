"""`report weekly` in every format, rendered in headless Chromium, for cron and pipes."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.exit_codes import ALERT_FOUND, EXIT_CODES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_weekly_report_in_three_formats(cli, categorized_store: Any, tmp_path: Path) -> None:
    categorized_store.close()
    out = cli.json("report", "weekly", "--format", "json")
    data = out["data"]
    assert data["week"] == "2026-W43" and data["from"] == "2026-10-19" and data["to"] == "2026-10-25"
    for key in (
        "spending",
        "insights",
        "anomalies",
        "upcoming_recurring",
        "budget",
        "goals",
        "cash_flow_forecast",
        "alerts",
    ):
        assert key in data
    assert data["spending"]["by_category"] and data["cash_flow_forecast"]["by_currency"]["USD"]
    # Every currency of the household, the main one first; `spending` stays the main one's.
    assert data["currencies"] == ["USD", "EUR"] and data["spending"] == data["spending_by_currency"]["USD"]
    eur = data["spending_by_currency"]["EUR"]
    assert eur["by_category"] and eur["typical_week"] > 0
    md = cli("report", "weekly", "--week", "2026-W40")
    assert md.exit_code == 0 and md.stdout.startswith("# Weekly report 2026-W40")
    for section in ("## Spending by category", "## Top insights", "## Cash-flow forecast", "- EUR: spent"):
        assert section in md.stdout
    assert " EUR |" in md.stdout  # the EUR categories are in the table, with their currency
    target = tmp_path / "week.html"
    r = cli("report", "weekly", "--as", "html", "--out", str(target))
    assert r.exit_code == 0 and r.stdout == "" and oct(target.stat().st_mode & 0o777) == "0o600"
    page = target.read_text()
    # Per currency: categories and weeks beside the spending table; the forecast beside its own.
    charts = 2 * len(data["currencies"]) + len(data["cash_flow_forecast"]["by_currency"])
    assert page.count("<svg") == charts == page.count("<figcaption>") and "<script" not in page
    assert page.count('<section class="pair">') == len(data["currencies"]) + len(
        data["cash_flow_forecast"]["by_currency"]
    )
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    for legend in ("this week", "typical week", "80% range", "zero", "this report&#39;s week"):
        assert legend in page, legend
    # Numbers right-aligned, each with its currency.
    row = data["spending"]["by_category"][0]
    assert f'<td class="num">{row["this_week"]:,.2f} USD</td>' in page
    for bad in (("--week", "2026-43"), ("--week", "2026-W60")):
        r = cli("report", "weekly", *bad, "--json")
        assert r.exit_code == EXIT_CODES["INVALID_INPUT"], bad
    assert cli("report", "weekly", "--fail-on", "low", "--json").exit_code == 2  # a choice: usage
    unknown = cli("report", "weekly", "--format", "pdf")
    assert unknown.exit_code == 2 and "pdf" in unknown.stderr  # a usage error naming the value
    # One meaning of --format: the global output format is obeyed, --as is the report's own.
    assert json.loads(cli("--json", "report", "weekly").stdout)["command"] == "report weekly"
    assert cli("--format", "md", "report", "weekly").stdout.startswith("# Weekly report")
    assert cli("--format", "table", "report", "weekly").stdout.startswith("# Weekly report")
    assert cli("report", "weekly", "--as", "html").stdout.startswith("<!DOCTYPE html>")
    for args in (("report", "weekly", "--format", "csv"), ("--format", "csv", "report", "weekly")):
        r = cli(*args)
        assert r.exit_code == 2 and "md, html or json" in r.stderr and r.stdout == "", args
    assert cli("report", "weekly", "--as", "md", "--format", "html").exit_code == 2


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed here (.ci/run installs it)")
def test_html_report_renders_in_headless_chromium(cli, categorized_store: Any, tmp_path: Path) -> None:
    categorized_store.close()
    page = tmp_path / "week.html"
    assert cli("report", "weekly", "--as", "html", "--out", str(page)).exit_code == 0
    png = tmp_path / "week.png"
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1100,2900",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.exists() and png.stat().st_size > 20_000  # a rendered page, not a blank one
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line or "ERR_" in line]
    assert console == []


def _iso(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def test_alerts_are_about_the_reports_week(cli, categorized_store: Any) -> None:
    """An anomaly alerts in its own week; a price rise once, in the week it took effect;
    the weeks after are quiet, so a cron job with --fail-on high does not fail every week."""
    from finanalytics_cli.engine.anomalies import detect_anomalies
    from finanalytics_cli.engine.recurring import detect_recurring
    from finanalytics_cli.engine.report import weekly_report

    store = categorized_store
    strong = [f for f in detect_anomalies(store).findings if f.score >= 0.8]
    assert strong, "the sample household has anomalies to find"
    spike = max(strong, key=lambda f: f.date)
    its_week = weekly_report(store, _iso(spike.date))
    assert any(a["payee"] == spike.payee and a["date"] == spike.date for a in its_week["anomalies"])
    flagged = [a for a in its_week["alerts"] if a["source"] == "anomaly" and a["date"] == spike.date]
    assert flagged and flagged[0]["impact"] == "high"
    later = weekly_report(store, _iso(spike.date + dt.timedelta(days=7)))["alerts"]
    assert all(a["date"] != spike.date for a in later)

    rises = [
        (s.merchant, ch["date"])
        for s in detect_recurring(store.con).series
        for ch in s.price_changes
        if s.direction == "out" and ch["to"] > ch["from"]
    ]
    assert rises, "the sample household's rent goes up"
    merchant, day = rises[0]
    weeks = {_iso(day + dt.timedelta(days=7 * k)): k for k in (-1, 0, 1, 2, 5)}
    seen = {
        k
        for week, k in weeks.items()
        for a in weekly_report(store, week)["alerts"]
        if a["source"] == "price change" and a["title"].startswith(merchant)
    }
    assert seen == {0}  # once, in its week
    latest = weekly_report(store)
    assert all(latest["from"] <= a["date"] <= latest["to"] for a in latest["alerts"])
    store.close()
    # The weeks after the spike: the household's quiet weeks pass a --fail-on high job.
    after = [_iso(spike.date + dt.timedelta(days=7 * k)) for k in range(1, 6)]
    quiet_weeks = [w for w in after if cli("report", "weekly", "--fail-on", "high", "--week", w).exit_code == 0]
    assert quiet_weeks, "five weeks in a row with a high alert in the sample household"
    r = cli("report", "weekly", "--week", _iso(spike.date), "--fail-on", "high", "--format", "json")
    assert r.exit_code == ALERT_FOUND and "alert" in r.stderr
    assert json.loads(r.stdout)["data"]["alerts"]  # the report is still written


def test_budget_and_balance_alerts_and_a_past_weeks_charges(cli, store: Any) -> None:
    """A budget alerts in the week it goes over (not in the weeks it stays over); an
    account going below zero alerts in its week; a past week's report lists the charges
    the data holds for the 14 days after it, and its budget as it stood then."""
    from types import SimpleNamespace

    from finanalytics_cli.engine.budget import accept_proposal, save_proposal
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.report import weekly_report

    moves = [("2026-08-01", "ACME PAYROLL", "3000.00", "Income")]
    moves += [(f"2026-08-{d:02d}", "CORNER GROCER", "-30.00", "Groceries") for d in (4, 11, 18, 25)]
    moves += [
        ("2026-09-01", "ACME PAYROLL", "3000.00", "Income"),
        ("2026-09-01", "CORNER GROCER", "-40.00", "Groceries"),
        ("2026-09-08", "CORNER GROCER", "-30.00", "Groceries"),
        ("2026-09-09", "CORNER GROCER", "-40.00", "Groceries"),  # 110 of 100: over in 2026-W37
        ("2026-09-15", "CORNER GROCER", "-20.00", "Groceries"),
        ("2026-09-16", "LAKESIDE BUILDERS", "-6000.00", "Housing"),  # below zero in 2026-W38
        ("2026-09-22", "CORNER GROCER", "-10.00", "Groceries"),
        ("2026-09-28", "ACME PAYROLL", "3000.00", "Income"),
        ("2026-09-29", "CORNER GROCER", "-10.00", "Groceries"),
        ("2026-09-30", "LAKESIDE BUILDERS", "-1500.00", "Housing"),
        ("2026-10-06", "CORNER GROCER", "-10.00", "Groceries"),
    ]
    balance, rows = Decimal("0"), ["Date,Description,Amount,Balance,Category"]
    for day, payee, amount, category in moves:
        balance += Decimal(amount)
        rows.append(f"{day},{payee},{amount},{balance},{category}")
    import_sources(
        store,
        [Source("giro.csv", "\n".join(rows).encode())],
        ImportOptions(account="Checking", category_column="Category", currency="USD"),
    )
    budget = [{"category": "Groceries", "budget": 100}, {"category": "Housing", "budget": 7000}]
    save_proposal(store.con, SimpleNamespace(currency="USD", lines=budget))
    accept_proposal(store, today=dt.date(2026, 9, 1))

    def alerts(week: str) -> list[tuple[str, str]]:
        return [(a["source"], a["impact"]) for a in weekly_report(store, week)["alerts"]]

    assert ("budget", "medium") not in alerts("2026-W36")
    assert alerts("2026-W37").count(("budget", "medium")) == 1  # groceries, not housing (6,000 of 7,000)
    w38 = alerts("2026-W38")
    assert ("budget", "medium") not in w38 and ("balance", "high") in w38
    assert ("balance", "high") not in alerts("2026-W37")
    assert ("balance", "high") in alerts("2026-W39")  # still overdrawn: still open
    assert ("balance", "high") not in alerts("2026-W40")  # paid back on 2026-09-28, its first day
    past = weekly_report(store, "2026-W36")
    groceries = next(x for x in past["budget"]["lines"] if x["category"] == "Groceries")
    assert groceries["spent"] == 40.0 and groceries["status"] != "over"  # the month as it stood on the 6th
    due = past["upcoming_recurring"]
    assert due and all(dt.date(2026, 9, 6) < u["date"] <= dt.date(2026, 9, 20) for u in due)
    # A week across two months: September's housing budget goes over on its 30th (2026-W40
    # runs from 28 September to 4 October); it is alerted in that week, as September's.
    w40 = weekly_report(store, "2026-W40")["alerts"]
    assert any(a["source"] == "budget" and "September" in a["title"] and "Housing" in a["title"] for a in w40)
    store.close()
    r = cli("report", "weekly", "--week", "2026-W38", "--fail-on", "high", "--format", "md")
    assert r.exit_code == ALERT_FOUND and "is below zero" in r.stdout


def test_the_balance_carried_into_the_week_is_the_days_last_in_a_newest_first_file(store: Any) -> None:
    """Pay and a debit on the Sunday before the week, listed newest first: the day closes
    at 950.00, not at the -50.00 the debit left before the pay came in."""
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.report import weekly_report

    rows = [
        "Date,Description,Amount,Balance",
        "2026-09-10,CORNER GROCER,-20.00,970.00",  # Thursday of 2026-W37
        "2026-09-06,ACME PAYROLL,1000.00,950.00",  # Sunday: the pay came in after the debit
        "2026-09-06,CITY POWER,-100.00,-50.00",
        "2026-09-01,OPENING,50.00,50.00",
    ]
    [r] = import_sources(
        store, [Source("new-first.csv", "\n".join(rows).encode())], ImportOptions(account="A", currency="USD")
    )
    assert r.checks["balance"]["row_order"] == "descending"
    assert not [a for a in weekly_report(store, "2026-W37")["alerts"] if a["source"] == "balance"]
    assert [a["source"] for a in weekly_report(store, "2026-W36")["alerts"]].count("balance") == 1  # -50 on Sunday


def test_fail_on_quiet_week_exits_zero(cli, store: Any) -> None:
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources

    rows = ["Date,Description,Amount"] + [
        f"2026-{m:02d}-{d:02d},GROCER,-{20 + d}.00" for m in (8, 9) for d in (3, 10, 17)
    ]
    rows += [f"2026-{m:02d}-01,ACME PAYROLL,3000.00" for m in (8, 9)]
    import_sources(store, [Source("x.csv", "\n".join(rows).encode())], ImportOptions(account="Checking"))
    store.close()
    r = cli("report", "weekly", "--fail-on", "high")
    assert r.exit_code == 0, r.stderr


def test_unattended_run_without_terminal_or_keyring(categorized_store: Any, isolated_home: Path) -> None:
    categorized_store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINANALYTICS_")}
    env.update(FINANALYTICS_HOME=str(isolated_home), FINANALYTICS_NO_KEYRING="1", NO_COLOR="1")
    cmd = [sys.executable, "-m", "finanalytics_cli", "report", "weekly", "--format", "md"]
    ok = subprocess.run(
        cmd,
        env={**env, "FINANALYTICS_PASSPHRASE": os.environ["FINANALYTICS_PASSPHRASE"]},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0 and ok.stdout.startswith("# Weekly report") and "\x1b[" not in ok.stdout + ok.stderr
    # Without a --format, piped output is JSON: so is the error.
    failed = subprocess.run(cmd[:-2], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert failed.returncode == EXIT_CODES["KEY_UNAVAILABLE"]
    assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
    assert json.loads(failed.stdout)["error"]["code"] == "KEY_UNAVAILABLE"  # piped output gets the JSON error
