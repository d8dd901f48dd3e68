"""`review` (one group per merchant, a suggestion, the command that accepts it) and
`categories list | add | rename`, through the real CLI on a real encrypted store."""

from __future__ import annotations

import datetime as dt
import io
import json
import shlex
from decimal import Decimal
from typing import Any

import pytest

from finanalytics_cli.exit_codes import EXIT_CODES

GROUP_KEYS = {
    "merchant",
    "flagged",
    "count",
    "totals",
    "first_date",
    "last_date",
    "accounts",
    "suggested_category",
    "confidence",
    "suggestion_source",
    "reason",
    "command",
    "rule_pattern",
    "also_matches",
    "tx_ids",
}


def _seed(store: Any) -> dict[str, list[int]]:
    """A small household: one merchant seen 13 times in three accounts and two currencies,
    a merchant you labelled before, one the model was unsure of (spelt two ways), a
    one-off, a label held as possible poisoning and a transaction the model is sure of."""
    from finanalytics_cli.engine.categories import label_transaction
    from finanalytics_cli.engine.ledger import NewTransaction, ensure_account, insert_transactions

    con = store.con
    checking = ensure_account(con, "Checking")
    card = ensure_account(con, "Card")
    giro = ensure_account(con, "Giro", currency="EUR")
    day = dt.date(2025, 1, 1)

    def add(account: int, payee: str, amount: str, n: int = 1, currency: str = "USD", start: int = 0) -> list[int]:
        first = con.execute("SELECT coalesce(max(tx_id), 0) FROM transactions").fetchone()[0]
        rows = [
            NewTransaction(day + dt.timedelta(days=start + i), Decimal(amount), currency, payee.format(i=i))
            for i in range(n)
        ]
        insert_transactions(con, account, None, rows)
        return [
            r[0] for r in con.execute("SELECT tx_id FROM transactions WHERE tx_id > ? ORDER BY 1", [first]).fetchall()
        ]

    ids = {
        "zylo": add(checking, "ZYLO ROASTERS #10{i:02d} OAKLAND CA", "-4.50", 8)
        + add(card, "ZYLO ROASTERS #20{i:02d}", "-4.50", 4, start=10)
        + add(giro, "ZYLO ROASTERS #30{i:02d}", "-3.00", 1, currency="EUR", start=20),
        "deli_labelled": add(checking, "CORNER DELI 00{i}", "-12.00", 3, start=30),
        "deli": add(checking, "CORNER DELI 00{i}", "-12.00", 2, start=40),
        "joe": add(card, "TRADER JOE S #24{i}7", "-60.00", 3, start=50)
        + add(card, "CHECKCARD 5262 TRADER JOE'S", "-61.00"),
        "mystery": add(checking, "MYSTERY SHOP", "-20.00", start=60),
        "gym": add(checking, "ACME GYM MEMBERSHIP", "-45.00", start=70),
        "sure": add(checking, "PLANET BOOKS", "-30.00", start=80),
    }
    for tx in ids["deli_labelled"]:
        label_transaction(con, tx, "dining")
    label_transaction(con, ids["gym"][0], "Travel", flagged={"reason": "the rules say Health"})
    # What `categorize` leaves behind with a deployed model: unsure rows and a sure one.
    con.execute(
        "UPDATE transactions SET category = 'Groceries', category_source = 'model', category_confidence = 0.55 "
        "WHERE tx_id IN (SELECT unnest(?::BIGINT[]))",
        [ids["joe"][:3]],
    )
    con.execute(
        "UPDATE transactions SET category = 'Education', category_source = 'model', category_confidence = 0.97 "
        "WHERE tx_id = ?",
        [ids["sure"][0]],
    )
    return ids


def _by_merchant(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {g["merchant"]: g for g in groups}


def _run(cli: Any, command: str) -> Any:
    """A command as `review` prints it, run as a shell would split it."""
    words = shlex.split(command)
    assert words[0] == "finanalytics"
    return cli(*words[1:], "--json")


def test_review_groups_merchants_and_its_commands_categorise_each_group(cli, store: Any) -> None:
    ids = _seed(store)
    store.close()
    out = cli.json("review")
    groups = out["data"]
    assert out["meta"] == {"groups_total": 5, "transactions_total": 21, "below": 0.65}
    assert all(set(g) == GROUP_KEYS for g in groups)
    # The held label first, then by impact; each merchant once.
    assert groups[0]["flagged"] and groups[0]["tx_ids"] == ids["gym"]
    assert not any(g["flagged"] for g in groups[1:])
    merchants = [g["merchant"] for g in groups]
    assert len(merchants) == len(set(merchants)) == 5
    g = _by_merchant(groups)
    zylo = g["Zylo Roasters"]
    assert zylo["count"] == 13 and sorted(zylo["tx_ids"]) == sorted(ids["zylo"])
    assert zylo["totals"] == [{"currency": "EUR", "total": -3.0}, {"currency": "USD", "total": -54.0}]
    assert zylo["accounts"] == ["Card", "Checking", "Giro"]
    assert (zylo["first_date"], zylo["last_date"]) == ("2025-01-01", "2025-01-21")
    # No suggestion is made up: a placeholder, and the reason says so.
    assert zylo["suggested_category"] is None and zylo["confidence"] is None
    assert zylo["command"].startswith("finanalytics rules add ") and zylo["command"].endswith("'<Category>'")
    assert "no suggestion" in zylo["reason"]
    joe = next(x for x in groups if x["merchant"] and x["merchant"].lower().startswith("trader joe"))
    assert joe["count"] == 4  # "TRADER JOE S" and "TRADER JOE'S": one merchant
    assert (joe["suggested_category"], joe["confidence"], joe["suggestion_source"]) == ("Groceries", 0.55, "model")
    assert "3 of 4" in joe["reason"]
    deli = g["Corner Deli"]
    assert (deli["count"], deli["suggested_category"], deli["suggestion_source"]) == (2, "Dining", "labels")
    assert deli["confidence"] == 1.0
    mystery = g["Mystery Shop"]
    assert mystery["command"] == f"finanalytics tx label {ids['mystery'][0]} '<Category>'"
    assert groups[0]["command"] == f"finanalytics tx label {ids['gym'][0]} 'Travel' --confirm"
    impact = [x["count"] * sum(abs(t["total"]) for t in x["totals"]) for x in groups[1:]]
    assert impact == sorted(impact, reverse=True)

    # Each command, run as printed, categorises its whole group.
    for group, category in ((joe, "Groceries"), (deli, "Dining")):
        done = _run(cli, group["command"])
        assert done.exit_code == 0, done.stdout
        listed = cli.json("tx", "list", "--category", category.lower(), "--limit", "0")["data"]
        assert set(group["tx_ids"]) <= {t["id"] for t in listed}
    assert _run(cli, groups[0]["command"]).exit_code == 0
    # The placeholder is never accepted as a category.
    placeholder = _run(cli, mystery["command"])
    assert placeholder.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert "unknown category '<Category>'" in json.loads(placeholder.stdout)["error"]["message"]
    left = cli.json("review")["data"]
    assert {x["merchant"] for x in left} == {"Zylo Roasters", "Mystery Shop"}
    # --limit counts groups; --below widens what the model's categories need.
    assert len(cli.json("review", "--limit", "1")["data"]) == 1
    wider = cli.json("review", "--below", "0.98")["data"]
    assert any(x["suggested_category"] == "Education" for x in wider)
    assert cli("review", "--below", "2", "--json").exit_code == 2


@pytest.mark.parametrize("width", [80, 120])
def test_review_table_fits_the_width(store: Any, width: int) -> None:
    from rich.console import Console

    from finanalytics_cli.engine.review import review_counts, review_groups
    from finanalytics_cli.output import Result, render_table

    _seed(store)
    groups = review_groups(store.con)
    counts = review_counts(store.con)
    console = Console(record=True, width=width, file=io.StringIO(), no_color=True)
    meta = {"groups_total": counts["groups"], "transactions_total": counts["transactions"]}
    render_table(Result("review", groups, meta=meta), console)
    text = console.export_text()
    lines = text.splitlines()
    commands = [ln.strip() for ln in lines if ln.strip().startswith("finanalytics ")]
    assert commands == [g["command"] for g in groups]  # whole, one line each, in order
    assert all(len(ln) <= width for ln in lines if not ln.strip().startswith("finanalytics "))
    assert "held label" in text and "suggested: Groceries" in text and "Zylo Roasters" in text
    assert all(ln == ln.rstrip() for ln in lines)  # no padding to the width


def test_review_rule_patterns_match_every_payee(store: Any) -> None:
    from finanalytics_cli.engine.review import pattern_candidates, rule_pattern, shell_quote

    con = store.con
    assert pattern_candidates("Rei.Com")[0] == r"\bRei\.Com\b"
    joe = ["TRADER JOE S #2447", "CHECKCARD 5262 TRADER JOE'S"]
    assert rule_pattern(con, "Trader Joe S", joe) == r"\bTrader\W+Joe\W+S\b"
    assert rule_pattern(con, "Costco Wholesale Richmond", ["COSTCO WHOLESALE #3356 RICHMOND"]) == (
        r"\bCostco.*Wholesale.*Richmond\b"
    )
    assert shell_quote("Joe's") == "'Joe'\\''s'" and shlex.split(shell_quote("Joe's")) == ["Joe's"]


def test_categories_list_add_and_case_insensitive_names(cli, store: Any) -> None:
    ids = _seed(store)
    store.close()
    listed = cli.json("categories")["data"]
    assert listed == cli.json("categories", "list")["data"]
    assert set(listed[0]) == {"name", "parent", "kind", "essential", "custom", "transactions"}
    by_name = {c["name"]: c for c in listed}
    assert by_name["Dining"]["transactions"] == 3 and by_name["Dining"]["custom"] is False
    assert by_name["Transport/Fuel"] == {
        "name": "Transport/Fuel",
        "parent": "Transport",
        "kind": "expense",
        "essential": True,
        "custom": False,
        "transactions": 0,
    }
    assert by_name["Transfers"]["kind"] == "transfer" and by_name["Income/Salary"]["kind"] == "income"
    table = cli("categories", "--format", "table")
    assert table.exit_code == 0 and "Transport/Fuel" in table.stdout

    sub = cli.json("categories", "add", "Climbing", "--parent", "entertainment")["data"]
    assert sub == {
        "name": "Entertainment/Climbing",
        "parent": "Entertainment",
        "kind": "expense",
        "essential": False,
        "custom": True,
        "transactions": 0,
    }
    top = cli.json("categories", "add", "Side business", "--kind", "income")["data"]
    assert (top["parent"], top["kind"], top["custom"]) == (None, "income", True)
    assert cli.json("categories", "add", "side business/Etsy")["data"]["name"] == "Side business/Etsy"
    for args, words in [
        (("CLIMBING", "--parent", "Entertainment"), "already exists"),
        (("entertainment/climbing",), "already exists"),
        (("dining",), "the category Dining already exists"),
        (("Fuel", "--parent", "Transport/Fuel"), "is a subcategory"),
        (("None",), "read specially"),
        (("A, B",), "letters, digits"),
        (("Gym", "--parent", "Nope"), "unknown category 'Nope'"),
        (("Tips", "--parent", "Income", "--kind", "expense"), "parent's kind"),
    ]:
        r = cli("categories", "add", *args, "--json")
        assert r.exit_code == EXIT_CODES["INVALID_INPUT"], (args, r.stdout)
        assert words in json.loads(r.stdout)["error"]["message"], (args, r.stdout)
        assert r.stderr.startswith("error: ")

    # Any case, and a subcategory by its own name when that is unique.
    for typed, meant in [
        ("dining", "Dining"),
        ("DINING", "Dining"),
        ("transport/fuel", "Transport/Fuel"),
        ("Transport / FUEL", "Transport/Fuel"),
        ("climbing", "Entertainment/Climbing"),
    ]:
        assert cli.json("tx", "label", str(ids["mystery"][0]), typed)["data"]["category"] == meant
    assert cli.json("rules", "add", "zylo", "DINING")["data"]["rule"]["category"] == "Dining"
    assert cli.json("tx", "list", "--category", "DINING", "--limit", "0")["data"]
    bad = cli("tx", "label", str(ids["mystery"][0]), "Dinning", "--json")
    assert bad.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert "did you mean Dining" in json.loads(bad.stdout)["error"]["message"]
    fual = cli("rules", "add", "x", "fual", "--json")
    assert "Transport/Fuel" in json.loads(fual.stdout)["error"]["message"]


def test_spending_and_budget_names_any_case_with_reasons(store: Any) -> None:
    from finanalytics_cli.engine.budget import parse_constraint
    from finanalytics_cli.engine.errors import InvalidInput
    from finanalytics_cli.engine.spending import spending_categories

    con = store.con
    assert spending_categories(con, ["dining", " GROCERIES "]) == ["Dining", "Groceries"]
    with pytest.raises(InvalidInput, match=r"Transport/Fuel is a subcategory: spending is per top-level category"):
        spending_categories(con, ["transport/fuel"])
    with pytest.raises(InvalidInput, match=r"Income is an income category"):
        spending_categories(con, ["income"])
    with pytest.raises(InvalidInput, match=r"did you mean Dining\?\); valid: Cash"):
        spending_categories(con, ["Dinning"])
    cats = ["Dining", "Groceries", "Transport"]
    assert parse_constraint("DINING<=300", cats).subject == "Dining"
    with pytest.raises(InvalidInput, match="budgets are per top-level category, use Transport"):
        parse_constraint("transport/fuel<=100", cats)
    with pytest.raises(InvalidInput, match=r"did you mean Groceries\?"):
        parse_constraint("grocerys<=100", cats)


def test_categories_rename_moves_everything_and_refuses_what_it_must(cli, store: Any) -> None:
    from finanalytics_cli.engine.budget import PROPOSAL_KEY
    from finanalytics_cli.engine.categories import add_category, label_transaction

    ids = _seed(store)
    con = store.con
    add_category(con, "Hobbies")
    add_category(con, "Hobbies/Knitting")
    for tx in ids["zylo"][:3]:
        label_transaction(con, tx, "hobbies")
    label_transaction(con, ids["mystery"][0], "knitting")
    con.execute(
        "INSERT INTO budgets (category, amount, currency, valid_from, source) "
        "VALUES ('Hobbies', 80, 'USD', DATE '2025-01-01', 'test')"
    )
    con.execute(
        "INSERT INTO app_state (key, value) VALUES (?, ?)",
        [PROPOSAL_KEY, json.dumps({"currency": "USD", "lines": [{"category": "Hobbies", "budget": 80}]})],
    )
    store.close()
    cli.json("rules", "add", "corner deli", "Hobbies/Knitting")

    out = cli.json("categories", "rename", "HOBBIES", "Leisure")["data"]
    assert out["renamed"] == {"Hobbies": "Leisure", "Hobbies/Knitting": "Leisure/Knitting"}
    # 3 labels + 1 label + the 2 unlabelled deli rows the rule categorised
    assert (out["transactions"], out["rules"], out["budgets"]) == (6, 1, 1)
    by_name = {c["name"]: c for c in cli.json("categories")["data"]}
    assert "Hobbies" not in by_name and "Hobbies/Knitting" not in by_name
    assert by_name["Leisure"]["transactions"] == 3 and by_name["Leisure"]["custom"] is True
    assert by_name["Leisure/Knitting"]["parent"] == "Leisure" and by_name["Leisure/Knitting"]["transactions"] == 3
    assert [r["category"] for r in cli.json("rules", "list")["data"]] == ["Leisure/Knitting"]
    listed = cli.json("tx", "list", "--category", "leisure", "--limit", "0")["data"]
    assert len(listed) == 6 and {t["category"] for t in listed} == {"Leisure", "Leisure/Knitting"}
    # A subcategory by its own new name; case only is a rename too.
    assert cli.json("categories", "rename", "leisure/knitting", "Yarn")["data"]["new"] == "Leisure/Yarn"
    assert cli.json("categories", "rename", "leisure", "LEISURE")["data"]["renamed"] == {
        "Leisure": "LEISURE",
        "Leisure/Yarn": "LEISURE/Yarn",
    }

    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    with Store.open(resolve_paths(), readonly=True) as s:
        assert s.con.execute("SELECT category FROM budgets").fetchall() == [("LEISURE",)]
        proposal = json.loads(s.con.execute("SELECT value FROM app_state WHERE key = ?", [PROPOSAL_KEY]).fetchone()[0])
        assert proposal["lines"] == [{"category": "LEISURE", "budget": 80}]

    for args, words in [
        (("LEISURE", "dining"), "there is already a category Dining"),
        (("LEISURE", "leisure/yarn"), "stays one"),
        (("Transfers", "Moves"), "Transfers is a built-in category"),
        (("uncategorized", "Misc"), "Uncategorized is a built-in category"),
        (("Dining", "Food"), "Dining is a built-in category"),
        (("LEISURE", "LEISURE"), "already called"),
        (("LEISURE", "Total"), "read specially"),
        (("Nope", "X"), "unknown category 'Nope'"),
    ]:
        r = cli("categories", "rename", *args, "--json")
        assert r.exit_code == EXIT_CODES["INVALID_INPUT"], (args, r.stdout)
        assert words in json.loads(r.stdout)["error"]["message"], (args, r.stdout)


def test_categories_rename_is_all_or_nothing(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after the first writes (here: in the last step) leaves every name as it was."""
    from finanalytics_cli.engine import categories as cat
    from finanalytics_cli.engine.categories import add_category, label_transaction, rename_category

    ids = _seed(store)
    add_category(store.con, "Hobbies")
    label_transaction(store.con, ids["mystery"][0], "Hobbies")

    def crash(con: Any, mapping: dict[str, str]) -> None:
        raise RuntimeError("killed halfway")

    monkeypatch.setattr(cat, "_rename_in_proposal", crash)
    with pytest.raises(RuntimeError):
        rename_category(store, "Hobbies", "Leisure")
    con = store.con
    assert con.execute("SELECT count(*) FROM categories WHERE name = 'Hobbies'").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM categories WHERE name = 'Leisure'").fetchone()[0] == 0
    assert con.execute("SELECT category FROM transactions WHERE tx_id = ?", [ids["mystery"][0]]).fetchone()[0] == (
        "Hobbies"
    )
