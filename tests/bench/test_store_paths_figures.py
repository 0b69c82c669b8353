"""bench/store_paths.py: what it counts as time inside SQLite (no speed is asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("store_paths", BENCH / "store_paths.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["store_paths"] = module
    spec.loader.exec_module(module)
    return module


paths = _load()


async def test_the_sql_share_is_part_of_each_store_step_and_of_no_other() -> None:
    steps = await paths.one_run(300)
    for step in ("fan-out insert", "claim", "record outcome", "store receipt"):
        assert 0 < steps[f"{step} SQL"] <= steps[step], step
    for step in ("judge", "read report"):  # no store call: nothing inside SQLite
        assert steps[f"{step} SQL"] == 0, step
