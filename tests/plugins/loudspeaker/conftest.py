"""Fixtures for the loudspeaker channel tests (helpers in ``loudspeaker_helpers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from loudspeaker_helpers import (
    AREAS,
    START,
    TOKEN,
    Controller,
    Loud,
    LoudFactory,
    espeak_available,
)
from services import listening, need_service

from dispatcher.clock import FakeClock
from dispatcher.config import Settings


@pytest.fixture
def espeak() -> None:
    need_service(espeak_available(), "espeak-ng (apt-get install espeak-ng)")


@pytest.fixture
def broker() -> None:
    need_service(listening(1883), "the Mosquitto broker on 127.0.0.1:1883")


@pytest.fixture
async def controller() -> AsyncIterator[Controller]:
    fake = Controller()
    app = web.Application()
    app.router.add_post("/schedule", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("/schedule"))
    yield fake
    await server.close()


@pytest.fixture
def loud_factory(settings_factory: Callable[..., Settings], serve_engine: Any) -> LoudFactory:
    """``await make(**channel_settings)`` → the engine on the loudspeaker plugin alone."""

    async def make(**loudspeaker: Any) -> Loud:
        channel = {"resync_interval": 0, "report_token": TOKEN, **loudspeaker}
        settings = settings_factory(
            enabled_channels=["loudspeaker"], channels={"loudspeaker": channel}
        )
        clock = FakeClock(START)
        engine, client, admin = await serve_engine(settings, clock, AREAS)
        return Loud(engine, client, clock, admin)

    return make
