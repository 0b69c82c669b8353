"""Receipts: status only moves forward; repeats and early arrivals change nothing twice."""

from __future__ import annotations

import pytest
from store_helpers import T0, announce, later, queue_deliveries

from dispatcher.store import AttemptRecord, Outcome, SQLiteStore
from schemas import AnnouncementStatus, AttemptOutcome, DeliveryStatus, ReceiptIn

DELIVERED = DeliveryStatus.DELIVERED
FAILED = DeliveryStatus.FAILED


def report(status: DeliveryStatus, provider_id: str = "p-1", code: str | None = None) -> ReceiptIn:
    return ReceiptIn(channel="sms", provider_id=provider_id, status=status, provider_code=code)


async def sent_delivery(store: SQLiteStore, provider_id: str = "p-1") -> str:
    await queue_deliveries(store, await announce(store, status=AnnouncementStatus.FANNING_OUT), 1)
    [c], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=30)
    attempt = AttemptRecord(number=1, started_at=T0, outcome=AttemptOutcome.ACCEPTED)
    await store.record_outcomes(
        [Outcome(c.id, c.lease_token, DeliveryStatus.SENT, attempt, provider_id=provider_id)],
        T0,
    )
    return c.id


async def test_receipt_repeated_forty_times_applies_once(store: SQLiteStore) -> None:
    delivery_id = await sent_delivery(store)
    flags = []
    for _ in range(40):
        applied, _ = await store.add_receipts([report(DELIVERED)], later(1))
        flags += applied
    assert [True] + [False] * 39 == flags
    delivery = await store.get_delivery(delivery_id)
    assert DELIVERED == delivery.status
    assert 40 == len(delivery.receipts)
    assert 1 == sum(r.applied for r in delivery.receipts)


async def test_repeats_inside_one_batch_apply_once(store: SQLiteStore) -> None:
    await sent_delivery(store)
    applied, changes = await store.add_receipts([report(DELIVERED)] * 3, later(1))
    assert [True, False, False] == applied
    assert [DELIVERED] == [c.status for c in changes]


async def test_receipt_before_the_send_is_recorded_waits_and_then_applies(
    store: SQLiteStore,
) -> None:
    await queue_deliveries(store, await announce(store, status=AnnouncementStatus.FANNING_OUT), 1)
    [c], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=30)
    applied, _ = await store.add_receipts([report(DELIVERED, "early")], T0)
    assert [False] == applied
    attempt = AttemptRecord(number=1, started_at=T0, outcome=AttemptOutcome.ACCEPTED)
    changes = await store.record_outcomes(
        [Outcome(c.id, c.lease_token, DeliveryStatus.SENT, attempt, provider_id="early")], later(1)
    )
    assert [DeliveryStatus.SENT, DELIVERED] == [ch.status for ch in changes]
    delivery = await store.get_delivery(c.id)
    assert DELIVERED == delivery.status
    assert [True] == [r.applied for r in delivery.receipts]


@pytest.mark.parametrize(
    ("reports", "final"),
    [
        pytest.param([DELIVERED, FAILED], DELIVERED, id="failed-after-delivered-ignored"),
        pytest.param([FAILED, DELIVERED], DELIVERED, id="delivered-after-failed-moves-on"),
        pytest.param([FAILED, FAILED], FAILED, id="failed-twice"),
    ],
)
async def test_status_only_moves_forward(
    store: SQLiteStore, reports: list[DeliveryStatus], final: DeliveryStatus
) -> None:
    delivery_id = await sent_delivery(store)
    for status in reports:
        await store.add_receipts([report(status, code="X1")], later(1))
    assert final == (await store.get_delivery(delivery_id)).status


async def test_failed_receipt_keeps_the_provider_code(store: SQLiteStore) -> None:
    delivery_id = await sent_delivery(store)
    await store.add_receipts([report(FAILED, code="UNDELIV")], later(1))
    delivery = await store.get_delivery(delivery_id)
    assert ("UNDELIV", "permanent") == (delivery.provider_code, delivery.failure_kind)


async def test_receipt_for_another_channel_does_not_match(store: SQLiteStore) -> None:
    delivery_id = await sent_delivery(store)
    other = ReceiptIn(channel="zalo", provider_id="p-1", status=DELIVERED)
    assert ([False], []) == await store.add_receipts([other], later(1))
    assert DeliveryStatus.SENT == (await store.get_delivery(delivery_id)).status


async def test_failed_then_delivered_in_one_batch_ends_as_sent_one_by_one(
    store: SQLiteStore,
) -> None:
    # A batch applies its receipts in order: the delivery ends delivered, its failure cleared,
    # and the failure's code stays when the later receipt has none (as one request each would).
    await queue_deliveries(store, await announce(store, status=AnnouncementStatus.FANNING_OUT), 2)
    claimed, _ = await store.claim("sms", limit=2, now=T0, lease_seconds=30)
    attempt = AttemptRecord(number=1, started_at=T0, outcome=AttemptOutcome.ACCEPTED)
    await store.record_outcomes(
        [
            Outcome(c.id, c.lease_token, DeliveryStatus.SENT, attempt, provider_id=f"p-{n}")
            for n, c in enumerate(claimed, 1)
        ],
        T0,
    )
    one_batch, one_by_one = (c.id for c in claimed)
    applied, changes = await store.add_receipts(
        [report(FAILED, "p-1", code="UNDELIV"), report(DELIVERED, "p-1")], later(1)
    )
    assert [True, True] == applied
    assert [FAILED, DELIVERED] == [c.status for c in changes]
    for status, code in ((FAILED, "UNDELIV"), (DELIVERED, None)):
        await store.add_receipts([report(status, "p-2", code=code)], later(1))
    ends = [await store.get_delivery(d) for d in (one_batch, one_by_one)]
    fields = [(d.status, d.provider_code, d.failure_kind, d.reason) for d in ends]
    assert (DELIVERED, "UNDELIV", None, None) == fields[0] == fields[1]
