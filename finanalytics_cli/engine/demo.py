"""`finanalytics demo`: the sample household imported into a fresh store, and a tour."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.ingest import ImportOptions, import_sources, sources_from_paths
from finanalytics_cli.engine.ledger import list_accounts
from finanalytics_cli.engine.sample_household import EXPORT_ACCOUNTS, write_sample
from finanalytics_cli.engine.spending import spending_by_category


@dataclass(frozen=True)
class DemoTour:
    """What the demo shows; each later capability adds its section."""

    imports: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    spending_last_3_months: list[dict[str, Any]]
    top_merchants_last_90_days: list[dict[str, Any]]
    checks: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(store: Any, workdir: Path) -> DemoTour:
    """Write the sample exports under ``workdir``, import them, and summarise."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    files = write_sample(workdir)
    imports = []
    for rel, account in EXPORT_ACCOUNTS.items():
        [r] = import_sources(store, sources_from_paths([str(files[rel])]), ImportOptions(account=account))
        imports.append(
            {
                "file": Path(rel).name,
                "account": account,
                "format": r.format,
                "read": r.read,
                "added": r.added,
                "rejected": r.rejected,
                "transfers_matched": r.transfers_matched,
            }
        )
    timings["import"] = round(time.perf_counter() - t0, 2)
    con = store.con
    last = con.execute("SELECT max(posted_date) FROM transactions").fetchone()[0]
    since = (last.replace(day=1) - dt.timedelta(days=62)).replace(day=1)
    summary = spending_by_category(con, "month", since=since)
    by_cat: dict[tuple[str, str], Decimal] = {}
    for row in summary.rows:
        key = (row.category, row.currency)
        by_cat[key] = by_cat.get(key, Decimal("0")) + row.total
    months = 3
    spending = [
        {"category": cat, "currency": cur, "total": total, "per_month": (total / months).quantize(Decimal("0.01"))}
        for (cat, cur), total in sorted(by_cat.items(), key=lambda kv: (kv[0][1], -kv[1]))
    ]
    top = con.execute(
        """
        SELECT coalesce(merchant, payee_raw) AS merchant, currency, count(*) AS transactions, -sum(amount) AS spent
        FROM transactions
        WHERE amount < 0 AND NOT is_transfer AND posted_date > ? - INTERVAL 90 DAY
        GROUP BY ALL ORDER BY spent DESC LIMIT 8
        """,
        [last],
    ).fetchall()
    truth = json.loads((workdir / "truth" / "summary.json").read_text())
    stored, transfer_rows = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE is_transfer) FROM transactions"
    ).fetchone()
    checks = {
        "transactions_imported": stored,
        "transactions_in_truth": truth["transactions"],
        "transfer_pairs_matched": transfer_rows // 2,
        "transfer_pairs_in_truth": truth["transfer_pairs"],
        "period": f"{truth['start']} .. {truth['end']}",
    }
    timings["total"] = round(time.perf_counter() - t0, 2)
    return DemoTour(
        imports=imports,
        accounts=[
            {k: a[k] for k in ("name", "type", "currency", "transactions", "balance")} for a in list_accounts(con)
        ],
        spending_last_3_months=spending,
        top_merchants_last_90_days=[
            {"merchant": m, "currency": c, "transactions": n, "spent": s} for m, c, n, s in top
        ],
        checks=checks,
        seconds=timings,
    )
