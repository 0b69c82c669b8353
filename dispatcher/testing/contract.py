"""The channel contract: the behaviour every channel must show, as inheritable pytest tests.

The helpers before the contract read a channel's answer, taking a whole-batch error and a
per-message result alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs

from dispatcher.channel import (
    Accepted,
    Channel,
    ChannelContext,
    Failed,
    OutboundMessage,
    RetryLater,
    SendResult,
)
from dispatcher.errors import (
    DeliveryError,
    InvalidAddressError,
    PermanentDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from dispatcher.testing.fakes import make_context, make_message
from dispatcher.testing.provider import FakeProvider, ProviderAnswer, ProviderRequest
from schemas import FailureKind

Outcome = SendResult | DeliveryError


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
