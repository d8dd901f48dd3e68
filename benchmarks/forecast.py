"""Forecast quality and speed on the sample household.

Backtest: the last 12 months, monthly origins, one step ahead; aggregate MASE against
seasonal naive's (target <= 0.9x) and interval coverage (targets: within 10 points of 80%
and 95%). Speed: `finanalytics predict` in a new process, first run (computes and
stores) and second run (serves the stored predictions): targets 10 s and 2 s.

Run: python benchmarks/forecast.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    home = tempfile.mkdtemp(prefix="fa-forecast-")
    os.environ.update(
        FINANALYTICS_HOME=home, FINANALYTICS_PASSPHRASE="benchmark passphrase", FINANALYTICS_NO_KEYRING="1"
    )
    from finanalytics_cli.engine.demo import run_demo
    from finanalytics_cli.engine.forecast import backtest
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    with Store.create(resolve_paths()) as store:
        run_demo(store, Path(home) / "sample")
        # The demo already stored predictions: drop them so the first run computes.
        store.con.execute("DELETE FROM app_state WHERE key LIKE 'prediction:%'")
        b = backtest(store.con)
    print("command: python benchmarks/forecast.py")
    print(
        f"backtest ({b['origins']} monthly origins, {b['series']} series): mean per-series MASE {b['mase']:.3f} "
        f"vs seasonal "
        f"naive {b['seasonal_naive_mase']:.3f} -> ratio {b['ratio_to_seasonal_naive']:.3f} (target <= 0.9) "
        f"{'OK' if b['ratio_to_seasonal_naive'] <= 0.9 else 'ABOVE TARGET'}"
    )
    pooled = b["pooled_ratio_to_seasonal_naive"]
    print(
        f"pooled over all series and origins (sum of absolute errors / seasonal naive's): {pooled:.3f} "
        f"(target <= 0.9) {'OK' if pooled <= 0.9 else 'ABOVE TARGET'}"
    )
    print(
        f"interval coverage: 80% -> {b['coverage_80']:.1%}, 95% -> {b['coverage_95']:.1%} (targets 70-90% and 85-100%)"
    )
    for label in ("first run (computes, stores)", "second run (serves stored)"):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "finanalytics_cli", "predict", "--json"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        print(f"predict, new process, {label}: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
