"""cancel_and_wait: how a channel stops its own loops in aclose; in_lanes: how it runs the
requests of one send."""

from __future__ import annotations

import asyncio

import pytest

from dispatcher import cancel_and_wait, in_lanes


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


async def test_lanes_keep_the_order_and_never_run_more_at_once() -> None:
    running, most = 0, 0

    async def job(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001 * (n % 3))  # finishing out of order
        running -= 1
        return n * 10

    jobs = [lambda n=n: job(n) for n in range(20)]
    assert [n * 10 for n in range(20)] == await in_lanes(jobs, 4)
    assert 4 == most
    assert [] == await in_lanes([], 4)


async def test_a_stopping_result_is_given_to_the_jobs_not_yet_started() -> None:
    started: list[int] = []
    release = asyncio.Event()

    async def job(n: int) -> str:
        started.append(n)
        if n == 0:
            await release.wait()  # still running when job 1 stops the rest
            return "sent 0"
        release.set()
        return "account refused" if n == 1 else f"sent {n}"

    jobs = [lambda n=n: job(n) for n in range(5)]
    found = await in_lanes(jobs, 2, stops=lambda result: result == "account refused")
    assert ["sent 0", "account refused", *["account refused"] * 3] == found
    assert [0, 1] == started


async def test_an_error_in_a_lane_stops_the_others() -> None:
    cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    async def broken() -> str:
        raise RuntimeError("bad payload")

    with pytest.raises(ExceptionGroup) as info:
        await in_lanes([slow, broken], 2)
    assert info.group_contains(RuntimeError, match="bad payload")
    assert cancelled.is_set()
