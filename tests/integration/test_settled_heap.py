"""A started ``thongbao worker`` settles its heap (``dispatcher/heap.py``) before its first
send, and says so in its log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .harness import Gateway, Launcher, wait_for, write_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_a_started_worker_freezes_its_startup_heap(
    tmp_path: Path, launcher: Launcher
) -> None:
    async with Gateway() as gateway:
        config = write_config(
            tmp_path / "worker.toml", db=tmp_path / "t.db", gateway_url=gateway.url()
        )
        worker = await launcher.start(config, "worker", name="worker")

        async def settled() -> dict[str, object] | None:
            if worker.returncode is not None:
                pytest.fail("the worker exited:\n" + launcher.log("worker"))
            events = [json.loads(line) for line in launcher.log("worker").splitlines() if line]
            return next((e for e in events if e.get("event") == "heap_settled"), None)

        event = await wait_for("the worker to settle its heap", settled, timeout=30)
        # Modules, validators, plugins and settings: far more than a few thousand objects.
        frozen = event["frozen"]
        assert isinstance(frozen, int) and frozen > 50_000
        assert await Launcher.stop(worker) == 0
