"""The e-mail channel: addresses normalised, attachments fetched, e-mails built once, sent
through one transport (the sandbox by default, or SMTP).

Pacing is per server: the channel declares the transport's rate and batch size, and the
engine holds it to them. Bounces are read by :mod:`plugins.email.bounce`, unsubscribe links
served by :mod:`plugins.email.unsubscribe`.
"""

from __future__ import annotations

from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email

from dispatcher import (
    Channel,
    ChannelContext,
    ConfigError,
    DeliveryError,
    Failed,
    InvalidAddressError,
    OutboundMessage,
    PermanentDeliveryError,
    RetryLater,
    SendResult,
)
from plugins.email.attachment import AttachmentFetcher
from plugins.email.message import Envelope, build_email
from plugins.email.settings import EmailSettings
from plugins.email.smtp import SmtpTransport
from plugins.email.transport import EmailOut, EmailTransport, SandboxEmailTransport
from plugins.email.unsubscribe import UnsubscribeSigner


def build_transport(ctx: ChannelContext, settings: EmailSettings) -> EmailTransport:
    """The transport ``settings.transport`` names (its table is checked by EmailSettings)."""
    if settings.transport == "smtp" and settings.smtp is not None:
        return SmtpTransport(settings.smtp, settings.sender, ctx.name)
    return SandboxEmailTransport(ctx, settings)


class EmailChannel(Channel):
    """E-mail to one mailbox per message.

    Attributes:
        signer: makes and checks the recipients' unsubscribe tokens.
    """

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
        self.transport = build_transport(ctx, ctx.settings)
        self.rate_per_sec = self.transport.rate_per_sec
        self.max_batch = self.transport.max_batch
        self.signer = UnsubscribeSigner(ctx.settings.unsubscribe_secret, ctx.data_dir)
        self._attachments = AttachmentFetcher(
            ctx.settings.max_attachment_bytes, ctx.settings.attachment_timeout, ctx.outbound
        )

    async def start(self) -> None:
        """Open the attachment session and the transport."""
        await self._attachments.start()
        await self.transport.start()

    def normalize_address(self, address: str) -> str:
        """The address with its domain in lower case (the local part is kept as written)."""
        return normalize_email(address)

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Build each e-mail (fetching its attachments), then send those that could be
        built; one result per message, in order."""
        results: list[SendResult | None] = []
        ready: list[EmailOut] = []
        for message in batch:
            built = await self._build(message)
            if isinstance(built, EmailOut):
                results.append(None)
                ready.append(built)
            else:
                results.append(built)
        sent = iter(await self.transport.send(ready) if ready else [])
        return [result if result is not None else next(sent) for result in results]

    async def _build(self, message: OutboundMessage) -> EmailOut | SendResult:
        try:
            fetched = (
                await self._attachments.fetch(message.announcement_id, message.attachments)
                if message.attachments
                else []
            )
        except PermanentDeliveryError as exc:
            return Failed(str(exc), code=exc.code)
        except DeliveryError as exc:
            return RetryLater(str(exc), code=exc.code)
        envelope = Envelope(
            sender=self.settings.sender,
            sender_name=self.settings.sender_name,
            domain=self.settings.domain,
            unsubscribe_url=self.signer.url(self.ctx.public_url, message.address),
        )
        email = build_email(message, envelope, self.ctx.clock.now(), fetched)
        return EmailOut(message, email)

    async def flush(self) -> None:
        """Hand over pending simulated receipts (sandbox only; tests, drain mode)."""
        await self.transport.flush()

    async def aclose(self) -> None:
        """Close the transport and the attachment session; safe to call twice."""
        await self.transport.aclose()
        await self._attachments.aclose()


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
    if not checked.local_part.isascii():
        # Sending it needs SMTPUTF8, which we do not speak yet: refuse it here, where it
        # suppresses one delivery, rather than fail a whole SMTP batch later.
        raise InvalidAddressError(
            f"{address!r} has non-ASCII letters before the @, which needs SMTPUTF8: "
            "use an ASCII address such as hanh@example.vn"
        )
    return str(checked.normalized)
