"""Shared fixtures: a fresh plugin manager per test, and a dispatcher factory that cleans up."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import structlog
from counts_check import miscounted
from scripted import channels_pm, scripted

from dispatcher.channel import Channel
from dispatcher.clock import FakeClock
from dispatcher.config import Settings
from dispatcher.engine import Dispatcher
from dispatcher.plugins import make_plugin_manager


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """A test that runs the CLI configures logging for the process; put it back after."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A fresh plugin manager with the built-in plugins and no entry points."""
    return make_plugin_manager(entrypoints=False)


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a temporary database, with fast polling for tests."""

    def make(**overrides: Any) -> Settings:
        worker = {"poll_interval": 0.02, "retry_initial": 10.0, "lease_seconds": 30.0}
        worker.update(overrides.pop("worker", {}))
        data = {
            "db": str(tmp_path / "thongbao.db"),
            "data_dir": str(tmp_path / "data"),
            "worker": worker,
            # Quiet hours and caps are off unless a test is about them (tests/dispatcher/
            # test_audience_rules.py): the scripted channels would otherwise be subject to them.
            "audience": {"quiet_start": None, "daily_caps": {}},
            # The fake receivers of webhooks, callbacks and attachments listen on loopback,
            # which thongbao refuses by default (tests/dispatcher/test_outbound.py).
            "outbound": {"allowed_networks": ["127.0.0.0/8", "::1/128"]},
        }
        data.update(overrides)
        return Settings.model_validate(data)

    return make


@pytest.fixture
async def dispatcher_factory(
    settings_factory: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Any]]:
    """``await make(channels={...}, clock=..., **settings)`` → a started Dispatcher, stopped
    at the end of the test."""
    made: list[Dispatcher] = []

    async def make(
        channels: dict[str, type[Channel]] | None = None,
        *,
        clock: FakeClock | None = None,
        pm: pluggy.PluginManager | None = None,
        **overrides: Any,
    ) -> Dispatcher:
        if pm is None:
            pm = channels_pm(channels or {"sms": scripted("sms")})
        d = Dispatcher(settings_factory(**overrides), pm=pm, clock=clock or FakeClock())
        await d.start()
        made.append(d)
        return d

    yield make
    wrong = []
    for d in made:
        if d.store.is_open:
            wrong += await miscounted(d.store)
        await d.stop()
    assert not wrong, f"delivery_counts disagree with the deliveries: {wrong}"
