"""A real thongbao HTTP API on 127.0.0.1: SQLite on disk, two test channels, a key per role."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, ConfigDict

from dispatcher.api import make_app
from dispatcher.channel import (
    Accepted,
    Channel,
    ChannelSpec,
    OutboundMessage,
    RouteSpec,
    SendResult,
)
from dispatcher.clock import FakeClock
from dispatcher.config import ApiSettings
from dispatcher.keys import Role
from dispatcher.metrics import Metrics
from dispatcher.registry import ChannelRegistry
from dispatcher.service import Services
from dispatcher.store.sqlite import SQLiteStore
from dispatcher.webkeys import services as services_of

CHANNELS = ("sms", "email")
MAX_BODY = 64 * 1024


class NoSettings(BaseModel):
    """Test channels take no settings."""

    model_config = ConfigDict(extra="forbid")


class NullChannel(Channel):
    """Accepts everything; the API tests never send."""

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        return [Accepted(provider_id=f"p-{m.delivery_id}") for m in batch]


async def public_hook(request: web.Request) -> web.Response:
    """A provider callback: public, like a real receipt webhook."""
    return web.json_response({"channels": services_of(request).registry.names()})


async def private_hook(request: web.Request) -> web.Response:
    """A plugin page for operators only."""
    return web.json_response({"ok": True})


async def broken_hook(request: web.Request) -> web.Response:
    """A plugin route with a bug in it."""
    raise RuntimeError("database password is hunter2")


PLUGIN_ROUTES = (
    RouteSpec("POST", "/hooks/test/{channel}/receipts", public_hook, name="test_receipts"),
    RouteSpec("GET", "/hooks/test/private", private_hook, role="operator"),
    RouteSpec("GET", "/hooks/test/readers", private_hook, role=("operator", "system")),
    RouteSpec("GET", "/hooks/test/broken", broken_hook),
)


class Readiness:
    """A readiness check the test can flip."""

    def __init__(self) -> None:
        self.ready = True

    async def __call__(self) -> bool:
        return self.ready


@dataclass
class Api:
    """The running API and what a test needs around it."""

    client: TestClient[web.Request, web.Application]
    services: Services
    store: SQLiteStore
    clock: FakeClock
    metrics: Metrics
    readiness: Readiness
    tokens: dict[Role, str]

    def auth(self, role: Role) -> dict[str, str]:
        """The Authorization header of the test key with ``role``."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def raw(self, head: bytes, body: bytes = b"") -> tuple[int, dict[str, Any]]:
        """Send bytes no well-behaved client would (e.g. headers that are not UTF-8).

        ``head`` is the request line and headers without the final blank line; returns the
        status and the JSON body of the answer.
        """
        server = self.client.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        length = f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        writer.write(head + b"\r\n" + length + body)
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        status_line, _, rest = answer.partition(b"\r\n")
        payload = rest.partition(b"\r\n\r\n")[2]
        return int(status_line.split()[1]), json.loads(payload)

    async def problem(self, response: ClientResponse, status: int) -> dict[str, Any]:
        """Assert ``response`` is an RFC 9457 problem with ``status``; return its body."""
        assert (status, "application/problem+json") == (response.status, response.content_type)
        body: dict[str, Any] = await response.json(content_type=None)
        assert {"type", "title", "status", "detail"} <= body.keys()
        assert status == body["status"]
        assert "Traceback" not in body["detail"]
        return body


def _announcement_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Lịch cắt điện",
        "body": "Phường Bến Nghé cắt điện từ 8:00 đến 11:00 ngày 15/3.",
        "channels": ["sms"],
        "audience": {"addresses": {"sms": ["+84901234567"]}},
    }
    body.update(changes)
    return body


@pytest.fixture
def announcement_body() -> Callable[..., dict[str, Any]]:
    """Builds a valid announcement request; keyword arguments replace top-level fields."""
    return _announcement_body


@pytest.fixture
def registry() -> ChannelRegistry:
    return ChannelRegistry(
        (ChannelSpec(name, NullChannel, NoSettings), "tests") for name in CHANNELS
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "api.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def api_client(store: SQLiteStore, registry: ChannelRegistry) -> AsyncIterator[Api]:
    clock = FakeClock()
    services = Services(store, registry, clock=clock)
    tokens = {role: (await services.create_api_key(role, f"{role}-test"))[1] for role in Role}
    metrics, readiness = Metrics(), Readiness()
    app = make_app(
        services,
        routes=PLUGIN_ROUTES,
        metrics=metrics,
        settings=ApiSettings(max_body_bytes=MAX_BODY),
        ready=readiness,
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield Api(client, services, store, clock, metrics, readiness, tokens)
