"""The fakes shipped in dispatcher.testing for plugin authors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dispatcher.channel import Accepted, Failed, OutboundMessage, RetryLater, SendResult
from dispatcher.errors import TransientDeliveryError
from dispatcher.testing import FakeChannel, FakeReceiptSink, make_context, make_message
from schemas import DeliveryStatus, ReceiptIn


async def test_fake_channel_accepts_and_records_by_default(tmp_path: Path) -> None:
    channel = FakeChannel(make_context(tmp_path))
    batch = [make_message("a", 1), make_message("b", 2)]
    results = await channel.send(batch)
    assert [Accepted(provider_id="fake-d1-1"), Accepted(provider_id="fake-d2-1")] == results
    assert [batch] == channel.batches
    assert batch == channel.sent


async def test_fake_channel_answers_per_address(tmp_path: Path) -> None:
    refused = Failed("number is barred", code="E12")
    channel = FakeChannel(make_context(tmp_path), {"b": refused})
    results = await channel.send([make_message("a", 1), make_message("b", 2)])
    assert [Accepted(provider_id="fake-d1-1"), refused] == results


async def test_fake_channel_answers_with_a_function(tmp_path: Path) -> None:
    def later(message: OutboundMessage) -> SendResult:
        return RetryLater("busy", after=float(message.attempt))

    channel = FakeChannel(make_context(tmp_path), later)
    assert [RetryLater("busy", after=1.0)] == await channel.send([make_message("a")])


async def test_fake_channel_raises_the_programmed_error(tmp_path: Path) -> None:
    channel = FakeChannel(make_context(tmp_path), error=TransientDeliveryError("down"))
    with pytest.raises(TransientDeliveryError):
        await channel.send([make_message("a")])
    assert 1 == len(channel.batches)


async def test_fake_channel_waits_for_its_gate(tmp_path: Path) -> None:
    gate = asyncio.Event()
    channel = FakeChannel(make_context(tmp_path), gate=gate)
    task = asyncio.create_task(channel.send([make_message("a")]))
    await channel.received.wait()
    assert not task.done()
    gate.set()
    assert [Accepted(provider_id="fake-d1-1")] == await task


async def test_fake_receipt_sink_records_and_can_refuse() -> None:
    sink = FakeReceiptSink()
    receipt = ReceiptIn(channel="sms", provider_id="p1", status=DeliveryStatus.DELIVERED)
    sink.fail_next = 1
    with pytest.raises(ConnectionError):
        await sink.submit([receipt])
    assert [True] == await sink.submit([receipt])
    assert [receipt] == await sink.wait_for(1)
