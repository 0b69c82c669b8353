"""A fan-out batch is written only if the day's counts it was planned with still hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_helpers import T0, announce

from dispatcher.store import NewDelivery, SQLiteStore, StaleCountsError
from schemas import AnnouncementStatus, DeliveryStatus, Priority

FANNING = AnnouncementStatus.FANNING_OUT
DAY = (T0.replace(hour=0), T0.replace(hour=0) + timedelta(days=1))


def sms(ann_id: str, contact_id: str, priority: Priority = Priority.NORMAL) -> NewDelivery:
    return NewDelivery(ann_id, "sms", "+84910000001", priority, T0, contact_id=contact_id)


async def test_counts_cover_non_emergency_messages_of_the_day(store: SQLiteStore) -> None:
    for ann_id in ("a1", "a2", "a3"):
        await announce(store, ann_id, status=FANNING)
    await store.add_deliveries([sms("a1", "c1")], announcement_id="a1", cursor=None)
    await store.add_deliveries(
        [sms("a2", "c1", Priority.EMERGENCY)], announcement_id="a2", cursor=None
    )
    suppressed = NewDelivery(
        "a3", "sms", "+84910000001", Priority.NORMAL, T0, contact_id="c1",
        status=DeliveryStatus.SUPPRESSED, reason="daily cap reached",
    )  # fmt: skip
    await store.add_deliveries([suppressed], announcement_id="a3", cursor=None)
    counted = await store.recent_counts(["c1", "c2"], *DAY)
    assert ({("c1", "sms"): 1}, ("c1", "c2")) == (counted.counts, counted.contact_ids)


async def test_a_batch_planned_on_old_counts_is_refused_whole(store: SQLiteStore) -> None:
    await announce(store, "a1", status=FANNING)
    await announce(store, "a2", status=FANNING)
    seen = await store.recent_counts(["c1"], *DAY)
    # Another fan-out writes to c1 between the count and this write.
    await store.add_deliveries([sms("a1", "c1")], announcement_id="a1", cursor=None)
    with pytest.raises(StaleCountsError):
        await store.add_deliveries(
            [sms("a2", "c1")], announcement_id="a2", cursor="contacts:c1", counted=seen
        )
    page = await store.list_deliveries("a2", status=None, channel=None, after=None, limit=10)
    assert [] == page.items
    assert None is await store.fanout_cursor("a2")
    # Counted again, the same batch goes in.
    again = await store.recent_counts(["c1"], *DAY)
    written = await store.add_deliveries(
        [sms("a2", "c1")], announcement_id="a2", cursor="contacts:c1", counted=again
    )
    assert 1 == written
