"""The web channel plugin: signed webhooks to subscribed systems, status callbacks, public
feeds (Atom, JSON Feed, CAP) and a public page per announcement. See docs/web.md."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import click

from dispatcher import ChannelSpec, RouteSpec, StatusChange, hookimpl
from plugins.web.channel import WebChannel, running_channels
from plugins.web.settings import WebSettings

if TYPE_CHECKING:
    from dispatcher import AnnouncementChange


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``web`` channel."""
    yield ChannelSpec(
        name="web",
        factory=WebChannel,
        settings=WebSettings,
        description="Signed webhooks (Standard Webhooks) to subscribed systems; public feeds",
    )


@hookimpl
def register_routes() -> Iterator[RouteSpec]:
    """Public feeds and pages; subscription management for admins."""
    from plugins.web.routes import ROUTES

    yield from ROUTES


@hookimpl
def register_commands(cli: click.Group) -> None:
    """``thongbao web subscribe|subscriptions|rotate|unsubscribe|enable|signing-secret``."""
    from plugins.web.cli import web_group  # the CLI machinery only when needed

    cli.add_command(web_group)


@hookimpl
async def announcement_status_changed(changes: Sequence[AnnouncementChange]) -> None:
    """Index updates at release, and queue status callbacks (each running web channel
    looks in its own store)."""
    for channel in running_channels():
        await channel.announcements_changed(changes)


@hookimpl
async def delivery_status_changed(changes: Sequence[StatusChange]) -> None:
    """Queue status callbacks of deliveries that reached a final state."""
    for channel in running_channels():
        await channel.deliveries_changed(changes)
