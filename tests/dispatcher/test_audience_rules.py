"""Quiet hours, daily caps and preferred channels, on an injected clock (never sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from engine_helpers import announce, deliveries, directory
from scripted import scripted

from dispatcher.channel import Accepted, OutboundMessage, RetryLater, SendResult
from dispatcher.clock import FakeClock
from schemas import AnnouncementIn, DeliveryStatus

# 23:00 in Hà Nội (UTC+7).
NIGHT = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
# 10:00 in Hà Nội.
MORNING = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
RULES = {"quiet_start": "22:00", "quiet_end": "07:00", "daily_caps": {"sms": 2}}


async def _night_dispatcher(dispatcher_factory, clock: FakeClock, **rules):
    d = await dispatcher_factory(
        {"sms": scripted("sms"), "zalo": scripted("zalo")},
        clock=clock,
        audience={**RULES, **rules},
    )
    await directory(d, per_commune=1)
    return d


async def test_a_night_announcement_waits_for_seven_in_the_morning(dispatcher_factory) -> None:
    clock = FakeClock(NIGHT)
    d = await _night_dispatcher(dispatcher_factory, clock)
    ann = await announce(d, audience={"contact_ids": ["c00000"]})
    await d.run(until_idle=True)
    [waiting] = await deliveries(d, ann.id)
    assert (DeliveryStatus.QUEUED, "quiet hours: waits until 07:00") == (
        waiting.status,
        waiting.note,
    )
    assert [] == d.channels["sms"].sent
    clock.advance(7 * 3600 + 59 * 60)  # 06:59
    await d.run(until_idle=True)
    assert [] == d.channels["sms"].sent
    clock.advance(60)  # 07:00
    await d.run(until_idle=True)
    assert ["+84910000000"] == [m.address for m in d.channels["sms"].sent]


async def test_an_emergency_goes_at_night_and_says_so(dispatcher_factory) -> None:
    d = await _night_dispatcher(dispatcher_factory, FakeClock(NIGHT))
    ann = await announce(d, priority="emergency", audience={"contact_ids": ["c00000"]})
    await d.run(until_idle=True)
    [sent] = await deliveries(d, ann.id)
    assert (DeliveryStatus.SENT, "emergency: sent despite quiet hours") == (
        sent.status,
        sent.note,
    )


async def test_quiet_hours_leave_other_channels_alone(dispatcher_factory) -> None:
    d = await _night_dispatcher(dispatcher_factory, FakeClock(NIGHT), quiet_channels=["zalo"])
    ann = await announce(d, audience={"contact_ids": ["c00000"]}, channels=["sms", "zalo"])
    await d.run(until_idle=True)
    statuses = {x.channel: x.status for x in await deliveries(d, ann.id)}
    assert {"sms": DeliveryStatus.SENT, "zalo": DeliveryStatus.QUEUED} == statuses


async def test_the_daily_cap_suppresses_the_third_message_until_the_next_day(
    dispatcher_factory,
) -> None:
    clock = FakeClock(MORNING)
    d = await _night_dispatcher(dispatcher_factory, clock, quiet_start=None)
    one = {"audience": {"contact_ids": ["c00000"]}}
    sent = []
    for _ in range(3):
        sent.append(await announce(d, **one))
        await d.run(until_idle=True)
    first, second, third = sent
    found = [(await deliveries(d, a.id))[0] for a in (first, second, third)]
    assert [DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.SUPPRESSED] == [
        x.status for x in found
    ]
    assert "daily cap reached: at most 2 a day on sms" == found[2].reason
    urgent = await announce(d, priority="emergency", **one)
    await d.run(until_idle=True)
    [x] = await deliveries(d, urgent.id)
    assert (DeliveryStatus.SENT, "emergency: sent despite daily cap reached") == (
        x.status,
        x.note,
    )
    clock.advance(24 * 3600)
    fourth = await announce(d, **one)
    await d.run(until_idle=True)
    assert DeliveryStatus.SENT == (await deliveries(d, fourth.id))[0].status


async def test_the_preview_counts_what_waits_and_what_the_cap_stops(dispatcher_factory) -> None:
    d = await _night_dispatcher(dispatcher_factory, FakeClock(NIGHT), daily_caps={"zalo": 0})
    preview = await d.services.preview(
        AnnouncementIn.model_validate(
            {
                "title": "T",
                "body": "B",
                "channels": ["sms", "zalo"],
                "audience": {"areas": ["01"], "contact_ids": ["c00000"]},
            }
        )
    )
    sms, zalo = preview.channels
    assert (2, {"quiet hours": 2}) == (sms.recipients, sms.deferred)
    assert (0, {"daily cap reached": 2}) == (zalo.recipients, zalo.suppressed)


async def test_a_fallback_starts_with_the_persons_preferred_channel(dispatcher_factory) -> None:
    d = await dispatcher_factory({"sms": scripted("sms"), "zalo": scripted("zalo")})
    await directory(d, per_commune=1)
    report = await d.services.import_contacts(
        [
            {
                "id": "c00000",
                "area_code": "00004",
                "addresses": {"sms": "+84910000000", "zalo": "+84910000000"},
                "preferred_channels": ["sms"],
            }
        ]
    )
    assert report.ok, report.errors
    ann = await announce(d, channels=["zalo", "sms"], mode="fallback")
    await d.run(until_idle=True)
    firsts = {x.contact_id: x.channel for x in await deliveries(d, ann.id)}
    assert {"c00000": "sms", "c00010": "zalo"} == firsts


async def test_a_sandboxed_channel_reaches_nobody_so_no_rule_holds_it(
    dispatcher_factory,
) -> None:
    sandboxed = scripted("sms", simulated=True)
    d = await dispatcher_factory({"sms": sandboxed}, clock=FakeClock(NIGHT), audience=RULES)
    await directory(d, per_commune=1)
    ann = await announce(d, audience={"contact_ids": ["c00000"]})
    await d.run(until_idle=True)
    assert [DeliveryStatus.SENT] == [x.status for x in await deliveries(d, ann.id)]


# 21:59 in Hà Nội.
BEFORE_NIGHT = datetime(2026, 3, 2, 14, 59, tzinfo=UTC)


def _busy_once(message: OutboundMessage) -> SendResult:
    # The gateway is busy at the first try and asks for two minutes: past 22:00.
    if message.attempt == 1:
        return RetryLater("busy", after=120)
    return Accepted(provider_id=f"p-{message.delivery_id}")


@pytest.mark.parametrize(("priority", "retried_at_night"), [("normal", False), ("emergency", True)])
async def test_a_retry_that_would_fall_in_quiet_hours_waits_for_the_morning(
    dispatcher_factory, priority: str, retried_at_night: bool
) -> None:
    clock = FakeClock(BEFORE_NIGHT)
    d = await dispatcher_factory({"sms": scripted("sms", _busy_once)}, clock=clock, audience=RULES)
    await directory(d, per_commune=1)
    ann = await announce(d, priority=priority, audience={"contact_ids": ["c00000"]})
    await d.run(until_idle=True)
    [first] = await deliveries(d, ann.id)
    assert DeliveryStatus.RETRY_WAIT == first.status
    clock.advance(5 * 60)  # 22:04: the two minutes are over
    await d.run(until_idle=True)
    assert retried_at_night == (2 == len(d.channels["sms"].sent))
    clock.advance(9 * 3600)  # 07:04
    await d.run(until_idle=True)
    [done] = await deliveries(d, ann.id)
    assert (DeliveryStatus.SENT, 2) == (done.status, len(d.channels["sms"].sent))


@pytest.mark.parametrize("fanout_batch", [1, 4, 1000])
async def test_concurrent_fan_outs_share_one_daily_cap(dispatcher_factory, fanout_batch) -> None:
    # Two announcements to the same people, released together: their fan-outs run as tasks
    # of their own, each counting what a person got today before writing. Counted and
    # written apart, both would see 0 of 1 and both would send.
    d = await dispatcher_factory(
        {"sms": scripted("sms")},
        clock=FakeClock(MORNING),
        audience={"quiet_start": None, "daily_caps": {"sms": 1}},
        worker={"fanout_batch": fanout_batch},
    )
    await directory(d, per_commune=5)
    both = [await announce(d), await announce(d)]
    await d.run(until_idle=True)
    per_person: dict[str | None, list[DeliveryStatus]] = {}
    for ann in both:
        for x in await deliveries(d, ann.id):
            per_person.setdefault(x.contact_id, []).append(x.status)
    assert 10 == len(per_person)  # province 01: two communes of five
    assert all(
        sorted(statuses) == sorted([DeliveryStatus.SENT, DeliveryStatus.SUPPRESSED])
        for statuses in per_person.values()
    ), per_person
    assert 10 == len(d.channels["sms"].sent)
