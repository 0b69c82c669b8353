"""Bounces: delivery status notifications (RFC 3464) matched to deliveries by Message-ID.

A DSN is a ``multipart/report; report-type=delivery-status`` with a
``message/delivery-status`` part (one block per recipient: ``Final-Recipient``,
``Original-Recipient``, ``Action``, ``Status``) and the returned message or its headers
(``message/rfc822`` or ``text/rfc822-headers``), whose ``Message-ID`` is the provider id our
SMTP transport recorded.

- ``Action: failed`` with ``Status: 5.x.x`` is a hard bounce: the delivery becomes
  ``failed`` with the status as provider code. After ``bounce_limit`` hard bounces the
  address is opted out of e-mail (source ``hard-bounces:N``).
- ``4.x.x`` (soft) and ``delayed``/``relayed``/``delivered`` blocks change nothing.

DSNs come in by ``POST /v1/callbacks/email/bounce`` (the raw message as the body, role
``system``) or from a mailbox file (``thongbao email import-bounces MBOX``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, message_from_string
from email.message import Message
from email.policy import compat32

import structlog
from aiohttp import web

from dispatcher import InvalidAddressError, ReceiptIn, Services, services
from plugins.email.channel import EmailChannel, normalize_email
from plugins.email.settings import EmailSettings
from plugins.email.unsubscribe import problem
from schemas import DeliveryStatus

log = structlog.get_logger(__name__)

BOUNCE_PATH = "/v1/callbacks/email/bounce"
CHANNEL = "email"
HARD_PREFIX = "5."


class NotADsnError(ValueError):
    """The message is not a delivery status notification."""


@dataclass(frozen=True, slots=True)
class Bounce:
    """One recipient block of a DSN.

    Attributes:
        recipient: the address we sent to (Original-Recipient, else Final-Recipient).
        action: ``failed``, ``delayed``, ``delivered``, ``relayed`` or ``expanded``.
        status: the enhanced status code, ``5.1.1``.
        message_id: the Message-ID of the returned message, with its angle brackets.
    """

    recipient: str
    action: str
    status: str
    message_id: str | None

    @property
    def hard(self) -> bool:
        """A permanent failure: ``Action: failed`` and a ``5.x.x`` status."""
        return self.action == "failed" and self.status.startswith(HARD_PREFIX)


@dataclass
class BounceReport:
    """What handling DSNs did (also the route's JSON answer)."""

    hard: int = 0
    ignored: int = 0
    applied: int = 0
    opted_out: list[str] = field(default_factory=list)


def parse_dsn(raw: bytes) -> list[Bounce]:
    """The recipient blocks of the DSN ``raw``.

    Raises:
        NotADsnError: ``raw`` has no ``message/delivery-status`` part.
    """
    # compat32 parses message/delivery-status into its blocks; the default policy does too,
    # but compat32 never raises on the odd headers bounce generators write.
    message = message_from_bytes(raw, policy=compat32)
    status_part = _first(message, "message/delivery-status")
    if status_part is None:
        raise NotADsnError("no message/delivery-status part: send the whole bounce message")
    message_id = _returned_message_id(message)
    blocks = status_part.get_payload()
    if not isinstance(blocks, list):
        raise NotADsnError("the message/delivery-status part cannot be read")
    return [
        bounce
        for block in blocks[1:]
        if isinstance(block, Message) and (bounce := _bounce(block, message_id))
    ]


def _first(message: Message, content_type: str) -> Message | None:
    for part in message.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _returned_message_id(message: Message) -> str | None:
    returned = _first(message, "message/rfc822")
    if returned is not None:
        inner = returned.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return _clean_id(inner[0].get("Message-ID"))
    headers = _first(message, "text/rfc822-headers")
    if headers is not None:
        payload = headers.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        return _clean_id(message_from_string(text, policy=compat32).get("Message-ID"))
    return None


def _clean_id(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    return text if text.startswith("<") else f"<{text}>"


def _bounce(block: Message, message_id: str | None) -> Bounce | None:
    recipient = _address_field(block.get("Original-Recipient")) or _address_field(
        block.get("Final-Recipient")
    )
    if not recipient:
        return None
    action = str(block.get("Action", "")).strip().lower()
    status = str(block.get("Status", "")).strip().split(" ")[0]
    return Bounce(recipient, action, status, message_id)


def _address_field(value: object) -> str:
    """``rfc822; lan@ubnd.gov.vn`` → ``lan@ubnd.gov.vn``."""
    text = str(value) if value is not None else ""
    return text.partition(";")[2].strip().strip("<>") if ";" in text else text.strip()


async def apply_bounces(
    services: Services, bounces: Sequence[Bounce], bounce_limit: int
) -> BounceReport:
    """Fail the deliveries of hard bounces; opt out addresses with ``bounce_limit`` of them."""
    report = BounceReport()
    hard = [b for b in bounces if b.hard and b.message_id]
    report.ignored = sum(1 for b in bounces if not (b.hard and b.message_id))
    report.hard = len(hard)
    receipts = [
        ReceiptIn(
            channel=CHANNEL,
            provider_id=str(b.message_id),
            status=DeliveryStatus.FAILED,
            provider_code=b.status,
            detail=f"bounced for {b.recipient}",
        )
        for b in hard
    ]
    report.applied = sum(await services.submit(receipts)) if receipts else 0
    for address in sorted({_normalized(b.recipient) for b in hard} - {""}):
        count = await services.count_failed_receipts(CHANNEL, address, HARD_PREFIX)
        if count >= bounce_limit and await services.opt_out(
            CHANNEL, address, f"hard-bounces:{count}"
        ):
            report.opted_out.append(address)
            log.info("email_address_opted_out", address=address, hard_bounces=count)
    return report


def _normalized(address: str) -> str:
    try:
        return normalize_email(address)
    except InvalidAddressError:
        return ""


def bounce_limit(services: Services) -> int:
    """The running e-mail channel's ``bounce_limit`` (the default without one)."""
    channel = services.channels.get(CHANNEL)
    if isinstance(channel, EmailChannel):
        return channel.settings.bounce_limit
    return EmailSettings().bounce_limit


async def handle_bounce(request: web.Request) -> web.StreamResponse:
    """``POST /v1/callbacks/email/bounce``: the body is one raw DSN (message/rfc822)."""
    try:
        bounces = parse_dsn(await request.read())
    except NotADsnError as exc:
        return problem(400, "Not a delivery status notification", str(exc))
    running = services(request)
    report = await apply_bounces(running, bounces, bounce_limit(running))
    return web.json_response(report.__dict__)
