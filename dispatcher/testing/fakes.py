"""Fakes for a channel's collaborators: a receipt sink, a recording channel, contexts, messages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from dispatcher.channel import (
    Accepted,
    Channel,
    ChannelContext,
    OutboundMessage,
    ReceiptSink,
    SendResult,
)
from dispatcher.clock import Clock
from dispatcher.errors import DeliveryError
from dispatcher.outbound import OutboundGuard
from schemas import ReceiptIn

ResultRule = Mapping[str, SendResult] | Callable[[OutboundMessage], SendResult]


class FakeReceiptSink:
    """A receipt sink that records what it gets; also usable as a fake ``Services``.

    Attributes:
        receipts: every receipt submitted, in order.
        fail_next: how many coming ``submit`` calls raise ``ConnectionError``.
        applied: what ``submit`` answers for each receipt.
    """

    def __init__(self) -> None:
        self.receipts: list[ReceiptIn] = []
        self.fail_next = 0
        self.applied = True
        self._arrived = asyncio.Event()

    async def submit(self, receipts: Sequence[ReceiptIn]) -> list[bool]:
        """Record ``receipts``; returns ``[applied] * len(receipts)``."""
        if self.fail_next > 0:
            self.fail_next -= 1
            raise ConnectionError("the fake receipt sink refused (fail_next)")
        self.receipts.extend(receipts)
        self._arrived.set()
        return [self.applied] * len(receipts)

    async def wait_for(self, count: int) -> list[ReceiptIn]:
        """Wait until at least ``count`` receipts arrived; returns the first ``count``."""
        while len(self.receipts) < count:
            self._arrived.clear()
            await self._arrived.wait()
        return self.receipts[:count]


class FakeSettings(BaseModel):
    """Settings of :class:`FakeChannel`: none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FakeChannel(Channel):
    """A channel that records batches and answers as programmed.

    Args:
        ctx: the channel's context.
        results: per address a result, or a function of the message; default ``Accepted``
            with provider id ``fake-<delivery id>-<attempt>``.
        error: raised by every ``send`` (after recording the batch) when set.
        gate: when set, ``send`` waits for this event before answering.

    Attributes:
        batches: every batch handed to ``send``.
        received: set once a batch arrived (wait on it instead of sleeping).
    """

    def __init__(
        self,
        ctx: ChannelContext,
        results: ResultRule | None = None,
        *,
        error: DeliveryError | None = None,
        gate: asyncio.Event | None = None,
    ) -> None:
        super().__init__(ctx)
        self.results = results
        self.error = error
        self.gate = gate
        self.batches: list[list[OutboundMessage]] = []
        self.received = asyncio.Event()
        self.started = False
        self.close_count = 0

    @property
    def sent(self) -> list[OutboundMessage]:
        """Every message handed to ``send``, in order."""
        return [message for batch in self.batches for message in batch]

    async def start(self) -> None:
        """Remember that the channel was started."""
        self.started = True

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Record ``batch`` (and set :attr:`received`), wait for the gate, then answer."""
        self.batches.append(list(batch))
        self.received.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return [self._result(message) for message in batch]

    async def aclose(self) -> None:
        """Count the calls; closing twice is fine."""
        self.close_count += 1

    def _result(self, message: OutboundMessage) -> SendResult:
        default = Accepted(provider_id=f"fake-{message.delivery_id}-{message.attempt}")
        if self.results is None:
            return default
        if callable(self.results):
            return self.results(message)
        return self.results.get(message.address, default)


def loopback_guard() -> OutboundGuard:
    """An outbound guard that lets URLs from requests reach loopback, where test servers
    run (thongbao's default lets them reach public addresses only)."""
    return OutboundGuard((IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")))


def make_context(
    tmp_path: Path,
    settings: BaseModel | None = None,
    name: str = "fake",
    *,
    receipts: ReceiptSink | None = None,
    clock: Clock | None = None,
    outbound: OutboundGuard | None = None,
) -> ChannelContext:
    """A channel context whose data folder is ``tmp_path / name``; URLs from requests may
    reach the fake servers on loopback (:func:`loopback_guard`) unless ``outbound`` says
    else."""
    data_dir = tmp_path / name
    data_dir.mkdir(parents=True, exist_ok=True)
    return ChannelContext(
        name=name,
        settings=settings if settings is not None else FakeSettings(),
        data_dir=data_dir,
        receipts=receipts if receipts is not None else FakeReceiptSink(),
        clock=clock or Clock(),
        outbound=outbound or loopback_guard(),
    )


def make_message(address: str, number: int = 1, channel: str = "fake") -> OutboundMessage:
    """A Vietnamese test message with delivery id ``d<number>``."""
    return OutboundMessage(
        delivery_id=f"d{number}",
        announcement_id="a1",
        channel=channel,
        address=address,
        title="Thông báo cắt điện",
        body=f"Lịch cắt điện phường Hàng Bạc, tin số {number}.",
    )
