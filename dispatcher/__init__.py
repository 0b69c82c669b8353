"""thongbao's engine. Third-party plugins import only from here (and from ``schemas``)."""

from __future__ import annotations

from dispatcher import jsontext
from dispatcher.channel import (
    Accepted,
    Channel,
    ChannelContext,
    ChannelSpec,
    Failed,
    Inspection,
    OutboundMessage,
    ReceiptSink,
    RetryLater,
    RouteSpec,
    SendResult,
    elapsed_ms,
    timed,
)
from dispatcher.cli_context import cli_settings
from dispatcher.clock import Clock, FakeClock
from dispatcher.config import Settings, TimeZoneName, load_settings
from dispatcher.engine import Dispatcher
from dispatcher.errors import (
    ChannelNotFoundError,
    ChannelTimeoutError,
    ConfigError,
    DeliveryError,
    DispatcherError,
    InvalidAddressError,
    InvalidRequestError,
    NotFoundError,
    PermanentDeliveryError,
    PluginError,
    RateLimitedError,
    TransientDeliveryError,
)
from dispatcher.events import AnnouncementChange, StatusChange
from dispatcher.hookspecs import hookimpl, hookspec
from dispatcher.keptsecret import kept_secret
from dispatcher.links import announcement_id, page_url, short_code
from dispatcher.outbound import OutboundGuard, refused_address
from dispatcher.plugins import get_plugins, make_plugin_manager
from dispatcher.sandbox import SandboxSettings, SandboxTransport
from dispatcher.sandbox_channel import SandboxChannel
from dispatcher.service import Services
from dispatcher.state import LeaseTimeoutError, PluginState
from dispatcher.store.base import Store
from dispatcher.tasks import cancel_and_wait, in_lanes
from dispatcher.text import fold
from dispatcher.webkeys import services
from schemas import DeliveryStatus, FailureKind, Priority, ReceiptIn

__all__ = [
    "Accepted",
    "AnnouncementChange",
    "Channel",
    "ChannelContext",
    "ChannelNotFoundError",
    "ChannelSpec",
    "ChannelTimeoutError",
    "Clock",
    "ConfigError",
    "DeliveryError",
    "DeliveryStatus",
    "Dispatcher",
    "DispatcherError",
    "Failed",
    "FailureKind",
    "FakeClock",
    "Inspection",
    "InvalidAddressError",
    "InvalidRequestError",
    "LeaseTimeoutError",
    "NotFoundError",
    "OutboundGuard",
    "OutboundMessage",
    "PermanentDeliveryError",
    "PluginError",
    "PluginState",
    "Priority",
    "RateLimitedError",
    "ReceiptIn",
    "ReceiptSink",
    "RetryLater",
    "RouteSpec",
    "SandboxChannel",
    "SandboxSettings",
    "SandboxTransport",
    "SendResult",
    "Services",
    "Settings",
    "StatusChange",
    "Store",
    "TimeZoneName",
    "TransientDeliveryError",
    "announcement_id",
    "cancel_and_wait",
    "cli_settings",
    "elapsed_ms",
    "fold",
    "get_plugins",
    "hookimpl",
    "hookspec",
    "in_lanes",
    "jsontext",
    "kept_secret",
    "load_settings",
    "make_plugin_manager",
    "page_url",
    "refused_address",
    "services",
    "short_code",
    "timed",
]
