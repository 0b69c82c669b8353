"""Fixtures for the Zalo tests: the fake Zalo, a store, and channels wired to both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from zalo_fake_api import FakeZalo, MakeChannel, api_settings, serve

from dispatcher import ChannelContext, Dispatcher, FakeClock, PluginState, Settings
from dispatcher.plugins import make_plugin_manager
from dispatcher.store import SQLiteStore
from dispatcher.testing import FakeReceiptSink
from plugins.zalo.channel import ZaloChannel
from plugins.zalo.settings import ZaloSettings


@pytest.fixture
async def zalo() -> AsyncIterator[tuple[FakeZalo, str]]:
    """The fake Zalo and its base URL."""
    fake = FakeZalo()
    server, url = await serve(fake)
    yield fake, url
    await server.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """An open SQLite store."""
    s = SQLiteStore(tmp_path / "zalo.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def make_channel(
    tmp_path: Path, zalo: tuple[FakeZalo, str], clock: FakeClock, sink: FakeReceiptSink
) -> AsyncIterator[MakeChannel]:
    """``await make(store=..., api={...}, zns={...})`` → a started channel on the fake."""
    made: list[ZaloChannel] = []

    async def make(
        store: SQLiteStore | None = None,
        *,
        api: dict[str, Any] | None = None,
        zns: dict[str, Any] | None = None,
    ) -> ZaloChannel:
        settings = ZaloSettings.model_validate(
            {
                "transport": "zalo",
                "api": api_settings(zalo[1], **(api or {})),
                "zns": {"default_template": "231677", **(zns or {})},
            }
        )
        ctx = ChannelContext(
            name="zalo",
            settings=settings,
            data_dir=tmp_path / f"zalo-{len(made)}",
            receipts=sink,
            clock=clock,
            store=store,
            state=None if store is None else PluginState(store, "zalo", clock),
        )
        channel = ZaloChannel(ctx)
        await channel.start()
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.aclose()


@pytest.fixture
async def make_engine(
    tmp_path: Path, zalo: tuple[FakeZalo, str], clock: FakeClock
) -> AsyncIterator[Callable[..., Awaitable[Dispatcher]]]:
    """``await make()`` → a started Dispatcher with the built-in plugins: zalo on the fake
    Zalo, sms on the sandbox (receipts at once)."""
    made: list[Dispatcher] = []

    async def make(**zalo_overrides: Any) -> Dispatcher:
        zalo_settings = {
            "transport": "zalo",
            "api": api_settings(zalo[1]),
            "zns": {"default_template": "231677"},
            **zalo_overrides,
        }
        settings = Settings.model_validate(
            {
                "db": str(tmp_path / "engine.db"),
                "data_dir": str(tmp_path / "data"),
                "enabled_channels": ["zalo", "sms"],
                "channels": {"zalo": zalo_settings, "sms": {"sandbox": {"receipt_delay": 0}}},
                "worker": {"poll_interval": 0.02},
            }
        )
        engine = Dispatcher(settings, pm=make_plugin_manager(entrypoints=False), clock=clock)
        await engine.start()
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.stop()
