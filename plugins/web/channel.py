"""The web channel (outbound webhooks); only the sandbox transport exists so far."""

from __future__ import annotations

from collections.abc import Sequence

from yarl import URL

from dispatcher import (
    Channel,
    ChannelContext,
    ConfigError,
    InvalidAddressError,
    OutboundMessage,
    SandboxTransport,
    SendResult,
)
from plugins.web.settings import WebSettings

_EXAMPLE = "write it as https://example.gov.vn/hooks/thongbao"


class WebChannel(Channel):
    """Announcements POSTed to another system's webhook endpoint."""

    max_batch = 20
    rate_per_sec = None  # the sandbox protects no provider; its real transport sets one
    max_length = None
    repeatable = True  # webhook receivers de-duplicate on the message id
    concurrency = 8

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, WebSettings):
            raise ConfigError(
                f"channel {ctx.name!r} needs WebSettings, not {type(ctx.settings).__name__}"
            )
        self.settings = ctx.settings
        self._transport = SandboxTransport(ctx, ctx.settings.sandbox)

    async def start(self) -> None:
        """Start the sandbox transport."""
        await self._transport.start()

    def normalize_address(self, address: str) -> str:
        """An http(s) URL with scheme and host in lower case and no fragment."""
        return normalize_webhook_url(address)

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send ``batch``; one result per message, in order."""
        return await self._transport.send(batch)

    async def flush(self) -> None:
        """Hand over every pending simulated receipt now (tests, drain mode)."""
        await self._transport.flush()

    async def aclose(self) -> None:
        """Stop the sandbox transport; safe to call twice."""
        await self._transport.aclose()


def normalize_webhook_url(address: str) -> str:
    """``HTTPS://Example.gov.vn/hook#x`` → ``https://example.gov.vn/hook``.

    Raises:
        InvalidAddressError: not an absolute http(s) URL, or one carrying credentials.
    """
    text = address.strip()
    try:
        url = URL(text) if text and not any(c.isspace() for c in text) else None
    except ValueError:
        url = None
    if url is None or url.scheme not in {"http", "https"} or not url.host:
        raise InvalidAddressError(f"{address!r} is not a webhook URL: {_EXAMPLE}")
    if url.user is not None or url.password is not None:
        # Addresses are stored and shown to operators; credentials belong in settings.
        raise InvalidAddressError(
            f"the webhook URL {url.with_user(None)!s} carries a user name or password: "
            "remove it"
        )
    return str(url.with_fragment(None))
