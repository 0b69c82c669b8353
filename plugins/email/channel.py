"""The e-mail channel; only the sandbox transport exists so far (SMTP comes later)."""

from __future__ import annotations

from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email

from dispatcher import (
    Channel,
    ChannelContext,
    ConfigError,
    InvalidAddressError,
    OutboundMessage,
    SandboxTransport,
    SendResult,
)
from plugins.email.settings import EmailSettings


class EmailChannel(Channel):
    """E-mail to one mailbox per message."""

    max_batch = 50
    rate_per_sec = None  # the sandbox protects no provider; its real transport sets one
    max_length = None
    repeatable = True  # a duplicate e-mail is harmless; a lost announcement is not
    concurrency = 2

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, EmailSettings):
            raise ConfigError(
                f"channel {ctx.name!r} needs EmailSettings, not {type(ctx.settings).__name__}"
            )
        self.settings = ctx.settings
        self._transport = SandboxTransport(ctx, ctx.settings.sandbox)

    async def start(self) -> None:
        """Start the sandbox transport."""
        await self._transport.start()

    def normalize_address(self, address: str) -> str:
        """The address with its domain in lower case (the local part is kept as written)."""
        return normalize_email(address)

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send ``batch``; one result per message, in order."""
        return await self._transport.send(batch)

    async def flush(self) -> None:
        """Hand over every pending simulated receipt now (tests, drain mode)."""
        await self._transport.flush()

    async def aclose(self) -> None:
        """Stop the sandbox transport; safe to call twice."""
        await self._transport.aclose()


def normalize_email(address: str) -> str:
    """``Lan@UBND.HaNoi.gov.vn`` → ``Lan@ubnd.hanoi.gov.vn``; the domain is not looked up.

    Raises:
        InvalidAddressError: not a syntactically valid address.
    """
    try:
        checked = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddressError(
            f"{address!r} is not an e-mail address ({exc}): write it as ten@example.gov.vn"
        ) from exc
    return str(checked.normalized)
