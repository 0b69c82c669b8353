"""Priority lanes, cancellation mid-send and fan-out that resumes after a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from engine_helpers import announce, contact, deliveries, hold_first_batch, wait_until
from scripted import channels_pm, scripted

from dispatcher.clock import FakeClock
from dispatcher.config import Settings
from dispatcher.engine import Dispatcher
from dispatcher.store import NewDelivery, SQLiteStore
from schemas import AnnouncementStatus, DeliveryStatus, Priority


async def test_emergency_overtakes_a_bulk_send_in_progress(dispatcher_factory) -> None:
    channel_cls = scripted("sms", max_batch=20, concurrency=1)
    d = await dispatcher_factory({"sms": channel_cls})
    bulk = [f"+8491{i:07d}" for i in range(200)]
    _, channel, runner = await hold_first_batch(
        d, priority="bulk", audience={"addresses": {"sms": bulk}}
    )
    await announce(
        d,
        priority="emergency",
        title="Lũ quét",
        audience={"addresses": {"sms": ["+84990000001", "+84990000002"]}},
    )
    # The bulk batch holds the only send slot, yet the emergency reaches the provider: the
    # urgent lane has slots of its own, and takes only emergency and high-priority rows.
    await wait_until(lambda: len(channel.batches) == 2)
    assert [Priority.EMERGENCY] * 2 == [m.priority for m in channel.batches[1]]
    channel.gate.set()
    await wait_until(lambda: len(channel.batches) >= 3)
    assert {Priority.BULK} == {m.priority for m in channel.batches[2]}
    await d.stop()
    await runner


async def test_cancel_mid_send_stops_what_has_not_gone_out(dispatcher_factory) -> None:
    d = await dispatcher_factory({"sms": scripted("sms", max_batch=10, concurrency=1)})
    numbers = [f"+8491{i:07d}" for i in range(100)]
    ann, channel, runner = await hold_first_batch(d, audience={"addresses": {"sms": numbers}})
    await d.services.cancel_announcement(ann.id)
    channel.gate.set()
    await d.stop()
    await runner
    assert 1 == len(channel.batches)
    counts = (await _reopen(d)).counts
    assert {"sms": {"sent": 10, "cancelled": 90}} == counts


class CrashingStore(SQLiteStore):
    """Dies after writing ``batches`` fan-out batches, as a killed process would."""

    def __init__(self, path: str, batches: int) -> None:
        super().__init__(path)
        self.batches = batches

    async def add_deliveries(self, deliveries: Sequence[NewDelivery], **kw) -> int:  # type: ignore[override]
        if self.batches == 0:
            raise RuntimeError("power cut")
        self.batches -= 1
        return await super().add_deliveries(deliveries, **kw)


async def test_fanout_resumes_after_a_crash_without_duplicates(settings_factory) -> None:
    settings: Settings = settings_factory(worker={"fanout_batch": 10})
    pm = channels_pm({"sms": scripted("sms")})
    first = Dispatcher(
        settings, pm=pm, store=CrashingStore(settings.db, batches=3), clock=FakeClock()
    )
    await first.start()
    await first.services.import_contacts([contact(i, "01") for i in range(35)])
    ann = await announce(first)
    with pytest.raises(RuntimeError):
        await first._fanout.run(await first.store.get_announcement(ann.id))
    partial = await first.services.get_announcement(ann.id)
    await first.stop()
    assert (AnnouncementStatus.FANNING_OUT, 20) == (
        partial.status,
        sum(partial.counts["sms"].values()),
    )

    second = Dispatcher(settings, pm=channels_pm({"sms": scripted("sms")}), clock=FakeClock())
    await second.start()
    await second.run(until_idle=True)
    got = await deliveries(second, ann.id)
    await second.stop()
    assert 35 == len(got) == len({x.address for x in got})
    assert {DeliveryStatus.SENT} == {x.status for x in got}


async def _reopen(d: Dispatcher):  # type: ignore[no-untyped-def]
    store = SQLiteStore(d.settings.db)
    await store.open()
    try:
        [only] = (await store.list_announcements(status=None, after=None, limit=1)).items
        return await store.get_announcement(only.id)
    finally:
        await store.close()


class SlowBookkeepingStore(SQLiteStore):
    """A store whose completion check (the scheduler's bookkeeping) waits for ``gate``."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.waiting = False

    async def complete_finished(self, now):  # type: ignore[no-untyped-def, override]
        self.waiting = True
        await self.gate.wait()
        return await super().complete_finished(now)


async def test_an_emergency_is_released_without_waiting_for_the_tick_in_progress(
    settings_factory,
) -> None:
    settings = settings_factory()
    store = SlowBookkeepingStore(settings.db)
    d = Dispatcher(
        settings, pm=channels_pm({"sms": scripted("sms")}), store=store, clock=FakeClock()
    )
    await d.start()
    runner = asyncio.create_task(d.run())
    await wait_until(lambda: store.waiting)  # the scheduler is stuck mid-tick
    await announce(d, priority="emergency", audience={"addresses": {"sms": ["+84990000001"]}})
    await wait_until(lambda: bool(d.channels["sms"].sent), timeout=5)
    await announce(d, priority="normal", audience={"addresses": {"sms": ["+84990000002"]}})
    await asyncio.sleep(0.2)
    # A normal announcement waits for the scheduler's next tick, as before.
    assert ["+84990000001"] == [m.address for m in d.channels["sms"].sent]
    store.gate.set()
    await wait_until(lambda: len(d.channels["sms"].sent) == 2)
    await d.stop()
    await runner


class HeldOutcomesStore(SQLiteStore):
    """A store whose outcome writes wait for ``gate``, as behind a busy writer."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.held = 0

    async def record_outcomes(self, outcomes, now):  # type: ignore[no-untyped-def, override]
        self.held += 1
        await self.gate.wait()
        return await super().record_outcomes(outcomes, now)


async def test_the_next_batch_goes_out_while_the_outcomes_before_it_are_written(
    settings_factory,
) -> None:
    settings = settings_factory()
    store = HeldOutcomesStore(settings.db)
    channel_cls = scripted("sms", max_batch=10, concurrency=1)
    d = Dispatcher(settings, pm=channels_pm({"sms": channel_cls}), store=store, clock=FakeClock())
    await d.start()
    ann = await announce(d, audience={"addresses": {"sms": [f"+8491{i:07d}" for i in range(30)]}})
    runner = asyncio.create_task(d.run())
    # One send slot: the second batch reaches the provider while the first one's outcomes
    # still wait to be written, so the provider is not kept waiting on the store.
    await wait_until(lambda: len(d.channels["sms"].batches) >= 2)
    assert store.held >= 1
    assert {"sending": 30} == (await d.services.get_announcement(ann.id)).counts["sms"]
    store.gate.set()
    await wait_until(lambda: len(d.channels["sms"].sent) == 30)
    await d.stop()
    await runner
    counts = (await _reopen(d)).counts
    assert {"sms": {"sent": 30}} == counts
    assert 30 == len({m.address for m in d.channels["sms"].sent})


async def test_the_next_batch_is_claimed_while_every_slot_is_busy(dispatcher_factory) -> None:
    d = await dispatcher_factory({"sms": scripted("sms", max_batch=10, concurrency=1)})
    numbers = [f"+8491{i:07d}" for i in range(30)]
    ann, channel, runner = await hold_first_batch(d, audience={"addresses": {"sms": numbers}})
    # The first batch holds the only slot at the provider; the second is leased already
    # (its lease renewed with the first's), the third still queued.
    worker = d.workers["sms"]
    await wait_until(lambda: len(worker.leases) == 2)
    counts = (await d.services.get_announcement(ann.id)).counts["sms"]
    assert {"sending": 20, "queued": 10} == counts
    assert 1 == len(channel.batches)
    channel.gate.set()
    await wait_until(lambda: len(channel.sent) == 30)
    await d.stop()
    await runner
    assert [10, 10, 10] == [len(b) for b in channel.batches]
