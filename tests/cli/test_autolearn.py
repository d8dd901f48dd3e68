"""Categories from the first import and learning by itself, through the real CLI on real
encrypted stores: the merchant table on day one, a model trained and promoted by the
import of past categories, no retraining for a handful of labels, and a gate that keeps
a worse model out of production however it is trained."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

CUT = dt.date(2025, 10, 31)


def _store() -> Any:
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    return Store.open(resolve_paths())


def _write(path: Path, rows: list[dict[str, str]], with_category: bool) -> None:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["Date", "Description", "Amount", "Currency"] + (["Category"] if with_category else []))
    for r in rows:
        w.writerow([r["date"], r["payee"], r["amount"], r["currency"]] + ([r["category"]] if with_category else []))
    path.write_text(out.getvalue(), encoding="utf-8")


def test_brands_are_categorised_on_import_from_the_merchant_table(cli: Any, tmp_path: Path) -> None:
    card = tmp_path / "card.csv"
    card.write_text(
        "Date,Description,Amount\n"
        "2026-01-03,SQ *SHAKE SHACK 0123 NEW YORK NY,-15.50\n"
        "2026-01-04,KROGER #552 AUSTIN TX,-80.12\n"
        "2026-01-05,EXXONMOBIL 57442 HOUSTON TX,-40.00\n"
        "2026-01-06,AMZN Mktp US*2K3L45 REFUND,33.00\n"
        "2026-01-07,ZELLE TO JOHN SMITH,-20.00\n",
        encoding="utf-8",
    )
    out = cli.json("import", str(card), "--account", "Card", "--currency", "USD")["data"]
    assert out["categorized"]["by_merchant"] == 4 and out["categorized"]["uncategorised"] == 1
    with _store() as s:
        got = dict(s.con.execute("SELECT payee_raw, category || '|' || category_source FROM transactions").fetchall())
        left = s.con.execute("SELECT payee_raw FROM transactions WHERE category IS NULL").fetchall()
    assert got["SQ *SHAKE SHACK 0123 NEW YORK NY"] == "Dining|merchant"
    assert got["KROGER #552 AUSTIN TX"] == "Groceries|merchant"
    assert got["EXXONMOBIL 57442 HOUSTON TX"] == "Transport/Fuel|merchant"
    assert got["AMZN Mktp US*2K3L45 REFUND"] == "Income/Refunds|merchant"  # money back from a shop
    assert left == [("ZELLE TO JOHN SMITH",)]  # money to a person: not a transfer of your own
    review = cli.json("review")["data"]
    assert len(review) == 1 and review[0]["count"] == 1 and review[0]["merchant"] == "John Smith"
    assert review[0]["command"].startswith("finanalytics tx label ")


def test_past_categories_train_a_model_on_import_and_few_labels_do_not_retrain(
    cli: Any, tmp_path: Path, sample_truth_csv: str
) -> None:
    rows = [r for r in csv.DictReader(io.StringIO(sample_truth_csv)) if r["account"] == "Credit card"]
    past = [r for r in rows if r["date"] <= CUT.isoformat()]
    later = [r for r in rows if r["date"] > CUT.isoformat()]
    _write(tmp_path / "past.csv", past, with_category=True)
    _write(tmp_path / "later.csv", later, with_category=False)

    first = cli.json("import", str(tmp_path / "past.csv"), "--account", "Card", "--category-column", "Category")
    learning = first["data"]["learning"]
    assert learning["trained"] and learning["deployed"], learning
    assert learning["pipeline_accuracy"] > learning["fallback_accuracy"]
    assert learning["labels"] == len(past)
    with _store() as s:
        (model_id,) = s.con.execute(
            "SELECT model_id FROM deployments WHERE status = 'active' AND environment = 'production'"
        ).fetchone()
        assert model_id == learning["model_id"]

    # The later export: categorised by that model, with no other command.
    second = cli.json("import", str(tmp_path / "later.csv"), "--account", "Card")["data"]
    assert second["learning"] is None  # no label changed: nothing to learn
    assert second["categorized"]["by_model"] > 0.8 * len(later)
    truth = {(r["date"], r["payee"], f"{float(r['amount']):.2f}"): r["category"] for r in later}
    with _store() as s:
        got = s.con.execute(
            "SELECT CAST(posted_date AS VARCHAR), payee_raw, CAST(amount AS VARCHAR), category FROM transactions "
            "WHERE posted_date > ? AND NOT is_transfer",
            [CUT],
        ).fetchall()
        tx = s.con.execute("SELECT tx_id FROM transactions WHERE posted_date > ? LIMIT 5", [CUT]).fetchall()
    right = sum(truth.get((d, p, f"{float(a):.2f}")) == c for d, p, a, c in got)
    assert right / len(got) >= 0.95

    # Five labels are not enough change to retrain.
    for (t,) in tx:
        out = cli.json("tx", "label", str(t), "Gifts & donations", "--confirm")["data"]
        assert "learning" not in out
    with _store() as s:
        assert (
            s.con.execute("SELECT count(*) FROM ml_models WHERE model_type = 'category_classifier'").fetchone()[0] == 1
        )


def test_a_model_worse_than_the_fallback_is_not_promoted(cli: Any, sample_store: Any, sample_truth_csv: str) -> None:
    """Three rules, and labels that were noise until recently: the model they make is worse
    on the hold-out (the newest labels) than categorising without it, so neither the
    automatic retraining nor `models train --deploy production` puts it in production."""
    from finanalytics_cli.engine.categories import label_transaction
    from finanalytics_cli.engine.models.category_eval import truth_by_tx

    con = sample_store.con
    truth = truth_by_tx(con, sample_truth_csv)
    ids = [
        t
        for (t,) in con.execute(
            "SELECT tx_id FROM transactions WHERE NOT is_transfer AND amount < 0 ORDER BY posted_date, tx_id"
        ).fetchall()
        if t in truth
    ]
    old, new = ids[:80], ids[-20:]
    noise = ["Kids", "Pets", "Taxes"]
    with sample_store.transaction():
        for i, t in enumerate(old):
            label_transaction(con, t, noise[i % 3], None)
        for t in new:
            label_transaction(con, t, truth[t], None)
    sample_store.close()
    for pattern, category in (("blue bottle", "Dining"), ("safeway", "Groceries"), ("uber", "Transport")):
        cli.json("rules", "add", pattern, category)
    out = cli.json("categorize")
    learning = out["meta"]["learning"]
    assert learning["trained"] and not learning["deployed"], learning
    assert learning["pipeline_accuracy"] <= learning["fallback_accuracy"]
    assert "not better than categorizing without it" in learning["gate"]

    r = cli("models", "train", "category_classifier", "--deploy", "production", "--json")
    assert r.exit_code == 0 and "not deployed" in r.stderr
    with _store() as s:
        served = s.con.execute(
            "SELECT count(*) FROM deployments WHERE status = 'active' AND model_type = 'category_classifier'"
        ).fetchone()[0]
        by_model = s.con.execute("SELECT count(*) FROM transactions WHERE category_source = 'model'").fetchone()[0]
    assert served == 0 and by_model == 0  # nothing was relabelled by a model


def test_merchant_category_codes_from_the_file_decide(cli: Any, tmp_path: Path) -> None:
    """An MCC column of a CSV, and OFX <SIC>, are stored with the row and categorise it
    where the descriptor names no known brand."""
    from tests.engine.ingest.ofx_fixtures import sgml_bank

    card = tmp_path / "card.csv"
    card.write_text(
        "Date,Description,Amount,MCC\n"
        "2026-01-03,JOES PLACE 123 BROOKLYN NY,-25.50,5812\n"
        "2026-01-04,GAS N GO 7,-40.00,5541\n"
        "2026-01-05,RANDOM LLC,-10.00,\n",
        encoding="utf-8",
    )
    out = cli.json("import", str(card), "--account", "Card", "--currency", "USD")["data"]
    assert out["files"][0]["layout"]["columns_used"]["mcc"] == "MCC"
    ofx = tmp_path / "bank.ofx"
    ofx.write_text(
        sgml_bank(
            "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240103<TRNAMT>-25.99<FITID>S1<SIC>5411<NAME>CORNER STORE 42\n"
            "</STMTTRN>\n"
            "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240104<TRNAMT>-3.20<FITID>S2<NAME>CORNER STORE 42\n</STMTTRN>\n"
        ),
        encoding="cp1252",
    )
    cli.json("import", str(ofx), "--account", "Bank")
    with _store() as s:
        got = {
            (p, m): (c, src)
            for p, m, c, src in s.con.execute(
                "SELECT payee_raw, mcc, category, category_source FROM transactions"
            ).fetchall()
        }
    assert got[("JOES PLACE 123 BROOKLYN NY", "5812")] == ("Dining", "merchant")
    assert got[("GAS N GO 7", "5541")] == ("Transport/Fuel", "merchant")
    assert got[("RANDOM LLC", None)] == (None, None)
    assert got[("CORNER STORE 42", "5411")] == ("Groceries", "merchant")
    assert got[("CORNER STORE 42", None)] == (None, None)  # the same shop without a code: nothing to go on
