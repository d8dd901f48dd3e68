"""Faults: kill -9 during training, a full disk, and fuzzed command lines."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finanalytics_cli.engine.store import Store
from tests.conftest import run_cli


def _cli(*args: str) -> Any:
    return run_cli(*args, timeout=600)


def test_kill_during_training_leaves_all_or_nothing(categorized_store: Any, store_paths: Any) -> None:
    from finanalytics_cli.engine.models.registry import load_model

    before = categorized_store.con.execute("SELECT count(*) FROM ml_models").fetchone()[0]
    categorized_store.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "finanalytics_cli", "models", "train", "category_classifier", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    time.sleep(3.0)  # importing scikit-learn and fitting take longer than this
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store.open(store_paths, wait=10) as s:
        after = s.con.execute("SELECT count(*) FROM ml_models").fetchone()[0]
        experiments = s.con.execute("SELECT count(*) FROM experiments").fetchone()[0]
        assert after in (before, before + 1) and (not killed or after == before or experiments >= 1)
        for (model_id,) in s.con.execute("SELECT model_id FROM ml_models").fetchall():
            assert load_model(s.con, s.keys.active, model_id) is not None  # nothing half-written
    done = _cli("models", "train", "category_classifier", "--json")
    assert done.returncode == 0, done.stderr
    with Store.open(store_paths) as s:
        assert s.con.execute("SELECT count(*) FROM ml_models").fetchone()[0] == after + 1


def _limit_file_size(limit: int) -> Any:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_full_disk_gives_a_clear_error_and_no_partial_write(store: Any, store_paths: Any, tmp_path: Path) -> None:
    store.close()
    size = store_paths.db_path.stat().st_size
    big = tmp_path / "big.csv"
    big.write_text(
        "Date,Description,Amount\n"
        + "".join(
            f"2024-{1 + i % 12:02d}-{1 + i % 28:02d},SHOP {i} WITH A LONG NAME,-{i % 997}.25\n" for i in range(200_000)
        )
    )
    r = subprocess.run(
        [sys.executable, "-m", "finanalytics_cli", "import", str(big), "--account", "A"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
        preexec_fn=_limit_file_size(size + 256 * 1024),
    )
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    with Store.open(store_paths, wait=10) as s:
        assert s.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 0
        assert s.con.execute("SELECT count(*) FROM imports WHERE status = 'running'").fetchone()[0] == 0
    ok = _cli("import", str(big), "--account", "A", "--json")  # with room again, it completes
    assert ok.returncode == 0, ok.stderr


WORDS = st.sampled_from(
    [
        "spending",
        "predict",
        "goals",
        "add",
        "list",
        "rm",
        "progress",
        "budget",
        "optimize",
        "show",
        "accept",
        "risk",
        "privacy",
        "status",
        "audit",
        "verify",
        "data",
        "export",
        "purge",
        "retention",
        "set",
        "report",
        "weekly",
        "models",
        "train",
        "deploy",
        "tx",
        "label",
        "import",
        "undo",
        "insights",
        "dismiss",
        "anomalies",
        "recurring",
        "categorize",
        "rules",
        "federated",
        "aggregate",
        "--json",
        "--format",
        "--horizon",
        "--epsilon",
        "--dp",
        "--period",
        "--from",
        "--to",
        "--week",
        "--target",
        "--by",
        "--constraint",
        "--income",
        "--before",
        "--limit",
        "--priority",
        "--granularity",
        "--fail-on",
        "--out",
        "-1",
        "0",
        "1e309",
        "nan",
        "2026-13-45",
        "2026-W99",
        "x",
        "dining<=",
        "Dining",
        "999999999999",
        "--",
        "'",
        "\x00",
        "é",
        "--help",
    ]
)


@settings(
    max_examples=int(os.environ.get("FUZZ_CLI_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=st.lists(WORDS, min_size=1, max_size=6))
def test_fuzzed_command_lines_never_crash(cli, store: Any, tmp_path: Path, args: list[str]) -> None:
    args = [a.replace("\x00", "") for a in args]
    if "--out" in args:  # keep files inside the test's directory
        i = args.index("--out")
        args = [*args[: i + 1], str(tmp_path / "out"), *args[i + 1 :]]
    r = cli(*args)
    out = (r.stdout or "") + (r.stderr or "")
    assert "Traceback" not in out, (args, out[-2000:])
    assert r.exit_code != 1, (args, out[-2000:])  # 1 is "a bug": every other code is a documented answer


def test_kill_during_key_rotation_keeps_the_data(store: Any, store_paths: Any, tmp_path: Path) -> None:
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources

    rows = "Date,Description,Amount\n" + "".join(
        f"2024-{1 + i % 12:02d}-{1 + i % 28:02d},SHOP {i},-{i % 997}.25\n" for i in range(300_000)
    )
    import_sources(store, [Source("big.csv", rows.encode())], ImportOptions(account="A"))
    store.close()
    outcomes = set()
    for delay in (0.4, 1.2):  # early in the copy, and late
        proc = subprocess.Popen(
            [sys.executable, "-m", "finanalytics_cli", "key", "rotate", "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        time.sleep(delay)
        outcomes.add(proc.poll() is None)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Store.open(store_paths, wait=10) as s:  # recovery on open: the old key or the new one
            assert s.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 300_000
    done = _cli("key", "rotate", "--json")
    assert done.returncode == 0, done.stderr
    with Store.open(store_paths) as s:
        assert s.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 300_000
    assert True in outcomes, "no rotation was still running when killed"
