"""Analytics quality on the sample household, and insights' speed on 1,000,000 transactions.

Quality: the sample as the demo leaves it (first two years labelled, the classifier
categorising the last year), anomaly precision/recall against the injected events and
recurring-series F1 against the truth. Speed: `insights` (a full regeneration:
spending analysis, anomaly detectors, recurring series, profile) on a store of
1,000,000 transactions, target under 10 s.

Run: python benchmarks/analytics.py [--rows N]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ.update(
        FINANALYTICS_PASSPHRASE="benchmark passphrase",
        FINANALYTICS_NO_KEYRING="1",
        FINANALYTICS_HOME=tempfile.mkdtemp(prefix="fa-analytics-"),
    )
    from finanalytics_cli.engine.anomalies import detect_anomalies
    from finanalytics_cli.engine.demo import run_demo
    from finanalytics_cli.engine.ingest import ImportOptions, import_sources, sources_from_paths
    from finanalytics_cli.engine.insights import refresh_insights
    from finanalytics_cli.engine.models.category_eval import truth_by_tx
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.recurring import detect_recurring
    from finanalytics_cli.engine.store import Store
    from finanalytics_cli.engine.truth_eval import finding_pr, series_f1

    print(f"command: python benchmarks/analytics.py --rows {args.rows}")
    work = Path(os.environ["FINANALYTICS_HOME"]) / "sample"
    with Store.create(resolve_paths()) as store:
        run_demo(store, work)
        truth_csv = (work / "truth" / "transactions.csv").read_text()
        truth_anoms = {t for t, k in truth_by_tx(store.con, truth_csv, "anomaly").items() if k}
        report = detect_anomalies(store)
        a = finding_pr({f.tx_id for f in report.findings}, truth_anoms)
        print(
            f"anomalies: precision {a['precision']:.3f}, recall {a['recall']:.3f} (targets 0.8/0.8) "
            f"over {a['truth']} injected events, {a['flagged']} flagged"
        )
        series: dict[str, set[int]] = {}
        for t, sid in truth_by_tx(store.con, truth_csv, "series").items():
            if sid:
                series.setdefault(sid, set()).add(t)
        r = series_f1([set(s.tx_ids) for s in detect_recurring(store.con).series], series)
        print(
            f"recurring: precision {r['precision']:.3f}, recall {r['recall']:.3f}, F1 {r['f1']:.3f} "
            f"(target 0.9) over {r['truth']} true series, {r['detected']} detected"
        )
        t0 = time.perf_counter()
        refresh_insights(store)
        print(
            f"insights on the sample ({store.con.execute('SELECT count(*) FROM transactions').fetchone()[0]:,} "
            f"transactions): {time.perf_counter() - t0:.2f} s"
        )

    sys.path.insert(0, str(Path(__file__).parent))
    from import_speed import generate

    os.environ["FINANALYTICS_HOME"] = tempfile.mkdtemp(prefix="fa-analytics-big-")
    big = Path(os.environ["FINANALYTICS_HOME"]) / "big.csv"
    generate(big, args.rows)
    with Store.create(resolve_paths()) as store:
        import_sources(store, sources_from_paths([str(big)]), ImportOptions(account="Checking"))
        store.con.execute("CHECKPOINT")
        t0 = time.perf_counter()
        state = refresh_insights(store)
        elapsed = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"insights on {args.rows:,} transactions: {elapsed:.2f} s (target < 10 s) -> "
        f"{'OK' if elapsed < 10 else 'OVER TARGET'}; {state.get('current')} insights; peak RSS {rss:,.0f} MB"
    )


if __name__ == "__main__":
    main()
