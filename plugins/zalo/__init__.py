"""The Zalo channel plugin: ZNS and Official Account messages, or the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

from dispatcher import ChannelSpec, RouteSpec, hookimpl
from plugins.zalo.channel import ZaloChannel
from plugins.zalo.settings import ZaloSettings
from plugins.zalo.webhook import WEBHOOK_PATH, handle_webhook


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``zalo`` channel."""
    yield ChannelSpec(
        name="zalo",
        factory=ZaloChannel,
        settings=ZaloSettings,
        description="Zalo ZNS to phone numbers and OA messages to user ids (sandbox default)",
    )


@hookimpl
def register_routes() -> Iterator[RouteSpec]:
    """Zalo's webhook: delivery events and citizens' messages."""
    yield RouteSpec("POST", WEBHOOK_PATH, handle_webhook)
