"""Status callbacks: an announcement posted with a callback URL has its moves (and, if
asked, its deliveries' final states) posted there, signed, in order, retried."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from standardwebhooks import Webhook
from web_helpers import Receiver, Web

from dispatcher import StatusChange
from plugins.web.channel import WebChannel
from schemas import DeliveryStatus

WebFactory = Callable[..., Awaitable[Web]]
ReceiverFactory = Callable[..., Awaitable[Receiver]]


def channel(web: Web) -> WebChannel:
    found = web.engine.channels["web"]
    assert isinstance(found, WebChannel)
    return found


async def test_moves_and_final_deliveries_are_posted_signed_and_in_order(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    portal = await receiver_factory()
    callback = await receiver_factory()
    await web.subscribe(portal.url)
    announcement = await web.announce(
        external_ref="HS-2026-17", callback={"url": callback.url, "deliveries": True}
    )

    got = await callback.wait_for(3)
    secret = channel(web).signing_secrets()[0]
    events = [Webhook(secret).verify(r.body, r.headers) for r in got]
    [delivery] = await web.deliveries(announcement.id)
    assert [
        "announcement.released",
        "deliveries.finished",
        "announcement.completed",
    ] == [e["type"] for e in events]
    released, finished, completed = (e["data"] for e in events)
    assert ("released", "HS-2026-17") == (released["status"], released["external_ref"])
    assert [{"id": delivery.id, "status": "delivered", "channel": "web"}] == [
        {k: d[k] for k in ("id", "status", "channel")} for d in finished["deliveries"]
    ]
    assert {"web": {"delivered": 1}} == completed["counts"]
    assert f"{announcement.id}.completed" == got[2].headers["webhook-id"]


async def test_without_deliveries_only_the_announcement_moves_are_posted(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    portal = await receiver_factory()
    callback = await receiver_factory()
    await web.subscribe(portal.url)
    announcement = await web.announce(callback={"url": callback.url})
    got = await callback.wait_for(2)
    await channel(web).flush()
    assert ["delivered"] == [d.status.value for d in await web.deliveries(announcement.id)]
    assert ["announcement.released", "announcement.completed"] == [r.json()["type"] for r in got]


async def test_a_failed_callback_is_retried_later_and_holds_back_the_next(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory(callback_retry_initial=30)
    callback = await receiver_factory([500, 200])
    announcement = await web.announce(callback={"url": callback.url})
    outbox = channel(web).callbacks
    assert outbox is not None
    await outbox.drain()  # not due yet: nothing goes
    assert ["announcement.released"] == [r.json()["type"] for r in callback.received]

    web.clock.advance(40)
    await outbox.drain()

    got = await callback.wait_for(3)
    assert [
        f"{announcement.id}.released",
        f"{announcement.id}.released",
        f"{announcement.id}.completed",
    ] == [r.headers["webhook-id"] for r in got]


async def test_subscribers_that_got_an_announcement_are_told_of_its_cancellation(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    portal = await receiver_factory()
    elsewhere = await receiver_factory()
    sub_id, secret = await web.subscribe(portal.url, filters={"areas": ["79"]})
    await web.subscribe(elsewhere.url, filters={"areas": ["01"]})  # never got it
    announcement = await web.announce()
    [released] = await portal.wait_for(1)

    await web.engine.services.cancel_announcement(announcement.id)
    await channel(web).flush()

    got = await portal.wait_for(2)
    cancelled = Webhook(secret).verify(got[1].body, got[1].headers)  # its own secret
    assert ("announcement.released", "announcement.cancelled") == (
        released.json()["type"],
        cancelled["type"],
    )
    assert (announcement.id, "cancelled") == (cancelled["data"]["id"], cancelled["data"]["status"])
    assert f"{announcement.id}.cancelled.{sub_id}" == got[1].headers["webhook-id"]
    assert [] == elsewhere.received


async def test_a_subscriber_reached_while_the_cancellation_is_told_is_told_too(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    """The announcement is on its way to the portal (the POST is out, the answer not back)
    when it is cancelled: the portal gets it, then its cancellation."""
    web = await web_factory()
    portal = await receiver_factory()
    portal.hold = asyncio.Event()
    sub_id, _ = await web.subscribe(portal.url)
    sending = asyncio.create_task(web.announce())
    [in_flight] = await portal.wait_for(1)
    announcement_id = in_flight.json()["data"]["id"]

    await web.engine.services.cancel_announcement(announcement_id)
    await channel(web).flush()
    assert 1 == len(portal.received), "told before the announcement arrived"
    portal.hold.set()
    await sending
    await channel(web).flush()

    got = await portal.wait_for(2)
    [delivery] = await web.deliveries(announcement_id)
    assert DeliveryStatus.DELIVERED == delivery.status
    assert ["announcement.released", "announcement.cancelled"] == [r.json()["type"] for r in got]
    assert f"{announcement_id}.cancelled.{sub_id}" == got[1].headers["webhook-id"]


async def test_a_late_subscriber_is_told_of_the_cancellation_once_whatever_comes_after(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    """The delivery's receipt (``delivered``) comes after its ``sent``, and after the
    cancellation was posted and left the queue: it must not queue the cancellation again."""
    web = await web_factory()
    portal = await receiver_factory()
    portal.hold = asyncio.Event()
    await web.subscribe(portal.url)
    sending = asyncio.create_task(web.announce())
    [in_flight] = await portal.wait_for(1)
    announcement_id = in_flight.json()["data"]["id"]
    await web.engine.services.cancel_announcement(announcement_id)
    portal.hold.set()
    await sending
    await channel(web).flush()
    await portal.wait_for(2)
    [delivery] = await web.deliveries(announcement_id)

    outbox = channel(web).callbacks
    assert outbox is not None
    await outbox.deliveries_changed(
        [StatusChange(delivery.id, announcement_id, "web", DeliveryStatus.DELIVERED)]
    )
    await channel(web).flush()
    assert ["announcement.released", "announcement.cancelled"] == [
        r.json()["type"] for r in portal.received
    ]
