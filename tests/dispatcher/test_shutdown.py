"""Shutdown: in-flight work finishes or is aborted and recorded; nothing is lost."""

from __future__ import annotations

import asyncio

import pytest
from engine_helpers import announce, hold_first_batch, wait_until
from scripted import channels_pm, scripted

from dispatcher.clock import FakeClock
from dispatcher.engine import Dispatcher
from dispatcher.errors import DispatcherError
from dispatcher.store import SQLiteStore
from schemas import AttemptOutcome, Delivery, DeliveryStatus

ONE = {"addresses": {"sms": ["+84910000000"]}}
TWO = {"addresses": {"sms": ["+84910000000", "+84910000001"]}}


async def _delivery(d: Dispatcher, delivery_id: str = "1") -> Delivery:
    """A delivery as the database holds it, read with a store of its own."""
    store = SQLiteStore(d.settings.db)
    await store.open()
    try:
        return await store.get_delivery(delivery_id)
    finally:
        await store.close()


async def test_stop_waits_for_in_flight_sends(dispatcher_factory) -> None:
    d = await dispatcher_factory(worker={"shutdown_timeout": 30})
    _, channel, runner = await hold_first_batch(d, audience=ONE)
    stopping = asyncio.create_task(d.stop())
    await asyncio.sleep(0)  # let stop() begin before the provider answers
    channel.gate.set()
    await stopping
    await runner
    delivery = await _delivery(d)
    assert DeliveryStatus.SENT == delivery.status


async def test_stop_aborts_sends_past_the_timeout_and_records_them(dispatcher_factory) -> None:
    d = await dispatcher_factory(worker={"shutdown_timeout": 0.05})
    # The gate is never set: the provider hangs.
    _, _, runner = await hold_first_batch(d, audience=ONE)
    await d.stop()
    await runner
    delivery = await _delivery(d)
    assert DeliveryStatus.RETRY_WAIT == delivery.status
    assert [AttemptOutcome.ABORTED] == [a.outcome for a in delivery.attempts]


async def test_aborted_send_goes_out_after_restart(settings_factory) -> None:
    settings = settings_factory(worker={"shutdown_timeout": 0.05})
    first = Dispatcher(settings, pm=channels_pm({"sms": scripted("sms")}), clock=FakeClock())
    await first.start()
    await announce(first, audience=ONE)
    first.channels["sms"].gate = asyncio.Event()
    runner = asyncio.create_task(first.run())
    await wait_until(lambda: _has_batches(first.channels["sms"]))
    await first.stop()
    await runner
    second = Dispatcher(settings, pm=channels_pm({"sms": scripted("sms")}), clock=FakeClock())
    await second.start()
    await second.run(until_idle=True)
    assert ["+84910000000"] == [m.address for m in second.channels["sms"].sent]
    await second.stop()


async def test_stop_before_run_is_not_lost(dispatcher_factory) -> None:
    d = await dispatcher_factory()
    await announce(d, audience=ONE)
    await d.stop()
    await asyncio.wait_for(d.run(), timeout=5)
    assert [] == d.channels["sms"].sent


async def test_stop_is_idempotent(dispatcher_factory) -> None:
    d = await dispatcher_factory()
    runner = asyncio.create_task(d.run())
    await asyncio.gather(d.stop(), d.stop())
    await runner
    await d.stop()


class BrokenStore(SQLiteStore):
    """A store whose claims fail, as a disk gone read-only would."""

    async def claim(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        raise OSError("disk I/O error")


async def test_dispatcher_stops_and_says_why_when_a_worker_dies(settings_factory) -> None:
    settings = settings_factory()
    d = Dispatcher(
        settings,
        pm=channels_pm({"sms": scripted("sms")}),
        store=BrokenStore(settings.db),
        clock=FakeClock(),
    )
    with pytest.raises(DispatcherError, match=r"worker:sms.*disk I/O error"):
        await asyncio.wait_for(d.run(), timeout=5)
    assert not await d.ready()


async def _has_batches(channel) -> bool:  # type: ignore[no-untyped-def]
    return bool(channel.batches)


async def test_stop_during_drain_is_not_ignored(dispatcher_factory) -> None:
    d = await dispatcher_factory(worker={"shutdown_timeout": 0.05})
    await announce(d, audience=ONE)
    channel = d.channels["sms"]
    channel.gate = asyncio.Event()  # the provider hangs: drain alone would never end
    draining = asyncio.create_task(d.run(until_idle=True))
    await wait_until(lambda: _has_batches(channel))
    await asyncio.wait_for(d.stop(), timeout=5)
    await asyncio.wait_for(draining, timeout=5)
    assert not await d.ready()


class SlowClaimStore(SQLiteStore):
    """A store whose claims by one lane (``urgent``: the urgent lane's, else the bulk
    lane's) wait for ``gate``; the other lane's find nothing."""

    def __init__(self, *args, urgent: bool, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.urgent = urgent
        self.gate = asyncio.Event()
        self.waiting = False

    async def claim(self, channel, *, max_rank=None, **kwargs):  # type: ignore[no-untyped-def, override]
        if (max_rank is not None) != self.urgent:
            return [], []
        self.waiting = True
        await self.gate.wait()
        return await super().claim(channel, max_rank=max_rank, **kwargs)


@pytest.mark.parametrize(("priority", "lane"), [("normal", "bulk"), ("emergency", "urgent")])
async def test_a_claim_that_returns_after_stop_is_handed_back_unsent(
    settings_factory, priority: str, lane: str
) -> None:
    settings = settings_factory()
    store = SlowClaimStore(settings.db, urgent=lane == "urgent")
    d = Dispatcher(
        settings, pm=channels_pm({"sms": scripted("sms")}), store=store, clock=FakeClock()
    )
    await d.start()
    await announce(d, priority=priority, audience=ONE)
    runner = asyncio.create_task(d.run())
    await wait_until(lambda: _flag(store))
    stopping = asyncio.create_task(d.stop())
    await asyncio.sleep(0.01)  # stop() has told the workers to stop
    store.gate.set()  # the claim in progress now takes the row
    await asyncio.wait_for(stopping, timeout=5)
    await runner
    assert [] == d.channels["sms"].sent
    delivery = await _delivery(d)
    assert (DeliveryStatus.QUEUED, 0) == (delivery.status, delivery.attempt_count)


async def _flag(store: SlowClaimStore) -> bool:
    # A claim is waiting and the row it will take is queued.
    return store.waiting and bool((await store.status_totals()).get(("sms", "queued")))


async def test_a_batch_claimed_ahead_is_handed_back_unsent_at_stop(dispatcher_factory) -> None:
    d = await dispatcher_factory(
        {"sms": scripted("sms", max_batch=1, concurrency=1)}, worker={"shutdown_timeout": 0.05}
    )
    # The gate is never set: the first send hangs.
    _, channel, runner = await hold_first_batch(d, audience=TWO)
    await wait_until(lambda: len(d.workers["sms"].leases) == 2)
    await d.stop()
    await runner
    assert 1 == len(channel.batches)
    waiting = await _delivery(d, "2")
    # Never sent: queued again, with no attempt counted or recorded.
    assert (DeliveryStatus.QUEUED, 0, []) == (
        waiting.status,
        waiting.attempt_count,
        waiting.attempts,
    )


async def test_a_batch_claimed_ahead_is_handed_back_when_its_loop_is_cancelled(
    dispatcher_factory,
) -> None:
    d = await dispatcher_factory({"sms": scripted("sms", max_batch=1, concurrency=1)})
    _, channel, runner = await hold_first_batch(d, audience=TWO)
    worker = d.workers["sms"]
    await wait_until(lambda: len(worker.leases) == 2)
    [loop] = [t for t in d._tasks if t.get_name() == "worker:sms"]
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert 1 == len(worker.leases)  # only the batch at the provider is still renewed
    channel.gate.set()
    with pytest.raises(DispatcherError, match="worker:sms"):
        await runner
    await d.stop()
    waiting = await _delivery(d, "2")
    assert (DeliveryStatus.QUEUED, 0, []) == (
        waiting.status,
        waiting.attempt_count,
        waiting.attempts,
    )
