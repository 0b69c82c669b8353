"""The SMS channel plugin: the sandbox by default, or a generic HTTP gateway."""

from __future__ import annotations

from collections.abc import Iterator

from dispatcher import ChannelSpec, RouteSpec, hookimpl
from plugins.sms.callback import CALLBACK_PATH, handle_delivery_report
from plugins.sms.channel import SmsChannel
from plugins.sms.settings import SmsSettings


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``sms`` channel."""
    yield ChannelSpec(
        name="sms",
        factory=SmsChannel,
        settings=SmsSettings,
        description="SMS to mobile phones through an HTTP gateway (sandbox by default)",
    )


@hookimpl
def register_routes() -> Iterator[RouteSpec]:
    """Declare the delivery-report callback of the generic HTTP gateway (POST and GET)."""
    yield RouteSpec("POST", CALLBACK_PATH, handle_delivery_report)
    yield RouteSpec("GET", CALLBACK_PATH, handle_delivery_report)
