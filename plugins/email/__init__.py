"""The e-mail channel plugin (sandbox transport for now)."""

from __future__ import annotations

from collections.abc import Iterator

from dispatcher import ChannelSpec, hookimpl
from plugins.email.channel import EmailChannel
from plugins.email.settings import EmailSettings


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``email`` channel."""
    yield ChannelSpec(
        name="email",
        factory=EmailChannel,
        settings=EmailSettings,
        description="E-mail to one mailbox per address (sandbox for now)",
    )
