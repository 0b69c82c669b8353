"""The seam between the e-mail channel and the ways it can hand e-mails over.

The channel fetches attachments and builds each e-mail once (:mod:`plugins.email.message`);
a transport only moves built e-mails and maps the answers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from dispatcher import ChannelContext, OutboundMessage, SandboxTransport, SendResult
from plugins.email.settings import EmailSettings


@dataclass(frozen=True, slots=True)
class EmailOut:
    """One built e-mail and the engine's message it came from."""

    message: OutboundMessage
    email: EmailMessage

    @property
    def message_id(self) -> str:
        """The e-mail's Message-ID (the provider id on acceptance)."""
        return str(self.email["Message-ID"])


class EmailTransport(ABC):
    """Moves built e-mails to one server.

    Attributes:
        rate_per_sec: the server's messages per second (None: unpaced).
        max_batch: most messages one :meth:`send` gets.
    """

    rate_per_sec: float | None = None
    max_batch: int = 50

    async def start(self) -> None:  # noqa: B027 - optional
        """Open what the transport needs."""

    @abstractmethod
    async def send(self, batch: Sequence[EmailOut]) -> list[SendResult]:
        """Send ``batch``; one result per e-mail, in order. A failure of the whole batch
        raises a ``DeliveryError``."""

    async def flush(self) -> None:  # noqa: B027 - optional
        """Hand over receipts held back (the sandbox's simulated ones)."""

    async def aclose(self) -> None:  # noqa: B027 - optional
        """Close connections; safe to call twice."""


class SandboxEmailTransport(EmailTransport):
    """The sandbox: ``outbox.jsonl`` as for every channel, plus the whole e-mail as
    ``outbox/<delivery_id>-<attempt>.eml`` in the channel's data folder, to open in a
    mail client."""

    max_batch = 200

    def __init__(self, ctx: ChannelContext, settings: EmailSettings) -> None:
        self._sandbox = SandboxTransport(ctx, settings.sandbox)
        self.eml_dir = ctx.data_dir / "outbox"

    async def start(self) -> None:
        """Start the sandbox (replays receipts a crash left pending)."""
        self.eml_dir.mkdir(parents=True, exist_ok=True)
        await self._sandbox.start()

    async def send(self, batch: Sequence[EmailOut]) -> list[SendResult]:
        """Write each e-mail as an .eml, then to the outbox."""
        for out in batch:
            name = f"{out.message.delivery_id}-{out.message.attempt}.eml"
            (self.eml_dir / name).write_bytes(out.email.as_bytes())
        return await self._sandbox.send([out.message for out in batch])

    async def flush(self) -> None:
        """Hand over pending simulated receipts now."""
        await self._sandbox.flush()

    async def aclose(self) -> None:
        """Stop the sandbox; safe to call twice."""
        await self._sandbox.aclose()
