"""SandboxChannel: a channel whose only transport so far is the sandbox.

A built-in channel whose real transport has not landed yet subclasses this, declares its
limits and ``normalize_address``, and gets start/send/flush/aclose for free. Its settings
model must have a ``sandbox: SandboxSettings`` field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel

from dispatcher.channel import Channel, ChannelContext, OutboundMessage, SendResult
from dispatcher.errors import ConfigError
from dispatcher.sandbox import SandboxSettings, SandboxTransport


class SandboxChannel(Channel):
    """Sends through :class:`SandboxTransport`: a local outbox and simulated receipts.

    Attributes:
        settings_model: the settings class this channel accepts.
    """

    settings_model: ClassVar[type[BaseModel]]
    # The sandbox protects no provider; a real transport declares its own rate.
    rate_per_sec = None

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, self.settings_model):
            raise ConfigError(
                f"channel {ctx.name!r} needs {self.settings_model.__name__}, "
                f"not {type(ctx.settings).__name__}"
            )
        sandbox = getattr(ctx.settings, "sandbox", None)
        if not isinstance(sandbox, SandboxSettings):
            raise ConfigError(f"{self.settings_model.__name__} has no sandbox settings")
        self.settings = ctx.settings
        self._transport = SandboxTransport(ctx, sandbox)

    async def start(self) -> None:
        """Start the sandbox transport (replays receipts a crash left pending)."""
        await self._transport.start()

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Write ``batch`` to the outbox; one result per message, in order."""
        return await self._transport.send(batch)

    async def flush(self) -> None:
        """Hand over every pending simulated receipt now (tests, drain mode)."""
        await self._transport.flush()

    async def aclose(self) -> None:
        """Stop the sandbox transport; safe to call twice."""
        await self._transport.aclose()
