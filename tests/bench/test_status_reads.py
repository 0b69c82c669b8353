"""bench/status_reads.py: the announcement it fills is the one its reads are timed on (no
speed is asserted)."""

from __future__ import annotations

from pathlib import Path

from bench_scripts import load

from dispatcher.store import SQLiteStore
from schemas import DeliveryStatus

status_reads = load("status_reads")


async def test_the_filled_announcement_holds_what_the_reads_look_for(tmp_path: Path) -> None:
    path = tmp_path / "thongbao.db"
    store = SQLiteStore(path)
    await store.open()
    big = await status_reads.announce(store, "big")
    await store.close()
    status_reads.fill(path, big, 3_000, 0)
    store = SQLiteStore(path)
    await store.open()
    try:
        # Every thousandth failed, the last half percent queued (the counts come from the
        # triggers, filled by plain SQL).
        found = await store.get_announcement(big)
        assert {"sms": {"delivered": 2_983, "failed": 2, "queued": 15}} == found.counts
        failed = await store.list_deliveries(
            big, status=DeliveryStatus.FAILED, channel=None, after=None, limit=50
        )
        assert 2 == len(failed.items)
        timings = await status_reads.reads(store, big, 3_000, 1)
    finally:
        await store.close()
    assert set(timings) == {
        "counts",
        "totals",
        "first page",
        "middle page",
        "failed page",
        "queued page",
        "completion check",
    }
