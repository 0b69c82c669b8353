"""Status callbacks: signed POSTs to the ``callback.url`` an announcement carries; and the
``announcement.cancelled`` event to every subscription that was sent the announcement.

The observer hooks only queue: each event is a document ``cb:<event id>`` in the web
channel's plugin state (so it survives a restart), with the exact body to send. A task
started with the channel drains the queue under a store lease (one process at a time),
oldest first; a failure (5xx, 429, no answer) waits with exponential backoff and holds
back the later events of the same announcement to the same receiver, so each receiver sees
them in order. Other answers settle the event. After ``callback_attempts`` tries it is given
up and logged.

The event id (``webhook-id``) is stable: ``<announcement id>.<event>`` for the
announcement's own moves, ``<announcement id>.d.<digest>`` for a batch of deliveries,
``<announcement id>.cancelled.<subscription id>`` for a subscriber told of a cancellation
(signed with that subscription's secrets, sent to its URL as it is when posted; dropped if
the subscription is gone or disabled by then).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import random
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from dispatcher import DeliveryStatus, LeaseTimeoutError, PluginState, StatusChange
from plugins.web.events import (
    DELIVERIES_EVENT,
    STATUS_EVENT,
    cancellation_data,
    deliveries_data,
    encode,
    status_data,
)
from plugins.web.http import post
from plugins.web.signing import signed_headers
from plugins.web.subscriptions import is_subscription_id
from schemas import Announcement, AnnouncementStatus

if TYPE_CHECKING:
    from dispatcher import AnnouncementChange, Store
    from plugins.web.channel import WebChannel

log = structlog.get_logger(__name__)

PREFIX = "cb:"
FINAL = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.FAILED,
        DeliveryStatus.SUPPRESSED,
        DeliveryStatus.CANCELLED,
        DeliveryStatus.EXPIRED,
    }
)
_RANK = {"announcement.released": 0, DELIVERIES_EVENT: 1}  # the announcement's end: 2
# A subscription was sent the announcement when its delivery got this far.
_REACHED = frozenset({DeliveryStatus.SENT, DeliveryStatus.DELIVERED})
_PASS = 100  # events per drain pass, so one pass stays well inside its lease
_CACHE = 2048
_seq = itertools.count()


class CallbackOutbox:
    """The queue of status callbacks of one web channel."""

    def __init__(self, channel: WebChannel) -> None:
        assert channel.ctx.state is not None
        self.channel = channel
        self.state: PluginState = channel.ctx.state
        self.settings = channel.settings
        self._known: OrderedDict[str, Announcement | None] = OrderedDict()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random()

    # -- queueing --------------------------------------------------------------------------
    async def announcements_changed(self, changes: Sequence[AnnouncementChange]) -> None:
        """Queue a callback for each move of an announcement that asked for them, and tell
        the subscribers of a cancelled announcement."""
        for change in changes:
            if change.status is AnnouncementStatus.CANCELLED:
                await self._tell_subscribers(change)
        wanted = [c for c in changes if c.status in STATUS_EVENT]
        found = await self._with_callback([c.announcement_id for c in wanted])
        for change in wanted:
            announcement = found.get(change.announcement_id)
            if announcement is None or announcement.callback is None:
                continue
            url = str(announcement.callback.url)
            if change.status is not AnnouncementStatus.FANNING_OUT:
                # The end of an announcement reports its counts.
                announcement = await self._store().get_announcement(announcement.id)
            event = STATUS_EVENT[change.status]
            data = status_data(announcement, change.status, change.at)
            msg_id = f"{announcement.id}.{event.rsplit('.', 1)[1]}"
            await self._enqueue(announcement.id, url, msg_id, event, change.at, data)

    async def _tell_subscribers(self, change: AnnouncementChange) -> None:
        """``announcement.cancelled`` to each subscription the announcement went to (those
        still waiting for it were cancelled with it and never see it; those it was on its
        way to are told when it arrives, by :meth:`_tell_late_subscribers`)."""
        for sub_id in await self._reached_subscriptions(change.announcement_id):
            await self._tell_cancelled(change.announcement_id, sub_id, change.at)

    async def _tell_late_subscribers(self, changes: Sequence[StatusChange]) -> None:
        """``announcement.cancelled`` to subscriptions an announcement reached after it was
        cancelled: their delivery was in flight then, so the cancellation missed them."""
        # Its 'sent' only: the store reports every delivery's 'sent' before its 'delivered'
        # (an early receipt in the same batch, after it), and the cancellation, once posted,
        # leaves the queue: the receipt would queue it again.
        reached = [
            c for c in changes if c.channel == self.channel.name and c.status is DeliveryStatus.SENT
        ]
        if not reached or self.channel.subscriptions is None:
            return
        store = self._store()
        # Read now, not from the cache: the status is what matters and it has moved.
        found = await store.get_announcements(list({c.announcement_id for c in reached}))
        for change in reached:
            announcement = found.get(change.announcement_id)
            if announcement is None or announcement.status is not AnnouncementStatus.CANCELLED:
                continue
            address = (await store.get_delivery(change.delivery_id)).address
            if is_subscription_id(address):
                at = announcement.finished_at or self.channel.ctx.clock.now()
                await self._tell_cancelled(announcement.id, address, at)

    async def _tell_cancelled(self, announcement_id: str, sub_id: str, at: datetime) -> None:
        """Queue ``announcement.cancelled`` for one subscription, once (the message id is the
        same whichever way it is found)."""
        subscriptions = self.channel.subscriptions
        sub = None if subscriptions is None else await subscriptions.get(sub_id)
        if sub is None or not sub.active:
            return
        event = STATUS_EVENT[AnnouncementStatus.CANCELLED]
        data = cancellation_data(announcement_id, at, self.channel.ctx.public_url)
        msg_id = f"{announcement_id}.cancelled.{sub_id}"
        await self._enqueue(announcement_id, sub.url, msg_id, event, at, data, sub_id)

    async def _reached_subscriptions(self, announcement_id: str) -> list[str]:
        store, found, after = self._store(), [], None
        while True:
            page = await store.list_deliveries(
                announcement_id, status=None, channel=self.channel.name, after=after, limit=1000
            )
            found += [
                d.address
                for d in page.items
                if d.status in _REACHED and is_subscription_id(d.address)
            ]
            if page.next_cursor is None:
                return found
            after = page.next_cursor

    async def deliveries_changed(self, changes: Sequence[StatusChange]) -> None:
        """Queue one callback per announcement for its deliveries that reached a final
        state, when it asked for deliveries; tell subscribers reached after a cancellation."""
        await self._tell_late_subscribers(changes)
        final = [c for c in changes if c.status in FINAL and not c.overdue]
        found = await self._with_callback([c.announcement_id for c in final])
        now = self.channel.ctx.clock.now()
        for announcement_id, announcement in found.items():
            if announcement is None or announcement.callback is None:
                continue
            if not announcement.callback.deliveries:
                continue
            mine = [c for c in final if c.announcement_id == announcement_id]
            digest = hashlib.sha256(
                "|".join(f"{c.delivery_id}:{c.status}" for c in mine).encode()
            ).hexdigest()[:16]
            data = deliveries_data(announcement, mine)
            url = str(announcement.callback.url)
            msg_id = f"{announcement_id}.d.{digest}"
            await self._enqueue(announcement_id, url, msg_id, DELIVERIES_EVENT, now, data)

    async def _with_callback(self, ids: Sequence[str]) -> dict[str, Announcement | None]:
        """The announcements of ``ids`` this channel's store holds (cached: the callback of
        an announcement never changes)."""
        missing = [i for i in dict.fromkeys(ids) if i not in self._known]
        if missing:
            found = await self._store().get_announcements(missing)
            for announcement_id in missing:
                self._known[announcement_id] = found.get(announcement_id)
            while len(self._known) > _CACHE:
                self._known.popitem(last=False)
        return {i: self._known.get(i) for i in dict.fromkeys(ids)}

    async def _enqueue(
        self,
        announcement_id: str,
        url: str,
        msg_id: str,
        event: str,
        at: datetime,
        data: dict[str, Any],
        subscription: str | None = None,
    ) -> None:
        now = self.channel.ctx.clock.now()
        doc = {
            "msg_id": msg_id,
            "url": url,
            "subscription": subscription,
            "announcement_id": announcement_id,
            "type": event,
            "body": encode(event, at, data).decode(),
            "attempts": 0,
            "enqueued_at": now.isoformat(),
            "due_at": now.isoformat(),
            "rank": _RANK.get(event, 2),
            "seq": next(_seq),
        }
        # Version 0: a second dispatcher on the same store queues the same event once only.
        if await self.state.put(PREFIX + msg_id, doc, expect_version=0) is not None:
            self._wake.set()

    def _store(self) -> Store:
        store = self.channel.ctx.store
        assert store is not None
        return store

    # -- sending ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the task that drains the queue."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.channel.name}-callbacks")

    async def aclose(self) -> None:
        """Stop the task (an event being posted is posted again later)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception as exc:  # the store is busy or gone: try at the next pass
                log.warning("web_callbacks_drain_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.callback_poll):
                    await self._wake.wait()

    async def drain(self) -> int:
        """Post every due callback once; returns how many were settled."""
        async with self._lock:
            try:
                async with self.state.lease("callbacks", ttl=300.0, wait=0.0):
                    return await self._drain()
            except LeaseTimeoutError:
                return 0  # another process is draining

    async def _drain(self) -> int:
        now = self.channel.ctx.clock.now()
        entries = [e async for e in self.state.items(PREFIX)]
        entries.sort(key=lambda e: (e.value["enqueued_at"], e.value["rank"], e.value["seq"]))
        # Order is kept per announcement and receiver: one failing receiver holds back its
        # own later events only.
        held: set[tuple[str, str]] = set()
        settled = 0
        for entry in entries[:_PASS]:
            doc = entry.value
            line = (doc["announcement_id"], doc["url"])
            if line in held:
                continue
            if datetime.fromisoformat(doc["due_at"]) > now:
                held.add(line)
                continue
            if await self._attempt(entry.key, doc, now):
                settled += 1
            else:
                held.add(line)
        return settled

    async def _attempt(self, key: str, doc: dict[str, Any], now: datetime) -> bool:
        body = doc["body"].encode()
        url, secrets = doc["url"], self.channel.signing_secrets()
        if doc.get("subscription"):
            subscriptions = self.channel.subscriptions
            sub = await subscriptions.get(doc["subscription"]) if subscriptions else None
            if sub is None or not sub.active:
                await self.state.delete(key)
                log.info("web_event_dropped", callback=doc["msg_id"], reason="no subscription")
                return True
            url, secrets = sub.url, sub.signing_secrets(now)
        headers = signed_headers(doc["msg_id"], now, body, secrets)
        answer = await post(
            self.channel.session, url, body, headers, timeout=self.settings.timeout, now=now
        )
        attempts = doc["attempts"] + 1
        bound = {"callback": doc["msg_id"], "attempt": attempts, "status": answer.status}
        if answer.ok or not answer.transient:
            await self.state.delete(key)
            event = "web_callback_sent" if answer.ok else "web_callback_refused"
            log.info(event, **bound, reason=None if answer.ok else answer.reason)
            return True
        if attempts >= self.settings.callback_attempts:
            await self.state.delete(key)
            log.warning("web_callback_given_up", **bound, reason=answer.reason)
            return True
        wait = self.delay(attempts, answer.retry_after)
        doc.update(
            attempts=attempts,
            due_at=(now + timedelta(seconds=wait)).isoformat(),
            last_error=answer.reason,
        )
        await self.state.put(key, doc)
        log.info("web_callback_retry", **bound, wait=round(wait, 1), reason=answer.reason)
        return False

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before try ``attempt + 1``: doubling from the first wait, capped, ±10 %,
        never shorter than the receiver's ``Retry-After``."""
        base = min(
            self.settings.callback_retry_initial * 2.0 ** (attempt - 1),
            self.settings.callback_retry_max,
        )
        wait = base * (1 + self._rng.uniform(-0.1, 0.1))
        return max(wait, retry_after or 0.0)
