"""kill -9 in the middle of an import: the store opens and holds none of that file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from finanalytics_cli.engine.store import Store


def test_kill_during_import_leaves_nothing_half_written(store: Any, store_paths: Any, tmp_path: Path) -> None:
    store.close()
    big = tmp_path / "big.csv"
    rows = ["Date,Description,Amount"] + [
        f"2024-{1 + i % 12:02d}-{1 + i % 28:02d},SHOP {i},-{i % 997}.25" for i in range(900_000)
    ]
    big.write_text("\n".join(rows))
    proc = subprocess.Popen(
        [sys.executable, "-m", "finanalytics_cli", "import", str(big), "--account", "A", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    time.sleep(1.5)  # inside the import: 900k rows take several seconds
    assert proc.poll() is None, "the import finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Store.open(store_paths, wait=10) as again:
        n = again.con.execute("SELECT count(*) FROM transactions").fetchone()[0]
        imports = again.con.execute("SELECT count(*) FROM imports").fetchone()[0]
    assert (n, imports) in ((0, 0), (900_000, 1))
    # Rerunning completes it.
    done = subprocess.run(
        [sys.executable, "-m", "finanalytics_cli", "import", str(big), "--account", "A", "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with Store.open(store_paths) as final:
        assert final.con.execute("SELECT count(*) FROM transactions").fetchone()[0] == 900_000
