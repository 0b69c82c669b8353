"""Fixtures of the integration tests: subprocesses that never outlive a test, and the
engine in-process on the real SMS plugin with a ``FakeClock``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from dispatcher.clock import FakeClock
from dispatcher.config import Settings
from dispatcher.engine import Dispatcher
from dispatcher.plugins import make_plugin_manager

from .harness import Launcher


@pytest.fixture
async def launcher(tmp_path: Path) -> AsyncIterator[Launcher]:
    """A :class:`Launcher` working in ``tmp_path``."""
    started = Launcher(tmp_path)
    yield started
    for process in started.processes:
        if process.returncode is None:
            await Launcher.kill(process)


@pytest.fixture
async def sms_engine(
    settings_factory: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[Dispatcher]]]:
    """``await make(gateway_url, **worker)``: a started Dispatcher with the built-in plugins,
    SMS over the HTTP gateway (0.5 s timeout) and a ``FakeClock``; stopped after the test."""
    made: list[Dispatcher] = []

    async def make(gateway_url: str, **worker: float) -> Dispatcher:
        sms = {"transport": "http", "http": {"url": gateway_url, "timeout": 0.5}}
        settings = settings_factory(enabled_channels=["sms"], channels={"sms": sms}, worker=worker)
        engine = Dispatcher(settings, pm=make_plugin_manager(entrypoints=False), clock=FakeClock())
        await engine.start()
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.stop()
