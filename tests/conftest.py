"""Shared fixtures: a fresh plugin manager per test, and a dispatcher factory that cleans up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pluggy
import pytest

from dispatcher import hookspecs
from dispatcher.channel import Accepted, Channel, ChannelSpec, OutboundMessage, SendResult
from dispatcher.clock import FakeClock
from dispatcher.config import Settings
from dispatcher.engine import Dispatcher
from dispatcher.plugins import make_plugin_manager
from pydantic import BaseModel, ConfigDict

Script = Callable[[OutboundMessage], SendResult]


class ScriptedSettings(BaseModel):
    """Settings of the scripted test channel: none."""

    model_config = ConfigDict(extra="forbid")


class ScriptedChannel(Channel):
    """A channel whose answers a test decides; it records every batch it was given.

    ``script`` (a class attribute set per test through :func:`scripted`) maps a message to
    its result; the default accepts everything with provider id ``p-<delivery id>``.
    """

    max_batch = 50
    script: Script | None = None
    batches: list[list[OutboundMessage]]

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.batches = []
        self.gate: asyncio.Event | None = None

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        self.batches.append(list(batch))
        if self.gate is not None:
            await self.gate.wait()
        script = type(self).script
        return [
            script(m) if script else Accepted(provider_id=f"p-{m.delivery_id}") for m in batch
        ]

    @property
    def sent(self) -> list[OutboundMessage]:
        return [m for b in self.batches for m in b]


def scripted(name: str, script: Script | None = None, **attrs: Any) -> type[ScriptedChannel]:
    """A ScriptedChannel subclass of its own, so tests never share class state."""
    return type(f"Scripted_{name}", (ScriptedChannel,), {"script": staticmethod(script) if script else None, **attrs})


class _ChannelsPlugin:
    def __init__(self, specs: Iterable[ChannelSpec]) -> None:
        self.specs = list(specs)

    @hookspecs.hookimpl
    def register_channels(self) -> Iterable[ChannelSpec]:
        return self.specs


def channels_pm(channels: dict[str, type[Channel]]) -> pluggy.PluginManager:
    """A plugin manager with only the given test channels (no built-ins, no entry points)."""
    pm = pluggy.PluginManager("thongbao")
    pm.add_hookspecs(hookspecs)
    specs = [ChannelSpec(name=n, factory=c, settings=ScriptedSettings) for n, c in channels.items()]
    pm.register(_ChannelsPlugin(specs), name="test-channels")
    return pm


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
        data = {"db": str(tmp_path / "thongbao.db"), "data_dir": str(tmp_path / "data"),
                "worker": worker}
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
    for d in made:
        await d.stop()
