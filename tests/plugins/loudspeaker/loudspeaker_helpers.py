"""Helpers of the loudspeaker tests: a fake controller, the engine on the real plugin, and
the check for espeak-ng some tests need (Mosquitto's is in ``services``)."""

from __future__ import annotations

import asyncio
import io
import shutil
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from dispatcher.clock import FakeClock
from dispatcher.engine import Dispatcher
from plugins.loudspeaker.channel import LoudspeakerChannel
from schemas import AnnouncementIn, Delivery

# 07:00 in Hà Nội: the next default slot is 17:00-17:30 the same day.
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
TOKEN = "ctl-token-5b1e"
AREAS = [
    {"code": "01", "name": "Hà Nội"},
    {"code": "00004", "name": "Phường Ba Đình", "parent_code": "01"},
    {"code": "00004-tdp1", "name": "Tổ dân phố 1", "parent_code": "00004"},
    {"code": "00008", "name": "Phường Ngọc Hà", "parent_code": "01"},
]


def silence(seconds: float, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of ``seconds`` of silence (a stand-in for a human recording)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


@dataclass
class Controller:
    """A fake loudspeaker controller on 127.0.0.1: records pushes, answers ``status``; a
    push for a cluster in ``delays`` is answered that many real seconds late."""

    url: str = ""
    pushes: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    delays: dict[str, float] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        if self.status >= 300:
            return web.json_response({"error": "busy"}, status=self.status)
        push = await request.json()
        self.pushes.append(push)
        await asyncio.sleep(self.delays.get(push["cluster"], 0))
        return web.json_response({"ok": True})


@dataclass
class Loud:
    """The engine on the real loudspeaker plugin, its API, a clock and an admin key."""

    engine: Dispatcher
    client: TestClient[web.Request, web.Application]
    clock: FakeClock
    admin: str

    @property
    def channel(self) -> LoudspeakerChannel:
        channel = self.engine.services.channels["loudspeaker"]
        assert isinstance(channel, LoudspeakerChannel)
        return channel

    async def clusters(self, *rows: dict[str, Any]) -> None:
        answer = await self.client.post(
            "/v1/loudspeaker/clusters",
            json=list(rows),
            headers={"Authorization": f"Bearer {self.admin}"},
        )
        assert 200 == answer.status, await answer.text()

    async def announce(self, **fields: Any) -> str:
        data: dict[str, Any] = {
            "title": "Thông báo cắt điện",
            "body": "Cắt điện từ 7h30 đến 11h ngày 3/3/2026. Hỏi đáp: 0912 345 678.",
            "channels": ["loudspeaker"],
            "audience": {"areas": ["00004"]},
        }
        data.update(fields)
        announcement, _ = await self.engine.services.create_announcement(
            AnnouncementIn.model_validate(data)
        )
        await self.engine.run(until_idle=True)
        return announcement.id

    async def deliveries(self, announcement_id: str) -> list[Delivery]:
        page = await self.engine.services.list_deliveries(announcement_id, limit=1000)
        return [await self.engine.services.get_delivery(d.id) for d in page.items]

    async def report(self, cluster: str, *plays: tuple[str, str], token: str = TOKEN) -> Any:
        body = {
            "cluster": cluster,
            "plays": [
                {"play_id": play_id, "status": status, "at": self.clock.now().isoformat()}
                for play_id, status in plays
            ],
        }
        return await self.client.post(
            "/v1/callbacks/loudspeaker/played",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )

    async def heartbeat(self, cluster: str, version: int | None = None) -> Any:
        body: dict[str, Any] = {"cluster": cluster}
        if version is not None:
            body["schedule_version"] = version
        answer = await self.client.post(
            "/v1/callbacks/loudspeaker/heartbeat",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert 200 == answer.status, await answer.text()
        return await answer.json()


LoudFactory = Callable[..., Any]
