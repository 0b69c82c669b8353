"""The e-mail channel plugin: sandbox by default, or SMTP; bounces and one-click unsubscribe."""

from __future__ import annotations

from collections.abc import Iterator

import click

from dispatcher import ChannelSpec, RouteSpec, hookimpl
from plugins.email.bounce import BOUNCE_PATH, handle_bounce
from plugins.email.channel import EmailChannel
from plugins.email.settings import EmailSettings
from plugins.email.unsubscribe import UNSUBSCRIBE_PATH, show_page, unsubscribe


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``email`` channel."""
    yield ChannelSpec(
        name="email",
        factory=EmailChannel,
        settings=EmailSettings,
        description="E-mail over SMTP (plain, STARTTLS, TLS), bounces, one-click unsubscribe",
    )


@hookimpl
def register_routes() -> Iterator[RouteSpec]:
    """Bounces posted by a relay (role system) and the public one-click unsubscribe link."""
    yield RouteSpec("POST", BOUNCE_PATH, handle_bounce, role="system")
    yield RouteSpec("GET", UNSUBSCRIBE_PATH, show_page)
    yield RouteSpec("POST", UNSUBSCRIBE_PATH, unsubscribe)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """``thongbao email import-bounces MBOX``."""
    from plugins.email.cli import email_group  # the CLI machinery only when commands load

    cli.add_command(email_group)
