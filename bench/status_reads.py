"""What an operator's reads cost on a large announcement, through the SQLite store.

    python bench/status_reads.py [--n 1000000] [--runs 5]

Fills a fresh store with one announcement of N deliveries (every thousandth failed, the
last half percent still queued, the rest delivered) beside two small ones, then times, in
milliseconds (median of the runs), what the API and the scheduler read while it sends:

- **counts**: ``get_announcement``, the status page's poll (its counts by channel and status);
- **totals**: ``status_totals``, every scrape of ``/metrics``;
- **first page** and **middle page**: ``list_deliveries``, 50 deliveries from the start and
  from the middle, the operator paging through recipients;
- **failed page** and **queued page**: the same filtered by status;
- **completion check**: ``complete_finished``, run by the scheduler at every tick, finding
  nothing to complete (deliveries are still queued).

What the writes of every delivery pay for these reads is ``store_paths.py --instructions``'
to count.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dispatcher.store import SQLiteStore
from dispatcher.store.sqlite_memory import turn_off_memory_statistics
from schemas import AnnouncementIn, AnnouncementStatus, Audience, DeliveryStatus

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
BIG = "big"
PAGE = 50


async def announce(store: SQLiteStore, key: str) -> str:
    """A released announcement, as fan-out leaves it once it starts sending."""
    data = AnnouncementIn(
        title="Bench", body="Bench", channels=["sms"], audience=Audience(areas=["79"])
    )
    announcement_id, _ = await store.create_announcement(key, data, created_by=None, now=T0)
    for status in (AnnouncementStatus.FANNING_OUT, AnnouncementStatus.SENDING):
        await store.set_announcement_status(
            announcement_id, [AnnouncementStatus.SCHEDULED, AnnouncementStatus.FANNING_OUT],
            status, T0,
        )  # fmt: skip
    return announcement_id


def fill(path: Path, announcement_id: str, n: int, first: int) -> None:
    """N deliveries of ``announcement_id``, written by SQL alone (a fan-out of a million
    through the engine takes a minute; the reads do not care how the rows came)."""
    queued_from = n - n // 200
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO deliveries (announcement_id, channel, address, status, priority_rank, "
            "due_at, created_at, updated_at, provider_id) "
            "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?) "
            "SELECT ?, 'sms', '+849' || printf('%08d', ? + i), "
            "CASE WHEN i >= ? THEN 'queued' WHEN i % 1000 = 999 THEN 'failed' "
            "ELSE 'delivered' END, 2, 0, 0, 0, "
            "CASE WHEN i < ? THEN 'p' || (? + i) END FROM k",
            (n, announcement_id, first, queued_from, queued_from, first),
        )


async def timed(runs: int, read: Callable[[], Awaitable[Any]]) -> float:
    """Milliseconds a read takes, the median of ``runs``."""
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        await read()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


async def reads(store: SQLiteStore, big: str, n: int, runs: int) -> dict[str, float]:
    """Each read's milliseconds."""
    first = await store.list_deliveries(big, status=None, channel=None, after=None, limit=PAGE)
    middle_id = str(int(first.items[0].id) + n // 2)

    def page(status: DeliveryStatus | None, after: str | None) -> Callable[[], Awaitable[Any]]:
        return lambda: store.list_deliveries(
            big, status=status, channel=None, after=after, limit=PAGE
        )

    return {
        "counts": await timed(runs, lambda: store.get_announcement(big)),
        "totals": await timed(runs, store.status_totals),
        "first page": await timed(runs, page(None, None)),
        "middle page": await timed(runs, page(None, middle_id)),
        "failed page": await timed(runs, page(DeliveryStatus.FAILED, None)),
        "queued page": await timed(runs, page(DeliveryStatus.QUEUED, None)),
        "completion check": await timed(runs, lambda: store.complete_finished(T0)),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="deliveries of the announcement")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    turn_off_memory_statistics()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "thongbao.db"
        store = SQLiteStore(str(path))
        await store.open()
        big = await announce(store, BIG)
        small = [await announce(store, f"small-{k}") for k in range(2)]
        await store.close()
        started = time.perf_counter()
        fill(path, big, args.n, 0)
        for k, announcement_id in enumerate(small):
            fill(path, announcement_id, 1_000, args.n + k * 1_000)
        filled = time.perf_counter() - started
        store = SQLiteStore(str(path))
        await store.open()
        try:
            found = await reads(store, big, args.n, args.runs)
        finally:
            await store.close()
    print(f"{args.n:,} deliveries of one announcement (filled in {filled:.1f} s)\n")
    print("| read | ms (median of runs) |\n|---|---|")
    for name, ms in found.items():
        print(f"| {name} | {ms:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
