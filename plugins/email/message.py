"""Building the e-mail of one delivery: a pure function, shared by the sandbox and SMTP.

The announcement's body is light markup: paragraphs separated by blank lines, line breaks
kept, bare ``http(s)://`` links made clickable. The HTML part escapes everything first,
so no raw HTML from a body ever reaches a mail client.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from dispatcher import OutboundMessage

_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}"
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")


@dataclass(frozen=True, slots=True)
class FetchedAttachment:
    """A document fetched for a message: its file name, MIME type and bytes."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who the message is from and for, as the e-mail is built.

    Attributes:
        sender: the ``From`` address.
        sender_name: the ``From`` display name.
        domain: the right side of Message-IDs.
        unsubscribe_url: the one-click link of the recipient (with its signed token).
    """

    sender: str
    sender_name: str
    domain: str
    unsubscribe_url: str


def message_id(delivery_id: str, domain: str) -> str:
    """The Message-ID of a delivery, the same for every attempt: ``<tb-42@ubnd.gov.vn>``.

    It is the provider id recorded when a server accepts the message, so a bounce that
    quotes it finds the delivery.
    """
    return f"<tb-{delivery_id}@{domain}>"


def ascii_address(address: str) -> str:
    """``lan@bộ.vn`` → ``lan@xn--b-fka.vn``: servers without SMTPUTF8 take the IDNA form."""
    local, _, domain = address.rpartition("@")
    try:
        domain.encode("ascii")
    except UnicodeEncodeError:
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def render_html(body: str) -> str:
    """The body as safe HTML: escaped, paragraphs from blank lines, ``<br>`` for line
    breaks, bare URLs as links."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    paragraphs = [p.strip("\n") for p in _PARAGRAPH_BREAK.split(text) if p.strip()]
    rendered = [
        "<p>" + "<br>\n".join(_line(line) for line in p.split("\n")) + "</p>" for p in paragraphs
    ]
    return "\n".join(rendered)


def _line(line: str) -> str:
    out: list[str] = []
    position = 0
    for match in _URL.finditer(line):
        url = match.group().rstrip(_TRAILING)
        end = match.start() + len(url)
        out.append(html.escape(line[position : match.start()]))
        out.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
        position = end
    out.append(html.escape(line[position:]))
    return "".join(out)


def html_document(title: str, body: str, language: str) -> str:
    """A whole HTML document for the alternative part."""
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(language)}">\n<head>'
        f'<meta charset="utf-8"><title>{html.escape(title)}</title></head>\n'
        f"<body>\n<h1>{html.escape(title)}</h1>\n{render_html(body)}\n</body>\n</html>\n"
    )


def build_email(
    message: OutboundMessage,
    envelope: Envelope,
    now: datetime,
    attachments: Sequence[FetchedAttachment] = (),
) -> EmailMessage:
    """The e-mail for ``message``: text and HTML alternatives, then the attachments.

    Headers are UTF-8, written as RFC 2047 words on the wire, so Vietnamese subjects and
    names survive servers without SMTPUTF8.
    """
    email = EmailMessage(policy=SMTP)
    email["From"] = Address(display_name=envelope.sender_name, addr_spec=envelope.sender)
    email["To"] = ascii_address(message.address)
    email["Subject"] = message.title
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message_id(message.delivery_id, envelope.domain)
    email["Content-Language"] = message.language
    email["List-Unsubscribe"] = f"<{envelope.unsubscribe_url}>"
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(f"{message.title}\n\n{message.body}\n", charset="utf-8")
    email.add_alternative(
        html_document(message.title, message.body, message.language), subtype="html"
    )
    for item in attachments:
        maintype, _, subtype = item.content_type.partition("/")
        email.add_attachment(item.data, maintype=maintype, subtype=subtype, filename=item.name)
    return email
