"""Is federated learning worth using? Measured on a member's later transactions.

Four simulated households, each a real encrypted store: three contributors and one new
member. Each household shops at its own random ~60% of the sample household's
merchants, with its own spellings (store numbers, processor prefixes), over the same
three years. The contributors label everything and send DP updates through the whole
protocol (signed round file, masked and signed updates, aggregation, signed model).
The new member labels its first 0, 10, 30 or 100 transactions; every method is scored
on the same later transactions (after its 100th), top-level categories:

- keyword rules: the built-in rules;
- local only: the same centroid classifier from the member's own labels;
- local classifier: the project's `category_classifier` trained on those labels
  (where it agrees to train);
- federated: the shared model alone; federated + local: with the member's labels added
  (what `federated import-model` registers).

Run: python benchmarks/federated.py [--epsilon 8] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import tempfile
import time
from pathlib import Path

LABEL_COUNTS = (0, 10, 30, 100)


def households(seed: int, n: int = 4) -> list[list[dict[str, str]]]:
    from finanalytics_cli.engine.sample_household import SPELLINGS, _Namer, sample_files

    truth = list(csv.DictReader(io.StringIO(sample_files()["truth/transactions.csv"].decode())))
    rows = [r for r in truth if r["is_transfer"] != "true" and r["currency"] == "USD"]
    merchants = sorted({r["merchant"] for r in rows})
    out = []
    for h in range(n):
        rng = random.Random(seed * 100 + h)
        namer = _Namer(rng)
        chosen = {m for m in merchants if rng.random() < 0.6}
        mine = []
        for r in rows:
            if r["merchant"] in chosen:
                payee = namer(r["merchant"]) if r["merchant"] in SPELLINGS else r["payee"]
                mine.append({"date": r["date"], "payee": payee, "amount": r["amount"], "category": r["category"]})
        out.append(mine)
    return out


def _csv(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["Date", "Description", "Amount"])
    for r in rows:
        w.writerow([r["date"], r["payee"], r["amount"]])
    return buf.getvalue().encode()


def _import(name: str, rows: list[dict[str, str]]) -> object:
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    store = Store.create(resolve_paths(name))
    import_sources(store, [Source(f"{name}.csv", _csv(rows))], ImportOptions(account=f"{name} checking"))
    return store


def _label(store: object, rows: list[dict[str, str]], until_index: int | None) -> int:
    """Label the household's first ``until_index`` transactions by date (all if None)."""
    import polars as pl

    got = store.con.execute(  # type: ignore[attr-defined]
        "SELECT tx_id, posted_date, payee_raw, amount FROM transactions ORDER BY posted_date, tx_id"
    ).fetchall()
    truth = {(r["date"], r["payee"], r["amount"]): r["category"] for r in rows}
    pairs = [(t, truth[(str(d), p, f"{a:.2f}")]) for t, d, p, a in got]
    if until_index is not None:
        pairs = pairs[:until_index]
    if not pairs:
        return 0
    frame = pl.DataFrame({"tx_id": [t for t, _ in pairs], "category": [c for _, c in pairs]})
    con = store.con  # type: ignore[attr-defined]
    con.register("fa_bench_labels", frame.to_arrow())
    con.execute(
        "UPDATE transactions SET category = l.category, category_source = 'user', category_confidence = 1.0, "
        "labeled_at = current_timestamp FROM fa_bench_labels l WHERE transactions.tx_id = l.tx_id"
    )
    con.unregister("fa_bench_labels")
    return len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epsilon", type=float, default=8.0, help="epsilon of each contributor's update")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fa-fl-bench-"))
    os.environ.update(
        FINANALYTICS_HOME=str(tmp / "home"), FINANALYTICS_PASSPHRASE="benchmark passphrase", FINANALYTICS_NO_KEYRING="1"
    )
    from finanalytics_cli.engine.categories import keyword_category
    from finanalytics_cli.engine.errors import AnalyticsError
    from finanalytics_cli.engine.features import ensure_features, feature_frame
    from finanalytics_cli.engine.models.category import parse_params, train_category_classifier
    from finanalytics_cli.engine.models.registry import load_model
    from finanalytics_cli.privacy import dp
    from finanalytics_cli.privacy import federated as fl

    t0 = time.perf_counter()
    homes = households(args.seed)
    contributors, member_rows = homes[:3], homes[3]
    keys = tmp / "keys"
    for name in ("aggregator", "h0", "h1", "h2"):
        fl.keygen(keys, name)
    rnd = fl.new_round(
        keys / "aggregator.key",
        [keys / f"h{i}.pub" for i in range(3)],
        "bench",
        None,
        tmp / "bench.round",
        args.epsilon,
    )
    updates = []
    for i, rows in enumerate(contributors):
        store = _import(f"h{i}", rows)
        n = _label(store, rows, None)
        dp.set_budget(store.con, 10, None)  # type: ignore[attr-defined]
        fl.write_update(
            store,
            keys / "aggregator.pub",
            keys / f"h{i}.key",
            tmp / "bench.round",
            args.epsilon,
            None,
            tmp / f"h{i}.upd",
        )
        store.close()  # type: ignore[attr-defined]
        updates.append(tmp / f"h{i}.upd")
        print(f"contributor h{i}: {len(rows)} transactions, {n} labelled, update at epsilon {args.epsilon:g}")
    model = fl.aggregate(updates, keys / "aggregator.key", tmp / "bench.round")
    fl.save_model(model, tmp / "shared.model", fl.read_private(keys / "aggregator.key"))
    shared = fl.load_model_file(tmp / "shared.model", fl.read_public(keys / "aggregator.pub"))
    print(f"round {rnd['round']}: {shared.members} members, noise scale {fl.noise_scale(args.epsilon):.2f} per sum")

    # The new member: the same later transactions are scored for every label count.
    store = _import("member", member_rows)
    con = store.con  # type: ignore[attr-defined]
    all_rows = con.execute(
        "SELECT tx_id, posted_date, merchant, payee_raw, memo FROM transactions ORDER BY posted_date, tx_id"
    ).fetchall()
    truth = {(r["date"], r["payee"], r["amount"]): r["category"].split("/")[0] for r in member_rows}
    amounts = dict(con.execute("SELECT tx_id, amount FROM transactions").fetchall())
    cats = [truth[(str(d), p, f"{amounts[t]:.2f}")] for t, d, _, p, _ in all_rows]
    test = list(range(max(LABEL_COUNTS), len(all_rows)))
    x = fl.features([r[2] for r in all_rows], [r[3] for r in all_rows])
    y = [cats[i] for i in test]

    def acc(pred: list[str]) -> float:
        return sum(p == t for p, t in zip(pred, y, strict=True)) / len(y)

    keyword = acc([(keyword_category(all_rows[i][3], all_rows[i][4]) or "Uncategorized").split("/")[0] for i in test])
    print(
        f"\nnew member: {len(all_rows)} transactions, {len(set(cats))} categories; scored on its later "
        f"{len(test)} (from {all_rows[test[0]][1]})"
    )
    header = f"{'labels':>6}  {'keyword':>8}  {'local':>8}  {'local clf':>9}  {'federated':>9}  {'fed+local':>9}"
    print(header)
    results = []
    for n in LABEL_COUNTS:
        train = list(range(n))
        local = acc(fl.local_model(x[train], [cats[i] for i in train]).predict_x(x[test])) if n else 0.0
        sums, counts = fl.class_sums(x[train], [cats[i] for i in train], shared.classes)
        combined = acc(shared.plus(sums, counts, n).predict_x(x[test]))
        federated = acc(shared.predict_x(x[test]))
        con.execute("UPDATE transactions SET category = NULL, category_source = NULL, labeled_at = NULL")
        _label(store, member_rows, n)
        clf = "refuses"
        try:
            with store.transaction():  # type: ignore[attr-defined]
                result = train_category_classifier(store, parse_params(["algorithm=logreg"]), experiment="fl-bench")
            m = load_model(con, store.keys.active, result.model_id)  # type: ignore[attr-defined]
            ensure_features(con)
            frame = feature_frame(con)
            by_id = dict(zip(frame["tx_id"].to_list(), m.predict(frame)[0], strict=True))
            clf = f"{acc([by_id[all_rows[i][0]].split('/')[0] for i in test]):.1%}"
        except AnalyticsError:
            pass
        results.append((n, keyword, local, clf, federated, combined))
        print(f"{n:>6}  {keyword:>8.1%}  {local:>8.1%}  {clf:>9}  {federated:>9.1%}  {combined:>9.1%}")
    store.close()  # type: ignore[attr-defined]
    few = [r for r in results if r[0] <= 30]
    beats = all(max(r[4], r[5]) > max(r[1], r[2]) for r in few)
    print(
        f"\nwith <= 30 labels, federated (or federated + local) beats local-only and keyword rules: "
        f"{'yes' if beats else 'NO'}  ({time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
