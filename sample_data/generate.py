"""Regenerate the sample household (fixed seed; the same bytes every run).

    python sample_data/generate.py          # rewrite sample_data/exports and sample_data/truth
    python sample_data/generate.py --check  # exit 1 if the committed files differ

The generator itself lives in the package (finanalytics_cli/engine/sample_household.py)
so that an installed `finanalytics demo` can write the same files without this checkout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from finanalytics_cli.engine.sample_household import SEED, sample_files  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    files = sample_files(args.seed)
    if args.check:
        stale = [rel for rel, data in files.items() if not (HERE / rel).exists() or (HERE / rel).read_bytes() != data]
        if stale:
            print("differs from the generator:", ", ".join(stale))
            sys.exit(1)
        print(f"{len(files)} files match the generator (seed {args.seed})")
        return
    for rel, data in files.items():
        path = HERE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    total = sum(len(d) for d in files.values())
    print(f"wrote {len(files)} files, {total / 1e6:.2f} MB, seed {args.seed}")


if __name__ == "__main__":
    main()
