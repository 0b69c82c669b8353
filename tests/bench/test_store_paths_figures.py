"""bench/store_paths.py: what it counts as time inside SQLite (no speed is asserted)."""

from __future__ import annotations

from bench_scripts import load

paths = load("store_paths")


async def test_the_sql_share_is_part_of_each_store_step_and_of_no_other() -> None:
    steps = await paths.one_run(300)
    for step in ("fan-out insert", "claim", "record outcome", "store receipt"):
        assert 0 < steps[f"{step} SQL"] <= steps[step], step
    for step in ("judge", "read report"):  # no store call: nothing inside SQLite
        assert steps[f"{step} SQL"] == 0, step
