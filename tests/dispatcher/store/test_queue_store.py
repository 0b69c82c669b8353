"""The queue in the SQLite store: claims, leases, fencing, outcomes."""

from __future__ import annotations

from store_helpers import T0, announce, later, queue_deliveries

from dispatcher.clock import FakeClock
from dispatcher.outcome import Judge
from dispatcher.retry import RetryPolicy
from dispatcher.store import AttemptRecord, NewDelivery, Outcome, SQLiteStore
from dispatcher.store.base import ClaimedDelivery
from schemas import (
    AnnouncementStatus,
    Attempt,
    AttemptOutcome,
    DeliveryStatus,
    FailureKind,
    Priority,
)

FANNING = AnnouncementStatus.FANNING_OUT


def accepted(claimed, provider_id: str = "p") -> Outcome:  # type: ignore[no-untyped-def]
    attempt = AttemptRecord(number=claimed.attempt, started_at=T0, outcome=AttemptOutcome.ACCEPTED)
    return Outcome(
        claimed.id, claimed.lease_token, DeliveryStatus.SENT, attempt, provider_id=provider_id
    )


async def test_claim_leases_due_rows_once(store: SQLiteStore) -> None:
    await queue_deliveries(store, await announce(store, status=FANNING), 5)
    first, _ = await store.claim("sms", limit=3, now=T0, lease_seconds=30)
    second, _ = await store.claim("sms", limit=10, now=T0, lease_seconds=30)
    third, _ = await store.claim("sms", limit=10, now=T0, lease_seconds=30)
    assert 3 == len(first)
    assert 2 == len(second)
    assert [] == third
    assert not {c.id for c in first} & {c.id for c in second}


async def test_a_claim_carries_what_fan_out_wrote(store: SQLiteStore) -> None:
    ann = await announce(store, status=FANNING, channels=["zalo", "sms"])
    second_step = NewDelivery(ann, "sms", "+84910000001", Priority.HIGH, T0, "c7", step=1)
    await store.add_deliveries([second_step], announcement_id=ann, cursor=None)
    [claimed], _ = await store.claim("sms", limit=5, now=T0, lease_seconds=30)
    assert claimed == ClaimedDelivery(
        id=claimed.id,
        announcement_id=ann,
        channel="sms",
        address="+84910000001",
        contact_id="c7",
        attempt=1,
        lease_token=claimed.lease_token,
        unknown=False,
        step=1,
    )
    assert claimed.id.isdigit() and len(claimed.lease_token) == 16


async def test_claim_takes_emergency_before_bulk(store: SQLiteStore) -> None:
    await queue_deliveries(
        store, await announce(store, "bulk", status=FANNING), 10, priority=Priority.BULK
    )
    await queue_deliveries(
        store,
        await announce(store, "sos", status=FANNING),
        2,
        priority=Priority.EMERGENCY,
        due=later(5),
    )
    claimed, _ = await store.claim("sms", limit=3, now=later(5), lease_seconds=30)
    assert ["sos", "sos", "bulk"] == [c.announcement_id for c in claimed]


async def test_rows_not_yet_due_are_not_claimed(store: SQLiteStore) -> None:
    await queue_deliveries(store, await announce(store, status=FANNING), 2, due=later(60))
    assert [] == (await store.claim("sms", limit=10, now=later(59), lease_seconds=30))[0]
    assert 2 == len((await store.claim("sms", limit=10, now=later(60), lease_seconds=30))[0])


async def test_outcome_with_a_stale_lease_changes_nothing(store: SQLiteStore) -> None:
    await queue_deliveries(store, await announce(store, status=FANNING), 1)
    [old], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    [new], _ = await store.claim("sms", limit=1, now=later(11), lease_seconds=10)
    assert old.id == new.id
    assert [] == await store.record_outcomes([accepted(old, "late")], later(12))
    [change] = await store.record_outcomes([accepted(new, "fresh")], later(12))
    assert DeliveryStatus.SENT == change.status
    delivery = await store.get_delivery(new.id)
    assert ("fresh", DeliveryStatus.SENT) == (delivery.provider_id, delivery.status)


async def test_a_stale_outcome_beside_a_held_one_writes_nothing(store: SQLiteStore) -> None:
    """One batch of outcomes for the same delivery under its lost lease and its new one:
    only the new one lands, and the lost attempt stays recorded as unknown."""
    await queue_deliveries(store, await announce(store, status=FANNING), 1)
    [old], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    [new], _ = await store.claim("sms", limit=1, now=later(11), lease_seconds=10)
    both = [accepted(old, "late"), accepted(new, "fresh")]
    changes = await store.record_outcomes(both, later(12))
    assert [(new.id, DeliveryStatus.SENT)] == [(c.delivery_id, c.status) for c in changes]
    delivery = await store.get_delivery(new.id)
    assert "fresh" == delivery.provider_id
    assert [AttemptOutcome.UNKNOWN, AttemptOutcome.ACCEPTED] == [
        a.outcome for a in delivery.attempts
    ]


async def test_expired_lease_is_recorded_as_unknown_and_sent_again(store: SQLiteStore) -> None:
    await queue_deliveries(store, await announce(store, status=FANNING), 1)
    [lost], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    [again], changes = await store.claim("sms", limit=1, now=later(11), lease_seconds=10)
    assert [] == changes
    assert (lost.id, 2, True) == (again.id, again.attempt, again.unknown)
    await store.record_outcomes([accepted(again)], later(12))
    delivery = await store.get_delivery(again.id)
    assert [AttemptOutcome.UNKNOWN, AttemptOutcome.ACCEPTED] == [
        a.outcome for a in delivery.attempts
    ]
    assert (1, 2) == (delivery.unknown_count, delivery.attempt_count)


async def test_expired_lease_fails_when_channel_may_not_repeat(store: SQLiteStore) -> None:
    await queue_deliveries(store, await announce(store, status=FANNING), 1)
    await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    claimed, [change] = await store.claim(
        "sms", limit=1, now=later(11), lease_seconds=10, repeatable=False
    )
    assert [] == claimed
    delivery = await store.get_delivery(change.delivery_id)
    assert (DeliveryStatus.FAILED, FailureKind.TECHNICAL) == (
        delivery.status,
        delivery.failure_kind,
    )


async def test_renewed_lease_is_not_reclaimed(store: SQLiteStore) -> None:
    await queue_deliveries(store, await announce(store, status=FANNING), 1)
    [held], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    assert 1 == await store.renew_leases([held.lease_token], later(30))
    assert [] == (await store.claim("sms", limit=1, now=later(20), lease_seconds=10))[0]


async def test_retry_keeps_due_time_and_reason(store: SQLiteStore) -> None:
    await queue_deliveries(store, await announce(store, status=FANNING), 1)
    [c], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    attempt = AttemptRecord(
        number=1,
        started_at=T0,
        outcome=AttemptOutcome.RETRY,
        provider_code="503",
        reason="busy",
        retry_at=later(40),
    )
    await store.record_outcomes(
        [
            Outcome(
                c.id,
                c.lease_token,
                DeliveryStatus.RETRY_WAIT,
                attempt,
                provider_code="503",
                reason="busy",
                retry_at=later(40),
            )
        ],
        T0,
    )
    assert [] == (await store.claim("sms", limit=1, now=later(39), lease_seconds=10))[0]
    [again], _ = await store.claim("sms", limit=1, now=later(40), lease_seconds=10)
    assert 2 == again.attempt
    delivery = await store.get_delivery(c.id)
    assert [Attempt(**attempt._asdict())] == delivery.attempts  # read back as the API shows it


async def test_released_untried_row_does_not_count_an_attempt(store: SQLiteStore) -> None:
    await queue_deliveries(store, await announce(store, status=FANNING), 1)
    [c], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    await store.record_outcomes([Outcome(c.id, c.lease_token, DeliveryStatus.QUEUED, None)], T0)
    [again], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    assert 1 == again.attempt


async def test_cancel_stops_what_has_not_gone_out(store: SQLiteStore) -> None:
    ann = await announce(store, status=FANNING)
    await queue_deliveries(store, ann, 4)
    [c], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    assert 3 == await store.cancel_announcement(ann, later(1))
    await store.record_outcomes([accepted(c)], later(2))
    counts = (await store.get_announcement(ann)).counts
    assert {"sms": {"cancelled": 3, "sent": 1}} == counts
    assert 0 == await store.add_deliveries([], announcement_id=ann, cursor=None)


async def test_expiry_stops_open_deliveries(store: SQLiteStore) -> None:
    ann = await announce(store, status=FANNING, expires_at=later(60).isoformat())
    await queue_deliveries(store, ann, 2)
    assert ([], []) == await store.expire(later(59))
    changes, announcements = await store.expire(later(60))
    assert [DeliveryStatus.EXPIRED] * 2 == [c.status for c in changes]
    assert [ann] == announcements
    assert AnnouncementStatus.EXPIRED == (await store.get_announcement(ann)).status


async def test_completion_waits_for_open_deliveries(store: SQLiteStore) -> None:
    ann = await announce(store, status=FANNING)
    await queue_deliveries(store, ann, 1)
    await store.set_announcement_status(ann, [FANNING], AnnouncementStatus.SENDING, T0)
    assert [] == await store.complete_finished(T0)
    [c], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    await store.record_outcomes([accepted(c)], T0)
    assert [ann] == await store.complete_finished(later(1))


async def test_an_announcement_whose_worker_expired_the_last_delivery_expires(
    store: SQLiteStore,
) -> None:
    # The worker can find the expiry first (it claims the due retry, sees expires_at
    # passed and records 'expired') before the scheduler's tick: the announcement is then
    # expired, not completed.
    ann = await announce(store, status=FANNING, expires_at=later(60).isoformat())
    await queue_deliveries(store, ann, 1)
    await store.set_announcement_status(ann, [FANNING], AnnouncementStatus.SENDING, T0)
    [c], _ = await store.claim("sms", limit=1, now=later(61), lease_seconds=10)
    expired = Outcome(c.id, c.lease_token, DeliveryStatus.EXPIRED, None, reason="expired")
    await store.record_outcomes([expired], later(61))

    assert [] == await store.complete_finished(later(61))
    assert ([], [ann]) == await store.expire(later(61))
    assert AnnouncementStatus.EXPIRED == (await store.get_announcement(ann)).status


async def test_cancelling_a_completed_announcement_withdraws_it(store: SQLiteStore) -> None:
    ann = await announce(store, status=FANNING)
    await queue_deliveries(store, ann, 1)
    await store.set_announcement_status(ann, [FANNING], AnnouncementStatus.SENDING, T0)
    [c], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    await store.record_outcomes([accepted(c)], T0)
    assert [ann] == await store.complete_finished(later(1))
    assert 0 == await store.cancel_announcement(ann, later(2))
    withdrawn = await store.get_announcement(ann)
    assert (AnnouncementStatus.CANCELLED, {"sms": {"sent": 1}}) == (
        withdrawn.status,
        withdrawn.counts,
    )
    assert 0 == await store.cancel_announcement(ann, later(3))


async def test_a_claim_handed_back_unsent_is_queued_with_its_attempt_returned(
    store: SQLiteStore,
) -> None:
    ann = await announce(store, status=FANNING)
    await queue_deliveries(store, ann, 1)
    [c], _ = await store.claim("sms", limit=1, now=T0, lease_seconds=10)
    assert [] == (await store.claim("sms", limit=1, now=T0, lease_seconds=10))[0]
    judge = Judge("sms", True, RetryPolicy(initial=1, maximum=10), FakeClock(T0))
    await store.record_outcomes([judge.released(c)], T0)
    delivery = await store.get_delivery(c.id)
    assert (DeliveryStatus.QUEUED, 0, []) == (
        delivery.status,
        delivery.attempt_count,
        delivery.attempts,
    )


async def test_the_urgent_lane_claims_only_emergency_and_high(store: SQLiteStore) -> None:
    bulk = await announce(store, "bulk", status=FANNING, priority="bulk")
    await queue_deliveries(store, bulk, 3, priority=Priority.BULK)
    assert [] == (await store.claim("sms", limit=10, now=T0, lease_seconds=10, max_rank=1))[0]
    high = await announce(store, "high", status=FANNING, priority="high")
    await queue_deliveries(store, high, 2, priority=Priority.HIGH)
    claimed, _ = await store.claim("sms", limit=10, now=T0, lease_seconds=10, max_rank=1)
    assert {"high"} == {c.announcement_id for c in claimed} and 2 == len(claimed)


def test_attempt_record_has_the_fields_of_the_attempt_the_api_shows() -> None:
    # The worker's tuple and the API's model are written apart: they must not drift.
    assert tuple(Attempt.model_fields) == AttemptRecord._fields
