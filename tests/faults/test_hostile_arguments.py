"""The argument values a hostile sweep found answered with exit 1 (a bug): each gets a
documented exit code and, with --json, a JSON envelope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

HOSTILE = [
    ["tx", "list", "--from", "0001-01-01"],
    ["anomalies", "--since", "0001-01-01"],
    ["tx", "list", "--limit", "-5"],
    ["tx", "list", "--limit", "99999999999999999999"],
    ["review", "--limit", "99999999999999999999"],
    ["audit", "log", "--limit", "99999999999999999999"],
    ["spending", "--dp", "--bound", "1e308"],
    ["spending", "--dp", "--epsilon", "1e-320"],
    ["spending", "--dp", "--epsilon", "nan"],
    ["spending", "--from", "2024-06-01", "--to", "2024-01-01"],
    ["tx", "list", "--from", "2024-06-01", "--to", "2024-01-01"],
    ["goals", "add", "Trip", "--target", "1e308", "--by", "2030-01-01"],
    ["goals", "add", "Trip", "--target", "nan", "--by", "2030-01-01"],
    ["goals", "add", "Trip", "--target", "1000", "--by", "0001-01-01"],
    ["rules", "add", "COFFEE", "Dining", "--amount-range", "nan:nan"],
    ["rules", "add", "COFFEE", "Dining", "--amount-range", "-inf:inf"],
    ["rules", "add", "COFFEE", "Dining", "--amount-range", "10:5"],
    ["models", "train", "category_classifier", "--param", "C=-1"],
    ["models", "train", "category_classifier", "--param", "C=0"],
    ["models", "train", "category_classifier", "--param", "C=nan"],
    ["models", "train", "category_classifier", "--param", "C=1e308"],
    ["models", "train", "category_classifier", "--param", "n_estimators=-1"],
    ["models", "train", "category_classifier", "--from", "2024-06-01", "--to", "2024-01-01"],
    ["budget", "optimize", "--config", "{dir}"],
    ["budget", "optimize", "--income", "1e308"],
    ["budget", "optimize", "--income", "nan"],
    ["federated", "import-model", "{dir}", "--from", "{dir}"],
    ["import", "--map", "{dir}", "{csv}", "--account", "A"],
    ["import", "{csv}", "--account", "A", "--save-map", "m" * 5000],
    ["import", "{csv}", "--account", "a" * 5000],
    ["federated", "keygen", "--out", "{csv}"],
    ["federated", "keygen", "--out", "", "--name", "x"],
    ["report", "weekly", "--out", ""],
    ["report", "weekly", "--out", "."],
    ["report", "weekly", "--week", "0001-W01"],
    ["data", "export", "--out", ""],
    ["data", "purge", "--before", "0001-01-01"],
    ["privacy", "budget", "set", "nan"],
    ["privacy", "budget", "set", "1e308"],
    ["predict", "--horizon", "99999999999999999999"],
    ["predict", "--horizon", "-1"],
    ["categorize", "--threshold", "nan"],
    ["categorize", "--explain", "99999999999999999999"],
    ["models", "performance", "99999999999999999999"],
    ["models", "deploy", "1", "--env", "production", "--traffic", "nan"],
    ["insights", "dismiss", "99999999999999999999"],
    ["tx", "label", "99999999999999999999", "Dining", "--confirm"],
    ["goals", "add", "g" * 5000, "--target", "100", "--by", "2030-01-01"],
]


@pytest.mark.parametrize("args", HOSTILE, ids=lambda a: " ".join(x[:20] for x in a))
def test_hostile_argument_is_a_documented_answer(cli: Any, sample_store: Any, tmp_path: Path, args: list[str]) -> None:
    sample_store.close()
    (tmp_path / "d").mkdir()
    csv = tmp_path / "a.csv"
    csv.write_text("Date,Description,Amount (USD)\n2024-01-02,X,-1.00\n")
    line = [a.replace("{dir}", str(tmp_path / "d")).replace("{csv}", str(csv)) for a in args]
    r = cli(*line, "--json")
    out = (r.stdout or "") + (r.stderr or "")
    assert "Traceback" not in out
    assert r.exit_code != 1, out[-1500:]
    if r.stdout.strip():
        assert json.loads(r.stdout)["schema_version"] == 1


def test_explain_and_monitor_after_an_import_compute_the_new_rows_features(
    cli: Any, categorized_store: Any, tmp_path: Path
) -> None:
    categorized_store.close()
    csv = tmp_path / "new.csv"
    csv.write_text("Date,Description,Amount (USD)\n2026-11-02,NEW SHOP,-1.00\n2026-11-05,OTHER SHOP,-2.00\n")
    assert cli("import", str(csv), "--account", "Everyday Checking", "--json").exit_code == 0
    newest = cli.json("tx", "list", "--limit", "1")["data"][0]["id"]
    explained = cli("categorize", "--explain", str(newest), "--json")
    assert explained.exit_code in (0, 4), explained.stdout  # 4: no model deployed is a documented answer
    assert cli("models", "monitor", "--json").exit_code == 0


@pytest.mark.parametrize(
    "content",
    [
        "Date,Description,Amount," + "x" * 5_000_000,  # one line, no break
        "Date,Description,Amount\n2024-01-02,X,-1.00\n" * 10 + "2024-01-03," + "y" * 200_000 + ",-2.00\n",
    ],
    ids=["no-line-break", "one-huge-cell"],
)
def test_overlong_lines_are_refused_early(cli: Any, tmp_path: Path, content: str) -> None:
    f = tmp_path / "long.csv"
    f.write_text(content)
    r = cli("import", str(f), "--account", "A", "--json")
    assert r.exit_code == 9 and "not a bank export" in r.stdout, r.stdout[-500:]


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_not_read_forever(cli: Any, store: Any, tmp_path: Path, device: str) -> None:
    store.close()
    assert cli("import", device, "--account", "A", "--json").exit_code == 9
    assert cli("budget", "optimize", "--config", device, "--json").exit_code == 9
    from finanalytics_cli.privacy.federated import keygen

    keygen(tmp_path / "keys", "agg")
    assert (
        cli("federated", "import-model", device, "--from", str(tmp_path / "keys" / "agg.pub"), "--json").exit_code == 9
    )
    assert (
        cli("federated", "import-model", str(tmp_path / "keys" / "agg.pub"), "--from", device, "--json").exit_code == 9
    )


def test_dry_run_writes_no_map_and_a_map_name_is_not_taken_from_another_account(
    cli: Any, store: Any, store_paths: Any, tmp_path: Path
) -> None:
    store.close()
    a = tmp_path / "a.csv"
    a.write_text("Date,Description,Amount (USD)\n2024-01-02,X,-1.00\n")
    b = tmp_path / "b.csv"
    b.write_text("Datum;Beschreibung;Betrag (EUR)\n02.01.2024;Y;-1,00\n")
    maps = store_paths.config_dir if hasattr(store_paths, "config_dir") else None
    r = cli("import", str(a), "--account", "US", "--dry-run", "--save-map", "bank", "--json")
    assert r.exit_code == 0, r.stdout
    assert not list(Path(store_paths.db_path.parent.parent.parent.parent).rglob("bank.toml")), maps
    assert cli("import", str(a), "--account", "US", "--save-map", "bank", "--json").exit_code == 0
    taken = cli("import", str(b), "--account", "DE", "--save-map", "bank", "--json")
    assert taken.exit_code == 9 and "saved map of account 'US'" in taken.stdout
    assert cli("import", str(a), "--account", "US", "--json").exit_code == 0  # US still reads with its map


@pytest.mark.parametrize("week", ["２０２６-W10", "٢٠٢٦-W10"])
def test_week_digits_are_ascii(cli: Any, sample_store: Any, week: str) -> None:
    sample_store.close()
    assert cli("report", "weekly", "--week", week, "--json").exit_code == 9
