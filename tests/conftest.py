"""Shared fixtures: every test runs against a temporary FINANALYTICS_HOME, never the
real home directory or the real OS keyring."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

PASSPHRASE = "test passphrase 1"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "fa-home"
    monkeypatch.setenv("FINANALYTICS_HOME", str(home))
    monkeypatch.setenv("FINANALYTICS_PASSPHRASE", PASSPHRASE)
    # keyring's own switch: the "fail" backend, so no test reaches the real keyring.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("FINANALYTICS_NO_KEYRING", "1")
    for var in ("FINANALYTICS_PROFILE", "FINANALYTICS_DEBUG", "FINANALYTICS_NEW_PASSPHRASE", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    yield home


class Cli:
    """Runs the real CLI in-process and parses JSON output."""

    def __init__(self) -> None:
        from finanalytics_cli.app import app

        self.app = app
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        return self.runner.invoke(self.app, list(args), input=input, env=env, catch_exceptions=False)

    def json(self, *args: str, expect_exit: int = 0, **kw: Any) -> dict[str, Any]:
        result = self(*args, "--json", **kw)
        assert result.exit_code == expect_exit, (result.exit_code, result.stdout, result.stderr)
        return json.loads(result.stdout)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Any:
    """The real CLI in a new process (``python -m finanalytics_cli``), output captured."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "finanalytics_cli", *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=timeout,
    )


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def store_paths(isolated_home: Path) -> Any:
    from finanalytics_cli.engine.paths import resolve_paths

    return resolve_paths()


@pytest.fixture
def store(store_paths: Any) -> Iterator[Any]:
    """A fresh, real, encrypted store."""
    from finanalytics_cli.engine.store import Store

    s = Store.create(store_paths)
    try:
        yield s
    finally:
        s.close()


def env_without_passphrase() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FINANALYTICS_PASSPHRASE", None)
    return env


# Property tests are derandomised by default so CI is reproducible;
# HYPOTHESIS_PROFILE=explore searches new examples locally.
from hypothesis import settings as _hyp_settings  # noqa: E402

_hyp_settings.register_profile("default", derandomize=True, database=None)
_hyp_settings.register_profile("explore", derandomize=False, database=None)
_hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@contextlib.contextmanager
def _session_env(home: Path) -> Iterator[None]:
    """FINANALYTICS_HOME and a passphrase for session-wide setup (the autouse fixture is
    per test), restored afterwards."""
    keys = ("FINANALYTICS_HOME", "FINANALYTICS_PASSPHRASE", "FINANALYTICS_NO_KEYRING")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(FINANALYTICS_HOME=str(home), FINANALYTICS_PASSPHRASE=PASSPHRASE, FINANALYTICS_NO_KEYRING="1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _copy_store(template_db: Path, db: Path) -> None:
    """Copy a store (database and key file) to another place."""
    import shutil

    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".key"):
        shutil.copy2(str(template_db) + suffix, str(db) + suffix)


def _open_copy(template_db: Path, store_paths: Any) -> Iterator[Any]:
    from finanalytics_cli.engine.store import Store

    _copy_store(template_db, store_paths.db_path)
    s = Store.open(store_paths)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def sample_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample household imported once per session into a real encrypted store."""
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.sample_household import EXPORT_ACCOUNTS, sample_files
    from finanalytics_cli.engine.store import Store

    with _session_env(tmp_path_factory.mktemp("sample-template")):
        files = sample_files()
        with Store.create(resolve_paths()) as store:
            for rel, account in EXPORT_ACCOUNTS.items():
                import_sources(store, [Source(rel, files[rel])], ImportOptions(account=account))
        return resolve_paths().db_path


@pytest.fixture
def sample_store(sample_store_template: Path, store_paths: Any) -> Iterator[Any]:
    """A private copy of the imported sample household, open for writing."""
    yield from _open_copy(sample_store_template, store_paths)


@pytest.fixture(scope="session")
def sample_truth_csv() -> str:
    from finanalytics_cli.engine.sample_household import sample_files

    return sample_files()["truth/transactions.csv"].decode()


@pytest.fixture(scope="session")
def categorized_store_template(sample_store_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample household as the demo leaves it: the first two years labelled by hand,
    the classifier trained and deployed, the last year categorised by it."""
    from finanalytics_cli.engine.demo import _train_and_categorize
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.sample_household import write_sample
    from finanalytics_cli.engine.store import Store

    home = tmp_path_factory.mktemp("categorized-template")
    with _session_env(home):
        p = resolve_paths()
        _copy_store(sample_store_template, p.db_path)
        work = home / "work"
        write_sample(work)
        with Store.open(p) as store:
            _train_and_categorize(store, work)
        return p.db_path


@pytest.fixture
def categorized_store(categorized_store_template: Path, store_paths: Any) -> Iterator[Any]:
    """A private copy of the categorised sample household, open for writing."""
    yield from _open_copy(categorized_store_template, store_paths)
