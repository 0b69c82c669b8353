"""The SMS channel: numbers normalised, text prepared once, sent through one transport.

The text of every message is prepared by :mod:`plugins.sms.text` (GSM 03.38 or UCS-2,
segments counted as carriers bill them, diacritics stripped only when allowed and
cheaper), the same function ``inspect`` uses, so the preview's segment count is what the
gateway is sent. Transports: the sandbox (default), a generic HTTP gateway described in
TOML (:mod:`plugins.sms.generic`), eSMS (:mod:`plugins.sms.esms`) and SpeedSMS
(:mod:`plugins.sms.speedsms`). Pacing is per gateway account: the channel declares the
transport's rate and batch size, and the engine's per-process pacer holds it to them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import replace

import phonenumbers
from phonenumbers import PhoneMetadata

from dispatcher import (
    Channel,
    ChannelContext,
    ConfigError,
    Failed,
    Inspection,
    InvalidAddressError,
    OutboundMessage,
    SandboxTransport,
    SendResult,
)
from plugins.sms.esms import EsmsTransport
from plugins.sms.generic import GenericHttpTransport
from plugins.sms.settings import SmsSettings
from plugins.sms.speedsms import SpeedSmsTransport
from plugins.sms.text import inspection, prepare_message, sms_out
from plugins.sms.transport import SmsOut, SmsTransport


class SandboxSmsTransport(SmsTransport):
    """The sandbox: the prepared text goes to the local outbox; receipts are simulated."""

    account = "sandbox"
    rate_per_sec = None
    max_batch = 500

    def __init__(self, ctx: ChannelContext, settings: SmsSettings) -> None:
        self._sandbox = SandboxTransport(ctx, settings.sandbox)

    async def start(self) -> None:
        """Start the sandbox (replays receipts a crash left pending)."""
        await self._sandbox.start()

    async def send(self, batch: Sequence[SmsOut]) -> list[SendResult]:
        """Write the prepared texts to the outbox."""
        return await self._sandbox.send([replace(o.message, body=o.text) for o in batch])

    async def flush(self) -> None:
        """Hand over pending simulated receipts now."""
        await self._sandbox.flush()

    async def aclose(self) -> None:
        """Stop the sandbox; safe to call twice."""
        await self._sandbox.aclose()


def build_transport(ctx: ChannelContext, settings: SmsSettings) -> SmsTransport:
    """The transport ``settings.transport`` names (its table is checked by SmsSettings)."""
    if settings.transport == "http" and settings.http is not None:
        return GenericHttpTransport(settings.http, ctx)
    if settings.transport == "esms" and settings.esms is not None:
        return EsmsTransport(settings.esms, ctx)
    if settings.transport == "speedsms" and settings.speedsms is not None:
        return SpeedSmsTransport(settings.speedsms, ctx)
    return SandboxSmsTransport(ctx, settings)


class SmsChannel(Channel):
    """Text messages to mobile phones, in E.164 form (``+84912345678``)."""

    max_length = None  # the segment ceiling (settings.max_segments) does this job
    repeatable = True
    concurrency = 4

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, SmsSettings):
            raise ConfigError(
                f"channel {ctx.name!r} needs SmsSettings, not {type(ctx.settings).__name__}"
            )
        self.settings = ctx.settings
        self.transport = build_transport(ctx, ctx.settings)
        self.rate_per_sec = self.transport.rate_per_sec
        self.max_batch = self.transport.max_batch
        # A gateway that cannot de-duplicate on our reference may not be sent twice.
        self.repeatable = bool(getattr(self.transport, "repeatable", True))

    async def start(self) -> None:
        """Open the transport (one HTTP session for a gateway)."""
        await self.transport.start()

    def normalize_address(self, address: str) -> str:
        """Any way of writing a phone number, as E.164; ``InvalidAddressError`` otherwise."""
        return normalize_phone(address)

    def inspect(self, message: OutboundMessage) -> Inspection:
        """Encoding, segments and problems of the text as it would be sent."""
        return inspection(
            message,
            default_strip=self.settings.strip_diacritics,
            max_segments=self.settings.max_segments,
        )

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Prepare each text, then send those that may go; one result per message, in order."""
        results: list[SendResult | None] = []
        ready: list[SmsOut] = []
        for message in batch:
            prepared = prepare_message(
                message,
                default_strip=self.settings.strip_diacritics,
                max_segments=self.settings.max_segments,
            )
            if prepared.problems:
                results.append(Failed("; ".join(prepared.problems), code="refused_by_channel"))
            else:
                results.append(None)
                ready.append(sms_out(message, prepared))
        sent = iter(await self.transport.send(ready) if ready else [])
        return [result if result is not None else next(sent) for result in results]

    async def flush(self) -> None:
        """Hand over pending simulated receipts (sandbox only; tests, drain mode)."""
        await self.transport.flush()

    async def aclose(self) -> None:
        """Close the transport; safe to call twice."""
        await self.transport.aclose()


# A Vietnamese mobile number already written in E.164, by phonenumbers' own pattern for
# Vietnamese mobiles: phonenumbers would answer it unchanged, so it is not parsed again
# (a parse costs ~25 µs, and fan-out meets every stored number once more).
def _vn_mobile_pattern() -> str:
    metadata = PhoneMetadata.metadata_for_region("VN")
    mobile = metadata.mobile if metadata is not None else None
    if mobile is None or mobile.national_number_pattern is None:
        raise RuntimeError("phonenumbers has no pattern for Vietnamese mobile numbers")
    return str(mobile.national_number_pattern)


_E164_MOBILE = re.compile(rf"\+84(?:{_vn_mobile_pattern()})")


def normalize_phone(address: str) -> str:
    """``0912345678``, ``84912345678`` and ``+84 912 345 678`` all become ``+84912345678``.

    Raises:
        InvalidAddressError: not a valid phone number, or a landline.
    """
    if _E164_MOBILE.fullmatch(address):
        return address
    return _parse_phone(address)


@functools.lru_cache(maxsize=65_536)
def _parse_phone(address: str) -> str:
    try:
        number = phonenumbers.parse(address, "VN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidAddressError(
            f"{address!r} is not a phone number: write it as 0912345678 or +84912345678"
        )
    if phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE:
        raise InvalidAddressError(
            f"{address!r} is a landline: SMS needs a mobile number such as 0912345678"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
