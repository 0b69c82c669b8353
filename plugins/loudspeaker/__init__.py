"""The loudspeaker channel plugin (sandbox transport for now)."""

from __future__ import annotations

from collections.abc import Iterator

from dispatcher import ChannelSpec, hookimpl
from plugins.loudspeaker.channel import LoudspeakerChannel
from plugins.loudspeaker.settings import LoudspeakerSettings


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``loudspeaker`` channel."""
    yield ChannelSpec(
        name="loudspeaker",
        factory=LoudspeakerChannel,
        settings=LoudspeakerSettings,
        description="Broadcast scripts for ward loudspeaker clusters (sandbox for now)",
    )
