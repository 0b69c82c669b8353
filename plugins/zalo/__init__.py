"""The Zalo channel plugin (sandbox transport for now)."""

from __future__ import annotations

from collections.abc import Iterator

from dispatcher import ChannelSpec, hookimpl
from plugins.zalo.channel import ZaloChannel
from plugins.zalo.settings import ZaloSettings


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``zalo`` channel."""
    yield ChannelSpec(
        name="zalo",
        factory=ZaloChannel,
        settings=ZaloSettings,
        description="Zalo messages to a phone number or a Zalo user id (sandbox for now)",
    )
