"""The store's write lock serves an emergency's writes before bulk ones waiting."""

from __future__ import annotations

import asyncio

import pytest

from dispatcher.store.urgency import PriorityLock, urgent


async def test_urgent_waiters_go_first_and_each_kind_keeps_its_order() -> None:
    lock = PriorityLock()
    order: list[str] = []

    async def write(name: str, is_urgent: bool) -> None:
        with urgent(is_urgent):
            async with lock:
                order.append(name)
                await asyncio.sleep(0)

    await lock.acquire()
    tasks = [
        asyncio.create_task(write(name, name.startswith("u")))
        for name in ["b1", "b2", "u1", "b3", "u2"]
    ]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert ["u1", "u2", "b1", "b2", "b3"] == order
    assert not lock.locked()


async def test_a_cancelled_waiter_neither_holds_nor_blocks_the_lock() -> None:
    lock = PriorityLock()
    await lock.acquire()
    waiter = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    lock.release()  # handed to the waiter …
    waiter.cancel()  # … which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not lock.locked()
    async with asyncio.timeout(1):
        await lock.acquire()
