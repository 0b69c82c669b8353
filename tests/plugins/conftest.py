"""Fixtures for channel plugin tests: fake providers on 127.0.0.1, a receipt sink, a clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from dispatcher.clock import FakeClock
from dispatcher.testing import Answerer, FakeProvider, FakeReceiptSink, ProviderAnswer

ProviderFactory = Callable[..., Awaitable[FakeProvider]]


@pytest.fixture
async def provider_server() -> AsyncIterator[ProviderFactory]:
    """Start programmable in-process HTTP providers; every one is closed after the test.

    Call it with the default answer (a ``ProviderAnswer`` or a function of the request).
    """
    made: list[FakeProvider] = []

    async def make(default: ProviderAnswer | Answerer | None = None) -> FakeProvider:
        provider = await FakeProvider(default).start()
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()


@pytest.fixture
def sink() -> FakeReceiptSink:
    """A receipt sink that records receipts."""
    return FakeReceiptSink()


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when told to."""
    return FakeClock()
