"""The Zalo channel: ZNS template messages to phone numbers, OA messages to user ids.

An address is either a Vietnamese mobile number, kept in E.164 form (``+84912345678``),
or a Zalo user id (10 to 25 digits, not starting with 0), kept as written. A string that
reads as a valid Vietnamese number is taken as a phone number, so ``0912345678`` and
``84912345678`` are both ``+84912345678`` and a landline is refused; Zalo user ids are
longer (usually 16-19 digits) and are not valid phone numbers.

A phone number gets a ZNS template message, a user id an Official Account text message
(:mod:`plugins.zalo.transport`). Without ``transport = "zalo"`` the sandbox answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import phonenumbers

from dispatcher import (
    Channel,
    ChannelContext,
    ConfigError,
    Inspection,
    InvalidAddressError,
    OutboundMessage,
    SandboxTransport,
    SendResult,
)
from plugins.zalo.oa import oa_problem
from plugins.zalo.settings import ZaloSettings
from plugins.zalo.transport import ZaloTransport

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

OPTIONS = frozenset({"template_id"})

_USER_ID = re.compile(r"^[1-9][0-9]{9,24}$")
_MOBILE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


class ZaloChannel(Channel):
    """Zalo messages to a Vietnamese phone number (ZNS) or a Zalo user id (OA)."""

    max_batch = 50
    max_length = None  # ZNS fills a template; the OA text limit is checked per message
    # A duplicate costs one message fee; a lost announcement costs more.
    repeatable = True
    concurrency = 4

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, ZaloSettings):
            raise ConfigError(
                f"channel {ctx.name!r} needs ZaloSettings, not {type(ctx.settings).__name__}"
            )
        self.settings = ctx.settings
        self.sandbox: SandboxTransport | None = None
        self.transport: ZaloTransport | None = None
        api = ctx.settings.api
        if ctx.settings.transport == "zalo" and api is not None:
            self.transport = ZaloTransport(ctx, api, ctx.settings.zns)
            self.rate_per_sec = api.rate_per_sec
        else:
            self.sandbox = SandboxTransport(ctx, ctx.settings.sandbox)

    async def start(self) -> None:
        """Open the transport (the sandbox replays receipts a crash left pending)."""
        if self.transport is not None:
            await self.transport.start()
        if self.sandbox is not None:
            await self.sandbox.start()

    def normalize_address(self, address: str) -> str:
        """A phone number in E.164 form, or a Zalo user id as written."""
        return normalize_zalo_address(address)

    def inspect(self, message: OutboundMessage) -> Inspection:
        """The template a phone number would get, and problems with the options."""
        problems = [
            f"unknown option {name!r} for channel {self.name!r}: it takes template_id"
            for name in message.options
            if name not in OPTIONS
        ]
        chosen: str | None = None
        try:
            chosen = self.settings.zns.choose(message.priority, message.options.get("template_id"))
        except ValueError as exc:
            problems.append(f"option template_id: {exc}")
        text_problem = oa_problem(message)
        details = {
            "characters": len(message.body),
            "zns_template": chosen,
            "oa_text_ok": text_problem is None,
        }
        return Inspection(text=message.body, details=details, problems=problems)

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """ZNS or OA messages (or the sandbox); one result per message, in order."""
        if self.transport is not None:
            return await self.transport.send(batch)
        assert self.sandbox is not None
        return await self.sandbox.send(batch)

    def collectors(self) -> Sequence[Collector]:
        """The ZNS quota and token gauges (only with Zalo's API)."""
        return [self.transport.collector] if self.transport is not None else []

    async def flush(self) -> None:
        """Hand over pending simulated receipts (sandbox only)."""
        if self.sandbox is not None:
            await self.sandbox.flush()

    async def aclose(self) -> None:
        """Close the transport; safe to call twice."""
        if self.transport is not None:
            await self.transport.aclose()
        if self.sandbox is not None:
            await self.sandbox.aclose()


def normalize_zalo_address(address: str) -> str:
    """``0912345678`` → ``+84912345678``; ``1234567890123456789`` stays as it is.

    Raises:
        InvalidAddressError: neither a Vietnamese mobile number nor a Zalo user id.
    """
    text = address.strip()
    number = _vietnamese_number(text)
    if number is not None:
        if phonenumbers.number_type(number) not in _MOBILE:
            raise InvalidAddressError(
                f"{address!r} is a landline: Zalo needs a mobile number such as 0912345678"
            )
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if _USER_ID.match(text):
        return text
    raise InvalidAddressError(
        f"{address!r} is not a Zalo address: write a Vietnamese mobile number "
        "(0912345678 or +84912345678) or a Zalo user id (10 to 25 digits)"
    )


def _vietnamese_number(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, "VN")
    except phonenumbers.NumberParseException:
        return None
    valid = phonenumbers.is_valid_number(number)
    return number if valid and phonenumbers.region_code_for_number(number) == "VN" else None
