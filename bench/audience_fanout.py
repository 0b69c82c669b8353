"""Fan-out of one announcement to a large audience: time and the peak memory it takes.

    python bench/audience_fanout.py [--contacts 1000000] [--batch 1000]

Fills a fresh SQLite store with N contacts in 34 provinces (official areas loaded), then fans
out one SMS announcement to the whole country through the engine's Fanout and Planner (the
same code `thongbao serve` runs) in a fresh process, and prints deliveries written, seconds,
and that process's peak RSS. Nothing is sent: this measures audience resolution.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dispatcher.areas import official_areas
from dispatcher.channel import Accepted, Channel, ChannelContext, OutboundMessage, SendResult
from dispatcher.clock import Clock
from dispatcher.fanout import Fanout, Planner
from dispatcher.store import SQLiteStore
from schemas import AnnouncementIn, Audience, Contact


def peak_mb() -> float:
    """Peak resident set size of this process so far, in MB: VmHWM, not ``ru_maxrss``, which
    a process started by another keeps from its parent (here, the one that filled the store)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class NullChannel(Channel):
    """Takes every address as it is; never called to send here."""

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        return [Accepted() for _ in batch]


class _Sink:
    async def submit(self, receipts: object) -> list[bool]:
        return []


async def fill(folder: Path, n: int) -> None:
    """N contacts over every commune, and one announcement to every province."""
    store = SQLiteStore(folder / "bench.db")
    await store.open()
    areas = official_areas()
    await store.upsert_areas(areas)
    communes = [a.code for a in areas if a.parent_code]
    clock = Clock()
    start = time.perf_counter()
    chunk = 20_000
    for first in range(0, n, chunk):
        await store.upsert_contacts(
            [
                Contact(
                    id=f"c{i:08d}",
                    name=f"Người {i}",
                    area_code=communes[i % len(communes)],
                    addresses={"sms": f"+8491{i:07d}"},
                    # Tags as a directory has them: every import replaces each one's tags.
                    tags=["hộ gia đình", "ngư dân"] if i % 5 == 0 else ["hộ gia đình"],
                )
                for i in range(first, min(n, first + chunk))
            ],
            clock.now(),
        )
    provinces = sorted({a.parent_code for a in areas if a.parent_code})
    data = AnnouncementIn(
        title="Bão số 3", body="Bench", channels=["sms"], audience=Audience(areas=provinces)
    )
    await store.create_announcement("bench", data, created_by=None, now=clock.now())
    await store.close()
    print(f"contacts              {n:,} (filled in {time.perf_counter() - start:.1f} s)")


async def fan_out(folder: Path, batch: int) -> None:
    """The fan-out alone, so the peak RSS is the fan-out's."""
    store = SQLiteStore(folder / "bench.db")
    await store.open()
    clock = Clock()
    ctx = ChannelContext(name="sms", settings=None, data_dir=folder, receipts=_Sink())  # type: ignore[arg-type]
    planner = Planner({"sms": NullChannel(ctx)})
    fanout = Fanout(store, planner, clock, batch_size=batch)
    [announcement] = (await store.get_announcements(["bench"])).values()
    before = peak_mb()
    logging.disable(logging.INFO)
    start = time.perf_counter()
    created = await fanout.run(announcement)
    took = time.perf_counter() - start
    after = peak_mb()
    await store.close()
    size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
    print(f"deliveries written    {created:,}")
    print(f"fan-out time          {took:.1f} s ({created / took:,.0f} deliveries/s)")
    print(f"peak RSS before       {before:.0f} MB")
    print(f"peak RSS after        {after:.0f} MB")
    print(f"database on disk      {size:.0f} MB ({folder})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--fan-out-in", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fan_out_in:
        asyncio.run(fan_out(args.fan_out_in, args.batch))
        return
    folder = Path(tempfile.mkdtemp(prefix="thongbao-bench-"))
    print(f"cores                 {os.cpu_count()}")
    asyncio.run(fill(folder, args.contacts))
    sys.stdout.flush()
    again = [sys.executable, __file__, "--batch", str(args.batch), "--fan-out-in", str(folder)]
    subprocess.run(again, check=True)


if __name__ == "__main__":
    main()
