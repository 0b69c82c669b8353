"""The seam between the SMS channel and the ways it can reach a gateway.

The channel normalises numbers and prepares the text (encoding, segments, diacritics)
once; a transport only moves prepared messages to its gateway and maps its answers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from dispatcher import OutboundMessage, SendResult


@dataclass(frozen=True, slots=True)
class SmsOut:
    """One prepared text message.

    Attributes:
        message: the engine's message (``delivery_id`` is the de-duplication reference,
            ``address`` the number in E.164 form, ``test`` the announcement's test flag).
        text: the exact text to send (diacritics already stripped when that was chosen).
        unicode: True when the text needs UCS-2 (it has characters outside GSM 03.38).
        segments: how many segments carriers bill for ``text``.
    """

    message: OutboundMessage
    text: str
    unicode: bool
    segments: int

    @property
    def ref(self) -> str:
        """Our reference for this message (the delivery id): gateways de-duplicate on it."""
        return self.message.delivery_id

    @property
    def phone(self) -> str:
        """The number in E.164 form, ``+84912345678``."""
        return self.message.address


class SmsTransport(ABC):
    """Moves prepared messages to one gateway account.

    Attributes:
        account: names the account for pacing (e.g. ``"esms:BRAND"``); one pacer per account
            is shared by every worker of the process.
        rate_per_sec: the account's messages per second (None: unpaced).
        max_batch: most messages one :meth:`send` gets.
    """

    account: str = "sandbox"
    rate_per_sec: float | None = None
    max_batch: int = 100

    async def start(self) -> None:  # noqa: B027 - optional
        """Open connections (one HTTP session per transport)."""

    @abstractmethod
    async def send(self, batch: Sequence[SmsOut]) -> list[SendResult]:
        """Send ``batch``; one result per message, in order. A failure of the whole batch
        raises a ``DeliveryError`` (transient, rate limited or permanent)."""

    async def flush(self) -> None:  # noqa: B027 - optional
        """Hand over receipts held back (the sandbox's simulated ones)."""

    async def aclose(self) -> None:  # noqa: B027 - optional
        """Close connections; safe to call twice."""
