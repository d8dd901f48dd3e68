"""User-given output paths (--out): written by one rule, never replacing a device,
directory or special file; symlinks followed; a failure leaves the old file."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from finanalytics_cli.engine.errors import InvalidInput
from finanalytics_cli.engine.files import write_user_file
from finanalytics_cli.exit_codes import EXIT_CODES


def test_regular_file_replaced_whole_and_private(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old")
    write_user_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]  # no temporary file left


def test_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.md"
    real.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(real)
    write_user_file(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    dangling = tmp_path / "dangling.md"
    dangling.symlink_to(tmp_path / "created-by-the-write.md")
    write_user_file(dangling, b"x")
    assert (tmp_path / "created-by-the-write.md").read_bytes() == b"x" and dangling.is_symlink()


@pytest.mark.parametrize("kind", ["fifo", "directory", "link-to-directory", "device"])
def test_special_files_are_refused_and_untouched(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "special"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "link-to-directory":
        (tmp_path / "d").mkdir()
        target.symlink_to(tmp_path / "d")
    else:
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
    before = os.lstat(target)
    with pytest.raises(InvalidInput, match="not a regular file"):
        write_user_file(target, b"x")
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("text", ["", "   ", ".", "..", "somewhere/"])
def test_paths_that_name_no_file_are_refused(tmp_path: Path, monkeypatch: Any, text: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "somewhere").mkdir()
    with pytest.raises(InvalidInput):
        write_user_file(text, b"x")


def test_missing_directory_and_no_overwrite(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        write_user_file(tmp_path / "nope" / "f.txt", b"x")
    (tmp_path / "k").write_text("secret")
    with pytest.raises(InvalidInput, match="already exists"):
        write_user_file(tmp_path / "k", b"x", overwrite=False)
    assert (tmp_path / "k").read_text() == "secret"


def test_report_out_refuses_a_fifo_before_doing_the_work(cli: Any, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = cli("report", "weekly", "--out", str(fifo), "--json")
    assert r.exit_code == EXIT_CODES["INVALID_INPUT"], r.stdout
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize(
    "args, match",
    [
        (["--name", "../escape"], "not a plain file name"),
        (["--name", "x" * 5000], "not a plain file name"),
        (["--name", ""], "not a plain file name"),
    ],
)
def test_keygen_names_stay_inside_out(cli: Any, tmp_path: Path, args: list[str], match: str) -> None:
    out = tmp_path / "keys"
    r = cli("federated", "keygen", "--out", str(out), *args, "--json")
    assert r.exit_code == EXIT_CODES["INVALID_INPUT"] and match in r.stdout, r.stdout
    assert not (tmp_path / "escape.key").exists()


def test_keygen_never_overwrites_and_refuses_a_file_as_out(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "keys"
    assert cli("federated", "keygen", "--out", str(out), "--name", "alice", "--json").exit_code == 0
    key = (out / "alice.key").read_bytes()
    again = cli("federated", "keygen", "--out", str(out), "--name", "alice", "--json")
    assert again.exit_code == EXIT_CODES["INVALID_INPUT"]
    assert (out / "alice.key").read_bytes() == key
    assert stat.S_IMODE((out / "alice.key").stat().st_mode) == 0o600
    a_file = tmp_path / "plain.txt"
    a_file.write_text("keep me")
    r = cli("federated", "keygen", "--out", str(a_file), "--json")
    assert r.exit_code == EXIT_CODES["INVALID_INPUT"] and a_file.read_text() == "keep me"


def test_out_never_replaces_a_store_file(cli: Any, store: Any, store_paths: Any, tmp_path: Path) -> None:
    # `report weekly --out <the key file>` would destroy the store for good.
    store.close()
    key, db = store_paths.key_path.read_bytes(), store_paths.db_path.read_bytes()
    link = tmp_path / "innocent.md"
    link.symlink_to(store_paths.db_path)
    for target in (store_paths.key_path, store_paths.db_path, link):
        r = cli("report", "weekly", "--out", str(target), "--json")
        assert r.exit_code == EXIT_CODES["INVALID_INPUT"], r.stdout[-300:]
    assert store_paths.key_path.read_bytes() == key and store_paths.db_path.read_bytes() == db


def test_no_overwrite_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "x.key"
    link.symlink_to(tmp_path / "elsewhere" / "stolen.key")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(InvalidInput, match="already exists"):
        write_user_file(link, b"secret", overwrite=False)
    assert not (tmp_path / "elsewhere" / "stolen.key").exists()


def test_json_report_weekly_is_json(cli: Any, sample_store: Any) -> None:
    import json

    sample_store.close()
    r = cli("--json", "report", "weekly")
    assert r.exit_code == 0 and json.loads(r.stdout)["command"] == "report weekly"
    assert cli("report", "weekly", "--format", "csv").exit_code == 2  # a usage error: no CSV form of a report


def test_keygen_out_empty_is_refused_not_the_current_directory(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    r = cli("federated", "keygen", "--out", "", "--name", "x", "--json")
    assert r.exit_code == EXIT_CODES["INVALID_INPUT"] and "--out is empty" in r.stdout, r.stdout
    assert not (tmp_path / "x.key").exists()
