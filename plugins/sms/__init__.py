"""The SMS channel plugin: sandbox by default; a TOML-described gateway, eSMS or SpeedSMS."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web

from dispatcher import ChannelSpec, RouteSpec, hookimpl, services
from plugins.sms import esms, speedsms
from plugins.sms.callback import CALLBACK_PATH, handle_delivery_report
from plugins.sms.channel import SmsChannel
from plugins.sms.inbound import INBOUND_PATH, SmsReplySettings, handle_reply
from plugins.sms.settings import SmsSettings


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``sms`` channel."""
    yield ChannelSpec(
        name="sms",
        factory=SmsChannel,
        settings=SmsSettings,
        description="SMS to mobile phones: generic HTTP gateway, eSMS, SpeedSMS (sandbox default)",
    )


async def handle_inbound(request: web.Request) -> web.StreamResponse:
    """A citizen's reply, read with the running channel's reply settings (STOP keywords)."""
    channel = services(request).channels.get("sms")
    replies = channel.settings.replies if isinstance(channel, SmsChannel) else SmsReplySettings()
    return await handle_reply(request, replies)


@hookimpl
def register_routes() -> Iterator[RouteSpec]:
    """Delivery reports (generic gateway, eSMS, SpeedSMS) and citizens' replies."""
    yield RouteSpec("POST", CALLBACK_PATH, handle_delivery_report)
    yield RouteSpec("GET", CALLBACK_PATH, handle_delivery_report)
    yield from esms.ROUTES
    yield from speedsms.ROUTES
    yield RouteSpec("POST", INBOUND_PATH, handle_inbound)
    yield RouteSpec("GET", INBOUND_PATH, handle_inbound)
