"""Per-user batch work (features, insights) across many stores: one process per store,
through the same engine API a single user's commands use. An institution running the
engine for many users would hand the same function to a distributed engine instead of a
process pool (see docs/SCALING.md)."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass
class StoreJob:
    """One user's store: where it is and how its key is unlocked."""

    profile: str
    db: str | None = None
    home: str | None = None  # FINANALYTICS_HOME for this user


def refresh_one(job: StoreJob) -> dict[str, Any]:
    """Open one store, compute its features and insights, close it: a worker's unit."""
    if job.home:
        os.environ["FINANALYTICS_HOME"] = job.home
    from pathlib import Path

    from finanalytics_cli.engine.features import ensure_features
    from finanalytics_cli.engine.insights import list_insights, refresh_insights
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store
    from finanalytics_cli.privacy.keys import no_prompt

    paths = resolve_paths(job.profile, Path(job.db) if job.db else None)
    with Store.open(paths, passphrase_provider=no_prompt) as store:
        with store.transaction():
            features = ensure_features(store.con)
        done = refresh_insights(store, force=True)
        titles = sorted(i["title"] for i in list_insights(store.con, limit=100))
    return {"profile": job.profile, "pid": os.getpid(), "features": features, "insights": titles, "refresh": done}


def batch_insights(jobs: list[StoreJob], processes: int = 2) -> list[dict[str, Any]]:
    """Refresh every store's features and insights, ``processes`` stores at a time."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # no DuckDB handle or lock crosses a fork
    with ProcessPoolExecutor(max_workers=processes, mp_context=ctx) as pool:
        return list(pool.map(refresh_one, jobs))
