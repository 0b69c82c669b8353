"""Fixtures for channel plugin tests: fake providers on 127.0.0.1, a receipt sink, a clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dispatcher.api.app import make_app
from dispatcher.clock import FakeClock
from dispatcher.config import Settings
from dispatcher.engine import Dispatcher
from dispatcher.keys import Role
from dispatcher.plugins import make_plugin_manager
from dispatcher.testing import Answerer, FakeProvider, FakeReceiptSink, ProviderAnswer

ProviderFactory = Callable[..., Awaitable[FakeProvider]]
Client = TestClient[web.Request, web.Application]
Served = tuple[Dispatcher, Client, str]  # the engine, a client of its API, an admin token
ServeEngine = Callable[[Settings, FakeClock, Sequence[dict[str, Any]]], Awaitable[Served]]


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


@pytest.fixture
async def serve_engine() -> AsyncIterator[ServeEngine]:
    """``await serve(settings, clock, areas)`` → a started engine on the built-in plugins,
    its API (with the plugins' routes) on 127.0.0.1, ``areas`` loaded and an admin key;
    all stopped after the test."""
    made: list[tuple[Dispatcher, Client]] = []

    async def serve(
        settings: Settings, clock: FakeClock, areas: Sequence[dict[str, Any]]
    ) -> Served:
        engine = Dispatcher(settings, pm=make_plugin_manager(entrypoints=False), clock=clock)
        await engine.start()
        app = make_app(
            engine.services, routes=engine.routes, metrics=engine.metrics, settings=settings.api
        )
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        made.append((engine, client))
        report = await engine.services.import_areas(areas)
        assert report.ok, report.errors
        _, admin = await engine.services.create_api_key(Role.ADMIN, "admin")
        return engine, client, admin

    yield serve
    for engine, client in made:
        await client.close()
        await engine.stop()
