"""Fixtures of the web plugin's tests (helpers in ``web_helpers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from web_helpers import AREAS, PUBLIC_URL, Receiver, Web, start_receiver

from dispatcher.clock import FakeClock
from dispatcher.config import Settings

WebFactory = Callable[..., Awaitable[Web]]


@pytest.fixture
def clock() -> FakeClock:
    """The fake time of the engine and of the receivers. It starts at the real time:
    ``standardwebhooks`` checks signatures' timestamps against the wall clock."""
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def web_factory(
    settings_factory: Callable[..., Settings], clock: FakeClock, serve_engine: Any
) -> WebFactory:
    """``await make(**web_settings)`` → the engine on the real web plugin alone, its API
    served on 127.0.0.1, the areas of :data:`AREAS` loaded. ``outbound=`` replaces the
    tests' ``[outbound]`` settings (which let URLs reach loopback)."""

    async def make(*, outbound: dict[str, Any] | None = None, **channel: Any) -> Web:
        more = {} if outbound is None else {"outbound": outbound}
        settings = settings_factory(
            enabled_channels=["web"],
            channels={"web": {"timeout": 0.5, **channel}},
            api={"public_url": PUBLIC_URL},
            **more,
        )
        engine, client, admin = await serve_engine(settings, clock, AREAS)
        return Web(engine, client, clock, admin)

    return make


@pytest.fixture
async def receiver_factory(clock: FakeClock) -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    """``await make([500, 200])`` → a webhook receiver on 127.0.0.1 answering in turn."""
    servers: list[TestServer] = []

    async def make(statuses: list[int] | None = None) -> Receiver:
        receiver, server = await start_receiver(clock, statuses)
        servers.append(server)
        return receiver

    yield make
    for server in servers:
        await server.close()
