"""cancel_and_wait: how a channel stops its own loops in aclose."""

from __future__ import annotations

import asyncio

import pytest

from dispatcher import cancel_and_wait


async def test_a_task_that_stops_as_asked_returns_nothing() -> None:
    task = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    assert await cancel_and_wait(task) is None
    assert task.cancelled()


async def test_a_task_that_fails_on_its_way_out_hands_its_error_back() -> None:
    async def loop() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            raise RuntimeError("socket already closed")

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)
    error = await cancel_and_wait(task)
    assert isinstance(error, RuntimeError) and "socket already closed" == str(error)


async def test_the_caller_being_cancelled_is_not_swallowed() -> None:
    started = asyncio.Event()

    async def slow_to_stop() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # its cleanup takes a moment

    task = asyncio.create_task(slow_to_stop())
    await started.wait()
    closer = asyncio.create_task(cancel_and_wait(task))
    await asyncio.sleep(0.01)  # the closer waits for the cleanup …
    closer.cancel()  # … when it is cancelled itself
    with pytest.raises(asyncio.CancelledError):
        await closer
    assert task.cancelled()
