"""The loudspeaker channel plugin: ward loudspeaker clusters, slots, spoken scripts."""

from __future__ import annotations

from collections.abc import Iterator

import click

from dispatcher import ChannelSpec, RouteSpec, hookimpl
from plugins.loudspeaker.channel import LoudspeakerChannel
from plugins.loudspeaker.settings import LoudspeakerSettings


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``loudspeaker`` channel."""
    yield ChannelSpec(
        name="loudspeaker",
        factory=LoudspeakerChannel,
        settings=LoudspeakerSettings,
        description="Ward loudspeaker clusters: spoken scripts in daily slots, HTTP or MQTT",
    )


@hookimpl
def register_routes() -> Iterator[RouteSpec]:
    """Controllers' reports and heartbeats, audio files, programme, registry, recordings."""
    from plugins.loudspeaker.routes import ROUTES

    yield from ROUTES


@hookimpl
def register_commands(cli: click.Group) -> None:
    """``thongbao loudspeaker import|programme|upload``."""
    from plugins.loudspeaker.cli import loudspeaker_group  # the CLI machinery only when needed

    cli.add_command(loudspeaker_group)
