"""Scheduler: releases announcements when their time comes, expires and completes them.

Each release runs its fan-out as a task of its own, so an emergency released during a long
bulk fan-out starts at once instead of waiting behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import structlog

from dispatcher.clock import Clock
from dispatcher.events import AnnouncementChange, StatusChange
from dispatcher.fanout import Fanout
from dispatcher.store.base import Store
from schemas import Announcement, AnnouncementStatus

log = structlog.get_logger(__name__)

RETRY_FAILED_FANOUT_AFTER = 30.0


class Scheduler:
    """Runs :meth:`tick` every ``poll_interval`` seconds, or sooner when woken."""

    def __init__(
        self,
        store: Store,
        fanout: Fanout,
        clock: Clock,
        *,
        poll_interval: float,
        on_changes: Callable[[Sequence[StatusChange]], Awaitable[None]],
        on_announcements: Callable[[Sequence[AnnouncementChange]], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.clock = clock
        self.poll_interval = poll_interval
        self.on_changes = on_changes
        self.on_announcements = on_announcements
        self.wake = asyncio.Event()
        self.fanouts: dict[str, asyncio.Task[None]] = {}
        self._failed_at: dict[str, float] = {}
        self._stopping = asyncio.Event()
        self._hurrying: asyncio.Task[None] | None = None
        self._again = False
        # One tick at a time: run(until_idle=True) ticks beside the loop's own, and must not
        # see the store idle while the other tick is still writing the steps it moved on.
        self._ticking = asyncio.Lock()

    def stop(self) -> None:
        """Stop releasing; running fan-outs are the engine's to cancel."""
        self._stopping.set()
        self.wake.set()
        if self._hurrying is not None:
            self._hurrying.cancel()

    def hurry(self) -> None:
        """Release what is due now, without waiting for the tick in progress (its
        bookkeeping writes queue behind a bulk send's): for an emergency just posted."""
        if self._stopping.is_set():
            return
        if self._hurrying is not None and not self._hurrying.done():
            self._again = True  # the running pass may have read before this one was stored
            return
        # Not urgent() itself: the due bulk announcements it may release too must not
        # inherit an emergency's place in the write queue (a fan-out sets its own).
        self._hurrying = asyncio.create_task(self._hurry(), name="scheduler:hurry")

    async def _hurry(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self._release(self.clock.now())
            except Exception:
                log.exception("release_failed")
                self.wake.set()  # the next tick tries again
                return

    async def run(self) -> None:
        """Tick until :meth:`stop`."""
        while not self._stopping.is_set():
            self.wake.clear()
            await self.tick()
            try:
                async with asyncio.timeout(self.poll_interval):
                    await self.wake.wait()
            except TimeoutError:
                pass

    async def tick(self) -> None:
        """Release due announcements, then complete finished ones and expire late ones.

        Releasing comes first: an emergency just posted should not wait behind bookkeeping.
        A tick called while another runs waits for it (an emergency does not: see
        :meth:`hurry`).
        """
        async with self._ticking:
            await self._tick()

    async def _tick(self) -> None:
        now = self.clock.now()
        await self._release(now)
        completed = await self.store.complete_finished(now)
        for announcement_id in completed:
            log.info("announcement_completed", announcement_id=announcement_id)
        moved = [AnnouncementChange(a, AnnouncementStatus.COMPLETED, now) for a in completed]
        expired, gone = await self.store.expire(now)
        if expired:
            await self.on_changes(expired)
        moved += [AnnouncementChange(a, AnnouncementStatus.EXPIRED, now) for a in gone]
        if moved and self.on_announcements is not None:
            await self.on_announcements(moved)
        overdue = await self.store.overdue_fallbacks(now, limit=1000)
        if overdue:
            await self.on_changes(overdue)

    async def _release(self, now: datetime) -> None:
        for announcement in await self.store.announcements_to_release(now, limit=100):
            if self._stopping.is_set():
                return
            late = announcement.expires_at is not None and announcement.expires_at <= now
            if late or announcement.id in self.fanouts or self._backing_off(announcement.id):
                continue  # a late one is the expiry's, below
            self.fanouts[announcement.id] = asyncio.create_task(
                self._fan_out(announcement), name=f"fanout:{announcement.id}"
            )

    def _backing_off(self, announcement_id: str) -> bool:
        failed_at = self._failed_at.get(announcement_id)
        loop_time = asyncio.get_running_loop().time()
        return failed_at is not None and loop_time - failed_at < RETRY_FAILED_FANOUT_AFTER

    async def _fan_out(self, announcement: Announcement) -> None:
        try:
            await self.fanout.run(announcement)
            self._failed_at.pop(announcement.id, None)
        except Exception:
            # The cursor is saved per batch: the next attempt resumes where this one stopped.
            log.exception("fanout_failed", announcement_id=announcement.id)
            self._failed_at[announcement.id] = asyncio.get_running_loop().time()
        finally:
            self.fanouts.pop(announcement.id, None)
            self.wake.set()
