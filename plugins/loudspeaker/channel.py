"""The loudspeaker channel (ward broadcast clusters); only the sandbox transport exists so far."""

from __future__ import annotations

import re
from collections.abc import Sequence

from dispatcher import (
    Channel,
    ChannelContext,
    ConfigError,
    InvalidAddressError,
    OutboundMessage,
    SandboxTransport,
    SendResult,
)
from plugins.loudspeaker.settings import LoudspeakerSettings

_CLUSTER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class LoudspeakerChannel(Channel):
    """Broadcast scripts for a cluster of ward loudspeakers, addressed by cluster id."""

    max_batch = 10
    rate_per_sec = None  # the sandbox protects no provider; its real transport sets one
    max_length = 5000  # about five minutes of speech
    repeatable = True  # a script is keyed by its delivery id on the controller
    concurrency = 2

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, LoudspeakerSettings):
            raise ConfigError(
                f"channel {ctx.name!r} needs LoudspeakerSettings, not "
                f"{type(ctx.settings).__name__}"
            )
        self.settings = ctx.settings
        self._transport = SandboxTransport(ctx, ctx.settings.sandbox)

    async def start(self) -> None:
        """Start the sandbox transport."""
        await self._transport.start()

    def normalize_address(self, address: str) -> str:
        """A cluster id in lower case."""
        return normalize_cluster_id(address)

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send ``batch``; one result per message, in order."""
        return await self._transport.send(batch)

    async def flush(self) -> None:
        """Hand over every pending simulated receipt now (tests, drain mode)."""
        await self._transport.flush()

    async def aclose(self) -> None:
        """Stop the sandbox transport; safe to call twice."""
        await self._transport.aclose()


def normalize_cluster_id(address: str) -> str:
    """``HN-HoanKiem.HangBac-1`` → ``hn-hoankiem.hangbac-1``.

    Raises:
        InvalidAddressError: not made of letters, digits, '-', '_' and '.'.
    """
    cluster = address.strip().lower()
    if not _CLUSTER_ID.match(cluster):
        raise InvalidAddressError(
            f"{address!r} is not a loudspeaker cluster id: use 1 to 64 lower-case letters, "
            "digits, '-', '_' or '.', starting with a letter or digit, e.g. hn-hoankiem.hangbac-1"
        )
    return cluster
