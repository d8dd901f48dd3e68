"""`report weekly` in every format, rendered in headless Chromium, for cron and pipes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
    md = cli("report", "weekly", "--week", "2026-W40")
    assert md.exit_code == 0 and md.stdout.startswith("# Weekly report 2026-W40")
    for section in ("## Spending by category", "## Top insights", "## Cash-flow forecast"):
        assert section in md.stdout
    target = tmp_path / "week.html"
    r = cli("report", "weekly", "--as", "html", "--out", str(target))
    assert r.exit_code == 0 and r.stdout == "" and oct(target.stat().st_mode & 0o777) == "0o600"
    page = target.read_text()
    assert page.count("<svg") == 3 and "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
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
            "--window-size=800,2400",
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


def test_fail_on_exit_codes(cli, categorized_store: Any) -> None:
    categorized_store.close()
    r = cli("report", "weekly", "--fail-on", "high", "--format", "json")
    assert r.exit_code == ALERT_FOUND and "alert" in r.stderr
    assert json.loads(r.stdout)["data"]["alerts"]  # the report is still written


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
