"""Goals, the budget optimiser and risk on real stores (the sample household, and a tight
household for the risk_scorer), with the real solver and real LightGBM."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from finanalytics_cli.engine.errors import InsufficientData, InvalidInput
from finanalytics_cli.engine.goals import add_goal, goal_progress, list_goals, remove_goal, simulate
from tests.engine.planning_fixtures import tight_household_csv

TODAY = dt.date(2026, 11, 30)


def _import_tight(store: Any, seed: int) -> None:
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources

    # The household's checking export names no currency; it is a USD account like its card.
    options = ImportOptions(account="Checking", currency="USD")
    import_sources(store, [Source("tight.csv", tight_household_csv(seed).encode())], options)


def test_goal_validation_and_crud(sample_store: Any) -> None:
    con = sample_store.con
    bad = [
        ({"target": Decimal("0")}, "above zero"),
        ({"target": Decimal("-5")}, "above zero"),
        ({"by": dt.date(2026, 1, 1)}, "after today"),
        ({"priority": 9}, r"1 \(most important\) to 5"),
        ({"account": "Nope"}, "no account named"),
        ({"saved": Decimal("-1")}, "cannot be negative"),
    ]
    for change, match in bad:
        args = {"target": Decimal("1000"), "by": dt.date(2027, 6, 30), "priority": 3, "account": None}
        args.update(change)
        with pytest.raises(InvalidInput, match=match):
            add_goal(
                con,
                "Bad",
                args["target"],
                args["by"],
                args["priority"],
                args["account"],
                args.get("saved", Decimal(0)),
                today=TODAY,
            )
    with pytest.raises(InvalidInput, match="name is 1-60"):
        add_goal(con, "", Decimal(1), dt.date(2027, 1, 1), today=TODAY)
    g = add_goal(con, "House", Decimal("60000"), dt.date(2028, 12, 31), 1, "savings", today=TODAY)
    assert g.account == "Savings" and g.currency == "USD"
    with pytest.raises(InvalidInput, match="already exists"):
        add_goal(con, "house", Decimal("5"), dt.date(2028, 12, 31), today=TODAY)
    assert [x.name for x in list_goals(con)] == ["House"]
    assert remove_goal(con, "HOUSE").name == "House" and list_goals(con) == []
    with pytest.raises(InvalidInput, match="no goal named"):
        remove_goal(con, "House")


def test_goal_progress_probabilities_and_fix(categorized_store: Any) -> None:
    con = categorized_store.con
    add_goal(con, "Easy", Decimal("1000"), dt.date(2029, 12, 31), 1, today=TODAY)
    add_goal(con, "Hard", Decimal("500000"), dt.date(2027, 12, 31), 2, today=TODAY)
    add_goal(con, "House", Decimal("60000"), dt.date(2028, 12, 31), 3, "Savings", today=TODAY)
    by = {p.name: p for p in goal_progress(categorized_store, today=TODAY, paths=1000)}
    easy, hard, house = by["Easy"], by["Hard"], by["House"]
    assert easy.probability >= 0.8 and easy.fix is None and easy.funded == 0
    assert hard.probability < 0.05 and hard.fix is not None and hard.fix["extra_per_month"] > 0
    # The account's balance funds the linked goal.
    from finanalytics_cli.engine.ledger import list_accounts

    savings = next(float(a["balance"]) for a in list_accounts(con) if a["name"] == "Savings")
    assert house.funded == pytest.approx(min(60000, savings), abs=0.01) and house.funded > 0
    assert hard.required_monthly == pytest.approx(hard.remaining / hard.months_left, abs=0.01)
    assert "Monte Carlo" in hard.method and "cash-flow forecast" in hard.method


def test_simulation_fix_lifts_probability_to_80_percent() -> None:
    import numpy as np

    from finanalytics_cli.engine.goals import Goal

    start = dt.date(2027, 1, 1)
    goal = Goal(1, "Car", Decimal("12000"), "USD", dt.date(2027, 12, 31), 1, None, Decimal(0))
    mean, sd = [600.0] * 24, [400.0] * 24
    sim = simulate([goal], {"Car": 0.0}, start, mean, sd, paths=4000)
    traj = sim["trajectories"]["Car"]
    p = float((traj[:, 11] >= 12000).mean())
    assert p < 0.05  # 600 a month cannot make 12,000 in 12 months
    shortfall = 12000 - traj[:, 11]
    extra = float(np.quantile(shortfall, 0.8)) / 12
    # The same simulation with that much more saved each month reaches it in 80% of paths.
    more = simulate([goal], {"Car": 0.0}, start, [m + extra for m in mean], sd, paths=4000)
    assert float((more["trajectories"]["Car"][:, 11] >= 12000 - 0.01).mean()) >= 0.79
    # A higher priority goal is served first.
    first = Goal(2, "First", Decimal("6000"), "USD", dt.date(2027, 12, 31), 1, None, Decimal(0))
    second = Goal(3, "Second", Decimal("6000"), "USD", dt.date(2027, 12, 31), 2, None, Decimal(0))
    both = simulate([first, second], {"First": 0.0, "Second": 0.0}, start, [700.0] * 12, [10.0] * 12, paths=200)
    assert both["trajectories"]["First"][:, 11].mean() == pytest.approx(6000, abs=1)
    assert both["trajectories"]["Second"][:, 11].mean() == pytest.approx(700 * 12 - 6000, abs=20)


def test_budget_optimizer_is_optimal_feasible_and_explains_conflicts(categorized_store: Any) -> None:
    import numpy as np

    from finanalytics_cli.engine.budget import optimize_budget

    plan = optimize_budget(categorized_store, income=8000, today=TODAY)
    lines = {x["category"]: x for x in plan.lines}
    total = sum(x["budget"] for x in plan.lines)
    assert total <= plan.available + 0.05
    assert all(x["budget"] >= x["committed"] - 0.01 for x in plan.lines)  # rent is not budgeted away
    assert lines["Housing"]["budget"] >= 2650 - 0.01
    # Cuts fall harder on discretionary categories than on essential ones.
    cut = {c: -x["change"] / x["habitual"] for c, x in lines.items() if x["habitual"] and not x["committed"]}
    assert cut["Dining"] > cut["Groceries"] > 0
    out = plan.outcomes
    assert out["habit_deviation"] < out["habit_deviation_proportional_cut"]  # beats the baseline
    assert out["savings_rate"] == pytest.approx((8000 - total) / 8000, abs=1e-3)
    # Local optimality: moving money between two free categories never lowers the objective.
    from finanalytics_cli.engine.budget import DISCRETIONARY_WEIGHT, ESSENTIAL_WEIGHT

    w = {c: ESSENTIAL_WEIGHT if x["essential"] else DISCRETIONARY_WEIGHT for c, x in lines.items()}

    def objective(b: dict[str, float]) -> float:
        return sum(w[c] * (b[c] - lines[c]["habitual"]) ** 2 / max(lines[c]["habitual"], 1) for c in b)

    b = {c: x["budget"] for c, x in lines.items()}
    rng = np.random.default_rng(1)
    free = [c for c in b if b[c] > lines[c]["committed"] + 1]
    for _ in range(50):
        a, c = rng.choice(free, 2, replace=False)
        moved = dict(b)
        moved[a] += 5
        moved[c] -= 5
        if moved[c] >= lines[c]["committed"]:
            assert objective(moved) >= objective(b) - 1e-6
    # Plenty of income: the habits themselves.
    rich = optimize_budget(categorized_store, income=50000, today=TODAY)
    assert all(abs(x["change"]) < 0.5 or x["committed"] > x["habitual"] for x in rich.lines)
    assert rich.recommendations == []
    # Constraints hold, conflicts are named with the amount.
    capped = optimize_budget(categorized_store, income=8000, constraints=["dining<=100", "groceries>=1500"])
    capped_lines = {x["category"]: x for x in capped.lines}
    assert capped_lines["Dining"]["budget"] <= 100.01 and capped_lines["Groceries"]["budget"] >= 1499.99
    with pytest.raises(InvalidInput, match=r"'dining<=300' conflicts with 'dining>=400' by 100\.00"):
        optimize_budget(categorized_store, income=8000, constraints=["dining<=300", "dining>=400"])
    with pytest.raises(InvalidInput, match=r"short by [\d,]+\.\d\d"):
        optimize_budget(categorized_store, income=3000)
    with pytest.raises(InvalidInput, match="unknown category"):
        optimize_budget(categorized_store, income=8000, constraints=["dinning<=5"])
    with pytest.raises(InvalidInput, match="cannot read the constraint"):
        optimize_budget(categorized_store, income=8000, constraints=["dining is cheap"])
    with pytest.raises(InvalidInput, match="above zero"):
        optimize_budget(categorized_store, income=-1)
    with pytest.raises(InvalidInput, match="no goal named"):
        optimize_budget(categorized_store, income=8000, goal_names=["Nope"])


def test_budget_accept_show_and_insight(categorized_store: Any) -> None:
    from finanalytics_cli.engine.budget import accept_proposal, budget_vs_actual, optimize_budget, save_proposal
    from finanalytics_cli.engine.insights import generate_insights

    con = categorized_store.con
    with pytest.raises(InvalidInput, match="no budget proposal"):
        accept_proposal(categorized_store, today=TODAY)
    save_proposal(con, optimize_budget(categorized_store, income=8000, constraints=["dining<=100"], today=TODAY))
    result = accept_proposal(categorized_store, today=TODAY)
    assert result["valid_from"] == dt.date(2026, 10, 1)  # the data's month: it has not caught up to today
    report = budget_vs_actual(con)
    dining = next(x for x in report["lines"] if x["category"] == "Dining")
    actual = con.execute(
        "SELECT -sum(amount) FROM transactions WHERE split_part(category, '/', 1) = 'Dining' AND currency = 'USD' "
        "AND NOT is_transfer AND posted_date BETWEEN '2026-10-01' AND '2026-10-31'"
    ).fetchone()[0]
    assert dining["spent"] == pytest.approx(float(actual), abs=0.01) and dining["status"] == "over"
    titles = [i.title for i in generate_insights(categorized_store) if i.insight_type == "budget_optimization"]
    assert "Dining is over budget" in titles
    # A second accept the same month replaces the first.
    save_proposal(con, optimize_budget(categorized_store, income=8000, today=TODAY))
    accept_proposal(categorized_store, today=TODAY)
    assert con.execute("SELECT count(DISTINCT budget_set) FROM budgets WHERE valid_to IS NULL").fetchone()[0] == 1


def test_risk_assessment_explains_itself(categorized_store: Any) -> None:
    from finanalytics_cli.engine.risk import WEIGHTS, assess_risk

    r = assess_risk(categorized_store)
    assert 0 <= r.score <= 100 and r.level in ("low", "moderate", "high")
    names = {f.name for f in r.factors}
    assert names == set(WEIGHTS) - {"credit_utilisation"}  # the sample card has no limit in its export
    assert any("credit utilization left out" in n for n in r.notes)
    for f in r.factors:
        assert 0 <= f.risk <= 1 and f.sentence.endswith(".") and f.weight > 0
    weight = sum(f.weight for f in r.factors)
    assert r.score == round(100 * sum(f.weight * f.risk for f in r.factors) / weight)
    target = r.emergency_fund_target
    assert 3 <= target["months"] <= 6
    assert target["amount"] == pytest.approx(target["months"] * target["essential_monthly"], rel=0.01)
    assert r.shortfall["method"].startswith("rule of thumb") and 0 <= r.shortfall["probability"] <= 1


def test_credit_limit_from_ofx_availbal_enters_the_score(store: Any) -> None:
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.risk import assess_risk

    _import_tight(store, 8)
    ofx = (
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\n\n<OFX><CREDITCARDMSGSRSV1><CCSTMTTRNRS><CCSTMTRS><CURDEF>USD"
        "<CCACCTFROM><ACCTID>4111</CCACCTFROM><BANKTRANLIST>"
        "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20250610<TRNAMT>-1500.00<FITID>c1<NAME>BEST BUY</STMTTRN>"
        "</BANKTRANLIST><LEDGERBAL><BALAMT>-1500.00<DTASOF>20250615</LEDGERBAL>"
        "<AVAILBAL><BALAMT>3500.00<DTASOF>20250615</AVAILBAL></CCSTMTRS></CCSTMTTRNRS></CREDITCARDMSGSRSV1></OFX>\n"
    )
    import_sources(store, [Source("card.qfx", ofx.encode())], ImportOptions(account="Card"))
    assert store.con.execute("SELECT credit_limit FROM accounts WHERE name = 'Card'").fetchone()[0] == 5000
    util = next(f for f in assess_risk(store).factors if f.name == "credit_utilisation")
    assert util.value == pytest.approx(0.3) and "30%" in util.sentence


@pytest.mark.parametrize("seed", [8, 7])
def test_risk_scorer_against_the_rule_of_thumb_on_a_time_holdout(store: Any, seed: int) -> None:
    from finanalytics_cli.engine.models.registry import get_model, serving
    from finanalytics_cli.engine.models.risk import daily_features, parse_params, train_risk_scorer
    from finanalytics_cli.engine.risk import assess_risk

    _import_tight(store, seed)
    rows = [r for rs in daily_features(store.con).values() for r in rs]
    # Features look only backwards: deleting the future leaves each day's flow features as they were.
    from finanalytics_cli.engine.models.risk import FEATURES

    flows = [FEATURES.index(f) for f in ("inflow_30d", "outflow_30d", "net_30d", "days_since_inflow", "day_of_month")]
    cut = rows[400]["date"]
    before = {r["date"]: [r["features"][i] for i in flows] for r in rows if r["date"] <= cut}
    store.con.execute("DELETE FROM transactions WHERE posted_date > ?", [cut])
    after = {
        r["date"]: [r["features"][i] for i in flows]
        for rs in daily_features(store.con, labels=False).values()
        for r in rs
    }
    assert before and all(after[d] == pytest.approx(v) for d, v in before.items())
    store.con.execute("DELETE FROM transactions")
    _import_tight(store, seed)
    with store.transaction():
        result = train_risk_scorer(store, parse_params([]))
    m = result.metrics
    assert m["auc"] is not None and m["rule_of_thumb"]["auc"] is not None and m["holdout_shortfall_days"] > 0
    assert m["beats_rule_of_thumb"] == (m["auc"] > m["rule_of_thumb"]["auc"])
    info = get_model(store.con, result.model_id)
    assert info["validation"]["holdout"]["rule_of_thumb"] == m["rule_of_thumb"]
    deployed = serving(store.con, "risk_scorer").production
    assert (deployed == result.model_id) == m["beats_rule_of_thumb"]
    method = assess_risk(store).shortfall["method"]
    assert method.startswith("risk_scorer") == m["beats_rule_of_thumb"]


def test_risk_scorer_refuses_without_shortfalls(categorized_store: Any) -> None:
    from finanalytics_cli.engine.models.risk import parse_params, train_risk_scorer

    with pytest.raises(InsufficientData, match="shortfall"):
        train_risk_scorer(categorized_store, parse_params([]))


def test_goal_recommender_and_budget_optimizer_models(categorized_store: Any) -> None:
    from finanalytics_cli.engine.budget import optimize_budget
    from finanalytics_cli.engine.models.planning import (
        parse_budget_params,
        parse_goal_params,
        train_budget_optimizer,
        train_goal_recommender,
    )

    with categorized_store.transaction():
        goal = train_goal_recommender(categorized_store, parse_goal_params([]))
        budget = train_budget_optimizer(categorized_store, parse_budget_params([]))
    g = goal.metrics
    assert 0 <= g["brier"] <= 1 and 0 <= g["brier_straight_line"] <= 1 and g["test_cases"] > 20
    assert g["beats_straight_line"] == (g["brier"] < g["brier_straight_line"])
    b = budget.metrics
    assert 0 <= b["attainment"] <= 1 and 0 <= b["attainment_proportional_cut"] <= 1
    if b["beats_proportional_cut"]:
        plan = optimize_budget(categorized_store, income=8000, today=TODAY)
        assert plan.weights == "budget_optimizer model"
    add_goal(categorized_store.con, "Car", Decimal("9000"), dt.date(2027, 12, 31), today=TODAY)
    [p] = goal_progress(categorized_store, today=TODAY, paths=500)
    if g["beats_straight_line"]:
        assert "goal_recommender" in p.method or g["volatility_scale"] == 1.0


def test_one_emergency_fund_figure_in_risk_and_budget(categorized_store: Any) -> None:
    """Money in a goal's own account funds that goal, not the emergency fund: risk and
    budget show the same 'current' (they showed 46,514.70 and 17,405.96)."""
    from finanalytics_cli.engine.budget import optimize_budget
    from finanalytics_cli.engine.risk import assess_risk

    con = categorized_store.con
    before = assess_risk(categorized_store, today=TODAY).emergency_fund_target
    assert before["earmarked_for_goals"] == 0
    add_goal(con, "House deposit", Decimal("60000"), dt.date(2029, 12, 31), account="Savings", today=TODAY)
    from finanalytics_cli.engine.ledger import list_accounts

    savings = next(a["balance"] for a in list_accounts(con) if a["name"] == "Savings")  # below the target: all of it
    risk = assess_risk(categorized_store, today=TODAY).emergency_fund_target
    budget = optimize_budget(categorized_store, income=8000, today=TODAY).emergency
    assert risk["current"] == budget["current"] == pytest.approx(before["current"] - float(savings), abs=0.01)
    assert risk["earmarked_for_goals"] == pytest.approx(float(savings), abs=0.01)
    assert risk["gap"] == pytest.approx(max(0.0, risk["amount"] - risk["current"]), abs=0.01)
    factor = next(f for f in assess_risk(categorized_store, today=TODAY).factors if f.name == "emergency_fund_months")
    assert f"{risk['current']:,.2f}" in factor.sentence


def test_goal_dates_and_advice_never_contradict_themselves(categorized_store: Any) -> None:
    """on_time agrees with reached_by and the target date (it said yes for a goal reached a
    month after its date), and no advice is to lower a target to what is already saved."""
    from finanalytics_cli.engine.budget import optimize_budget
    from finanalytics_cli.engine.goals import fix_sentence

    con = categorized_store.con
    add_goal(con, "Car", Decimal("20000"), dt.date(2028, 12, 31), priority=1, today=TODAY)
    add_goal(con, "Boat", Decimal("900000"), dt.date(2027, 6, 30), priority=2, today=TODAY)
    plan = optimize_budget(categorized_store, income=8000, goal_names=["Car"], today=TODAY)
    dates = {g["name"]: g for g in plan.outcomes["goals"]}
    for g in dates.values():
        reached = g["reached_by"]
        month_ok = reached is not None and (reached.year, reached.month) <= (
            g["target_date"].year,
            g["target_date"].month,
        )
        assert g["on_time"] == month_ok, g
    assert dates["Car"]["on_time"] and dates["Car"]["reached_by"] <= dt.date(2028, 12, 31)
    for p in goal_progress(categorized_store, today=TODAY, paths=400):
        if p.fix and p.fix["or_target"] is not None:
            assert p.fix["or_target"] > p.funded
        assert "lower the target to 0.00" not in fix_sentence(p)


def test_uncategorized_spending_gets_no_budget_line_but_is_kept_aside(categorized_store: Any) -> None:
    """No budget for "Uncategorized": its money is reserved as spent and the plan asks for it
    to be categorized; budget + uncategorized + savings is still the income."""
    from finanalytics_cli.engine.budget import optimize_budget

    con = categorized_store.con
    con.execute("UPDATE transactions SET category = NULL WHERE category LIKE 'Pets%' OR category LIKE 'Health%'")
    plan = optimize_budget(categorized_store, income=9000, today=TODAY)
    names = [line["category"] for line in plan.lines]
    assert "Uncategorized" not in names and "Pets" not in names and "Health" not in names
    unsorted = plan.outcomes["uncategorized_monthly"]
    assert unsorted > 0
    assert plan.recommendations[0]["category"] == "Uncategorized"
    assert "finanalytics review" in plan.recommendations[0]["text"]
    total = plan.outcomes["budget_total"] + unsorted + plan.outcomes["monthly_savings"]
    assert abs(total - 9000) < 0.05
    assert plan.available <= 9000 - unsorted + 0.01
