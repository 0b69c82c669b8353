"""Urgent writes: an emergency's writes go before the bulk writes waiting for the store.

The store has one writer; under a large send its queue holds fan-out batches, claims,
outcomes and receipts. Code working for an emergency runs inside :func:`urgent` (the API
storing it, its fan-out, the worker lane that sends it), and the writer's queue
(:mod:`dispatcher.store.write_queue`) runs such writes first. :class:`PriorityLock` does
the same for the reads of a store kept in memory, which share its one connection.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType

_URGENT: ContextVar[bool] = ContextVar("thongbao_urgent_writes", default=False)


@contextmanager
def urgent(on: bool = True) -> Iterator[None]:
    """Writes made inside (and in tasks started inside) jump the store's queue when ``on``."""
    token = _URGENT.set(on or _URGENT.get())
    try:
        yield
    finally:
        _URGENT.reset(token)


def is_urgent() -> bool:
    """Whether the current context's writes are urgent."""
    return _URGENT.get()


class PriorityLock:
    """An asyncio lock that hands itself to urgent waiters first, FIFO within each kind."""

    def __init__(self) -> None:
        self._locked = False
        self._queues: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (
            deque(),
            deque(),
        )

    def locked(self) -> bool:
        """Whether someone holds the lock."""
        return self._locked

    async def acquire(self) -> None:
        """Wait for the lock; urgent callers (see :func:`urgent`) are served first."""
        if not self._locked and not any(self._queues):
            self._locked = True
            return
        queue = self._queues[0 if is_urgent() else 1]
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed to us just as we were cancelled: pass it on
            else:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the lock to the next waiter (urgent first), or free it."""
        for queue in self._queues:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # ownership passes on; _locked stays True
                    return
        self._locked = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
