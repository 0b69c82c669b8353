"""Subscribed systems get each matching announcement as a signed event, retried with
growing waits; a 410 disables the subscription. The real web plugin, a FakeClock, and
receivers on 127.0.0.1."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta

from standardwebhooks import Webhook
from web_helpers import PUBLIC_URL, Receiver, Web

from schemas import AttemptOutcome, DeliveryStatus

WebFactory = Callable[..., Awaitable[Web]]
ReceiverFactory = Callable[..., Awaitable[Receiver]]


async def test_a_subscriber_gets_the_announcement_signed_and_it_is_delivered(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory()
    sub_id, secret = await web.subscribe(receiver.url, filters={"areas": ["79"]})

    announcement = await web.announce(tags=["triều cường"])

    [got] = await receiver.wait_for(1)
    event = Webhook(secret).verify(got.body, got.headers)
    [delivery] = await web.deliveries(announcement.id)
    assert delivery.id == got.headers["webhook-id"]
    assert "announcement.released" == event["type"]
    data = event["data"]
    assert {
        "id": announcement.id,
        "title": "Cảnh báo triều cường",
        "issuer": "UBND Thành phố Hồ Chí Minh",
        "tags": ["triều cường"],
        "areas": ["79"],
        "priority": "normal",
    } == {k: data[k] for k in ("id", "title", "issuer", "tags", "areas", "priority")}
    assert data["url"].startswith(f"{PUBLIC_URL}/a/")
    assert (sub_id, DeliveryStatus.DELIVERED) == (delivery.address, delivery.status)


async def test_a_failing_subscriber_is_retried_with_growing_waits_until_it_answers(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory([500, 500, 200])
    _, secret = await web.subscribe(receiver.url)
    announcement = await web.announce()
    [delivery] = await web.deliveries(announcement.id)
    for _ in range(2):
        due = delivery.attempts[-1].retry_at
        assert due is not None
        web.clock.set(due - timedelta(seconds=1))
        await web.engine.run(until_idle=True)
        assert len(delivery.attempts) == len(receiver.received), "retried before its time"
        web.clock.set(due)
        await web.engine.run(until_idle=True)
        [delivery] = await web.deliveries(announcement.id)

    got = await receiver.wait_for(3)
    assert 3 == len(got)
    assert 1 == len({r.headers["webhook-id"] for r in got}), "the id changed between tries"
    for request in got:
        Webhook(secret).verify(request.body, request.headers)
    first, second = (b.at - a.at for a, b in itertools.pairwise(got))
    assert timedelta(0) < first < second
    outcomes = [(a.outcome, a.provider_code) for a in delivery.attempts]
    assert [
        (AttemptOutcome.RETRY, "500"),
        (AttemptOutcome.RETRY, "500"),
        (AttemptOutcome.ACCEPTED, "200"),
    ] == outcomes
    assert DeliveryStatus.DELIVERED == delivery.status


async def test_retry_after_is_honoured(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory([503, 200])
    receiver.headers = {"Retry-After": "900"}
    await web.subscribe(receiver.url)
    announcement = await web.announce()
    [delivery] = await web.deliveries(announcement.id)
    [attempt] = delivery.attempts
    assert attempt.retry_at is not None
    assert attempt.retry_at - attempt.started_at >= timedelta(seconds=900)


async def test_a_410_disables_the_subscription_and_it_gets_nothing_more(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    gone = await receiver_factory([410])
    sub_id, _ = await web.subscribe(gone.url)

    first = await web.announce()
    [delivery] = await web.deliveries(first.id)
    response = await web.client.get(f"/v1/web/subscriptions/{sub_id}", headers=web.auth)
    shown = await response.json()
    assert (DeliveryStatus.FAILED, "410") == (delivery.status, delivery.provider_code)
    assert 1 == len(delivery.attempts), "a 410 was retried"
    assert False is shown["active"]
    assert "410" in shown["disabled_reason"]

    second = await web.announce(title="Thông báo thứ hai")
    assert [] == await web.deliveries(second.id)
    assert 1 == len(gone.received)


async def test_other_client_errors_fail_at_once_and_keep_the_subscription(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory([400])
    sub_id, _ = await web.subscribe(receiver.url)
    announcement = await web.announce()
    [delivery] = await web.deliveries(announcement.id)
    response = await web.client.get(f"/v1/web/subscriptions/{sub_id}", headers=web.auth)
    assert (DeliveryStatus.FAILED, 1) == (delivery.status, len(delivery.attempts))
    assert True is (await response.json())["active"]


async def test_filters_choose_the_subscribers(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory()
    wanted = {
        "province-above": await web.subscribe(receiver.url + "?p", filters={"areas": ["79"]}),
        "everything": await web.subscribe(receiver.url + "?all"),
        "commune-itself": await web.subscribe(receiver.url + "?c", filters={"areas": ["26740"]}),
        "urgent-flood": await web.subscribe(
            receiver.url + "?u", filters={"priorities": ["emergency"], "tags": ["lũ lụt"]}
        ),
    }
    unwanted = {
        "other-commune": await web.subscribe(receiver.url + "?o", filters={"areas": ["26743"]}),
        "other-province": await web.subscribe(receiver.url + "?h", filters={"areas": ["01"]}),
        "only-normal": await web.subscribe(receiver.url + "?n", filters={"priorities": ["normal"]}),
        "other-tag": await web.subscribe(receiver.url + "?t", filters={"tags": ["y tế"]}),
    }
    announcement = await web.announce(
        audience={"areas": ["26740"]}, priority="emergency", tags=["lũ lụt"]
    )
    addresses = {d.address for d in await web.deliveries(announcement.id)}
    assert {sub_id for sub_id, _ in wanted.values()} == addresses
    assert not addresses & {sub_id for sub_id, _ in unwanted.values()}


async def test_a_province_announcement_reaches_a_commune_subscriber(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory()
    commune, _ = await web.subscribe(receiver.url, filters={"areas": ["26740"]})
    announcement = await web.announce(audience={"areas": ["79"]})
    assert [commune] == [d.address for d in await web.deliveries(announcement.id)]


async def test_private_and_test_announcements_stay_off_ordinary_subscriptions(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory()
    await web.subscribe(receiver.url)
    tester, _ = await web.subscribe(receiver.url + "?test", accept_test=True)

    private = await web.announce(public=False)
    test = await web.announce(test=True)

    assert [] == await web.deliveries(private.id)
    assert [tester] == [d.address for d in await web.deliveries(test.id)]


async def test_a_deleted_subscription_fails_its_queued_delivery(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory([500])
    sub_id, _ = await web.subscribe(receiver.url)
    announcement = await web.announce()
    response = await web.client.delete(f"/v1/web/subscriptions/{sub_id}", headers=web.auth)
    assert 204 == response.status
    web.clock.advance(3600)
    await web.engine.run(until_idle=True)
    [delivery] = await web.deliveries(announcement.id)
    assert (DeliveryStatus.FAILED, "gone") == (delivery.status, delivery.provider_code)
    assert 1 == len(receiver.received)


async def test_urls_in_the_audience_stay_on_the_sandbox_by_default(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory()
    announcement = await web.announce(audience={"addresses": {"web": [receiver.url]}})
    [delivery] = await web.deliveries(announcement.id)
    assert [] == receiver.received
    assert delivery.provider_id is not None and delivery.provider_id.startswith("sbx-")


async def test_urls_in_the_audience_are_posted_with_the_signing_secret_on_http(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory(transport="http")
    receiver = await receiver_factory()
    announcement = await web.announce(audience={"addresses": {"web": [receiver.url]}})
    [got] = await receiver.wait_for(1)
    secret = web.engine.channels["web"].signing_secrets()[0]  # type: ignore[attr-defined]
    assert announcement.id == Webhook(secret).verify(got.body, got.headers)["data"]["id"]


async def test_each_attempt_keeps_its_own_receivers_answer_time(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    quick, slow = await receiver_factory(), await receiver_factory()
    slow.delay = 0.4
    quick_id, _ = await web.subscribe(quick.url)
    slow_id, _ = await web.subscribe(slow.url)

    announcement = await web.announce()

    # Both are posted in one send, at once: the slow one must not lend its time.
    latency = {d.address: d.attempts[0].latency_ms for d in await web.deliveries(announcement.id)}
    assert latency[slow_id] is not None and latency[slow_id] >= 400
    assert latency[quick_id] is not None and latency[quick_id] < 300
