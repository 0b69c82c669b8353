"""What the web plugin's tests share: a webhook receiver on 127.0.0.1 and the engine on
the real web plugin with a ``FakeClock`` (fixtures in ``conftest.py``)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dispatcher.clock import FakeClock
from dispatcher.engine import Dispatcher
from schemas import Announcement, AnnouncementIn, Delivery

PUBLIC_URL = "https://thongbao.hcm.gov.vn"
AREAS = [
    {"code": "79", "name": "Thành phố Hồ Chí Minh"},
    {"code": "26740", "name": "Phường Sài Gòn", "parent_code": "79"},
    {"code": "26743", "name": "Phường Bến Thành", "parent_code": "79"},
    {"code": "01", "name": "Thành phố Hà Nội"},
    {"code": "00004", "name": "Phường Ba Đình", "parent_code": "01"},
]


@dataclass
class Received:
    """One request a receiver got."""

    headers: dict[str, str]
    body: bytes
    at: datetime

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers ``statuses`` in turn (the last one for
    every later request) and records what it got, with the fake time it got it. While
    ``hold`` is set to an unset event, answers wait for it (a delivery stays in flight);
    ``delay`` makes each answer take that many real seconds."""

    clock: FakeClock
    statuses: list[int] = field(default_factory=lambda: [200])
    headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    hold: asyncio.Event | None = None
    delay: float = 0.0
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self._arrived:
            self.received.append(Received(dict(request.headers), body, self.clock.now()))
            self._arrived.notify_all()
        if self.hold is not None:
            await self.hold.wait()
        await asyncio.sleep(self.delay)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return web.Response(status=status, headers=self.headers)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until ``count`` requests came; returns them."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received


@dataclass
class Web:
    """The engine on the web plugin, its HTTP API and an admin key."""

    engine: Dispatcher
    client: TestClient[web.Request, web.Application]
    clock: FakeClock
    admin: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}"}

    async def subscribe(self, url: str, **body: Any) -> tuple[str, str]:
        """Subscribe ``url`` through the admin API; returns (id, secret)."""
        response = await self.client.post(
            "/v1/web/subscriptions", json={"url": url, **body}, headers=self.auth
        )
        assert 201 == response.status, await response.text()
        data = await response.json()
        return data["id"], data["secret"]

    async def announce(self, **fields: Any) -> Announcement:
        """Create an announcement on the web channel and release it (drain once)."""
        data: dict[str, Any] = {
            "title": "Cảnh báo triều cường",
            "body": "Triều cường đạt đỉnh lúc 18:00; người dân vùng trũng chủ động phòng tránh.",
            "channels": ["web"],
            "audience": {"areas": ["79"]},
            "issuer": "UBND Thành phố Hồ Chí Minh",
        }
        data.update(fields)
        # Ids are time-ordered to the millisecond: a second apart keeps "newest first" exact.
        self.clock.advance(1)
        created, _ = await self.engine.services.create_announcement(
            AnnouncementIn.model_validate(data)
        )
        await self.engine.run(until_idle=True)
        return await self.engine.services.get_announcement(created.id)

    async def deliveries(self, announcement_id: str) -> list[Delivery]:
        page = await self.engine.services.list_deliveries(announcement_id)
        return [await self.engine.services.get_delivery(d.id) for d in page.items]


async def start_receiver(
    clock: FakeClock, statuses: list[int] | None = None
) -> tuple[Receiver, TestServer]:
    """A :class:`Receiver` served on 127.0.0.1."""
    receiver = Receiver(clock, statuses or [200])
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    receiver.url = str(server.make_url("/hook"))
    return receiver, server
