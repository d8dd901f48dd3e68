"""Differentially private releases through OpenDP, and the privacy budget they spend.

The unit of privacy is one transaction: a release changes by at most e^epsilon in
probability whether or not any single transaction is in the data. Spending is released
per (period, category) cell over the public lists of periods and taxonomy categories
(every cell, empty or not, so which categories are used is not revealed); each
transaction falls in exactly one cell, so the cells compose in parallel and the release
costs its epsilon once. Within a cell, the count (discrete Laplace) and the clamped sum
(Laplace) split the epsilon; the mean is their quotient (post-processing). The clamping
bound is configured or estimated privately from a noisy histogram (a tenth of epsilon).

Every release is recorded in ``privacy_ledger`` (epsilon, delta, mechanism, bounds,
query) in the same database transaction that checks the budget; a release that would
overspend is refused with PRIVACY_VIOLATION before anything is computed or shown.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

from finanalytics_cli.engine.errors import InvalidInput, PrivacyViolation

BUDGET_KEY = "privacy:budget"
# Lifetime by default: a transaction stays in releases for as long as windows cover it
# (a year by default, any span with --from), so a budget that renewed monthly would let
# its total exposure grow without bound (10 a month: ~120 a year).
DEFAULT_BUDGET = {"total": 10.0, "per": None}
MAX_DELTA = 1e-5  # the total delta all (approximate-DP) releases together may spend
MAX_EPSILON = 10.0
BOUND_SHARE = 0.1  # of epsilon, to estimate the clamping bound when none is configured
BOUND_GRID = [10.0 * 4**i for i in range(8)]  # 10 .. 163,840


def _opendp() -> Any:
    """OpenDP's core combinators (its `prelude` would import scikit-learn: slower)."""
    import opendp.measurements as M
    import opendp.transformations as T
    from opendp.domains import atom_domain, vector_domain
    from opendp.metrics import symmetric_distance
    from opendp.mod import binary_search_param, enable_features

    enable_features("contrib")
    return M, T, atom_domain, vector_domain, symmetric_distance, binary_search_param


MIN_POSITIVE = 1e-6


def _positive_number(text: str | float, what: str, example: str, maximum: float, too_big: str) -> float:
    """A finite number above zero and at most ``maximum``, or a clear InvalidInput."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InvalidInput(f"{what} must be a number above 0, such as {example}, not {text!r}")
    if value > maximum:
        raise InvalidInput(too_big)
    if value < MIN_POSITIVE:  # a denormal: noise scales of 1/epsilon overflow
        raise InvalidInput(f"{what} {text!r} is too small to use: at least {MIN_POSITIVE:g}")
    return value


def parse_epsilon(text: str | float) -> float:
    return _positive_number(
        text,
        "--epsilon",
        "0.5",
        MAX_EPSILON,
        f"--epsilon above {MAX_EPSILON:g} protects next to nothing; choose a smaller one",
    )


# -- the budget -----------------------------------------------------------------------
def parse_budget(text: str) -> float:
    return _positive_number(
        text, "the privacy budget", "5", 1000, "a privacy budget above 1000 protects nothing; choose a smaller one"
    )


def set_budget(con: Any, total: float, per: str | None) -> dict[str, Any]:
    if not math.isfinite(total) or total <= 0:
        raise InvalidInput(f"the privacy budget must be above 0, not {total}")
    if per not in (None, "month", "year"):
        raise InvalidInput(f"--per must be month or year, not {per!r}")
    value = {"total": float(total), "per": per}
    con.execute("INSERT OR REPLACE INTO app_state (key, value) VALUES (?, ?)", [BUDGET_KEY, json.dumps(value)])
    return value


def _window_start(per: str | None, today: dt.date) -> dt.date | None:
    if per == "month":
        return today.replace(day=1)
    if per == "year":
        return today.replace(month=1, day=1)
    return None


def budget_status(con: Any, today: dt.date | None = None) -> dict[str, Any]:
    today = today or dt.date.today()
    row = con.execute("SELECT value FROM app_state WHERE key = ?", [BUDGET_KEY]).fetchone()
    budget = json.loads(row[0]) if row else dict(DEFAULT_BUDGET)
    start = _window_start(budget["per"], today)
    spent, delta, releases = con.execute(
        "SELECT coalesce(sum(epsilon), 0), coalesce(sum(delta), 0), count(*) FROM privacy_ledger "
        "WHERE ? IS NULL OR CAST(created_at AS DATE) >= ?",
        [start, start],
    ).fetchone()
    return {
        "total_epsilon": budget["total"],
        "per": budget["per"] or "lifetime",
        "window_from": start,
        "epsilon_spent": round(float(spent), 6),
        "epsilon_remaining": round(max(0.0, budget["total"] - float(spent)), 6),
        "delta_spent": float(delta),
        "delta_limit": MAX_DELTA,
        "releases": int(releases),
        "configured": row is not None,
    }


def check_budget(con: Any, epsilon: float, delta: float = 0.0) -> dict[str, Any]:
    status = budget_status(con)
    if epsilon > status["epsilon_remaining"] + 1e-12:
        raise PrivacyViolation(
            f"this release needs epsilon {epsilon:g} but only {status['epsilon_remaining']:g} of the "
            f"{status['total_epsilon']:g} budget ({status['per']}) is left; nothing was released"
        )
    if status["delta_spent"] + delta > MAX_DELTA * (1 + 1e-9):
        raise PrivacyViolation(
            f"this release needs delta {delta:g} but {status['delta_spent']:g} of the {MAX_DELTA:g} delta limit "
            f"is spent ({status['per']}); nothing was released"
        )
    return status


def record_release(con: Any, query: str, mechanism: str, epsilon: float, delta: float, bounds: dict[str, Any]) -> None:
    con.execute(
        "INSERT INTO privacy_ledger (query, mechanism, epsilon, delta, bounds) VALUES (?, ?, ?, ?, ?)",
        [query, mechanism, epsilon, delta, json.dumps(bounds, default=str)],
    )


def ledger(con: Any, limit: int = 50) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT entry_id, created_at, query, mechanism, epsilon, delta, bounds FROM privacy_ledger "
        "ORDER BY entry_id DESC LIMIT ?",
        [limit],
    ).fetchall()
    return [
        {"id": i, "at": t, "query": q, "mechanism": m, "epsilon": e, "delta": d, "bounds": json.loads(b or "{}")}
        for i, t, q, m, e, d, b in rows
    ]


# -- mechanisms ------------------------------------------------------------------------
def count_mechanism(epsilon: float) -> Any:
    """Count -> discrete Laplace with scale 1/epsilon (a count moves by 1 per transaction)."""
    M, T, atom_domain, vector_domain, symmetric_distance, _ = _opendp()
    space = (vector_domain(atom_domain(T=float, nan=False)), symmetric_distance())
    meas = space >> T.then_count() >> M.then_laplace(1.0 / epsilon)
    if meas.map(1) > epsilon + 1e-9:
        raise PrivacyViolation("the count mechanism would exceed its epsilon")
    return meas


def sum_mechanism(upper: float, epsilon: float) -> Any:
    """Values clamped to [0, upper], summed, Laplace noise; the scale found by OpenDP's
    search so the float-rounding-aware privacy map stays within epsilon."""
    M, T, atom_domain, vector_domain, symmetric_distance, search = _opendp()
    space = (vector_domain(atom_domain(T=float, nan=False)), symmetric_distance())

    def make(scale: float) -> Any:
        return space >> T.then_clamp((0.0, float(upper))) >> T.then_sum() >> M.then_laplace(scale)

    meas = make(search(make, d_in=1, d_out=epsilon))
    if meas.map(1) > epsilon + 1e-9:
        raise PrivacyViolation("the sum mechanism would exceed its epsilon")
    return meas


def private_upper_bound(values: list[float], epsilon: float, share: float = 0.95) -> float:
    """The smallest grid bound under which about ``share`` of the values fall, read from a
    noisy histogram of the values over the public grid (one count per bin; parallel)."""
    M, T, atom_domain, vector_domain, symmetric_distance, _ = _opendp()
    bins = [0] * (len(BOUND_GRID) + 1)
    for v in values:
        i = next((k for k, edge in enumerate(BOUND_GRID) if v <= edge), len(BOUND_GRID))
        bins[i] += 1
    space = (vector_domain(atom_domain(T=int)), symmetric_distance())
    noisy = []
    for b in bins:  # each value is in one bin: parallel composition
        meas = space >> T.then_count() >> M.then_laplace(1.0 / epsilon)
        c = int(meas([0] * b))
        noisy.append(c if c > 2 / epsilon else 0)  # below twice the noise scale: read as empty
    total = sum(noisy)
    if total == 0:
        return BOUND_GRID[3]
    running = 0
    for k, c in enumerate(noisy[:-1]):
        running += c
        if running / total >= share:
            return BOUND_GRID[k]
    return BOUND_GRID[-1]


@dataclass
class DpRelease:
    rows: list[dict[str, Any]]
    epsilon: float
    mechanism: str
    bounds: dict[str, Any]
    cells: int


def dp_spending(
    con: Any,
    period: str,
    since: dt.date,
    until: dt.date,
    epsilon: float,
    upper: float | None = None,
    currency: str | None = None,
) -> DpRelease:
    """Noisy count, sum and mean of spending per period and category (the whole public grid).

    Every input that shapes the output is public: the window (``since``..``until``), the
    period grid, the top-level categories, the currency (``release_currency``); only the
    noisy cell values depend on the transactions."""
    cur = currency or release_currency(con, None)
    trunc = {"week": "week", "month": "month", "quarter": "quarter", "year": "year"}[period]
    periods = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT CAST(date_trunc('{trunc}', d) AS DATE) FROM "
            "(SELECT unnest(generate_series(CAST(? AS DATE), CAST(? AS DATE), INTERVAL 1 DAY)) AS d) ORDER BY 1",
            [since, until],
        ).fetchall()
    ]
    categories = [
        n
        for (n,) in con.execute(
            "SELECT name FROM categories WHERE parent IS NULL AND kind = 'expense' ORDER BY name"
        ).fetchall()
    ]
    rows = con.execute(
        f"""
        SELECT CAST(date_trunc('{trunc}', posted_date) AS DATE),
               split_part(coalesce(category, 'Uncategorized'), '/', 1), -CAST(amount AS DOUBLE)
        FROM transactions
        WHERE amount < 0 AND NOT is_transfer AND currency = ? AND posted_date BETWEEN ? AND ?
        """,
        [cur, since, until],
    ).fetchall()
    cells: dict[tuple[dt.date, str], list[float]] = {}
    for p, c, v in rows:
        if c in categories:
            cells.setdefault((p, c), []).append(v)
    eps_bound = 0.0
    if upper is None:
        eps_bound = epsilon * BOUND_SHARE
        upper = private_upper_bound([v for vs in cells.values() for v in vs], eps_bound)
        bound_source = f"estimated privately (epsilon {eps_bound:g})"
    else:
        if not math.isfinite(upper) or upper <= 0:
            raise InvalidInput(f"the clamping bound must be above 0, not {upper}")
        bound_source = "configured"
    eps_cell = epsilon - eps_bound
    eps_count, eps_sum = eps_cell / 2, eps_cell / 2
    out = []
    count_m, sum_m = count_mechanism(eps_count), sum_mechanism(upper, eps_sum)
    for p in periods:
        for c in categories:
            values = cells.get((p, c), [])
            count = max(0, int(count_m(values)))
            total = max(0.0, float(sum_m(values)))
            out.append(
                {
                    "period": p,
                    "category": c,
                    "currency": cur,
                    "count": count,
                    "total": round(total, 2),
                    "mean": round(total / count, 2) if count else None,
                }
            )
    bounds = {"lower": 0.0, "upper": upper, "source": bound_source, "currency": cur}
    return DpRelease(
        out,
        epsilon,
        f"OpenDP: clamp + sum -> Laplace (epsilon {eps_sum:g}), count -> discrete Laplace (epsilon {eps_count:g}), "
        f"parallel over {len(periods)} x {len(categories)} cells",
        bounds,
        len(periods) * len(categories),
    )


def default_window(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last 12 complete calendar months before ``today``: from the clock, never from
    the data (a window ending at the newest transaction would reveal its date)."""
    until = today.replace(day=1) - dt.timedelta(days=1)
    start_month = until.month - 11
    start_year = until.year + (start_month - 1) // 12
    start_month = (start_month - 1) % 12 + 1
    return dt.date(start_year, start_month, 1), until


def release_currency(con: Any, requested: str | None) -> str:
    """The currency of a release: the one asked for, else the currency most accounts are in.

    Public, like the window: accounts (their names and currencies) are not what a release
    protects, one transaction is, and no transaction changes which currency the accounts
    are in. With no accounts, or a tie, the caller must name it."""
    if requested:
        code = requested.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise InvalidInput(f"--currency must be a three-letter code such as EUR, not {requested[:20]!r}")
        return code
    counts = con.execute(
        "SELECT currency, count(*) AS n FROM accounts WHERE currency <> 'XXX' GROUP BY 1 ORDER BY n DESC, 1"
    ).fetchall()
    if counts and (len(counts) == 1 or counts[0][1] > counts[1][1]):
        return counts[0][0]
    listed = f" (the accounts are in {', '.join(c for c, _ in counts)})" if counts else ""
    raise InvalidInput(f"name the release's currency with --currency CODE{listed}")


def release_spending(
    store: Any,
    query: str,
    epsilon: float,
    bound: float | None,
    period: str,
    since: dt.date | None,
    until: dt.date | None,
    out: Any = None,
    fmt: str = "parquet",
    currency: str | None = None,
    today: dt.date | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the budget, release through OpenDP, record the ledger row and the audit entry
    in one transaction, and commit it; only then write the export file (with ``out``) or
    hand the release back with its `meta.dp`. A charge whose file then fails to be written
    is epsilon lost, the safe direction: a release never exists without its charge.

    The window defaults to the last 12 complete calendar months (``default_window``) and
    the currency to the accounts' one currency: public inputs, never read from the data."""
    from finanalytics_cli.privacy.audit import append
    from finanalytics_cli.privacy.retention import check_export_dir, write_dp_export

    if out is not None:
        check_export_dir(out, fmt)  # refused before anything is spent
    window_source = "given" if since is not None and until is not None else "the last 12 complete months"
    if since is None or until is None:
        start, end = default_window(today or dt.date.today())
        since, until = since or start, until or end
    if since > until:
        raise InvalidInput(f"the release window {since}..{until} is empty: --from is after --to")
    con = store.con
    with store.transaction():
        cur = release_currency(con, currency)
        check_budget(con, epsilon)
        release = dp_spending(con, period, since, until, epsilon, bound, cur)
        record_release(
            con,
            f"{query}: spending per {period} and category, {since}..{until}, {cur}",
            release.mechanism,
            epsilon,
            0.0,
            release.bounds,
        )
        append(con, "dp_release", {"command": query, "epsilon": epsilon, "mechanism": "laplace"})
        status = budget_status(con)
    written = write_dp_export(release.rows, out, fmt) if out is not None else None
    meta = {
        "dp": {
            "epsilon_spent": epsilon,
            "delta": 0.0,
            "mechanism": release.mechanism,
            "bounds": release.bounds,
            "unit": "one transaction",
            "window": {"from": since, "to": until, "source": window_source},
            "currency": release.bounds["currency"],
            "budget_spent": status["epsilon_spent"],
            "budget_remaining": status["epsilon_remaining"],
            "budget_per": status["per"],
        }
    }
    return written or {"from": since, "to": until, "period": period, "cells": release.rows}, meta
