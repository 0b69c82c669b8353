"""Webhooks and status callbacks reach only the addresses ``[outbound]`` allows
(``dispatcher/outbound.py``): public ones by default, not the loopback receivers here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
from web_helpers import Receiver, Web

from dispatcher import OutboundGuard
from plugins.web.channel import WebChannel
from plugins.web.http import post
from plugins.web.subscriptions import SubscriptionIn
from schemas import DeliveryStatus

WebFactory = Callable[..., Awaitable[Web]]
ReceiverFactory = Callable[..., Awaitable[Receiver]]
PUBLIC_ONLY = {"allowed_networks": []}


async def test_subscribing_a_private_address_is_refused_naming_the_setting(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory(outbound=PUBLIC_ONLY)
    receiver = await receiver_factory()
    response = await web.client.post(
        "/v1/web/subscriptions", json={"url": receiver.url}, headers=web.auth
    )
    body = await response.json()
    assert 422 == response.status
    assert ["url"] == body["errors"][0]["loc"]
    assert "127.0.0.1 is not a public address" in body["detail"]
    assert "[outbound] allowed_networks" in body["detail"]
    listed = await web.client.get("/v1/web/subscriptions", headers=web.auth)
    assert [] == (await listed.json())["items"]


async def test_a_stored_subscription_to_a_private_address_fails_at_once_unreached(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    """A subscription made before its address was refused (an upgrade, a narrowed
    allow-list) is not called: its deliveries fail without retries."""
    web = await web_factory(outbound=PUBLIC_ONLY)
    receiver = await receiver_factory()
    channel = web.engine.channels["web"]
    assert isinstance(channel, WebChannel) and channel.subscriptions is not None
    await channel.subscriptions.create(SubscriptionIn(url=receiver.url))
    announcement = await web.announce()
    [delivery] = await web.deliveries(announcement.id)
    assert (DeliveryStatus.FAILED, 1) == (delivery.status, len(delivery.attempts))
    assert delivery.reason is not None and "[outbound] allowed_networks" in delivery.reason
    assert [] == receiver.received


async def test_a_refused_post_is_not_worth_trying_again(receiver_factory: ReceiverFactory) -> None:
    """What status callbacks and webhooks both go through."""
    receiver = await receiver_factory()
    async with aiohttp.ClientSession(connector=OutboundGuard().connector()) as session:
        answer = await post(session, receiver.url, b"{}", {}, timeout=2, now=datetime.now(UTC))
    assert (None, True, False) == (answer.status, answer.refused, answer.transient)
    assert answer.reason.startswith("127.0.0.1: the address is not public")
    assert [] == receiver.received
