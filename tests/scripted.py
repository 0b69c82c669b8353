"""A scripted test channel and a plugin manager holding only the channels a test names."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pluggy
from pydantic import BaseModel, ConfigDict

from dispatcher import hookspecs
from dispatcher.channel import (
    Accepted,
    Channel,
    ChannelSpec,
    OutboundMessage,
    SendResult,
)

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
        return [script(m) if script else Accepted(provider_id=f"p-{m.delivery_id}") for m in batch]

    @property
    def sent(self) -> list[OutboundMessage]:
        return [m for b in self.batches for m in b]


def scripted(name: str, script: Script | None = None, **attrs: Any) -> type[ScriptedChannel]:
    """A ScriptedChannel subclass of its own, so tests never share class state."""
    return type(
        f"Scripted_{name}",
        (ScriptedChannel,),
        {"script": staticmethod(script) if script else None, **attrs},
    )


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
