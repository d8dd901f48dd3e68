"""A property-based fuzzer over every command and option of the Typer app itself (a new
command or option is covered without editing this file): random and boundary values for
each parameter's type. Asserts: never exit 1 (a bug), never a traceback, and with --json
stdout is one JSON envelope. CI runs a derandomised profile (FUZZ_CLI_EXAMPLES, default
150); ``HYPOTHESIS_PROFILE=explore FUZZ_CLI_EXAMPLES=3000`` searches further."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.main import get_command

from finanalytics_cli.app import app
from finanalytics_cli.engine.models.registry import MODEL_TYPES


def _leaf_commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        if getattr(cmd, "commands", None) is not None:
            out.extend(_leaf_commands(cmd, (*path, name)))
        else:
            out.append(((*path, name), cmd))
    return out


COMMANDS = _leaf_commands(get_command(app))
# `demo` builds its own store from scratch (tens of seconds): exercised by its own tests.
SLOW = {("demo",)}

INTS = ["-5", "-1", "0", "1", "3", "12", "999999", "99999999999999999999", "1e3", "x", ""]
FLOATS = ["nan", "inf", "-inf", "1e308", "-1e308", "1e-320", "0", "-0.5", "0.5", "1", "3.5", "1e999", "x", ""]
DATES = ["0001-01-01", "9999-12-31", "2024-02-30", "2024-13-01", "2023-06-01", "2022-01-01", "2026-W99", "2025-W10"]
WORDS = [
    "",
    " ",
    "x",
    "é",
    "x" * 5000,
    "../x",
    "/",
    "Dining",
    "Groceries",
    "monthly",
    "weekly",
    "production",
    "staging",
    "canary",
    "high",
    "md",
    "html",
    "json",
    "csv",
    "1y",
    "0d",
    "C=-1",
    "C=0",
    "C=nan",
    "C=1e308",
    "n_estimators=-1",
    "n_estimators=99999999",
    "max_depth=0",
    "nan:nan",
    "-inf:inf",
    "10:5",
    "Dining<=100",
    "Dining<=nan",
    "payee",
    "1",
    "-1",
    *MODEL_TYPES,
]


def _values(param: Any, tmp: Path) -> st.SearchStrategy[str]:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", str)
    name = (param.name or "").lower()
    text = str(annotation)
    if annotation is int or "int" == getattr(annotation, "__name__", ""):
        return st.sampled_from(INTS)
    if annotation is float:
        return st.sampled_from(FLOATS)
    if "Path" in text or name in ("out", "config", "map_", "key", "to", "peer", "base", "model_file", "files"):
        paths = [
            str(tmp / "new-file"),
            str(tmp / "existing.txt"),
            str(tmp / "a-directory"),
            str(tmp / "missing" / "deep" / "f"),
            str(tmp),
            "",
            ".",
        ]
        return st.sampled_from(paths)
    if any(w in name for w in ("date", "from", "to", "since", "before", "by", "month", "week", "period")):
        return st.sampled_from(DATES + WORDS[:8])
    return st.sampled_from(WORDS + INTS[:4] + FLOATS[:4])


@st.composite
def command_lines(draw: Any, tmp: Path) -> list[str]:
    path, cmd = draw(st.sampled_from([c for c in COMMANDS if c[0] not in SLOW]))
    args = list(path)
    for param in cmd.params:
        if param.param_type_name == "argument":
            n = 1 if param.nargs == 1 else draw(st.integers(1, 2))
            if param.required or draw(st.booleans()):
                args.extend(draw(_values(param, tmp)) for _ in range(n))
            continue
        if not param.opts or param.opts[0] in ("--help", "-h"):
            continue
        if not (param.required or draw(st.integers(0, 2)) == 0):
            continue
        if getattr(param, "is_flag", False):
            args.append(param.opts[0])
            continue
        for _ in range(draw(st.integers(1, 2)) if param.multiple else 1):
            args.extend([param.opts[0], draw(_values(param, tmp))])
    return args


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fuzz-files")
    (tmp / "existing.txt").write_text("Date,Description,Amount\n2024-01-02,X,-1.00\n")
    (tmp / "a-directory").mkdir()
    return tmp


def test_every_command_is_reachable_by_the_fuzzer() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"import", "tx list", "models train", "report weekly", "federated keygen"} <= names
    assert len(names) >= 40


@settings(
    max_examples=int(os.environ.get("FUZZ_CLI_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_every_command_and_option_never_crashes(cli: Any, sample_store: Any, fuzz_dir: Path, data: Any) -> None:
    sample_store.close()
    args = data.draw(command_lines(fuzz_dir))
    # Relative paths ("." for --out) land in the test's own directory, never the checkout.
    here = os.getcwd()
    before = set(os.listdir(here))
    os.chdir(fuzz_dir / "a-directory")
    try:
        r = cli(*args, "--json")
    finally:
        os.chdir(here)
    out = (r.stdout or "") + (r.stderr or "")
    assert "Traceback" not in out, (args, out[-2000:])
    assert r.exit_code != 1, (args, out[-2000:])  # 1 is "a bug": every other code is a documented answer
    if r.stdout.strip() and args[:2] != ["report", "weekly"]:
        doc = json.loads(r.stdout)  # one envelope, nothing else on stdout
        assert doc.get("schema_version") == 1 and ("error" in doc or "data" in doc or "command" in doc), doc
    # Nothing is ever written outside the test's directories (the checkout stays clean).
    assert set(os.listdir(here)) <= before, sorted(set(os.listdir(here)) - before)
