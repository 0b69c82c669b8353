"""The web channel: signed webhooks to subscriptions (and to URLs an announcement names).

A delivery's address is a subscription id (``sub_…``, found by :meth:`recipients`) or a
webhook URL written in ``audience.addresses.web``. Subscriptions are POSTed over HTTP and
signed with their own secrets; URLs go to the sandbox unless ``transport = "http"``, and
are signed with the channel's signing secrets. The HTTP answer is the receipt: a 2xx makes
the delivery ``delivered`` at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import aiohttp
import structlog

from dispatcher import (
    Accepted,
    Channel,
    ChannelContext,
    ConfigError,
    DeliveryStatus,
    Failed,
    InvalidAddressError,
    OutboundMessage,
    ReceiptIn,
    RetryLater,
    SandboxTransport,
    SendResult,
    StatusChange,
    timed,
)
from plugins.web.callbacks import CallbackOutbox
from plugins.web.events import announcement_data, encode
from plugins.web.http import USER_AGENT, PostAnswer, post
from plugins.web.keys import signing_secrets
from plugins.web.links import page_url
from plugins.web.settings import WebSettings
from plugins.web.signing import signed_headers
from plugins.web.subscriptions import Subscription, Subscriptions, is_subscription_id
from plugins.web.updates import UpdateIndex
from plugins.web.urls import normalize_webhook_url
from schemas import Announcement, AnnouncementStatus

if TYPE_CHECKING:
    from dispatcher import AnnouncementChange

log = structlog.get_logger(__name__)

RELEASED = "announcement.released"
_RUNNING: list[WebChannel] = []


def running_channels() -> tuple[WebChannel, ...]:
    """Web channels started and not yet closed in this process (the observer hooks are
    module functions and reach their channel through this)."""
    return tuple(_RUNNING)


class WebChannel(Channel):
    """Announcements POSTed, signed, to other systems' webhook endpoints."""

    max_batch = 20
    max_length = None
    repeatable = True  # receivers de-duplicate on webhook-id, the delivery id
    concurrency = 8
    reaches_contacts = False

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, WebSettings):
            raise ConfigError(
                f"channel {ctx.name!r} needs WebSettings, not {type(ctx.settings).__name__}"
            )
        self.settings: WebSettings = ctx.settings
        self._sandbox = SandboxTransport(ctx, self.settings.sandbox)
        self._session: aiohttp.ClientSession | None = None
        self.subscriptions = None if ctx.state is None else Subscriptions(ctx.state)
        self.updates = None if ctx.state is None else UpdateIndex(ctx.state)
        self.callbacks = None if ctx.state is None else CallbackOutbox(self)

    @property
    def simulated(self) -> bool:
        """Subscriptions are always real, so the audience rules treat the channel as real."""
        return False

    @property
    def session(self) -> aiohttp.ClientSession:
        """The channel's one HTTP session (made at :meth:`start`)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT}, connector=self.ctx.outbound.connector()
            )
        return self._session

    def signing_secrets(self) -> list[str]:
        """Secrets for status callbacks and webhooks to URLs named in an announcement."""
        return signing_secrets(self.settings, self.ctx.data_dir)

    def normalize_address(self, address: str) -> str:
        """A subscription id as it is; a webhook URL normalised."""
        text = address.strip()
        if is_subscription_id(text):
            return text
        url = normalize_webhook_url(text)
        if (problem := self.ctx.outbound.url_problem(url)) is not None:
            raise InvalidAddressError(problem)
        return url

    async def start(self) -> None:
        """Open the HTTP session, the sandbox and the callback outbox."""
        await self._sandbox.start()
        _ = self.session
        if self.callbacks is not None:
            self.callbacks.start()
        _RUNNING.append(self)

    async def recipients(self, announcement: Announcement, areas: frozenset[str]) -> list[str]:
        """Ids of the active subscriptions whose filters match ``announcement``."""
        if self.subscriptions is None or self.ctx.store is None or not announcement.public:
            return []
        reach = set(areas)
        for code in announcement.audience.areas:
            reach.update(await self.ctx.store.area_lineage(code))
        subs = await self.subscriptions.all()
        return [sub.id for sub in subs if sub.matches(announcement, reach)]

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """POST each message (sandbox for bare URLs by default); one result each, in order."""
        results: dict[str, SendResult] = {}
        sandboxed = [
            m
            for m in batch
            if self.settings.transport == "sandbox" and not is_subscription_id(m.address)
        ]
        if sandboxed:
            done = await self._sandbox.send(sandboxed)
            results.update(zip((m.delivery_id for m in sandboxed), done, strict=True))
        posted = [m for m in batch if m.delivery_id not in results]
        if posted:
            results.update(await self._post_all(posted))
        return [results[m.delivery_id] for m in batch]

    async def _post_all(self, batch: Sequence[OutboundMessage]) -> dict[str, SendResult]:
        store = self.ctx.store
        found = await store.get_announcements([m.announcement_id for m in batch]) if store else {}
        async with asyncio.TaskGroup() as group:
            tasks = {
                m.delivery_id: group.create_task(self._post_one(m, found.get(m.announcement_id)))
                for m in batch
            }
        results = {delivery_id: task.result() for delivery_id, task in tasks.items()}
        now = self.ctx.clock.now()
        receipts = [
            ReceiptIn(
                channel=self.name,
                provider_id=result.provider_id,
                status=DeliveryStatus.DELIVERED,
                occurred_at=now,
                provider_code=result.provider_code,
            )
            for result in results.values()
            if isinstance(result, Accepted) and result.provider_id
        ]
        if receipts:
            await self.ctx.receipts.submit(receipts)
        return results

    async def _post_one(
        self, message: OutboundMessage, announcement: Announcement | None
    ) -> SendResult:
        now = self.ctx.clock.now()
        sub: Subscription | None = None
        if is_subscription_id(message.address):
            sub = await self.subscriptions.get(message.address) if self.subscriptions else None
            if sub is None:
                return Failed(f"subscription {message.address} no longer exists", code="gone")
            if not sub.active:
                reason = sub.disabled_reason or "disabled by an admin"
                return Failed(f"subscription {sub.id} is disabled: {reason}", code="disabled")
        url = sub.url if sub else message.address
        secrets = sub.signing_secrets(now) if sub else self.signing_secrets()
        body = self._event(message, announcement)
        headers = signed_headers(message.delivery_id, now, body, secrets)
        started = time.perf_counter()
        answer = await post(
            self.session, url, body, headers, timeout=self.settings.timeout, now=now
        )
        # This receiver's own time: a send posts to every subscriber at once.
        result = timed(_result(answer, message.delivery_id), started)
        if answer.gone and sub is not None:
            await self._disable(sub, answer)
        return result

    def _event(self, message: OutboundMessage, announcement: Announcement | None) -> bytes:
        public_url = self.ctx.public_url
        if announcement is None:  # only when built without a store (previews, contract tests)
            data = {
                "id": message.announcement_id,
                "title": message.title,
                "body": message.body,
                "priority": message.priority.value,
                "test": message.test,
                "url": page_url(public_url, message.announcement_id),
            }
            return encode(RELEASED, self.ctx.clock.now(), data)
        data = announcement_data(announcement, public_url, title=message.title, body=message.body)
        # The release time, not the attempt's: a retry sends the very same bytes.
        return encode(RELEASED, announcement.released_at or announcement.created_at, data)

    async def _disable(self, sub: Subscription, answer: PostAnswer) -> None:
        assert self.subscriptions is not None
        reason = f"the receiver answered 410 Gone at {self.ctx.clock.now().isoformat()}"
        await self.subscriptions.set_active(sub.id, False, reason)
        log.warning("web_subscription_disabled", subscription=sub.id, status=answer.status)

    async def announcements_changed(self, changes: Sequence[AnnouncementChange]) -> None:
        """Index updates at their release, and queue status callbacks."""
        released = [
            c.announcement_id for c in changes if c.status is AnnouncementStatus.FANNING_OUT
        ]
        if released and self.updates is not None and self.ctx.store is not None:
            found = await self.ctx.store.get_announcements(released)
            for announcement in found.values():
                if announcement.updates:
                    await self.updates.add(announcement.updates, announcement.id)
        if self.callbacks is not None:
            await self.callbacks.announcements_changed(changes)

    async def deliveries_changed(self, changes: Sequence[StatusChange]) -> None:
        """Queue status callbacks of deliveries that reached a final state."""
        if self.callbacks is not None:
            await self.callbacks.deliveries_changed(changes)

    async def flush(self) -> None:
        """Hand over simulated receipts and post the status callbacks that are due."""
        await self._sandbox.flush()
        if self.callbacks is not None:
            await self.callbacks.drain()

    async def aclose(self) -> None:
        """Stop the outbox, close the session and the sandbox; safe to call twice."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.callbacks is not None:
            await self.callbacks.aclose()
        if self._session is not None:
            await self._session.close()
        await self._sandbox.aclose()


def _result(answer: PostAnswer, delivery_id: str) -> SendResult:
    code = None if answer.status is None else str(answer.status)
    if answer.ok:
        return Accepted(provider_id=f"wh-{delivery_id}", provider_code=code)
    if answer.gone:
        return Failed(f"{answer.reason}: the subscription is disabled", code=code)
    if answer.transient:
        return RetryLater(
            answer.reason, after=answer.retry_after, code=code, unknown=answer.timed_out
        )
    return Failed(answer.reason, code=code)
