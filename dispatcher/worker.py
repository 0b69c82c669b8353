"""ChannelWorker: claims due deliveries of one channel, sends them, writes the outcomes.

One worker per channel per process. Up to the channel's ``concurrency`` batches talk to the
provider at once, each holding a send slot; one more batch is claimed ahead and waits for
the first slot to free. A batch gives its slot back once its calls are done, while its
outcomes are written. Claims take the best priority first, and emergency and high-priority
deliveries have a lane and slots of their own (:meth:`ChannelWorker.run_urgent`), so they
never wait for a bulk batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial

import structlog

from dispatcher.channel import Channel, Failed, OutboundMessage, RetryLater, SendResult
from dispatcher.clock import Clock
from dispatcher.config import WorkerSettings
from dispatcher.errors import PermanentDeliveryError, RateLimitedError, TransientDeliveryError
from dispatcher.events import StatusChange
from dispatcher.metrics import Metrics
from dispatcher.outcome import Judge, Unknown
from dispatcher.pacing import Pacer
from dispatcher.policy import Policy
from dispatcher.render import (
    Rendered,
    RenderError,
    outbound_message,
    person,
    render_for,
    uses_contact,
)
from dispatcher.retry import RetryPolicy
from dispatcher.store.base import ClaimedDelivery, Outcome, Store
from dispatcher.store.urgency import urgent
from schemas import (
    Announcement,
    AnnouncementStatus,
    Contact,
    DeliveryStatus,
    Priority,
)

log = structlog.get_logger(__name__)

ChangesHandler = Callable[[Sequence[StatusChange]], Awaitable[None]]


class AnnouncementCache:
    """Announcements by id for rendering; their content never changes once stored."""

    def __init__(self, store: Store, size: int = 1024) -> None:
        self.store = store
        self.size = size
        self._items: dict[str, Announcement] = {}

    async def get_many(self, ids: Sequence[str]) -> dict[str, Announcement]:
        """The announcements of ``ids`` (missing ones left out)."""
        missing = [i for i in set(ids) if i not in self._items]
        if missing:
            if len(self._items) + len(missing) > self.size:
                self._items.clear()
            self._items.update(await self.store.get_announcements(missing))
        return {i: self._items[i] for i in ids if i in self._items}


@dataclass
class WorkerDeps:
    """What every channel worker shares."""

    store: Store
    clock: Clock
    settings: WorkerSettings
    retry: RetryPolicy
    announcements: AnnouncementCache
    on_changes: ChangesHandler
    writes: set[asyncio.Task[object]]
    metrics: Metrics | None = None
    policy: Policy | None = None


class _Slot:
    """One send slot a batch holds, given back once: when its provider calls are done, or
    when its task ends first (cancelled, crashed)."""

    __slots__ = ("_held", "_slots")

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots
        self._held = True

    def free(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()


class ChannelWorker:
    """Sends the deliveries of one channel until told to stop."""

    def __init__(self, channel: Channel, deps: WorkerDeps) -> None:
        self.channel = channel
        self.name = channel.name
        self.deps = deps
        self.wake = asyncio.Event()
        self.urgent_wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.inflight: set[asyncio.Task[None]] = set()
        self.leases: set[str] = set()
        self._slots = asyncio.Semaphore(max(1, channel.concurrency))
        self._urgent_slots = asyncio.Semaphore(max(1, channel.concurrency))
        rate = channel.rate_per_sec
        # A batch takes its tokens at once: the bucket must hold a whole one, or the first
        # send after a start would wait (an emergency included).
        self._pacer = Pacer(rate, burst=None if rate is None else max(rate, channel.max_batch))
        self._stopping = asyncio.Event()
        quiet = deps.policy.quiet_until if deps.policy is not None else None
        self._judge = Judge(
            channel.name,
            channel.repeatable,
            deps.retry,
            deps.clock,
            None if quiet is None else partial(quiet, channel.name),
        )

    def stop(self) -> None:
        """Stop claiming; in-flight batches go on."""
        self._stopping.set()
        self.wake.set()
        self.urgent_wake.set()

    async def run(self) -> None:
        """Claim and send until :meth:`stop`. The next batch is claimed while every slot is
        busy, so it goes out as soon as a slot is free rather than after a claim's wait in
        the store's queue."""
        while not self._stopping.is_set():
            claimed = await self._claim()
            if not claimed:
                await self._wait_for_work()
                continue
            if not await self._wait_for_slot(claimed):
                break
            self._launch(claimed, "send", self._slots)

    async def _wait_for_slot(self, claimed: list[ClaimedDelivery]) -> bool:
        """Take a send slot and ``claimed``'s pacing tokens (as it goes, so a batch that
        waited does not add to a burst). The lease is renewed while it waits. False, with
        ``claimed`` handed back unsent, when the worker stopped meanwhile."""
        self.leases.add(claimed[0].lease_token)
        try:
            await self._slots.acquire()
            try:
                await self._pacer.acquire(len(claimed))
            except asyncio.CancelledError:
                self._slots.release()
                raise
        except asyncio.CancelledError:
            await self._hand_back(claimed)
            raise
        if not self._stopping.is_set():
            return True
        # Stopped while claiming or waiting: shutdown no longer waits for new sends.
        self._slots.release()
        await self._hand_back(claimed)
        return False

    async def run_urgent(self) -> None:
        """The urgent lane: emergency and high-priority deliveries, claimed and sent with
        send slots of their own, so they never wait for a bulk batch to finish; their writes
        go first in the store's queue."""
        with urgent():
            while not self._stopping.is_set():
                self.urgent_wake.clear()
                await self._urgent_slots.acquire()
                claimed = await self._claim(max_rank=Priority.HIGH.rank)
                if claimed:
                    await self._start_urgent(claimed)
                    continue
                self._urgent_slots.release()
                try:
                    async with asyncio.timeout(self.deps.settings.poll_interval):
                        await self.urgent_wake.wait()
                except TimeoutError:
                    pass

    async def _start_urgent(self, claimed: list[ClaimedDelivery]) -> None:
        # Paced like any send, but only for what was claimed: an idle lane takes no tokens
        # from the bulk lane.
        try:
            await self._pacer.acquire(len(claimed))
        except asyncio.CancelledError:
            self._urgent_slots.release()
            await self._hand_back(claimed)
            raise
        if self._stopping.is_set():
            # Stopped while claiming or pacing: shutdown no longer waits for new sends.
            self._urgent_slots.release()
            await self._hand_back(claimed)
            return
        self._launch(claimed, "send-urgent", self._urgent_slots)

    def _launch(self, claimed: list[ClaimedDelivery], kind: str, slots: asyncio.Semaphore) -> None:
        """Send ``claimed`` in a task of its own, holding one of ``slots`` until its calls
        are done (or the task ends), and tracked in :attr:`inflight` until it ends."""
        self.idle.clear()
        slot = _Slot(slots)
        task = asyncio.create_task(
            self._send(claimed, slot), name=f"{kind}:{self.name}:{claimed[0].id}"
        )
        self.inflight.add(task)
        task.add_done_callback(partial(self._done, slot))

    async def _hand_back(self, claimed: list[ClaimedDelivery]) -> None:
        """Queue claims again unsent, their attempt returned, their lease no longer renewed."""
        self.leases.discard(claimed[0].lease_token)
        await self._record([self._judge.released(c) for c in claimed])

    def _done(self, slot: _Slot, task: asyncio.Task[None]) -> None:
        self.inflight.discard(task)
        slot.free()
        if not task.cancelled() and task.exception() is not None:
            log.error("send_batch_crashed", channel=self.name, error=repr(task.exception()))

    async def _claim(self, max_rank: int | None = None) -> list[ClaimedDelivery]:
        deps = self.deps
        claimed, changes = await deps.store.claim(
            self.name,
            limit=self.channel.max_batch,
            now=deps.clock.now(),
            lease_seconds=deps.settings.lease_seconds,
            repeatable=self.channel.repeatable,
            max_rank=max_rank,
        )
        if changes:
            await deps.on_changes(changes)
        return claimed

    async def _wait_for_work(self) -> None:
        if not self.inflight:
            self.idle.set()
        self.wake.clear()
        try:
            async with asyncio.timeout(self.deps.settings.poll_interval):
                await self.wake.wait()
        except TimeoutError:
            pass

    # -- one batch -------------------------------------------------------------------------
    async def _send(self, claimed: list[ClaimedDelivery], slot: _Slot) -> None:
        announcements = sorted({c.announcement_id for c in claimed})
        # Every log line of this batch names its channel, lease and announcement(s).
        with structlog.contextvars.bound_contextvars(
            channel=self.name, lease=claimed[0].lease_token, announcement_id=",".join(announcements)
        ):
            await self._send_batch(claimed, slot)

    async def _send_batch(self, claimed: list[ClaimedDelivery], slot: _Slot) -> None:
        token = claimed[0].lease_token
        self.leases.add(token)
        try:
            outcomes = await self._attempt(claimed)
        except asyncio.CancelledError:
            await self._record([self._judge.aborted(c) for c in claimed])
            raise
        finally:
            self.leases.discard(token)
        # The calls are done: the next batch may claim and send while these are written.
        slot.free()
        await self._record(outcomes)

    async def _record(self, outcomes: list[Outcome]) -> None:
        deps = self.deps
        # Shielded and tracked: a cancelled batch still writes what happened, and shutdown
        # waits for these writes before it closes the store.
        write = asyncio.ensure_future(deps.store.record_outcomes(outcomes, deps.clock.now()))
        deps.writes.add(write)
        write.add_done_callback(deps.writes.discard)
        changes = await asyncio.shield(write)
        attempts = [o.attempt for o in outcomes if o.attempt is not None]
        if deps.metrics is not None:
            deps.metrics.batch(
                self.name,
                [
                    (a.outcome.value, None if a.latency_ms is None else a.latency_ms / 1000)
                    for a in attempts
                ],
            )
        # Asked once a batch: a line per delivery costs even when the level filters it out.
        detailed = log.is_enabled_for(logging.DEBUG)
        for o in outcomes:
            if detailed and o.attempt is not None:
                log.debug(
                    "delivery_attempted",
                    channel=self.name,
                    delivery_id=o.delivery_id,
                    attempt=o.attempt.number,
                    outcome=o.attempt.outcome.value,
                    status=o.status.value,
                )
        if changes:
            await deps.on_changes(changes)

    async def _attempt(self, claimed: list[ClaimedDelivery]) -> list[Outcome]:
        deps = self.deps
        announcements = await deps.announcements.get_many([c.announcement_id for c in claimed])
        # Contacts are loaded only for texts that name them.
        personal = {i for i, a in announcements.items() if uses_contact(a, self.name)}
        contact_ids = [
            c.contact_id for c in claimed if c.contact_id and c.announcement_id in personal
        ]
        contacts = await deps.store.get_contacts(contact_ids) if contact_ids else {}
        now = deps.clock.now()
        outcomes: dict[str, Outcome] = {}
        ready: list[tuple[ClaimedDelivery, Announcement, OutboundMessage]] = []
        # A text that names no contact is rendered and inspected once a batch, not once a
        # recipient.
        texts: dict[str, Rendered] = {}
        inspected: dict[str, list[str]] = {}
        for n, c in enumerate(claimed, start=1):
            if n % 100 == 0:
                await asyncio.sleep(0)  # let an emergency's steps run between our renders
            ann = announcements.get(c.announcement_id)
            early = self._judge.before_send(c, ann)
            if early is not None:
                outcomes[c.id] = early
                continue
            assert ann is not None
            try:
                message = self._message(c, ann, contacts.get(c.contact_id or ""), texts, personal)
            except RenderError as exc:
                outcomes[c.id] = self._judge.judge(
                    c,
                    ann,
                    Failed(f"the text cannot be rendered: {exc}", code="template"),
                    now,
                    None,
                )
                continue
            problems = inspected.get(ann.id) if ann.id not in personal else None
            if problems is None:
                problems = self.channel.inspect(message).problems
                if ann.id not in personal:
                    inspected[ann.id] = problems
            if problems:
                failed = Failed("; ".join(problems), code="refused_by_channel")
                outcomes[c.id] = self._judge.judge(c, ann, failed, now, None)
                continue
            ready.append((c, ann, message))
        ready = await self._drop_stopped(ready, outcomes)
        if ready:
            started = deps.clock.now()
            results, latency = await self._call([m for _, _, m in ready])
            for (c, ann, _), result in zip(ready, results, strict=True):
                outcomes[c.id] = self._judge.judge(c, ann, result, started, latency)
        return [outcomes[c.id] for c in claimed]

    async def _drop_stopped(
        self,
        ready: list[tuple[ClaimedDelivery, Announcement, OutboundMessage]],
        outcomes: dict[str, Outcome],
    ) -> list[tuple[ClaimedDelivery, Announcement, OutboundMessage]]:
        """Leave out deliveries whose announcement was cancelled after they were claimed."""
        if not ready:
            return ready
        statuses = await self.deps.store.announcement_statuses(
            sorted({c.announcement_id for c, _, _ in ready})
        )
        keep = []
        for item in ready:
            c = item[0]
            if statuses.get(c.announcement_id) is AnnouncementStatus.CANCELLED:
                outcomes[c.id] = Outcome(
                    c.id,
                    c.lease_token,
                    DeliveryStatus.CANCELLED,
                    None,
                    reason="announcement cancelled",
                )
            else:
                keep.append(item)
        return keep

    def _message(
        self,
        c: ClaimedDelivery,
        ann: Announcement,
        contact: Contact | None,
        texts: dict[str, Rendered],
        personal: set[str],
    ) -> OutboundMessage:
        public_url = self.channel.ctx.public_url
        text = None
        if ann.id not in personal:
            text = texts.get(ann.id)
            if text is None:
                text = texts[ann.id] = render_for(ann, self.name, None, ann.id, public_url)
        return outbound_message(
            ann,
            self.name,
            person(contact),
            delivery_id=c.id,
            announcement_id=c.announcement_id,
            address=c.address,
            attempt=c.attempt,
            contact_id=c.contact_id,
            public_url=public_url,
            text=text,
        )

    async def _call(
        self, messages: list[OutboundMessage]
    ) -> tuple[list[SendResult | Unknown], float]:
        """Call the channel once; a whole-batch error becomes the same result for each."""
        t0 = time.perf_counter()
        results: list[SendResult | Unknown]
        try:
            async with asyncio.timeout(self.deps.settings.send_timeout):
                answer = await self.channel.send(messages)
            if len(answer) != len(messages):
                raise TransientDeliveryError(
                    f"channel {self.name} answered {len(answer)} results for {len(messages)} "
                    "messages",
                    channel=self.name,
                )
            results = list(answer)
        except RateLimitedError as exc:
            results = [RetryLater(str(exc), after=exc.retry_after, code=exc.code)] * len(messages)
        except TimeoutError as exc:
            reason = str(exc) or f"no answer within {self.deps.settings.send_timeout:g} s"
            results = [Unknown(reason)] * len(messages)
        except TransientDeliveryError as exc:
            results = [RetryLater(str(exc), code=exc.code)] * len(messages)
        except PermanentDeliveryError as exc:
            results = [Failed(str(exc), code=exc.code)] * len(messages)
        except Exception as exc:  # a plugin bug must not lose the batch: retry it later
            log.exception("channel_send_crashed", channel=self.name)
            results = [
                RetryLater(f"the {self.name} channel failed: {type(exc).__name__}: {exc}")
            ] * len(messages)
        return results, (time.perf_counter() - t0) * 1000
