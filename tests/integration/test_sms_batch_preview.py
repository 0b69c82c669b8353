"""10,000 numbers through a gateway with a batch API: batches are used, and the preview's
segment count is what the gateway was sent."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from dispatcher.clock import FakeClock
from dispatcher.config import Settings
from dispatcher.engine import Dispatcher
from dispatcher.plugins import make_plugin_manager
from plugins.sms.encoding import analyse
from schemas import AnnouncementIn

N = 10_000
BATCH = 500
BODY = "Thông báo: ngày 28/11 cắt điện khu phố 3 từ 8h đến 17h. Liên hệ 0243 826 1234."


class BatchGateway:
    """Takes ``{"messages": [...]}``, answers ``{"results": [{"ref", "id"}]}``."""

    def __init__(self) -> None:
        self.requests: list[int] = []
        self.texts: list[str] = []
        self.numbers: set[str] = set()

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        messages: list[dict[str, Any]] = payload["messages"]
        self.requests.append(len(messages))
        self.texts += [m["text"] for m in messages]
        self.numbers |= {m["to"] for m in messages}
        return web.json_response(
            {"results": [{"ref": m["ref"], "id": f"gw-{m['ref']}"} for m in messages]}
        )


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[BatchGateway, str]]:
    fake = BatchGateway()
    app = web.Application()
    app.router.add_post("/batch", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/batch"))
    await server.close()


@pytest.mark.integration
@pytest.mark.slow
async def test_ten_thousand_numbers_go_in_batches_as_previewed(
    gateway: tuple[BatchGateway, str], tmp_path: Path
) -> None:
    fake, url = gateway
    sms = {
        "transport": "http",
        "strip_diacritics": True,
        "http": {"url": url, "rate_per_sec": 1_000_000, "batch": {"max_size": BATCH}},
    }
    settings = Settings.model_validate(
        {
            "db": str(tmp_path / "t.db"),
            "data_dir": str(tmp_path / "data"),
            "enabled_channels": ["sms"],
            "channels": {"sms": sms},
            "worker": {"poll_interval": 0.02},
        }
    )
    engine = Dispatcher(settings, pm=make_plugin_manager(entrypoints=False), clock=FakeClock())
    await engine.start()
    try:
        numbers = [f"+8491{i:07d}" for i in range(N)]
        draft = AnnouncementIn(
            title="Cắt điện", body=BODY, channels=["sms"], audience={"addresses": {"sms": numbers}}
        )
        preview = await engine.services.preview(draft)
        await engine.services.create_announcement(draft)
        await engine.run(until_idle=True)
    finally:
        await engine.stop()
    [sms_preview] = preview.channels
    assert (N, []) == (sms_preview.recipients, sms_preview.problems)
    assert math.ceil(N / BATCH) == len(fake.requests)
    assert set(numbers) == fake.numbers
    assert {sms_preview.details["segments"]} == {analyse(text).segments for text in fake.texts}
    assert {sms_preview.text} == set(fake.texts)
    assert sms_preview.details["stripped_diacritics"] is True
