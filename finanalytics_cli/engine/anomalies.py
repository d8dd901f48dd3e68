"""Unusual transactions: explicit detectors, and the anomaly_detector model when deployed.

Explicit detectors, each with a reason a person can read and a score in 0..1:
duplicate charges within a few days, a charge far above the merchant's (or the
category's) usual amount, a first-time merchant abroad or a first-time merchant with a
large amount, fee spikes (a burst of the same fee, a fee never charged before), and
price increases of subscriptions. The IsolationForest model (``models train
anomaly_detector``) scores every transaction; its extreme outliers that no detector
explains are reported too, and its score is attached to every finding.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

DUPLICATE_DAYS = 3
SPIKE_RATIO = 3.0
NEW_MERCHANT_WARMUP_DAYS = 90  # no "first time" judgement before the history has a baseline
FEE_WORDS = re.compile(r"(?i)\bfee\b|overdraft|late charge|penalt|nsf|returned item|interest charge|gebühr|entgelt")
FOREIGN_FEE = re.compile(r"(?i)foreign (transaction|currency|exchange) fee|fx fee|auslandseinsatz")
COUNTRY_SUFFIX = re.compile(r"\b(?!USA\b|US\b)[A-Z]{3}$")
PRICE_CATEGORIES = ("Subscriptions", "Utilities", "Insurance", "Education", "Entertainment")


@dataclass
class Finding:
    tx_id: int
    date: dt.date
    account: str
    payee: str
    amount: Decimal
    currency: str
    kind: str
    reason: str
    score: float
    model_score: float | None = None


@dataclass
class AnomalyReport:
    findings: list[Finding]
    model_id: int | None
    fallback: str | None = None
    notes: list[str] = field(default_factory=list)


_KEY_SQL = "trim(regexp_replace(lower(coalesce(t.merchant, t.payee_raw, '')), '[^a-zà-ÿ]+', ' ', 'g'))"
HISTORY_DAYS = 400  # detectors look this far back for a merchant's or category's usual amounts


def _load(con: Any, start: dt.date | None) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """Rows from ``start`` on (all when None), and the (account, merchant) pairs seen before it."""
    where, params = ("WHERE t.posted_date >= ?", [start]) if start else ("", [])
    rows = con.execute(
        f"""
        SELECT t.tx_id, t.posted_date, a.name, a.currency AS home, t.payee_raw, t.merchant, t.amount, t.currency,
               t.category, t.is_transfer, {_KEY_SQL} AS mkey
        FROM transactions t JOIN accounts a USING (account_id) {where}
        ORDER BY t.posted_date, t.tx_id
        """,
        params,
    ).fetchall()
    keys = [
        "tx_id",
        "date",
        "account",
        "home",
        "payee",
        "merchant",
        "amount",
        "currency",
        "category",
        "is_transfer",
        "key",
    ]
    out = [dict(zip(keys, r, strict=True)) for r in rows]
    for r in out:
        r["top"] = (r["category"] or "").split("/")[0]
    seen: set[tuple[str, str]] = set()
    if start:
        seen = set(
            con.execute(
                f"SELECT DISTINCT a.name, {_KEY_SQL} FROM transactions t JOIN accounts a USING (account_id) "
                "WHERE t.posted_date < ? AND t.amount < 0",
                [start],
            ).fetchall()
        )
    return out, seen


def detect_anomalies(
    store: Any, since: dt.date | None = None, recurring: Any = None, until: dt.date | None = None
) -> AnomalyReport:
    """Findings (optionally from ``since`` on, up to ``until``); ``recurring``: a RecurringReport
    already computed."""
    con = store.con
    first = con.execute("SELECT min(posted_date) FROM transactions").fetchone()[0]
    start = since - dt.timedelta(days=HISTORY_DAYS) if since else None
    loaded, seen_before = _load(con, start if start and first and start > first else None)
    rows = [r for r in loaded if not r["is_transfer"]]
    findings: dict[int, Finding] = {}

    def add(r: dict[str, Any], kind: str, reason: str, score: float) -> None:
        if r["tx_id"] not in findings or findings[r["tx_id"]].score < score:
            findings[r["tx_id"]] = Finding(
                r["tx_id"],
                r["date"],
                r["account"],
                r["payee"] or "",
                r["amount"],
                r["currency"],
                kind,
                reason,
                round(score, 3),
            )

    outflows = [r for r in rows if r["amount"] < 0]
    _duplicates(outflows, add)
    _spikes(outflows, add)
    _new_merchants(rows, outflows, add, seen_before, first)
    _fees(rows, add)
    _price_increases(con, add, {r["tx_id"]: r for r in rows}, recurring)
    found = sorted(findings.values(), key=lambda f: (-f.score, f.date))
    report = AnomalyReport(
        [f for f in found if (not since or f.date >= since) and (not until or f.date <= until)], None
    )
    _model_scores(store, rows, report, since, until)
    return report


def _duplicates(outflows: list[dict[str, Any]], add: Any) -> None:
    last_seen: dict[tuple[str, str, Decimal], dict[str, Any]] = {}
    for r in outflows:
        k = (r["account"], r["key"], r["amount"])
        prev = last_seen.get(k)
        # Fees repeat by nature; a burst of them is the fee detector's finding.
        if (
            prev
            and (r["date"] - prev["date"]).days <= DUPLICATE_DAYS
            and r["top"] not in ("Transfers", "Fees & charges")
        ):
            gap = (r["date"] - prev["date"]).days
            same_day = "the same day" if gap == 0 else f"{gap} day(s) apart"
            add(r, "duplicate_charge", f"{r['merchant'] or r['payee']} charged {-r['amount']} twice, {same_day}", 0.9)
        last_seen[k] = r


def _robust(values: list[float]) -> tuple[float, float]:
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values) or max(med * 0.05, 0.01)
    return med, mad


def _spikes(outflows: list[dict[str, Any]], add: Any) -> None:
    from collections import deque

    # Recent history only (bounded), so the cost stays linear in the number of transactions.
    by_key: dict[tuple[str, str], deque[float]] = {}
    key_max: dict[tuple[str, str], float] = {}
    by_cat: dict[tuple[str, str], deque[float]] = {}
    cat_max: dict[tuple[str, str], float] = {}
    cat_n: dict[tuple[str, str], int] = {}
    for r in outflows:
        a = float(-r["amount"])
        k, c = (r["account"], r["key"]), (r["account"], r["top"])
        hist = by_key.get(k)
        if hist is not None and len(hist) >= 8:
            med, mad = _robust(list(hist))
            z = (a - med) / (1.4826 * mad)
            # Far above the usual amount and well above anything seen before.
            if a >= SPIKE_RATIO * med and z >= 6 and a >= 1.5 * key_max[k]:
                add(
                    r,
                    "amount_spike",
                    f"{a:,.2f} at {r['merchant'] or r['payee']}, usually {med:,.2f} ({a / med:.1f}x its usual amount)",
                    min(0.99, 0.6 + 0.05 * a / med),
                )
        if r["top"] and cat_n.get(c, 0) >= 20 and a > 2 * cat_max[c]:
            med = statistics.median(by_cat[c])
            add(
                r,
                "amount_spike",
                f"{a:,.2f} in {r['top']}, more than twice the largest before ({cat_max[c]:,.2f}; usually {med:,.2f})",
                0.85,
            )
        by_key.setdefault(k, deque(maxlen=60)).append(a)
        key_max[k] = max(key_max.get(k, 0.0), a)
        by_cat.setdefault(c, deque(maxlen=200)).append(a)
        cat_max[c] = max(cat_max.get(c, 0.0), a)
        cat_n[c] = cat_n.get(c, 0) + 1


def _foreign(r: dict[str, Any], rows_by_account: dict[str, list[dict[str, Any]]]) -> str | None:
    if r["currency"] != r["home"]:
        return f"in {r['currency']}"
    m = COUNTRY_SUFFIX.search((r["payee"] or "").strip())
    if m:
        return f"abroad ({m.group(0)})"
    for other in rows_by_account.get(r["account"], []):
        if FOREIGN_FEE.search(other["payee"] or "") and 0 <= (other["date"] - r["date"]).days <= 2:
            return "abroad (a foreign transaction fee followed)"
    return None


def _new_merchants(
    rows: list[dict[str, Any]],
    outflows: list[dict[str, Any]],
    add: Any,
    seen_before: set[tuple[str, str]],
    first: dt.date | None,
) -> None:
    from collections import deque

    if not rows or first is None:
        return
    fees_by_account: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if FOREIGN_FEE.search(r["payee"] or ""):
            fees_by_account.setdefault(r["account"], []).append(r)
    seen = set(seen_before)
    spend: dict[str, deque[float]] = {}
    for r in outflows:
        a = float(-r["amount"])
        k = (r["account"], r["key"])
        hist = spend.setdefault(r["account"], deque(maxlen=1000))
        if (
            k not in seen
            and (r["date"] - first).days >= NEW_MERCHANT_WARMUP_DAYS
            and len(hist) >= 30
            and not FOREIGN_FEE.search(r["payee"] or "")
            and not FEE_WORDS.search(r["payee"] or "")
        ):
            p95 = sorted(hist)[int(len(hist) * 0.95)]
            where = _foreign(r, fees_by_account)
            if where and a >= max(100.0, p95):
                add(r, "new_merchant_abroad", f"first purchase ever from {r['payee']}, {where}, {a:,.2f}", 0.9)
            elif a >= max(2000.0, 5 * p95):
                add(
                    r,
                    "new_merchant_large",
                    f"first purchase ever from {r['payee']}, {a:,.2f} "
                    f"(above {5 * p95:,.0f}, five times your usual large purchase)",
                    0.7,
                )
        seen.add(k)
        hist.append(a)


def _fees(rows: list[dict[str, Any]], add: Any) -> None:
    by_account: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_account.setdefault(r["account"], []).append(r)
    for account, items in by_account.items():
        # A categorised transaction is a fee when its category says so; otherwise its wording decides.
        fees = [
            r
            for r in items
            if r["amount"] < 0
            and (r["top"] == "Fees & charges" or (not r["top"] and FEE_WORDS.search(r["payee"] or "")))
            and not FOREIGN_FEE.search(r["payee"] or "")
        ]
        kinds: dict[str, list[dict[str, Any]]] = {}
        for f in fees:
            kinds.setdefault(f["key"], []).append(f)
        for kind, items_k in kinds.items():
            first = items_k[0]
            if float(-first["amount"]) >= 10 and (first["date"] - items[0]["date"]).days >= NEW_MERCHANT_WARMUP_DAYS:
                add(
                    first,
                    "fee_spike",
                    f"a fee never charged before on {account}: {first['payee']} {-first['amount']:,.2f}",
                    0.75,
                )
            # The usual rate of this fee over the account's whole history, not over its own burst.
            span_days = max(7, (items[-1]["date"] - items[0]["date"]).days)
            usual_per_week = len(items_k) / span_days * 7
            lo = 0
            for hi, f in enumerate(items_k):
                while (f["date"] - items_k[lo]["date"]).days > 7:
                    lo += 1
                window = items_k[lo : hi + 1]
                if len(window) >= 2 and len(window) > 3 * usual_per_week:
                    for g in window:
                        add(
                            g,
                            "fee_spike",
                            f"{len(window)} {kind} charges within a week on {account} ({-g['amount']:,.2f} each)",
                            0.8,
                        )


def _price_increases(con: Any, add: Any, by_id: dict[int, dict[str, Any]], recurring: Any = None) -> None:
    from finanalytics_cli.engine.recurring import detect_recurring

    for s in (recurring or detect_recurring(con)).series:
        if s.direction != "out" or (s.category or "").split("/")[0] not in PRICE_CATEGORIES:
            continue
        for ch in s.price_changes:
            # A fixed price before and after the step: a real price change, not a varying bill.
            before = [abs(by_id[t]["amount"]) for t in s.tx_ids if t in by_id and by_id[t]["date"] < ch["date"]]
            after = [abs(by_id[t]["amount"]) for t in s.tx_ids if t in by_id and by_id[t]["date"] >= ch["date"]]
            fixed = len(set(before[-3:])) == 1 and len(set(after[:3])) == 1
            if fixed and ch["to"] > ch["from"] and ch["tx_id"] in by_id:
                add(
                    by_id[ch["tx_id"]],
                    "price_increase",
                    f"{s.merchant} went from {ch['from']} to {ch['to']} ({ch['change_pct']:+.1f}%), {s.cadence}",
                    0.7,
                )


def _model_scores(
    store: Any, rows: list[dict[str, Any]], report: AnomalyReport, since: dt.date | None, until: dt.date | None = None
) -> None:
    from finanalytics_cli.engine.errors import ModelUnavailable
    from finanalytics_cli.engine.models.registry import load_model, serving

    route = serving(store.con, "anomaly_detector")
    if route.production is None:
        report.fallback = "explicit detectors only"
        report.notes.append("no anomaly_detector model is deployed (models train anomaly_detector)")
        return
    try:
        model = load_model(store.con, store.keys.active, route.production)
    except ModelUnavailable as err:
        report.fallback = "explicit detectors only"
        report.notes.append(err.message)
        return
    report.model_id = route.production
    from finanalytics_cli.engine.models.anomaly import score_transactions

    scores, ratios = score_transactions(store.con, model, since)
    known = {f.tx_id for f in report.findings}
    for f in report.findings:
        f.model_score = scores.get(f.tx_id)
    by_id = {r["tx_id"]: r for r in rows}
    for tx_id, (s, why) in model.outliers(scores, ratios).items():
        if tx_id in known or tx_id not in by_id or by_id[tx_id]["amount"] >= 0:
            continue  # money in (refunds, bonuses) is not a charge to worry about
        if until and by_id[tx_id]["date"] > until:
            continue
        r = by_id[tx_id]
        report.findings.append(
            Finding(
                tx_id,
                r["date"],
                r["account"],
                r["payee"] or "",
                r["amount"],
                r["currency"],
                "unusual",
                why,
                round(min(0.95, s), 3),
                round(s, 3),
            )
        )
    report.findings.sort(key=lambda f: (-f.score, f.date))
