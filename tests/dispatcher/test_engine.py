"""The engine end to end in one process: release, fan-out, send, receipts, status."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import pytest
from engine_helpers import announce, deliveries, directory
from prometheus_client.parser import text_string_to_metric_families
from scripted import scripted

from dispatcher.channel import Accepted, Failed, OutboundMessage, RetryLater, SendResult
from dispatcher.clock import FakeClock
from dispatcher.errors import InvalidRequestError
from dispatcher.events import StatusChange
from dispatcher.scheduler import Scheduler
from schemas import AnnouncementStatus, AttemptOutcome, DeliveryStatus, FailureKind, ReceiptIn


async def test_province_announcement_reaches_exactly_its_contacts(dispatcher_factory) -> None:
    d = await dispatcher_factory({"sms": scripted("sms"), "zalo": scripted("zalo")})
    await directory(d)
    ann = await announce(d, channels=["sms", "zalo"])
    await d.run(until_idle=True)
    sent = await deliveries(d, ann.id)
    assert {
        "c00000",
        "c00001",
        "c00002",
        "c00003",
        "c00004",
        "c00010",
        "c00011",
        "c00012",
        "c00013",
        "c00014",
    } == {x.contact_id for x in sent}
    assert Counter({("sms", "sent"): 10, ("zalo", "sent"): 10}) == Counter(
        (x.channel, x.status.value) for x in sent
    )
    receipts = [
        ReceiptIn(channel=x.channel, provider_id=x.provider_id or "", status="delivered")
        for x in sent
    ]
    assert [True] * 20 == await d.services.submit(receipts)
    await d.run(until_idle=True)
    final = await d.services.get_announcement(ann.id)
    assert {"sms": {"delivered": 10}, "zalo": {"delivered": 10}} == final.counts
    assert AnnouncementStatus.COMPLETED == final.status


async def test_message_is_rendered_per_recipient(dispatcher_factory) -> None:
    d = await dispatcher_factory()
    await directory(d, per_commune=1)
    await announce(
        d,
        body="Chào {{ contact.name }}, họp lúc {{ gio }}",
        variables={"gio": "8h"},
        audience={"contact_ids": ["c00000"]},
    )
    await d.run(until_idle=True)
    [message] = d.channels["sms"].sent
    assert "Chào Người 0, họp lúc 8h" == message.body


async def test_announcements_claimed_in_one_batch_keep_their_own_texts(dispatcher_factory) -> None:
    d = await dispatcher_factory()
    power = await announce(
        d,
        body="Cắt điện {{ gio }}",
        variables={"gio": "8h"},
        audience={"addresses": {"sms": ["+84910000001", "+84910000002"]}},
    )
    water = await announce(
        d,
        body="Cắt nước {{ gio }}",
        variables={"gio": "9h"},
        audience={"addresses": {"sms": ["+84910000003"]}},
    )
    for ann in (power, water):  # both fanned out before the worker claims
        await d._fanout.run(await d.store.get_announcement(ann.id))
    await d.run(until_idle=True)
    assert 1 == len(d.channels["sms"].batches)  # one batch, each text rendered for its own
    assert {
        "+84910000001": "Cắt điện 8h",
        "+84910000002": "Cắt điện 8h",
        "+84910000003": "Cắt nước 9h",
    } == {m.address: m.body for m in d.channels["sms"].sent}


async def test_explicit_addresses_are_normalised_and_deduplicated(dispatcher_factory) -> None:
    d = await dispatcher_factory()
    await directory(d, per_commune=1)
    ann = await announce(
        d,
        audience={
            "contact_ids": ["c00000"],
            "addresses": {"sms": ["+84910000000", " +84911111111 "]},
        },
    )
    await d.run(until_idle=True)
    assert ["+84910000000", "+84911111111"] == sorted(m.address for m in d.channels["sms"].sent)
    assert 2 == len(await deliveries(d, ann.id))


async def test_opted_out_and_addressless_contacts_are_suppressed(dispatcher_factory) -> None:
    d = await dispatcher_factory({"sms": scripted("sms"), "email": scripted("email")})
    await d.services.import_contacts(
        [
            {
                "id": "out",
                "area_code": "01",
                "addresses": {"sms": "+84910000001"},
                "opt_outs": ["sms"],
            },
            {"id": "in", "area_code": "01", "addresses": {"sms": "+84910000002"}},
        ]
    )
    ann = await announce(d, channels=["sms", "email"])
    await d.run(until_idle=True)
    got = {(x.contact_id, x.channel): (x.status, x.reason) for x in await deliveries(d, ann.id)}
    assert {
        ("out", "sms"): (DeliveryStatus.SUPPRESSED, "opted out of this channel"),
        ("out", "email"): (DeliveryStatus.SUPPRESSED, "no address for this channel"),
        ("in", "sms"): (DeliveryStatus.SENT, None),
        ("in", "email"): (DeliveryStatus.SUPPRESSED, "no address for this channel"),
    } == got


async def test_fallback_sends_the_next_channel_only_after_a_permanent_failure(
    dispatcher_factory,
) -> None:
    def zalo(m: OutboundMessage) -> SendResult:
        if m.address.endswith("1"):
            return Failed("no Zalo account", code="-124")
        from dispatcher.channel import Accepted

        return Accepted(provider_id=f"z-{m.delivery_id}")

    d = await dispatcher_factory({"zalo": scripted("zalo", zalo), "sms": scripted("sms")})
    await directory(d, per_commune=2)
    ann = await announce(d, channels=["zalo", "sms"], mode="fallback")
    await d.run(until_idle=True)
    zalo_to = sorted(m.address for m in d.channels["zalo"].sent)
    sms_to = sorted(m.address for m in d.channels["sms"].sent)
    assert ["+84910000000", "+84910000001", "+84910000010", "+84910000011"] == zalo_to
    assert ["+84910000001", "+84910000011"] == sms_to
    by_channel = Counter((x.channel, x.status.value) for x in await deliveries(d, ann.id))
    assert Counter({("zalo", "sent"): 2, ("zalo", "failed"): 2, ("sms", "sent"): 2}) == by_channel


async def test_retry_waits_in_the_store_for_its_due_time(dispatcher_factory) -> None:
    answers = iter([RetryLater("busy", after=30, code="429")])

    def flaky(m: OutboundMessage) -> SendResult:
        from dispatcher.channel import Accepted

        return next(answers, Accepted(provider_id="ok"))

    clock = FakeClock()
    d = await dispatcher_factory({"sms": scripted("sms", flaky)}, clock=clock)
    ann = await announce(d, audience={"addresses": {"sms": ["+84910000000"]}})
    await d.run(until_idle=True)
    [waiting] = await deliveries(d, ann.id)
    assert DeliveryStatus.RETRY_WAIT == waiting.status
    retry_at = waiting.attempts[0].retry_at
    assert retry_at is not None and retry_at >= clock.now() + timedelta(seconds=30)
    clock.set(retry_at - timedelta(seconds=1))
    await d.run(until_idle=True)
    assert 1 == len(d.channels["sms"].sent)
    clock.set(retry_at)
    await d.run(until_idle=True)
    [done] = await deliveries(d, ann.id)
    assert (DeliveryStatus.SENT, [AttemptOutcome.RETRY, AttemptOutcome.ACCEPTED]) == (
        done.status,
        [a.outcome for a in done.attempts],
    )


async def test_delivery_fails_at_the_attempt_limit_with_the_reason_kept(dispatcher_factory) -> None:
    clock = FakeClock()
    d = await dispatcher_factory(
        {"sms": scripted("sms", lambda m: RetryLater("gateway down", code="503"))}, clock=clock
    )
    ann = await announce(d, max_attempts=3, audience={"addresses": {"sms": ["+84910000000"]}})
    for _ in range(3):
        await d.run(until_idle=True)
        clock.advance(3600)
    [gone] = await deliveries(d, ann.id)
    assert (DeliveryStatus.FAILED, FailureKind.TEMPORARY, "503") == (
        gone.status,
        gone.failure_kind,
        gone.provider_code,
    )
    assert "gave up after 3 attempts: gateway down" == gone.reason
    assert 3 == len(gone.attempts)


async def test_too_long_text_is_refused_at_intake(dispatcher_factory) -> None:
    d = await dispatcher_factory({"sms": scripted("sms", max_length=10)})
    with pytest.raises(InvalidRequestError) as caught:
        await announce(d, body="x" * 11, audience={"addresses": {"sms": ["+84910000000"]}})
    [problem] = caught.value.errors
    assert ["body"] == problem["loc"]
    assert "takes at most 10" in str(problem["msg"])


async def test_text_too_long_for_one_recipient_fails_without_a_provider_call(
    dispatcher_factory,
) -> None:
    d = await dispatcher_factory({"sms": scripted("sms", max_length=20)})
    await d.services.import_contacts(
        [
            {
                "id": "long",
                "name": "Tôn Nữ Thị Hoàng Lan Phương",
                "addresses": {"sms": "+84910000001"},
            }
        ]
    )
    ann = await announce(d, body="Chào {{ contact.name }}", audience={"contact_ids": ["long"]})
    await d.run(until_idle=True)
    [failed] = await deliveries(d, ann.id)
    assert (DeliveryStatus.FAILED, "refused_by_channel") == (failed.status, failed.provider_code)
    assert "takes at most 20" in (failed.reason or "")
    assert [] == d.channels["sms"].sent


async def test_send_at_in_the_future_waits(dispatcher_factory) -> None:
    clock = FakeClock()
    d = await dispatcher_factory(clock=clock)
    ann = await announce(
        d,
        send_at=(clock.now() + timedelta(hours=1)).isoformat(),
        audience={"addresses": {"sms": ["+84910000000"]}},
    )
    await d.run(until_idle=True)
    assert AnnouncementStatus.SCHEDULED == (await d.services.get_announcement(ann.id)).status
    clock.advance(3600)
    await d.run(until_idle=True)
    assert 1 == len(d.channels["sms"].sent)


async def test_what_is_not_sent_by_expires_at_expires(dispatcher_factory) -> None:
    clock = FakeClock()
    d = await dispatcher_factory(
        {"sms": scripted("sms", lambda m: RetryLater("busy", after=60))}, clock=clock
    )
    ann = await announce(
        d,
        expires_at=(clock.now() + timedelta(seconds=600)).isoformat(),
        audience={"addresses": {"sms": ["+84910000000"]}},
    )
    await d.run(until_idle=True)
    clock.advance(601)
    await d.run(until_idle=True)
    final = await d.services.get_announcement(ann.id)
    assert (AnnouncementStatus.EXPIRED, {"sms": {"expired": 1}}) == (final.status, final.counts)


async def test_fallback_moves_on_when_a_step_is_not_delivered_by_its_deadline(
    dispatcher_factory,
) -> None:
    clock = FakeClock()
    d = await dispatcher_factory({"zalo": scripted("zalo"), "sms": scripted("sms")}, clock=clock)
    await directory(d, per_commune=1)  # c00000 and c00010 in province 01
    ann = await announce(d, channels=["zalo", "sms"], mode="fallback", fallback_after=600)
    await d.run(until_idle=True)
    [first, second] = sorted(await deliveries(d, ann.id), key=lambda x: x.address)
    await d.services.submit(
        [ReceiptIn(channel="zalo", provider_id=first.provider_id or "", status="delivered")]
    )
    clock.advance(599)
    await d.run(until_idle=True)
    assert [] == d.channels["sms"].sent
    clock.advance(1)
    await d.run(until_idle=True)
    assert [second.address] == [m.address for m in d.channels["sms"].sent]
    clock.advance(3600)
    await d.run(until_idle=True)
    assert 1 == len(d.channels["sms"].sent), "each overdue step moves on once"


async def test_a_tick_waits_for_the_one_in_progress_to_finish_its_fallback_steps(
    dispatcher_factory,
) -> None:
    # run(until_idle=True) ticks while the scheduler's own loop may be mid-tick: had the
    # second tick not waited, it would find the overdue step already taken, and the engine
    # would call itself idle before that step's next delivery was written.
    clock = FakeClock()
    d = await dispatcher_factory({"zalo": scripted("zalo"), "sms": scripted("sms")}, clock=clock)
    await directory(d, per_commune=1)
    await announce(d, channels=["zalo", "sms"], mode="fallback", fallback_after=600)
    await d.run(until_idle=True)
    clock.advance(600)
    entered, release = asyncio.Event(), asyncio.Event()

    async def moving_on(changes: Sequence[StatusChange]) -> None:
        entered.set()
        await release.wait()
        await d.handle_changes(changes)

    scheduler = Scheduler(d.store, d._fanout, clock, poll_interval=1, on_changes=moving_on)
    first = asyncio.create_task(scheduler.tick())
    await entered.wait()
    second = asyncio.create_task(scheduler.tick())
    done, _ = await asyncio.wait([second], timeout=0.3)
    assert not done, "a tick returned while another was still moving fallback steps on"
    release.set()
    await asyncio.gather(first, second)
    assert await d.store.has_due_work(clock.now()), "the next steps are queued"


async def test_an_untried_wait_uses_no_attempt(dispatcher_factory) -> None:
    calls: list[str] = []

    def paused_then_open(m: OutboundMessage) -> SendResult:
        calls.append(m.delivery_id)
        if len(calls) <= 3:
            return RetryLater("daily quota spent", after=600, code="quota", untried=True)
        return Accepted(provider_id=f"p-{m.delivery_id}")

    clock = FakeClock()
    d = await dispatcher_factory({"sms": scripted("sms", paused_then_open)}, clock=clock)
    await directory(d, per_commune=1)
    ann = await announce(d, audience={"contact_ids": ["c00000"]}, max_attempts=2)
    for _ in range(3):
        await d.run(until_idle=True)
        [waiting] = await deliveries(d, ann.id)
        assert (DeliveryStatus.RETRY_WAIT, 0, []) == (
            waiting.status,
            waiting.attempt_count,
            waiting.attempts,
        )
        assert "waiting, not an attempt: daily quota spent" == waiting.reason
        clock.advance(600)
    await d.run(until_idle=True)
    [sent] = await deliveries(d, ann.id)
    assert (DeliveryStatus.SENT, 1) == (sent.status, sent.attempt_count)


async def test_an_attempt_keeps_the_latency_of_its_own_request(dispatcher_factory) -> None:
    # A channel that times its requests one by one: each attempt and the histogram get that
    # request's time; a result without one gets the whole send's duration.
    def timed_first(m: OutboundMessage) -> SendResult:
        if m.address == "+84910000000":
            return Accepted(provider_id="p-timed", latency_ms=12.5)
        return Accepted(provider_id="p-untimed")

    d = await dispatcher_factory({"sms": scripted("sms", timed_first)})
    ann = await announce(d, audience={"addresses": {"sms": ["+84910000000", "+84910000001"]}})
    await d.run(until_idle=True)

    latency = {x.provider_id: x.attempts[0].latency_ms for x in await deliveries(d, ann.id)}
    assert 12.5 == latency["p-timed"]
    untimed = latency["p-untimed"]
    assert untimed is not None and untimed != 12.5
    histogram = {
        s.name: s.value
        for f in text_string_to_metric_families((await d.metrics.render(d.store)).decode())
        if f.name == "thongbao_send_latency_seconds"
        for s in f.samples
        if s.labels.get("le") is None
    }
    assert (2, pytest.approx(0.0125 + untimed / 1000)) == (
        histogram["thongbao_send_latency_seconds_count"],
        histogram["thongbao_send_latency_seconds_sum"],
    )


@pytest.mark.timeout(30)  # a crashed batch would wait for its lease to expire
async def test_a_numeric_provider_id_from_a_plugin_is_kept_as_text(dispatcher_factory) -> None:
    # A plugin that hands over a gateway's numeric id untouched: the send the provider
    # took must still be recorded, not crash its batch.
    def numeric(m: OutboundMessage) -> SendResult:
        return Accepted(provider_id=1234567)  # type: ignore[arg-type]

    d = await dispatcher_factory({"sms": scripted("sms", numeric)})
    ann = await announce(d, audience={"addresses": {"sms": ["+84910000000"]}})
    await d.run(until_idle=True)

    [sent] = await deliveries(d, ann.id)
    assert (DeliveryStatus.SENT, "1234567") == (sent.status, sent.provider_id)
    assert [(AttemptOutcome.ACCEPTED, "1234567")] == [
        (a.outcome, a.provider_id) for a in sent.attempts
    ]
