"""Test support shipped for plugin authors: fakes, a fake provider and the channel contract.

Importing this module needs pytest (``pip install thongbao[test]``).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import BaseModel, ConfigDict
from structlog.testing import capture_logs

from dispatcher.channel import (
    Accepted,
    Channel,
    ChannelContext,
    Failed,
    OutboundMessage,
    ReceiptSink,
    RetryLater,
    SendResult,
)
from dispatcher.clock import Clock
from dispatcher.errors import (
    DeliveryError,
    InvalidAddressError,
    PermanentDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from schemas import FailureKind, ReceiptIn

ResultRule = Mapping[str, SendResult] | Callable[[OutboundMessage], SendResult]
Outcome = SendResult | DeliveryError


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


def make_context(
    tmp_path: Path,
    settings: BaseModel | None = None,
    name: str = "fake",
    *,
    receipts: ReceiptSink | None = None,
    clock: Clock | None = None,
) -> ChannelContext:
    """A channel context whose data folder is ``tmp_path / name``."""
    data_dir = tmp_path / name
    data_dir.mkdir(parents=True, exist_ok=True)
    return ChannelContext(
        name=name,
        settings=settings if settings is not None else FakeSettings(),
        data_dir=data_dir,
        receipts=receipts if receipts is not None else FakeReceiptSink(),
        clock=clock or Clock(),
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


@dataclass
class ProviderRequest:
    """A request the fake provider received."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body, parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class ProviderAnswer:
    """How the fake provider answers: ``text`` wins over ``json``; ``hang`` never answers."""

    status: int = 200
    json: Any = None
    text: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False


Answerer = Callable[[ProviderRequest], ProviderAnswer]


class FakeProvider:
    """A programmable HTTP provider: a real aiohttp server on 127.0.0.1.

    Queued answers (:meth:`answer`) are used first, then the default (:meth:`always`).

    Args:
        default: answers each request; default 200 ``{"id": "prov-1"}``.
    """

    def __init__(self, default: ProviderAnswer | Answerer | None = None) -> None:
        self.requests: list[ProviderRequest] = []
        self.received = asyncio.Event()
        self._queue: deque[ProviderAnswer] = deque()
        self._default: ProviderAnswer | Answerer = default or ProviderAnswer(json={"id": "prov-1"})
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        """Where to send requests."""
        return str(self._server.make_url("/send"))

    def answer(self, *answers: ProviderAnswer) -> None:
        """Answer the next requests with ``answers``, in order."""
        self._queue.extend(answers)

    def always(self, answer: ProviderAnswer | Answerer) -> None:
        """Answer every request not covered by :meth:`answer` with ``answer``."""
        self._default = answer

    async def start(self) -> FakeProvider:
        """Start listening; returns self."""
        await self._server.start_server()
        return self

    async def close(self) -> None:
        """Release hanging requests and stop; safe to call twice."""
        self._release.set()
        await self._server.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = ProviderRequest(
            request.method, request.path, dict(request.headers), await request.read()
        )
        self.requests.append(recorded)
        self.received.set()
        answer = self._queue.popleft() if self._queue else self._default
        if callable(answer):
            answer = answer(recorded)
        if answer.hang:
            await self._release.wait()
            return web.Response(status=504)
        if answer.text is not None:
            return web.Response(status=answer.status, text=answer.text, headers=answer.headers)
        return web.json_response(answer.json, status=answer.status, headers=answer.headers)


async def outcomes(channel: Channel, batch: Sequence[OutboundMessage]) -> list[Outcome]:
    """``channel.send(batch)``, with a whole-batch ``DeliveryError`` as every message's outcome."""
    try:
        return list(await channel.send(batch))
    except DeliveryError as exc:
        return [exc] * len(batch)


def is_transient(outcome: Outcome) -> bool:
    """Whether ``outcome`` means "try again later"."""
    return isinstance(outcome, RetryLater | TransientDeliveryError)


def is_permanent(outcome: Outcome) -> bool:
    """Whether ``outcome`` means "refused for good"."""
    if isinstance(outcome, Failed):
        return outcome.kind is FailureKind.PERMANENT
    return isinstance(outcome, PermanentDeliveryError)


def retry_after(outcome: Outcome) -> float | None:
    """The wait an outcome asks for, if any."""
    if isinstance(outcome, RetryLater):
        return outcome.after
    return outcome.retry_after if isinstance(outcome, RateLimitedError) else None


class ChannelContract:
    """The behaviour every channel must show; subclass it in the channel's test module.

    Set the class attributes and :meth:`make_settings`; pytest collects the inherited
    ``test_*`` methods. A channel that talks HTTP subclasses :class:`HttpChannelContract`.

    Example::

        class TestTelegramContract(ChannelContract):
            channel_name = "telegram"
            factory = TelegramChannel
            address = "+84912345678"
            invalid_address = "not a number"

            def make_settings(self, provider_url):
                return TelegramSettings()

    Attributes:
        channel_name: the name the channel is built under.
        factory: the channel class (override :meth:`make_channel` for another factory).
        address: a valid address in canonical form.
        invalid_address: an address the channel must refuse.
        secret: a value :meth:`make_settings` puts in the settings; it must never show.
    """

    channel_name: ClassVar[str]
    factory: ClassVar[type[Channel]]
    address: ClassVar[str]
    invalid_address: ClassVar[str]
    secret: ClassVar[str | None] = None

    def make_settings(self, provider_url: str | None) -> BaseModel:
        """The channel's settings; ``provider_url`` is the fake provider's (HTTP channels)."""
        raise NotImplementedError

    def make_channel(self, ctx: ChannelContext) -> Channel:
        """Build the channel under test from ``ctx``."""
        return self.factory(ctx)

    def messages(self, count: int) -> list[OutboundMessage]:
        """``count`` messages to :attr:`address`, delivery ids ``d1`` … ``d<count>``."""
        return [make_message(self.address, n, self.channel_name) for n in range(1, count + 1)]

    def assert_no_secret(self, channel: Channel, *seen: object) -> None:
        """Fail if :attr:`secret` shows in the channel's or its settings' repr, or in ``seen``."""
        if self.secret is None:
            return
        texts = [repr(channel), repr(channel.ctx.settings), str(channel.ctx.settings)]
        leaks = [text for text in texts + [repr(item) for item in seen] if self.secret in text]
        assert not leaks, f"the secret shows in {leaks}"

    @pytest.fixture
    def provider_url(self) -> str | None:
        """No provider: the channel runs on its own (sandbox)."""
        return None

    @pytest.fixture
    async def channel(self, tmp_path: Path, provider_url: str | None) -> AsyncIterator[Channel]:
        """The channel under test, started, closed after the test."""
        ctx = make_context(tmp_path, self.make_settings(provider_url), self.channel_name)
        channel = self.make_channel(ctx)
        await channel.start()
        yield channel
        await channel.aclose()

    async def test_success_is_accepted_with_provider_id(self, channel: Channel) -> None:
        [result] = await channel.send(self.messages(1))
        assert isinstance(result, Accepted)
        assert result.provider_id

    async def test_one_result_per_message_in_order(self, channel: Channel) -> None:
        batch = self.messages(3)
        results = await channel.send(batch)
        assert [Accepted] * 3 == [type(result) for result in results]
        ids = [result.provider_id or "" for result in results if isinstance(result, Accepted)]
        assert all(m.delivery_id in pid for m, pid in zip(batch, ids, strict=True)), ids

    async def test_cancelled_send_propagates(self, channel: Channel) -> None:
        task = asyncio.create_task(channel.send(self.messages(1)))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def test_aclose_is_idempotent(self, channel: Channel) -> None:
        await channel.aclose()
        await channel.aclose()

    async def test_no_secret_in_repr_or_logs(self, channel: Channel) -> None:
        with capture_logs() as logs:
            results = await channel.send(self.messages(1))
        self.assert_no_secret(channel, results, logs)

    async def test_canonical_address_is_kept(self, channel: Channel) -> None:
        assert self.address == channel.normalize_address(self.address)

    async def test_invalid_address_is_refused_with_advice(self, channel: Channel) -> None:
        with pytest.raises(InvalidAddressError) as info:
            channel.normalize_address(self.invalid_address)
        assert str(info.value) != str(InvalidAddressError())

    async def test_limits_are_declared(self, channel: Channel) -> None:
        assert channel.max_batch >= 1
        assert channel.concurrency >= 1
        assert channel.rate_per_sec is None or channel.rate_per_sec > 0
        assert channel.max_length is None or channel.max_length > 0


class HttpChannelContract(ChannelContract):
    """:class:`ChannelContract` plus what an HTTP provider's failures must become.

    :meth:`make_settings` must point the channel at ``provider_url`` with a timeout under
    one second; :meth:`ok_answer` must answer with provider ids that contain each message's
    delivery id.
    """

    def ok_answer(self, request: ProviderRequest) -> ProviderAnswer:
        """The provider's answer when it accepts everything in ``request``."""
        raise NotImplementedError

    @pytest.fixture
    async def provider(self) -> AsyncIterator[FakeProvider]:
        """The fake provider, accepting by default."""
        provider = await FakeProvider(self.ok_answer).start()
        yield provider
        await provider.close()

    @pytest.fixture
    def provider_url(self, provider: FakeProvider) -> str:
        """Where the channel under test sends."""
        return provider.url

    @pytest.mark.parametrize(
        "answer",
        [
            pytest.param(ProviderAnswer(status=500), id="500"),
            pytest.param(ProviderAnswer(status=503, text="maintenance"), id="503-text"),
            pytest.param(ProviderAnswer(hang=True), id="timeout"),
        ],
    )
    async def test_provider_trouble_is_transient(
        self, channel: Channel, provider: FakeProvider, answer: ProviderAnswer
    ) -> None:
        provider.always(answer)
        found = await outcomes(channel, self.messages(2))
        assert all(is_transient(outcome) for outcome in found), found

    async def test_unreachable_provider_is_transient(
        self, channel: Channel, provider: FakeProvider
    ) -> None:
        await provider.close()
        found = await outcomes(channel, self.messages(2))
        assert all(is_transient(outcome) for outcome in found), found

    async def test_client_error_is_permanent(
        self, channel: Channel, provider: FakeProvider
    ) -> None:
        provider.always(ProviderAnswer(status=400, json={"error": "invalid recipient"}))
        found = await outcomes(channel, self.messages(2))
        assert all(is_permanent(outcome) for outcome in found), found

    async def test_rate_limit_sets_retry_after(
        self, channel: Channel, provider: FakeProvider
    ) -> None:
        provider.always(ProviderAnswer(status=429, headers={"Retry-After": "7"}))
        found = await outcomes(channel, self.messages(2))
        assert [7.0, 7.0] == [retry_after(outcome) for outcome in found]

    async def test_cancelled_send_propagates(  # type: ignore[override]
        self, channel: Channel, provider: FakeProvider
    ) -> None:
        provider.always(ProviderAnswer(hang=True))
        task = asyncio.create_task(channel.send(self.messages(1)))
        await provider.received.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def test_no_secret_in_repr_or_logs(  # type: ignore[override]
        self, channel: Channel, provider: FakeProvider
    ) -> None:
        seen: list[object] = []
        with capture_logs() as logs:
            for answer in (ProviderAnswer(), ProviderAnswer(status=500), ProviderAnswer(hang=True)):
                provider.always(answer)
                seen.append(await outcomes(channel, self.messages(1)))
            await provider.close()
            seen.append(await outcomes(channel, self.messages(1)))
        assert provider.requests, "the channel never reached the provider"
        self.assert_no_secret(channel, seen, logs)
