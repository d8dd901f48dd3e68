"""Category classifier quality on the sample household (time split), as the issue asks.

Train on the first two years' labels (2023-11-01 .. 2025-10-31), test on the last year,
through the whole pipeline (`categorize`: rules, the deployed model, keyword fallback):
accuracy and macro-F1 against the truth, the baselines, 50-label accuracy, robustness to
noisier merchant strings, accuracy per account and currency, and a learning curve.

Run: python benchmarks/categorization.py [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import tempfile
import time

CUT = dt.date(2025, 10, 31)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer learning-curve points")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="fa-cat-bench-")
    os.environ.update(
        FINANALYTICS_HOME=tmp, FINANALYTICS_PASSPHRASE="benchmark passphrase", FINANALYTICS_NO_KEYRING="1"
    )
    from finanalytics_cli.engine.categorize import categorize
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.models import category_eval as ev
    from finanalytics_cli.engine.models.category import parse_params, train_category_classifier
    from finanalytics_cli.engine.models.registry import deploy
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.sample_household import EXPORT_ACCOUNTS, sample_files
    from finanalytics_cli.engine.store import Store

    files = sample_files()
    store = Store.create(resolve_paths())
    for rel, account in EXPORT_ACCOUNTS.items():
        import_sources(store, [Source(rel, files[rel])], ImportOptions(account=account))
    con = store.con
    truth = ev.truth_by_tx(con, files["truth/transactions.csv"].decode())
    train_ids, test_ids = ev.split(con, truth, CUT)

    def run(label_ids: list[int], params: list[str] | None = None) -> tuple[dict, dict]:
        ev.reset_categories(con)
        ev.label(con, truth, label_ids)
        t0 = time.perf_counter()
        with store.transaction():
            res = train_category_classifier(store, parse_params(params or []), date_to=CUT)
            deploy(con, res.model_id, "production")
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        categorize(store)
        cat_s = time.perf_counter() - t0
        out = ev.score(con, truth, test_ids)
        out["train_s"], out["categorize_s"] = round(train_s, 1), round(cat_s, 1)
        return out, res.metrics

    print("command: python benchmarks/categorization.py" + (" --quick" if args.quick else ""))
    print(f"train: {len(train_ids)} labelled transactions up to {CUT}; test: {len(test_ids)} after it")
    full, metrics = run(train_ids)
    print(
        f"\nfull labels: accuracy {full['accuracy']:.3f} (target >= 0.92), macro-F1 {full['macro_f1']:.3f} "
        f"(target >= 0.85), coverage {full['coverage']:.3f}; train {full['train_s']} s, "
        f"categorize {full['categorize_s']} s"
    )
    print(
        f"baselines on the model's own hold-out: majority {metrics['baseline_majority_accuracy']:.3f}, "
        f"keyword rules {metrics['baseline_keyword_accuracy']:.3f}; model {metrics['accuracy']:.3f} "
        f"({metrics.get('ece', 0):.4f} expected calibration error)"
    )
    print(
        f"accuracy by account: {full['accuracy_by_account']} (gap {full['account_gap']:.3f}"
        f"{', FLAGGED' if full['account_gap_flagged'] else ''})"
    )
    print(
        f"accuracy by currency: {full['accuracy_by_currency']} (gap {full['currency_gap']:.3f}"
        f"{', FLAGGED' if full['currency_gap_flagged'] else ''})"
    )

    rng = random.Random(50)
    few = []
    for seed in range(3):
        ids = random.Random(seed).sample(train_ids, 50)
        few.append(run(ids)[0]["accuracy"])
    print(
        f"\n50 labels (3 random draws): accuracy {', '.join(f'{a:.3f}' for a in few)} "
        f"(target >= 0.70) -> {'OK' if min(few) >= 0.70 else 'BELOW TARGET'}"
    )

    run(train_ids)
    ev.perturb_payees(con, test_ids, seed=7)
    categorize(store, everything=True)
    noisy = ev.score(con, truth, test_ids)
    drop = full["accuracy"] - noisy["accuracy"]
    print(
        f"robustness (random casing, extra store numbers, truncation on the test year): accuracy "
        f"{noisy['accuracy']:.3f}, a drop of {drop * 100:.1f} points (target <= 5) -> "
        f"{'OK' if drop <= 0.05 else 'OVER TARGET'}"
    )

    # Rules alone, then the model flow (the three rules and no labels): the model
    # flow must never make the categories worse.
    from finanalytics_cli.engine.categories import add_rule, apply_rules
    from finanalytics_cli.engine.errors import InsufficientData

    ev.reset_categories(con)
    con.execute("DELETE FROM model_predictions")
    for pattern, cat in (
        ("chipotle|delfina|burma|doordash", "Dining"),
        ("whole ?f|trader|safeway", "Groceries"),
        ("uber|lyft|clipper|shell|chevron", "Transport"),
    ):
        add_rule(con, pattern, cat)
    apply_rules(con)
    categorize(store, everything=True)
    everyone = sorted(train_ids + test_ids)
    rules_only = ev.score(con, truth, everyone)["accuracy"]
    try:
        with store.transaction():
            res = train_category_classifier(store, parse_params([]))
            deploy(con, res.model_id, "production")
        flow = f"trained ({res.metrics['categories_served']} categories)"
    except InsufficientData as exc:
        flow = f"refused: {str(exc)[:70]}..."
    categorize(store, everything=True)
    after = ev.score(con, truth, everyone)["accuracy"]
    print(
        f"rules alone (3 rules, no labels): accuracy {rules_only:.3f}; then `models train --deploy production` "
        f"+ categorize: {flow} -> accuracy {after:.3f} -> {'OK, never worse' if after >= rules_only else 'WORSE'}"
    )
    store.close()
    category_column_flow(files["truth/transactions.csv"].decode())
    zero_labels()

    # The learning curve starts again from clean strings, in a fresh store.
    os.environ["FINANALYTICS_HOME"] = tempfile.mkdtemp(prefix="fa-cat-bench-")
    store = Store.create(resolve_paths())
    for rel, account in EXPORT_ACCOUNTS.items():
        import_sources(store, [Source(rel, files[rel])], ImportOptions(account=account))
    con = store.con
    truth = ev.truth_by_tx(con, files["truth/transactions.csv"].decode())
    train_ids, test_ids = ev.split(con, truth, CUT)
    sizes = [25, 100, 400, len(train_ids)] if args.quick else [25, 50, 100, 200, 400, 800, 1600, len(train_ids)]
    print("\nlearning curve (labels -> accuracy, macro-F1):")
    for n in sizes:
        ids = sorted(rng.sample(train_ids, min(n, len(train_ids))))
        res = run(ids)[0]
        print(f"  {n:>5} -> {res['accuracy']:.3f}, {res['macro_f1']:.3f}")
    store.close()


def zero_labels() -> None:
    """Zero labels, zero rules: messy exports of well-known brands (merchant_categories.py)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from merchant_categories import TARGETS, measure

    m = measure()
    ok = m["right"] >= TARGETS["right"] and m["wrong"] <= TARGETS["wrong"]
    print(
        f"\nzero labels, zero rules ({m['rows']} messy brand transactions, straight after import): right "
        f"{m['right']:.1%}, wrong {m['wrong']:.1%}, uncategorised {m['none']:.1%} (targets >= 85% / <= 5%) -> "
        f"{'OK' if ok else 'BELOW TARGET'}"
    )
    print("  share by source: " + ", ".join(f"{k} {v:.1%}" for k, v in m["sources"].items()))


def category_column_flow(truth_csv: str) -> None:
    """A household's past categories imported with --category-column, then its later
    exports, and no other command: the import learns from the labels by itself. Through
    the CLI, in a fresh store; scored on the later transactions."""
    import csv
    import io
    import subprocess
    import sys
    from pathlib import Path

    from finanalytics_cli.engine.models import category_eval as ev
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    home = Path(tempfile.mkdtemp(prefix="fa-cat-bench-"))
    env = {
        **os.environ,
        "FINANALYTICS_HOME": str(home / "home"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    rows = list(csv.DictReader(io.StringIO(truth_csv)))
    cli = [sys.executable, "-m", "finanalytics_cli"]
    for account in sorted({r["account"] for r in rows}):
        mine = [r for r in rows if r["account"] == account]
        for part, keep in (("past", lambda d: d <= CUT.isoformat()), ("later", lambda d: d > CUT.isoformat())):
            out = io.StringIO()
            w = csv.writer(out)
            w.writerow(["Date", "Description", "Amount", "Currency"] + (["Category"] if part == "past" else []))
            for r in mine:
                if keep(r["date"]):
                    w.writerow(
                        [r["date"], r["payee"], r["amount"], r["currency"]]
                        + ([r["category"]] if part == "past" else [])
                    )
            path = home / f"{account}-{part}.csv"
            path.write_text(out.getvalue(), encoding="utf-8")
            extra = ["--category-column", "Category"] if part == "past" else []
            subprocess.run(
                [*cli, "--json", "import", str(path), "--account", account, *extra],
                env=env,
                check=True,
                capture_output=True,
            )
    os.environ["FINANALYTICS_HOME"] = env["FINANALYTICS_HOME"]
    with Store.open(resolve_paths(), readonly=True) as store:
        truth = ev.truth_by_tx(store.con, truth_csv)
        _, test_ids = ev.split(store.con, truth, CUT)
        scored = ev.score(store.con, truth, test_ids)
        shares = share_by_source(store.con, test_ids)
        models = store.con.execute("SELECT count(*) FROM deployments WHERE status = 'active'").fetchone()[0]
    print(
        f"\n--category-column (past categories imported, later exports imported, no other command): accuracy "
        f"{scored['accuracy']:.3f} on {len(test_ids)} later transactions (target >= 0.95) -> "
        f"{'OK' if scored['accuracy'] >= 0.95 else 'BELOW TARGET'}; {models} model deployed by the import itself"
    )
    print(f"  share by source: {shares}")


def share_by_source(con: object, tx_ids: list[int]) -> dict[str, float]:
    """The share of ``tx_ids`` each source categorised (label, rule, model, merchant table,
    keyword, transfer, none)."""
    rows = con.execute(
        """
        SELECT CASE WHEN category IS NULL THEN 'none' WHEN category_source LIKE 'rule:%' THEN 'rule'
                    WHEN category_source IN ('user', 'user-flagged') THEN 'label'
                    WHEN category_source = 'transfer-match' THEN 'transfer' ELSE category_source END, count(*)
        FROM transactions WHERE tx_id IN (SELECT unnest(?)) GROUP BY 1 ORDER BY 2 DESC
        """,
        [tx_ids],
    ).fetchall()
    total = sum(n for _, n in rows) or 1
    return {k: round(n / total, 3) for k, n in rows}


if __name__ == "__main__":
    main()
