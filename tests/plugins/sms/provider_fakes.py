"""What the eSMS and SpeedSMS tests share: messages and receipts to compare, started
transports pointed at a fake provider, and a client of a plugin's report routes; and the
timeouts every SMS transport test gives its fake gateway (the generic transport's too)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, cast

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel

from dispatcher import ChannelContext, DeliveryError, RouteSpec
from dispatcher.service import Services
from dispatcher.testing import FakeReceiptSink, make_context
from dispatcher.testing.fakes import make_message
from dispatcher.webkeys import SERVICES
from plugins.sms.transport import SmsOut, SmsTransport
from schemas import DeliveryStatus, ReceiptIn

SettingsT = TypeVar("SettingsT", bound=BaseModel)
TransportT = TypeVar("TransportT", bound=SmsTransport)

Client = TestClient[web.Request, web.Application]
#: ``await make(**overrides)`` → a started transport on the test's settings with overrides.
MakeTransport = Callable[..., Awaitable[TransportT]]
#: Seconds a started transport waits for the fake: long, since a short one for every test
#: fails a request now and then on a loaded machine; the tests of a provider that never
#: answers pass ``timeout=SHORT_TIMEOUT`` and wait that out.
TIMEOUT = 10.0
SHORT_TIMEOUT = 0.5


def sms_out(phone: str, n: int, text: str, *, unicode: bool, test: bool) -> SmsOut:
    """Message ``n`` to ``phone`` as the SMS channel hands it to a transport: one segment."""
    message = replace(make_message(phone, n, "sms"), test=test)
    return SmsOut(message=message, text=text, unicode=unicode, segments=1)


def sms_receipt(
    provider_id: str, status: DeliveryStatus, code: str, detail: str | None = None
) -> ReceiptIn:
    """The SMS receipt a report route should submit."""
    return ReceiptIn(
        channel="sms",
        provider_id=provider_id,
        status=status,
        provider_code=code,
        detail=detail,
    )


async def outcomes(transport: SmsTransport, batch: list[SmsOut]) -> list[object]:
    """The results of a send, with a whole-batch error as every message's outcome."""
    try:
        return list(await transport.send(batch))
    except DeliveryError as exc:
        return [exc] * len(batch)


@asynccontextmanager
async def started_transports(
    tmp_path: Path,
    settings_type: type[SettingsT],
    transport_type: Callable[[SettingsT, ChannelContext], TransportT],
    defaults: Mapping[str, Any],
) -> AsyncIterator[MakeTransport[TransportT]]:
    """Yield ``make``: each call starts a transport on ``defaults`` updated with its keyword
    arguments; every one made is closed on exit."""
    made: list[TransportT] = []

    async def make(**overrides: Any) -> TransportT:
        settings = settings_type.model_validate({"timeout": TIMEOUT, **defaults, **overrides})
        transport = transport_type(settings, make_context(tmp_path, settings, "sms"))
        await transport.start()
        made.append(transport)
        return transport

    try:
        yield make
    finally:
        for transport in made:
            await transport.aclose()


@asynccontextmanager
async def routes_client(
    routes: Iterable[RouteSpec], sink: FakeReceiptSink
) -> AsyncIterator[Client]:
    """A client of an app serving only ``routes``, with ``sink`` as the engine's services."""
    app = web.Application()
    app[SERVICES] = cast(Services, sink)  # the routes only call submit()
    for route in routes:
        app.router.add_route(route.method, route.path, route.handler)
    async with TestClient(TestServer(app)) as client:
        yield client
