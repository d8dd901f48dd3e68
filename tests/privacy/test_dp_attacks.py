"""Attacks on the DP releases: everything but the noisy cell values must be the same for
two stores that differ in one transaction (window, grid, currency), and a release never
exists without its charge."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.ledger import NewTransaction, ensure_account, insert_transactions
from finanalytics_cli.privacy import dp

TODAY = dt.date(2026, 12, 2)


def _public_shape(release: tuple[dict[str, Any], dict[str, Any]]) -> tuple[Any, ...]:
    data, meta = release
    cells = [(c["period"], c["category"], c["currency"]) for c in data["cells"]]
    return data["from"], data["to"], tuple(cells), meta["dp"]["window"]["source"], meta["dp"]["currency"]


def _add(store: Any, account: str, currency: str, day: dt.date, amount: str, payee: str) -> None:
    with store.transaction() as con:
        insert_transactions(
            con,
            ensure_account(con, account, currency=currency),
            None,
            [NewTransaction(day, Decimal(amount), currency, payee)],
        )


def test_the_window_and_grid_do_not_move_with_a_new_transaction(categorized_store: Any) -> None:
    dp.set_budget(categorized_store.con, 1000, None)
    before = dp.release_spending(categorized_store, "spending", 1.0, 500.0, "month", None, None, today=TODAY)
    # One transaction dated later than every other one (the reviewer's 2026-11-20).
    _add(categorized_store, "Everyday Checking", "USD", dt.date(2026, 11, 20), "-42.00", "NEW SHOP")
    after = dp.release_spending(categorized_store, "spending", 1.0, 500.0, "month", None, None, today=TODAY)
    assert _public_shape(before) == _public_shape(after)
    assert (before[0]["from"], before[0]["to"]) == (dt.date(2025, 12, 1), dt.date(2026, 11, 30))


def test_the_currency_does_not_follow_the_income(categorized_store: Any) -> None:
    dp.set_budget(categorized_store.con, 1000, None)
    accounts = dict(categorized_store.con.execute("SELECT name, currency FROM accounts").fetchall())
    chosen = dp.release_currency(categorized_store.con, None)
    before = dp.release_spending(categorized_store, "spending", 1.0, 500.0, "month", None, None, today=TODAY)
    # A large income in the other currency (main_currency would switch to it).
    other = next(c for c in accounts.values() if c != chosen) if len(set(accounts.values())) > 1 else "EUR"
    account = next((n for n, c in accounts.items() if c == other), None) or "Euro savings"
    if account == "Euro savings" and other not in accounts.values():
        pytest.skip("the sample has one currency")
    _add(categorized_store, account, other, dt.date(2026, 10, 1), "900000.00", "WINDFALL")
    after = dp.release_spending(categorized_store, "spending", 1.0, 500.0, "month", None, None, today=TODAY)
    assert _public_shape(before) == _public_shape(after)
    assert {c["currency"] for c in after[0]["cells"]} == {chosen}


def test_the_currency_is_asked_for_when_accounts_do_not_say(store: Any) -> None:
    with store.transaction() as con:
        ensure_account(con, "A", currency="USD")
        ensure_account(con, "B", currency="EUR")
    with pytest.raises(InvalidInput, match="--currency"):
        dp.release_currency(store.con, None)
    assert dp.release_currency(store.con, "eur") == "EUR"


def test_an_empty_store_releases_noise_over_the_public_grid_not_an_error(store: Any) -> None:
    # "No transactions" would itself be an answer that depends on the data.
    with store.transaction() as con:
        ensure_account(con, "A", currency="USD")
    data, meta = dp.release_spending(store, "spending", 1.0, 100.0, "month", None, None, today=TODAY)
    assert len({c["period"] for c in data["cells"]}) == 12 and meta["dp"]["epsilon_spent"] == 1.0


def test_the_charge_commits_before_the_file_is_written(
    categorized_store: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from finanalytics_cli.privacy import retention

    dp.set_budget(categorized_store.con, 10, None)

    def killed(*a: Any, **kw: Any) -> None:  # the process dies while writing the file
        raise KeyboardInterrupt

    monkeypatch.setattr(retention, "write_dp_export", killed)
    tmp_path = tmp_path / "exports"
    tmp_path.mkdir()
    for i in range(2):
        with pytest.raises(KeyboardInterrupt):
            dp.release_spending(
                categorized_store,
                "data export",
                4.0,
                500.0,
                "month",
                None,
                None,
                tmp_path / f"o{i}",
                "csv",
                today=TODAY,
            )
    # Both charges stand (8 of 10 spent): a third export at epsilon 4 is refused.
    assert dp.budget_status(categorized_store.con)["epsilon_spent"] == pytest.approx(8.0)
    from finanalytics_cli.engine.errors import PrivacyViolation

    with pytest.raises(PrivacyViolation):
        dp.release_spending(
            categorized_store, "data export", 4.0, 500.0, "month", None, None, tmp_path / "o3", "csv", today=TODAY
        )
    assert not any(tmp_path.iterdir())


def test_an_unusable_export_directory_is_refused_before_any_charge(categorized_store: Any, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    spent = dp.budget_status(categorized_store.con)["epsilon_spent"]
    with pytest.raises(InvalidInput, match="already exists"):
        dp.release_spending(
            categorized_store, "data export", 1.0, 500.0, "month", None, None, tmp_path / "taken", "csv", today=TODAY
        )
    assert dp.budget_status(categorized_store.con)["epsilon_spent"] == spent


def test_federated_noise_does_not_reveal_the_number_of_labels() -> None:
    from finanalytics_cli.privacy import federated as fl

    # The scale is a function of public inputs only (the sensitivity is a constant of the
    # protocol): two stores with n and n+1 labels draw noise of the same scale.
    assert fl.noise_scale(8.0) == fl.noise_scale(8.0) and fl.SENSITIVITY == 2.0
    import inspect

    assert list(inspect.signature(fl.noise_scale).parameters) == ["epsilon", "delta"]


def test_federated_update_charge_commits_before_the_file(
    categorized_store: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from finanalytics_cli.engine import files
    from finanalytics_cli.privacy import federated as fl

    keys = tmp_path / "keys"
    for name in ("agg", "alice", "bob"):
        fl.keygen(keys, name)
    fl.new_round(keys / "agg.key", [keys / "alice.pub", keys / "bob.pub"], "r1", None, tmp_path / "r1.round", 6.0)
    dp.set_budget(categorized_store.con, 10, None)

    def killed(*a: Any, **kw: Any) -> None:
        raise KeyboardInterrupt  # the process dies while writing the update

    original = files.write_user_file
    monkeypatch.setattr(files, "write_user_file", killed)
    with pytest.raises(KeyboardInterrupt):
        fl.write_update(
            categorized_store,
            keys / "agg.pub",
            keys / "alice.key",
            tmp_path / "r1.round",
            6.0,
            None,
            tmp_path / "a.upd",
        )
    assert dp.budget_status(categorized_store.con)["epsilon_spent"] == pytest.approx(6.0)
    assert not (tmp_path / "a.upd").exists()
    # The round is spent with the charge: a retry under the same masks is refused.
    monkeypatch.setattr(files, "write_user_file", original)
    from finanalytics_cli.engine.errors import InvalidInput

    with pytest.raises(InvalidInput, match="already sent"):
        fl.write_update(
            categorized_store,
            keys / "agg.pub",
            keys / "alice.key",
            tmp_path / "r1.round",
            1.0,
            None,
            tmp_path / "b.upd",
        )


def test_the_default_budget_is_lifetime_so_exposure_does_not_renew(categorized_store: Any) -> None:
    status = dp.budget_status(categorized_store.con)
    assert status["per"] == "lifetime" and status["total_epsilon"] == 10.0
    for _ in range(10):
        dp.release_spending(categorized_store, "spending", 1.0, 500.0, "month", None, None, today=TODAY)
    from finanalytics_cli.engine.errors import PrivacyViolation

    with pytest.raises(PrivacyViolation):  # next month changes nothing: the budget is spent for good
        dp.release_spending(categorized_store, "spending", 1.0, 500.0, "month", None, None, today=dt.date(2027, 1, 5))


def test_delta_is_limited(categorized_store: Any) -> None:
    from finanalytics_cli.engine.errors import PrivacyViolation

    dp.set_budget(categorized_store.con, 1000, None)
    for _ in range(10):
        dp.check_budget(categorized_store.con, 1.0, 1e-6)
        dp.record_release(categorized_store.con, "federated update", "Gaussian", 1.0, 1e-6, {})
    with pytest.raises(PrivacyViolation, match="delta"):
        dp.check_budget(categorized_store.con, 1.0, 1e-6)


def test_budget_changes_are_audited(cli: Any, store: Any) -> None:
    store.close()
    assert cli("privacy", "budget", "set", "1000", "--json").exit_code == 0
    log = cli.json("audit", "log")["data"]["entries"]
    change = next(e for e in log if e["action"] == "privacy_budget_set")
    assert change["details"]["epsilon"] == 1000.0 and change["details"]["before"] == "10 per lifetime"
    status = cli.json("privacy", "status")["data"]
    assert status["per"] == "lifetime" and status["delta_limit"] == 1e-5
