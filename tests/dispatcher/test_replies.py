"""Citizens' replies are linked to what they answer; an opt-out stops the next send."""

from __future__ import annotations

from engine_helpers import announce, deliveries
from scripted import scripted

from schemas import DeliveryStatus


async def test_reply_is_linked_to_the_latest_announcement_sent_to_that_number(
    dispatcher_factory,
) -> None:
    d = await dispatcher_factory()
    one = {"addresses": {"sms": ["+84910000001"]}}
    first = await announce(d, audience=one)
    await d.run(until_idle=True)
    second = await announce(d, audience=one, title="Lần hai")
    await d.run(until_idle=True)
    reply = await d.services.record_inbound("sms", "+84910000001", "Đã nhận")
    [sent] = await deliveries(d, second.id)
    assert (second.id, sent.id) == (reply.announcement_id, reply.delivery_id)
    assert first.id != reply.announcement_id
    assert [reply] == await d.store.list_inbound(second.id, limit=10)


async def test_reply_from_an_unknown_number_is_kept_unlinked(dispatcher_factory) -> None:
    d = await dispatcher_factory()
    reply = await d.services.record_inbound("sms", "+84910000009", "Xin chào")
    assert (None, None) == (reply.announcement_id, reply.delivery_id)


async def test_opted_out_number_is_suppressed_next_time(dispatcher_factory) -> None:
    d = await dispatcher_factory({"sms": scripted("sms")})
    await d.services.import_contacts(
        [{"id": "lan", "area_code": "01", "addresses": {"sms": "+84910000001"}}]
    )
    assert await d.services.opt_out("sms", "+84910000001", "sms-reply:TU CHOI")
    assert not await d.services.opt_out("sms", "+84910000001", "sms-reply:HUY")
    ann = await announce(d, audience={"areas": ["01"], "addresses": {"sms": ["+84910000001"]}})
    await d.run(until_idle=True)
    [only] = await deliveries(d, ann.id)
    assert (DeliveryStatus.SUPPRESSED, "opted out of this channel") == (only.status, only.reason)
    assert [] == d.channels["sms"].sent


async def test_fallback_skips_a_channel_the_person_left(dispatcher_factory) -> None:
    d = await dispatcher_factory({"zalo": scripted("zalo"), "sms": scripted("sms")})
    await d.services.import_contacts(
        [
            {
                "id": "lan",
                "area_code": "01",
                "addresses": {"zalo": "+84910000001", "sms": "+84910000001"},
            }
        ]
    )
    await d.services.opt_out("zalo", "+84910000001", "zalo-reply")
    await announce(d, channels=["zalo", "sms"], mode="fallback")
    await d.run(until_idle=True)
    assert ([], ["+84910000001"]) == (
        [m.address for m in d.channels["zalo"].sent],
        [m.address for m in d.channels["sms"].sent],
    )


async def test_a_reply_handed_over_twice_is_stored_once(dispatcher_factory) -> None:
    d = await dispatcher_factory()
    first = await d.services.record_inbound("sms", "+84910000009", "Hủy", provider_id="mo-1")
    again = await d.services.record_inbound("sms", "+84910000009", "Hủy", provider_id="mo-1")
    other = await d.services.record_inbound("sms", "+84910000009", "Hủy", provider_id="mo-2")
    assert first == again
    assert first.id != other.id
