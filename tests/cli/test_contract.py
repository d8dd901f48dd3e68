"""The output and error contracts of DESIGN.md, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finanalytics_cli.app import MovedOption, hoist_global_options
from finanalytics_cli.exit_codes import EXIT_CODES

ENVELOPE_KEYS = {"schema_version", "command", "data", "meta"}
ERROR_KEYS = {"code", "message", "details", "retryable", "fallback_strategy"}


def test_json_envelope_keys(cli) -> None:
    out = cli.json("paths")
    assert set(out) == ENVELOPE_KEYS
    assert out["schema_version"] == 1
    assert out["command"] == "paths"
    assert set(out["data"]) >= {"profile", "data_dir", "config_dir", "cache_dir", "db_path", "key_path"}


def test_json_error_object_and_exit_code(cli) -> None:
    result = cli("tx-does-not-matter") if False else cli("key", "status", "--json")
    assert result.exit_code == EXIT_CODES["STORE_NOT_FOUND"]
    err = json.loads(result.stdout)
    assert set(err) == {"schema_version", "command", "error"}
    assert set(err["error"]) == ERROR_KEYS
    assert err["error"]["code"] == "STORE_NOT_FOUND"
    assert err["command"] == "key status"
    assert "Traceback" not in result.stdout + result.stderr


def test_plain_error_is_one_line_on_stderr(cli) -> None:
    result = cli("--format", "table", "key", "status")
    assert result.exit_code == EXIT_CODES["STORE_NOT_FOUND"]
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "[STORE_NOT_FOUND]" in lines[0]


def test_global_options_anywhere() -> None:
    assert hoist_global_options(["paths", "--json"]) == ["--json", "paths"]
    assert hoist_global_options(["key", "status", "--profile", "x", "--format=md"]) == [
        "--profile",
        "x",
        "--format=md",
        "key",
        "status",
    ]
    # `--format` is the output format, after `import` too (its input's is --input-format).
    assert hoist_global_options(["import", "a.csv", "--format", "csv"]) == ["--format", "csv", "import", "a.csv"]
    assert hoist_global_options(["import", "a.csv", "--format", "json"]) == ["--format", "json", "import", "a.csv"]
    assert hoist_global_options(["--profile", "import", "paths"]) == ["--profile", "import", "paths"]
    assert hoist_global_options(["paths", "--", "--json"]) == ["paths", "--", "--json"]


@pytest.mark.parametrize("fmt", ["table", "csv", "md", "json"])
def test_every_format_renders(cli, fmt: str) -> None:
    result = cli("paths", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert "default" in result.stdout and "profile" in result.stdout
    if fmt == "csv":
        assert result.stdout.splitlines()[0] == "key,value"
    if fmt == "md":
        assert "| key | value |" in result.stdout


def test_bad_format_is_a_usage_error(cli) -> None:
    result = cli("--format", "yaml", "paths")
    assert result.exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ("spending", "--period", "fortnight"),
        ("predict", "--granularity", "day"),
        ("rules", "add", "x", "Dining", "--field", "amount"),
        ("models", "deploy", "1", "--env", "moon"),
        ("models", "deploy", "1", "--env", "staging", "--strategy", "blue-green"),
        ("categories", "add", "Boats", "--kind", "hobby"),
        ("spending", "--no-such-option"),
        ("goals", "add", "X", "--target", "10", "--by", "31/12/2030"),
    ],
)
def test_usage_errors_are_one_line_exit_2_and_a_json_envelope(cli, args: tuple[str, ...]) -> None:
    """Bad choices are usage errors too: exit 2 before the store is opened (none exists
    here), one line on stderr saying where help is, the envelope with --json."""
    plain = cli(*args)
    assert plain.exit_code == 2, (plain.stdout, plain.stderr)
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith("[USAGE]"), plain.stderr
    assert "--help`" in lines[0] and "Value error" not in lines[0]
    as_json = cli(*args, "--json")
    assert as_json.exit_code == 2
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == "USAGE" and error["message"] in lines[0]


def test_invalid_profile_is_invalid_input(cli) -> None:
    result = cli("--profile", "../x", "paths", "--json")
    assert result.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert json.loads(result.stdout)["error"]["code"] == "INVALID_INPUT"


def test_exit_codes_are_distinct_and_documented() -> None:
    codes = list(EXIT_CODES.values())
    assert len(codes) == len(set(codes))
    assert not {0, 1, 2, 10} & set(codes)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for name, code in EXIT_CODES.items():
        assert f"| {name} | {code} |" in readme, name


def test_every_error_class_has_an_exit_code() -> None:
    from finanalytics_cli.engine import errors

    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.AnalyticsError) and c is not errors.AnalyticsError
    ]
    assert classes
    for c in classes:
        assert c.code in EXIT_CODES, c
        assert c.__doc__, c


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_library_does_not_import_typer_or_rich() -> None:
    pkg = Path(__file__).parents[2] / "finanalytics_cli"
    mods = [f"finanalytics_cli.{sub}.{p.stem}" for sub in ("engine", "privacy") for p in (pkg / sub).glob("*.py")]
    loaded = _modules_after("\n".join(f"import {m}" for m in mods))
    assert not {m for m in loaded if m.split(".")[0] in ("typer", "rich", "click")}


HEAVY = ("polars", "duckdb", "sklearn", "lightgbm", "statsforecast", "opendp")


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_help_and_version_import_no_heavy_library(argv: list[str]) -> None:
    code = (
        "import sys\nfrom finanalytics_cli.app import app\n"
        f"try:\n    app({argv!r}, prog_name='finanalytics')\nexcept SystemExit:\n    pass\n"
    )
    loaded = _modules_after(code)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_unexpected_error_has_no_traceback(cli, isolated_home: Path) -> None:
    # A key file that is a directory makes the OS raise where no one expects it.
    from finanalytics_cli.engine.paths import resolve_paths

    p = resolve_paths()
    p.data_dir.mkdir(parents=True)
    p.db_path.write_bytes(b"\0" * 8 + b"DUCK" + b"\0" * 4096)
    p.key_path.mkdir()
    result = cli("key", "status")
    assert result.exit_code != 0
    assert "Traceback" not in result.stdout + result.stderr


def test_quiet_silences_messages_but_not_results(cli) -> None:
    loud = cli("init", "--format", "json")
    assert loud.stderr.strip()
    quiet = cli("init", "--format", "json", "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout)["data"]["created"] is False


def test_no_color_prints_no_escape_codes(cli) -> None:
    result = cli("paths", "--format", "table", "--no-color")
    assert "\x1b[" not in result.stdout


def test_unwritable_home_is_its_own_error(cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("init", "--json", env={"FINANALYTICS_HOME": str(blocker / "home")})
    assert result.exit_code == EXIT_CODES["STORE_UNWRITABLE"]
    assert json.loads(result.stdout)["error"]["code"] == "STORE_UNWRITABLE"


def test_readme_reference_lists_every_command() -> None:
    from typer.main import get_command

    from finanalytics_cli.app import app

    readme = (Path(__file__).parents[2] / "README.md").read_text()

    def walk(cmd, prefix):
        subs = getattr(cmd, "commands", None)
        if not subs:
            yield prefix
            return
        for name, sub in subs.items():
            yield from walk(sub, f"{prefix} {name}")

    names = list(walk(get_command(app), "finanalytics"))
    assert len(names) > 3
    for name in names:
        assert f"`{name}" in readme, f"{name} missing from the README command reference"


def test_cli_does_not_import_pandas_for_duckdb_parameters(sample_store: object) -> None:
    sample_store.close()
    probe = (
        "import sys, io, contextlib\n"
        "from finanalytics_cli.app import main\n"
        "sys.argv = ['finanalytics', 'spending', '--json']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main()\n    except SystemExit as e:\n        assert e.code in (0, None), e.code\n"
        "print('pandas' in sys.modules)\n"
    )
    fast = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert fast.returncode == 0 and fast.stdout.strip() == "False", fast.stderr[-2000:]
    env = dict(os.environ, FINANALYTICS_DUCKDB_PANDAS="1")
    plain = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert plain.returncode == 0 and plain.stdout.strip() == "True", plain.stderr[-2000:]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["import", "a.ofx", "--format", "ofx"], "--input-format ofx"),
        (["import", "a.csv", "--format=auto"], "--input-format auto"),
        (["data", "export", "--out", "d", "--format", "parquet"], "--file-format parquet"),
        (["data", "export", "--out", "d", "--format", "csv"], "--file-format csv"),
        (["report", "weekly", "--format", "html"], "--as html"),
    ],
)
def test_format_values_of_the_old_meanings_are_usage_errors(cli, args: list[str], names: str) -> None:
    """One meaning of --format: a value that only fits the old meaning is refused, naming the new option."""
    with pytest.raises(MovedOption):
        hoist_global_options(args)
    r = cli(*args, "--json")
    assert r.exit_code == 2
    err = json.loads(r.stdout)["error"]
    assert err["code"] == "USAGE" and names in err["message"]
    assert len(r.stderr.strip().splitlines()) == 1 and names in r.stderr


def test_format_is_the_output_format_everywhere(cli, tmp_path: Path) -> None:
    csv = tmp_path / "checking.csv"
    csv.write_text("Date,Description,Amount\n2026-01-05,COFFEE,-3.50\n2026-01-06,SALARY,2000.00\n")
    # Written after `import`, `--format csv` is the output: CSV rows of the import's files.
    r = cli("import", str(csv), "--account", "Checking", "--format", "csv")
    assert r.exit_code == 0 and r.stdout.startswith("file,status,format"), r.stdout
    # The input's format has its own name; a value outside its choices is a usage error.
    assert cli("import", str(csv), "--input-format", "xlsx").exit_code == 2
    # `data export`: the files' format is --file-format; --format after it with --file-format is the output.
    out = cli("data", "export", "--out", str(tmp_path / "x"), "--file-format", "csv", "--format", "json")
    assert out.exit_code == 0 and json.loads(out.stdout)["command"] == "data export"
    files = [p for p in (tmp_path / "x").rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".csv" for p in files), files
    # Before the command, `--format csv` is the output format as it always was.
    assert cli("--format", "json", "data", "export", "--out", str(tmp_path / "y")).exit_code == 0
