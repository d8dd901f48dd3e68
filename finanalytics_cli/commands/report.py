"""`report weekly`: for people, scripts and cron jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from finanalytics_cli.commands._common import open_store
from finanalytics_cli.output import Result, message, working

app = typer.Typer(
    help="Reports for people, scripts and cron jobs.\n\nExample: finanalytics report weekly --as html --out week.html",
    no_args_is_help=True,
)
REPORT_FORMATS = ("md", "html", "json")
LEVELS = {"medium": 2, "high": 3}


@app.command("weekly")
def weekly(
    week: str = typer.Option(None, "--week", help="The ISO week, e.g. 2026-W43 (default: the latest complete one)."),
    as_: Literal["md", "html", "json"] | None = typer.Option(
        None, "--as", help="md (default), html (charts as inline SVG) or json; else the output format."
    ),
    out: Path = typer.Option(None, "--out", help="Write the report to this file (mode 0600) instead of stdout."),
    fail_on: str = typer.Option(
        None, "--fail-on", help="Exit 10 when an alert of this impact (high or medium) is in it."
    ),
    detail: bool = typer.Option(
        False, "--detail", help="Markdown lists everything (the default is one screen); HTML and JSON always do."
    ),
) -> None:
    """The week against a typical week, insights, anomalies, upcoming charges, budget, goals, forecast.

    Spending, alerts, anomalies, the budget and the charges due are about the report's week,
    in every currency: an alert is something that happened in it (an anomaly, a price rise
    in the week it took effect, a budget gone over, an account below zero), so --fail-on
    fails on a week once, not every week after. Insights, goals and the forecast are as of
    the end of the data.

    Runs unattended (no prompts, no color; the key from the keyring or FINANALYTICS_PASSPHRASE).

    The form is --as md, html or json, else the output format: --json or --format json
    gives JSON, --format table or md Markdown; CSV is no form of a report (exit 2).

    Example: finanalytics report weekly --as html --out ~/reports/week.html --fail-on high
    """
    from finanalytics_cli.commands._common import settings
    from finanalytics_cli.engine.report import IMPACT_RANK, weekly_report
    from finanalytics_cli.exit_codes import ALERT_FOUND
    from finanalytics_cli.output import render_json, render_report_html, render_report_md

    # The command's own choice, else the global output format (a table is Markdown here).
    given = settings().format or "md"
    fmt = as_ or ("md" if given == "table" else given)
    if fmt not in REPORT_FORMATS:
        raise typer.BadParameter(f"a report is md, html or json, not {fmt!r}", param_hint="--as")
    if fail_on is not None and fail_on not in LEVELS:
        raise typer.BadParameter(f"{fail_on!r} is not one of high, medium", param_hint="--fail-on")
    if out is not None:  # a path that cannot be written is refused before the work
        from finanalytics_cli.engine.files import resolve_output

        resolve_output(out)
    with open_store() as store, working("Writing the weekly report"):
        report = weekly_report(store, week)
    alerts = [a for a in report["alerts"] if fail_on and IMPACT_RANK[a["impact"]] >= LEVELS[fail_on]]
    if fmt == "json":
        text = render_json(Result("report weekly", report, meta={"alerts": len(report["alerts"])})) + "\n"
    elif fmt == "html":
        text = render_report_html(report)
    else:
        text = render_report_md(report, detail=detail)
    if out is not None:
        from finanalytics_cli.engine.files import write_user_file

        write_user_file(out, text.encode("utf-8"))
        message(f"Wrote the {report['week']} report to {out}.")
    else:
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()
    if alerts:
        message(f"{len(alerts)} alert(s) at or above {fail_on}: {alerts[0]['title']}")
        raise typer.Exit(ALERT_FOUND)
