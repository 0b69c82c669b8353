"""The sandbox transport: outbox, simulated receipts, failure share, replay after a crash."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from dispatcher.channel import Accepted, OutboundMessage
from dispatcher.clock import Clock, FakeClock
from dispatcher.sandbox import SANDBOX_FAILED, SandboxSettings, SandboxTransport, sandbox_fails
from dispatcher.testing import FakeReceiptSink, make_context, make_message
from schemas import DeliveryStatus, ReceiptIn

Factory = Callable[..., Awaitable[SandboxTransport]]


@pytest.fixture
async def transport_factory(
    tmp_path: Path, sink: FakeReceiptSink, clock: FakeClock
) -> AsyncIterator[Factory]:
    """Build started transports on one data folder; all closed after the test."""
    made: list[SandboxTransport] = []

    async def make(
        receipts: FakeReceiptSink = sink, time: Clock = clock, **settings: float
    ) -> SandboxTransport:
        ctx = make_context(tmp_path, SandboxSettings(), "sms", receipts=receipts, clock=time)
        transport = SandboxTransport(ctx, SandboxSettings(**settings))
        await transport.start()
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.aclose()


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def batch(count: int, start: int = 1) -> list[OutboundMessage]:
    return [make_message(f"+8491234567{n % 10}", n, "sms") for n in range(start, start + count)]


async def test_send_writes_one_outbox_line_per_message(
    transport_factory: Factory, clock: FakeClock
) -> None:
    transport = await transport_factory()
    await transport.send(batch(2))
    expected = [
        {
            "delivery_id": f"d{n}",
            "announcement_id": "a1",
            "channel": "sms",
            "address": f"+8491234567{n}",
            "title": "Thông báo cắt điện",
            "body": f"Lịch cắt điện phường Hàng Bạc, tin số {n}.",
            "attempt": 1,
            "provider_id": f"sbx-d{n}-1",
            "at": clock.now().isoformat(),
        }
        for n in (1, 2)
    ]
    assert expected == lines(transport.outbox_path)


async def test_send_answers_accepted_with_sandbox_ids(transport_factory: Factory) -> None:
    transport = await transport_factory()
    results = await transport.send(batch(2))
    assert [Accepted(provider_id="sbx-d1-1"), Accepted(provider_id="sbx-d2-1")] == results


async def test_empty_batch_writes_nothing(transport_factory: Factory) -> None:
    transport = await transport_factory()
    assert [] == await transport.send([])
    assert "" == transport.outbox_path.read_text()


async def test_receipts_arrive_after_the_delay(
    transport_factory: Factory, sink: FakeReceiptSink
) -> None:
    transport = await transport_factory(time=Clock(), receipt_delay=0.05)
    await transport.send(batch(2))
    receipts = await sink.wait_for(2)
    sent_at = datetime.fromisoformat(str(lines(transport.outbox_path)[0]["at"]))
    assert ["sbx-d1-1", "sbx-d2-1"] == [r.provider_id for r in receipts]
    assert all(r.status is DeliveryStatus.DELIVERED for r in receipts)
    delays = [r.occurred_at - sent_at for r in receipts if r.occurred_at]
    assert all(delay >= timedelta(seconds=0.05) for delay in delays), delays


async def test_flush_hands_over_every_pending_receipt_now(
    transport_factory: Factory, sink: FakeReceiptSink, clock: FakeClock
) -> None:
    transport = await transport_factory(receipt_delay=3600)
    await transport.send(batch(2))
    await transport.flush()
    expected = [
        ReceiptIn(
            channel="sms",
            provider_id=f"sbx-d{n}-1",
            status=DeliveryStatus.DELIVERED,
            occurred_at=clock.now(),
        )
        for n in (1, 2)
    ]
    assert expected == sink.receipts
    assert 0 == transport.pending
    assert ["sbx-d1-1", "sbx-d2-1"] == [e["provider_id"] for e in lines(transport.receipts_path)]


async def test_failure_share_fails_the_predicted_deliveries(
    transport_factory: Factory, sink: FakeReceiptSink
) -> None:
    transport = await transport_factory(failure_share=0.5)
    messages = batch(40)
    await transport.send(messages)
    await transport.flush()
    predicted = {f"sbx-{m.delivery_id}-1" for m in messages if sandbox_fails(m.delivery_id, 0.5)}
    failed = {r.provider_id for r in sink.receipts if r.status is DeliveryStatus.FAILED}
    assert predicted == failed
    assert 0 < len(failed) < 40
    assert {SANDBOX_FAILED} == {r.provider_code for r in sink.receipts if r.provider_id in failed}


@pytest.mark.parametrize(
    ("share", "failures"),
    [pytest.param(0.0, 0, id="never"), pytest.param(1.0, 10, id="always")],
)
def test_failure_share_bounds(share: float, failures: int) -> None:
    assert failures == sum(sandbox_fails(f"d{n}", share) for n in range(10))


async def test_restart_replays_receipts_not_yet_handed_over(
    transport_factory: Factory, clock: FakeClock
) -> None:
    first = await transport_factory(receipt_delay=60)
    await first.send(batch(2))
    await first.flush()
    await first.send(batch(2, start=3))
    await first.aclose()  # the "crash": d3 and d4 never got their receipts
    second_sink = FakeReceiptSink()
    second = await transport_factory(receipts=second_sink, receipt_delay=60)
    assert 2 == second.pending
    await second.flush()
    assert ["sbx-d3-1", "sbx-d4-1"] == [r.provider_id for r in second_sink.receipts]


async def test_replayed_receipts_fall_due_on_their_own(
    transport_factory: Factory, clock: FakeClock
) -> None:
    first = await transport_factory(receipt_delay=60)
    await first.send(batch(2))
    await first.aclose()
    clock.advance(61)
    second_sink = FakeReceiptSink()
    await transport_factory(receipts=second_sink, receipt_delay=60)
    assert ["sbx-d1-1", "sbx-d2-1"] == [r.provider_id for r in await second_sink.wait_for(2)]


async def test_line_torn_by_a_crash_is_skipped_and_closed(transport_factory: Factory) -> None:
    first = await transport_factory()
    await first.send(batch(1))
    await first.aclose()
    with first.outbox_path.open("a") as outbox:
        outbox.write('{"delivery_id": "d9", "provi')
    with capture_logs() as logs:
        second = await transport_factory()
    assert 1 == second.pending
    assert "sandbox_line_skipped" in [e["event"] for e in logs]
    await second.send(batch(1, start=5))
    last = second.outbox_path.read_text().splitlines()[-1]
    assert "sbx-d5-1" == json.loads(last)["provider_id"]


async def test_refused_receipts_are_handed_over_again(
    transport_factory: Factory, sink: FakeReceiptSink
) -> None:
    sink.fail_next = 1
    with capture_logs() as logs:
        transport = await transport_factory(time=Clock(), receipt_delay=0)
        transport.retry_after = 0.01
        await transport.send(batch(2))
        receipts = await sink.wait_for(2)
    assert ["sbx-d1-1", "sbx-d2-1"] == [r.provider_id for r in receipts]
    assert ["sandbox_receipt_failed"] == [e["event"] for e in logs if e["log_level"] == "warning"]


async def test_flush_raises_when_the_sink_fails_and_keeps_the_receipts(
    transport_factory: Factory, sink: FakeReceiptSink
) -> None:
    transport = await transport_factory()
    await transport.send(batch(2))
    sink.fail_next = 1
    with pytest.raises(ConnectionError):
        await transport.flush()
    assert 2 == transport.pending
    await transport.flush()
    assert 2 == len(sink.receipts)


async def test_a_message_sent_twice_gets_one_receipt(
    transport_factory: Factory, sink: FakeReceiptSink
) -> None:
    transport = await transport_factory()
    await transport.send(batch(1))
    await transport.send(batch(1))
    await transport.flush()
    assert ["sbx-d1-1"] == [r.provider_id for r in sink.receipts]


async def test_aclose_is_idempotent_and_send_after_it_refused(transport_factory: Factory) -> None:
    transport = await transport_factory()
    await transport.aclose()
    await transport.aclose()
    with pytest.raises(RuntimeError, match="start"):
        await transport.send(batch(1))


async def test_send_before_start_is_refused(tmp_path: Path) -> None:
    transport = SandboxTransport(make_context(tmp_path), SandboxSettings())
    with pytest.raises(RuntimeError, match="not running"):
        await transport.send(batch(1))


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"receipt_delay": -1}, id="negative-delay"),
        pytest.param({"failure_share": 1.5}, id="share-above-one"),
        pytest.param({"delay": 1}, id="unknown-field"),
    ],
)
def test_settings_are_checked(settings: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        SandboxSettings.model_validate(settings)
