"""The built-in keyword rules: one row at a time, vectorised, and in SQL, all alike."""

from __future__ import annotations

import csv
import io
from typing import Any

import polars as pl

from finanalytics_cli.engine.categories import keyword_categories, keyword_category, keyword_series
from finanalytics_cli.engine.sample_household import sample_files

AWKWARD = [
    "Kontoführung Entgelt",
    "CAFÉ DE FLORE",
    "BÄCKEREI MÜLLER",
    "disney+ annual",
    "APPLE.COM/BILL",
    "BANFIELD PET HOSP 12",
    "spa day",
    "the spa",
    "\\bvet\\b literally",
    "vet clinic",
    "BP 4411",
    "",
    None,
    "TST* PIZZERIA",
    "UBER   *TRIP",
]


def test_the_forms_of_the_keyword_rules_agree() -> None:
    truth = csv.DictReader(io.StringIO(sample_files()["truth/transactions.csv"].decode()))
    payees: list[str | None] = [r["payee"] for r in truth] + AWKWARD
    memos: list[str | None] = [None if i % 3 else "card payment" for i in range(len(payees))]
    one_by_one = [keyword_category(p, m) for p, m in zip(payees, memos, strict=True)]
    assert keyword_categories(payees, memos) == one_by_one
    assert keyword_series(pl.Series(payees, dtype=pl.String), pl.Series(memos, dtype=pl.String)).to_list() == one_by_one
    assert sum(c is not None for c in one_by_one) > len(payees) // 2


def test_import_categorises_what_it_adds_unless_told_not_to(cli: Any, tmp_path: Any) -> None:
    from finanalytics_cli.engine.sample_household import write_sample

    write_sample(tmp_path / "sample")
    csv_path = str(tmp_path / "sample" / "exports" / "checking_us.csv")
    out = cli.json("import", csv_path, "--account", "Checking")["data"]
    cat = out["categorized"]
    assert cat["considered"] == out["totals"]["added"] and cat["by_keyword"] > 0
    assert cat["considered"] == (
        cat["by_merchant"] + cat["by_keyword"] + cat["uncategorised"] + cat["by_rule"] + cat["by_model"]
    )
    assert cat["by_merchant"] > 0
    rows = cli.json("tx", "list", "--limit", "100000")["data"]
    assert sum(1 for r in rows if r["category"]) == cat["by_merchant"] + cat["by_keyword"] + cat["by_rule"]
    ofx = cli.json("import", str(tmp_path / "sample" / "exports" / "savings.ofx"), "--no-categorize")["data"]
    assert ofx["categorized"] is None and ofx["totals"]["added"] > 0


def test_rules_applied_per_digit_folded_text_match_the_raw_text(cli: Any, tmp_path: Any) -> None:
    """The SQL path folds each run of digits to one '0' and matches distinct texts: it
    must give every row what the rules give its raw text."""
    import re

    from finanalytics_cli.engine.categories import KEYWORD_RULES

    assert not [p for p, _ in KEYWORD_RULES if re.search(r"[0-9]|\\d|\\D", p)]  # the folding's premise
    payees = [
        "BP4411",
        "BP 4411 MAIN",
        "4411BP X",
        "SHELL1234",
        "1SPA",
        "SPA1",
        "SPA 1",
        "RENT123",
        "123 RENT",
        "R3NT",
        "UBER 12 TRIP",
        "BART9",
        "AMC 07/12",
        "VET 2",
        "2VET",
        "STARBUCKS #1234 SEATTLE",
        "ATM0001",
        "MTA 33",
    ]
    body = "".join(f"2024-03-{1 + i:02d},{p},-{i + 1}.00\n" for i, p in enumerate(payees))
    f = tmp_path / "digits.csv"
    f.write_text("Date,Description,Amount\n" + body)
    out = cli.json("import", str(f), "--account", "A", "--currency", "USD")["data"]
    assert out["totals"]["added"] == len(payees)
    rows = cli.json("tx", "list", "--limit", "1000")["data"]
    got = {r["payee"]: r["category"] for r in rows}
    assert got == {p: keyword_category(p, None) for p in payees}
    assert sum(v is not None for v in got.values()) >= 8
