"""Tasks a channel runs: its requests of one send in lanes, and stopping its own loops in
``aclose``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


async def in_lanes(
    jobs: Sequence[Callable[[], Awaitable[T]]],
    lanes: int,
    *,
    stops: Callable[[T], bool] | None = None,
    name: str = "lane",
) -> list[T]:
    """Run ``jobs`` at most ``lanes`` at a time; their results, in their order.

    A few tasks take the next job as each finishes: no task and no semaphore per job (a
    send of hundreds of messages, one request each). With ``stops``, the first result it
    is true of (an account refused, a rate limit) stops the rest: the jobs not yet started
    get that result without running; those already running finish as they will. An error
    a job raises cancels the others and comes out in an ``ExceptionGroup``.
    """
    results: list[Any] = [None] * len(jobs)
    queue = iter(enumerate(jobs))
    stopped: list[T] = []

    async def lane() -> None:
        for index, job in queue:
            if stopped:
                results[index] = stopped[0]
                continue
            found = await job()
            results[index] = found
            if stops is not None and not stopped and stops(found):
                stopped.append(found)

    async with asyncio.TaskGroup() as group:
        for n in range(min(max(1, lanes), len(jobs))):
            group.create_task(lane(), name=f"{name}-{n}")
    return results


async def cancel_and_wait(task: asyncio.Task[Any]) -> BaseException | None:
    """Cancel ``task`` and wait until it has ended.

    Returns the error it ended with instead of stopping as asked (None when it stopped, or
    had ended fine), for the caller to log. ``CancelledError`` is re-raised only when the
    caller itself is being cancelled, not because the task was.
    """
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception as exc:
        return exc
    return None
