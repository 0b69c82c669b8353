"""Stopping background tasks: what a channel does with its own loops in ``aclose``."""

from __future__ import annotations

import asyncio
from typing import Any


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
