"""Categories straight after the first import, with zero labels and zero rules.

The exports of ``benchmarks/messy_merchants.py`` (US card and checking, German giro, a
European card; well-known brands printed the messy ways banks print them, none of them
the sample household's) are imported with the installed CLI into a new store, exactly
as a new user would (``finanalytics import FILE --account NAME --currency CODE``), and
every row's category is compared with the truth:

- right: the category, or its top-level category, is the truth's (spending is shown by
  top-level category; ``exact`` counts the subcategory too);
- wrong: another category;
- none: left uncategorised (the user sees it in ``review``).

Targets: >= 85% right, <= 5% wrong. Run: python benchmarks/merchant_categories.py
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

TARGETS = {"right": 0.85, "wrong": 0.05}
ACCOUNTS = {"us_card.csv": "Visa", "us_checking.csv": "Checking", "de_giro.csv": "Girokonto", "eu_card.csv": "EU card"}


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FINANALYTICS_HOME=str(home),
        FINANALYTICS_NO_KEYRING="1",
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
        FINANALYTICS_PASSPHRASE="benchmark-passphrase",
    )
    return env


def measure(seed: int = 20261203) -> dict[str, object]:
    """Import the generated exports into a new store; the shares right, wrong and none,
    overall, per file and per source."""
    from messy_merchants import generate, write

    rows = generate(seed)
    with tempfile.TemporaryDirectory() as tmp:
        data, home = Path(tmp) / "exports", Path(tmp) / "home"
        currency = write(data, rows)
        env = _env(home)
        for file, account in ACCOUNTS.items():
            cmd = [sys.executable, "-m", "finanalytics_cli", "--json", "import", str(data / file)]
            cmd += ["--account", account, "--currency", currency[file]]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"import of {file} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
            out = json.loads(done.stdout)
            if out["data"]["files"][0]["added"] != sum(r.file == file for r in rows):
                raise SystemExit(f"{file}: {out['data']['files'][0]['added']} rows added, expected more")
        got = _categories(env)
        truth = {}
        with (data / "truth.csv").open(encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                truth[(ACCOUNTS[r["file"]], r["date"], r["payee"], r["amount"])] = (r["file"], r["category"])
    counts: Counter[str] = Counter()
    per_file: dict[str, Counter[str]] = {}
    sources: Counter[str] = Counter()
    wrong_examples: Counter[tuple[str, str, str]] = Counter()
    missed: Counter[tuple[str, str]] = Counter()
    for key, (file, want) in truth.items():
        cat, source = got[key]
        verdict = _verdict(cat, want)
        counts[verdict] += 1
        if verdict == "right" and cat == want:
            counts["exact"] += 1
        per_file.setdefault(file, Counter())[verdict] += 1
        sources[source or "none"] += 1
        if verdict == "wrong":
            wrong_examples[(key[2], cat, want)] += 1
        elif verdict == "none":
            missed[(key[2], want)] += 1
    n = len(truth)
    return {
        "rows": n,
        "right": counts["right"] / n,
        "exact": counts["exact"] / n,
        "wrong": counts["wrong"] / n,
        "none": counts["none"] / n,
        "per_file": {f: {k: c[k] / sum(c.values()) for k in ("right", "wrong", "none")} for f, c in per_file.items()},
        "sources": {s: c / n for s, c in sources.most_common()},
        "wrong_examples": wrong_examples.most_common(15),
        "missed_examples": missed.most_common(15),
    }


def _verdict(got: str | None, want: str) -> str:
    if got is None:
        return "none"
    return "right" if got.split("/")[0] == want.split("/")[0] else "wrong"


def _categories(env: dict[str, str]) -> dict[tuple[str, str, str, str], tuple[str | None, str | None]]:
    """(account, date, payee, amount) -> (category, source), read from the store."""
    code = (
        "import json, sys\n"
        "from finanalytics_cli.engine.paths import resolve_paths\n"
        "from finanalytics_cli.engine.store import Store\n"
        "with Store.open(resolve_paths()) as s:\n"
        "    rows = s.con.execute('SELECT a.name, CAST(t.posted_date AS VARCHAR), t.payee_raw, "
        "CAST(t.amount AS VARCHAR), t.category, t.category_source FROM transactions t JOIN accounts a "
        "USING (account_id)').fetchall()\n"
        "json.dump(rows, sys.stdout)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    out = {}
    for account, date, payee, amount, cat, source in json.loads(done.stdout):
        out[(account, date, payee, _plain(amount))] = (cat, source)
    return out


def _plain(amount: str) -> str:
    from decimal import Decimal

    return f"{Decimal(amount):.2f}"


def main() -> None:
    m = measure()
    print(f"zero labels, zero rules: {m['rows']} transactions from 4 exports, straight after import")
    print(
        f"right {m['right']:.1%} (target >= {TARGETS['right']:.0%}; exact subcategory {m['exact']:.1%}), "
        f"wrong {m['wrong']:.1%} (target <= {TARGETS['wrong']:.0%}), uncategorised {m['none']:.1%}"
    )
    for f, v in m["per_file"].items():
        print(f"  {f}: right {v['right']:.1%}, wrong {v['wrong']:.1%}, none {v['none']:.1%}")
    print("by source: " + ", ".join(f"{s} {v:.1%}" for s, v in m["sources"].items()))
    if "-v" in sys.argv:
        print("wrong:", *m["wrong_examples"], sep="\n  ")
        print("missed:", *m["missed_examples"], sep="\n  ")


if __name__ == "__main__":
    main()
