"""Helpers for engine tests: a small directory, announcements, waiting on conditions."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from scripted import ScriptedChannel

from dispatcher.engine import Dispatcher
from schemas import Announcement, AnnouncementIn, Delivery

AREAS = [
    {"code": "01", "name": "Hà Nội"},
    {"code": "00004", "name": "Ba Đình", "parent_code": "01"},
    {"code": "00008", "name": "Ngọc Hà", "parent_code": "01"},
    {"code": "79", "name": "TP Hồ Chí Minh"},
    {"code": "26734", "name": "Sài Gòn", "parent_code": "79"},
]


def contact(i: int, area: str, **extra: Any) -> dict[str, Any]:
    """A contact with an sms and a zalo address."""
    phone = f"+8491{i:07d}"
    return {
        "id": f"c{i:05d}",
        "name": f"Người {i}",
        "area_code": area,
        "addresses": {"sms": phone, "zalo": phone},
        **extra,
    }


async def directory(d: Dispatcher, per_commune: int = 5) -> None:
    """Areas of two provinces, and ``per_commune`` contacts in each of three communes."""
    report = await d.services.import_areas(AREAS)
    assert report.ok, report.errors
    rows = [
        contact(i * 10 + n, area)
        for i, area in enumerate(["00004", "00008", "26734"])
        for n in range(per_commune)
    ]
    report = await d.services.import_contacts(rows)
    assert report.ok, report.errors


async def announce(d: Dispatcher, **fields: Any) -> Announcement:
    """Create an announcement (defaults: sms to province 01)."""
    data = {
        "title": "Thông báo",
        "body": "Cắt điện ngày mai",
        "channels": ["sms"],
        "audience": {"areas": ["01"]},
    }
    data.update(fields)
    announcement, _ = await d.services.create_announcement(AnnouncementIn.model_validate(data))
    return announcement


async def deliveries(d: Dispatcher, announcement_id: str) -> list[Delivery]:
    """Every delivery of an announcement, with attempts and receipts."""
    page = await d.services.list_deliveries(announcement_id, limit=10_000)
    return [await d.services.get_delivery(x.id) for x in page.items]


async def wait_until(check: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    """Wait for a condition another task brings about, with a deadline (not a fixed sleep).
    ``check`` may be a plain predicate or a coroutine function."""
    async with asyncio.timeout(timeout):
        while True:
            found = check()
            if await found if inspect.isawaitable(found) else found:
                return
            await asyncio.sleep(0.005)


async def hold_first_batch(
    d: Dispatcher, **fields: Any
) -> tuple[Announcement, ScriptedChannel, asyncio.Task[None]]:
    """Announce (``fields`` as for :func:`announce`), hold the scripted SMS channel's sends at
    the provider and run ``d`` until its first batch is there. Returns the announcement, the
    channel (setting its ``gate`` lets the provider answer) and the run task."""
    announcement = await announce(d, **fields)
    channel = d.channels["sms"]
    assert isinstance(channel, ScriptedChannel)
    channel.gate = asyncio.Event()
    runner = asyncio.create_task(d.run())
    await wait_until(lambda: bool(channel.batches))
    return announcement, channel, runner
