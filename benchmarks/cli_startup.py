"""Median wall time of `finanalytics --help` against a minimal Typer app, same run.

Target: within 1.5x of the minimal app. Run: python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MINIMAL_APP = '''
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    print(f"hello {name}")


if __name__ == "__main__":
    app()
'''


def _median_wall(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = dict(os.environ, FINANALYTICS_HOME=tempfile.mkdtemp(prefix="fa-bench-"))
    exe = shutil.which("finanalytics")
    fa_cmd = [exe, "--help"] if exe else [sys.executable, "-m", "finanalytics_cli", "--help"]
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal_typer_app.py"
        minimal.write_text(MINIMAL_APP)
        base_cmd = [sys.executable, str(minimal), "--help"]
        # Warm the OS cache and bytecode once each, then interleave the measurements.
        _median_wall(base_cmd, 1, env)
        _median_wall(fa_cmd, 1, env)
        base = _median_wall(base_cmd, args.runs, env)
        ours = _median_wall(fa_cmd, args.runs, env)
    ratio = ours / base
    print(f"command: python benchmarks/cli_startup.py --runs {args.runs}")
    print(f"minimal typer app --help: median {base * 1000:.0f} ms over {args.runs} runs")
    print(f"finanalytics --help:      median {ours * 1000:.0f} ms over {args.runs} runs")
    print(f"ratio: {ratio:.2f}x (target <= 1.5x) -> {'OK' if ratio <= 1.5 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
