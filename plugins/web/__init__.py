"""The web channel plugin (sandbox transport for now)."""

from __future__ import annotations

from collections.abc import Iterator

from dispatcher import ChannelSpec, hookimpl
from plugins.web.channel import WebChannel
from plugins.web.settings import WebSettings


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``web`` channel."""
    yield ChannelSpec(
        name="web",
        factory=WebChannel,
        settings=WebSettings,
        description="Announcements POSTed to webhook endpoints (sandbox for now)",
    )
