"""Several users' batch insights in parallel processes, through the engine API."""

from __future__ import annotations

from pathlib import Path

from tests.engine.planning_fixtures import tight_household_csv


def test_batch_insights_for_several_stores_in_parallel(isolated_home: Path) -> None:
    from finanalytics_cli.engine.batch import StoreJob, batch_insights, refresh_one
    from finanalytics_cli.engine.ingest import ImportOptions, Source, import_sources
    from finanalytics_cli.engine.paths import resolve_paths
    from finanalytics_cli.engine.store import Store

    jobs = []
    for seed in (7, 8, 9):
        name = f"user{seed}"
        with Store.create(resolve_paths(name)) as s:
            import_sources(
                s, [Source("c.csv", tight_household_csv(seed, days=400).encode())], ImportOptions(account="Checking")
            )
        jobs.append(StoreJob(name, home=str(isolated_home)))
    results = batch_insights(jobs, processes=2)
    assert [r["profile"] for r in results] == ["user7", "user8", "user9"]
    assert len({r["pid"] for r in results}) >= 2  # really in other processes
    for r in results:
        assert r["features"] > 0 and r["insights"]
    # The same as one user's own run, store by store.
    again = refresh_one(jobs[0])
    assert again["insights"] == results[0]["insights"] and again["features"] == 0  # nothing left to compute
