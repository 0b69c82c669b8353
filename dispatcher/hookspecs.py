"""The hooks a thongbao plugin may implement.

Hooks declare; objects run. They are called at start-up (channels, routes, CLI commands)
and for observers, never once per message.

A third-party plugin is an ordinary module::

    # thongbao_telegram.py
    from dispatcher import Accepted, Channel, ChannelSpec, hookimpl
    from pydantic import BaseModel, ConfigDict

    class TelegramSettings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        bot_token: str = ""

    class TelegramChannel(Channel):
        async def send(self, batch):
            return [Accepted(provider_id=m.delivery_id) for m in batch]

    @hookimpl
    def register_channels():
        yield ChannelSpec(name="telegram", factory=TelegramChannel, settings=TelegramSettings)

declared in its ``pyproject.toml``::

    [project.entry-points.thongbao]
    telegram = "thongbao_telegram"
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from dispatcher.channel import ChannelSpec, RouteSpec
    from dispatcher.events import AnnouncementChange, StatusChange

hookspec = pluggy.HookspecMarker("thongbao")
hookimpl = pluggy.HookimplMarker("thongbao")


@hookspec
def register_channels() -> Iterable[ChannelSpec]:
    """Declare channels.

    Returns:
        ChannelSpec records (a generator is fine).

    Example::

        @hookimpl
        def register_channels():
            yield ChannelSpec(name="sms", factory=SmsChannel, settings=SmsSettings)
    """
    return ()


@hookspec
def register_routes() -> Iterable[RouteSpec]:
    """Declare extra HTTP routes: receipt callbacks, inbound messages.

    Returns:
        RouteSpec records. Paths should live under ``/v1/callbacks/<channel>/``.

    Example::

        @hookimpl
        def register_routes():
            yield RouteSpec("POST", "/v1/callbacks/sms/dlr", handle_dlr)
    """
    return ()


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``thongbao`` command.

    Args:
        cli: the top-level click group.

    Example::

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def hello():
                click.echo("xin chào")
    """


@hookspec
def dispatcher_started(channels: Sequence[str]) -> None:
    """Observe the dispatcher starting, after every channel opened. May be ``async def``.

    Args:
        channels: names of the channels that run.

    Example::

        @hookimpl
        def dispatcher_started(channels):
            print("running", channels)
    """


@hookspec
def dispatcher_stopping() -> None:
    """Observe the dispatcher beginning to stop, before in-flight work drains. May be async.

    Example::

        @hookimpl
        async def dispatcher_stopping():
            await flush_my_buffer()
    """


@hookspec
def delivery_status_changed(changes: Sequence[StatusChange]) -> None:
    """Observe deliveries changing status, a batch at a time. May be ``async def``.

    Called after the change is committed; an exception is logged and changes nothing.

    Args:
        changes: one record per delivery that moved, in the order they were written.

    Example::

        @hookimpl
        def delivery_status_changed(changes):
            for c in changes:
                if c.status == "failed":
                    alert(c.delivery_id, c.reason)
    """


@hookspec
def announcement_status_changed(changes: Sequence[AnnouncementChange]) -> None:
    """Observe announcements being released, completed, cancelled or expired. May be async.

    Called after the change is committed; an exception is logged and changes nothing.

    Args:
        changes: one record per announcement that moved.

    Example::

        @hookimpl
        async def announcement_status_changed(changes):
            for c in changes:
                if c.status == "completed":
                    await tell_the_portal(c.announcement_id)
    """
