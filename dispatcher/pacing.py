"""Pacing: a token bucket that holds a channel to its declared messages per second."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """Lets at most ``rate`` messages per second through, shared by every task of a process.

    Workers acquire for a batch just before it goes (a batch claimed ahead waits for its
    tokens with its lease renewed), so a batch that waited never adds to a burst.

    Args:
        rate: messages per second; None lets everything through at once.
        burst: messages that may pass at once after a quiet spell (default: one second's).
    """

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else (rate or 0.0)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, n: int = 1) -> None:
        """Wait until ``n`` messages may go."""
        if self.rate is None or n <= 0:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(
                    max(self.capacity, n), self._tokens + (now - self._stamp) * self.rate
                )
                self._stamp = now
                if self._tokens >= n:
                    self._tokens -= n
                    return
                await asyncio.sleep((n - self._tokens) / self.rate)

    def refund(self, n: int) -> None:
        """Give back ``n`` messages' worth acquired but not used (a claim found fewer)."""
        if self.rate is not None and n > 0:
            self._tokens += n
