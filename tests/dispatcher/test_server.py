"""serve(): the API and the workers in one process, stopped by a signal or a cancel."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import structlog

from dispatcher.config import Settings
from dispatcher.server import serve


async def start(settings: Settings, **kwargs: Any) -> tuple[asyncio.Task[None], list[str | None]]:
    """Run serve() as a task until it is ready; returns the task and the URL it reported."""
    ready = asyncio.Event()
    urls: list[str | None] = []
    task = asyncio.create_task(
        serve(settings, ready_event=ready, on_started=urls.append, **kwargs), name="test-serve"
    )
    waiter = asyncio.create_task(ready.wait(), name="test-serve-ready")
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        await task  # raises what went wrong
    return task, urls


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(api={"port": 0})


async def test_sigterm_stops_the_service_cleanly(settings: Settings) -> None:
    with structlog.testing.capture_logs() as events:
        task, [url] = await start(settings, install_signal_handlers=True)
        assert url is not None and url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as reply:
            assert 200 == reply.status
        os.kill(os.getpid(), signal.SIGTERM)
        assert None is await asyncio.wait_for(task, timeout=30)
    names = [e["event"] for e in events]
    assert names.index("service_started") < names.index("shutdown_requested")
    assert names.index("service_stopping") < names.index("dispatcher_stopped")
    assert "service_stopped" == names[-1]
    [started] = [e for e in events if e["event"] == "service_started"]
    assert (url, True, True) == (started["url"], started["api"], started["workers"])


async def test_intake_stops_with_the_service(settings: Settings) -> None:
    task, [url] = await start(settings, install_signal_handlers=False)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{url}/healthz")


async def test_worker_mode_serves_no_api(settings: Settings) -> None:
    with structlog.testing.capture_logs() as events:
        task, urls = await start(settings, api=False, install_signal_handlers=False)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [None] == urls
    [started] = [e for e in events if e["event"] == "service_started"]
    assert (None, False, True) == (started["url"], started["api"], started["workers"])
    assert "service_stopped" == events[-1]["event"]


async def test_a_port_in_use_fails_before_anything_runs(
    settings_factory: Callable[..., Settings],
) -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        with pytest.raises(OSError, match="address already in use"):
            await start(settings_factory(api={"port": port}), install_signal_handlers=False)
    finally:
        blocker.close()
        await blocker.wait_closed()
