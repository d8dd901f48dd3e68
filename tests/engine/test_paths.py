from __future__ import annotations

from pathlib import Path

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.paths import resolve_paths


def test_home_override_puts_everything_under_it(isolated_home: Path) -> None:
    p = resolve_paths()
    for d in (p.data_dir, p.config_dir, p.cache_dir, p.db_path, p.key_path):
        assert Path(d).is_relative_to(isolated_home)
    assert p.profile == "default"
    assert p.key_path.name == p.db_path.name + ".key"


def test_profiles_get_separate_stores() -> None:
    a, b = resolve_paths("alice"), resolve_paths("bob")
    assert a.db_path != b.db_path
    assert a.db_path.parent.name == "alice"


def test_db_override(tmp_path: Path) -> None:
    p = resolve_paths(None, tmp_path / "x.duckdb")
    assert p.db_path == tmp_path / "x.duckdb"
    assert p.key_path == tmp_path / "x.duckdb.key"


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "-x", "x" * 65, "with space"])
def test_invalid_profile_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        resolve_paths(bad)


def test_profile_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINANALYTICS_PROFILE", "envprof")
    assert resolve_paths().profile == "envprof"
