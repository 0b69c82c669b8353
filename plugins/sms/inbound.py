"""Citizens' replies: the inbound SMS route and STOP keywords.

A gateway forwards each message a citizen sends to ``/v1/callbacks/sms/inbound``:

- ``POST``: a JSON object or an urlencoded form; ``GET``: query parameters.
- Fields: ``from`` (the citizen's number, any common spelling), ``text``, and optionally
  ``id`` (the gateway's message id, for de-duplication) and ``at`` (ISO 8601 with an
  offset). Other fields are ignored.

The reply is stored and linked to the latest announcement sent to that number. A reply
that is a STOP keyword (``TU CHOI``, ``HUY``, ``STOP``, …; see :func:`stop_keyword`) also
opts the number out of SMS. The answer is ``200 {"stored": true, "opted_out": bool,
"announcement_id": id | null}``, ``400`` application/problem+json for input that cannot be
read, ``401`` when a ``secret`` is set and the request lacks it, and ``503`` when the reply
cannot be stored now (the gateway should try again).
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import phonenumbers
import structlog
from aiohttp import web
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from dispatcher import RouteSpec, services
from dispatcher import fold as fold_text
from plugins.sms.callback import problem

log = structlog.get_logger(__name__)

INBOUND_PATH = "/v1/callbacks/sms/inbound"
CHANNEL = "sms"
SECRET_HEADER = "X-Thongbao-Secret"
# "DỪNG" keeps its marks: folded to "DUNG" it would also catch "Đúng" (yes) and the name
# "Dũng". A keyword written with marks only matches a reply written with the same marks.
DEFAULT_STOP_KEYWORDS = ("TU CHOI", "TUCHOI", "HUY", "HUY DK", "DỪNG", "STOP", "UNSUBSCRIBE")

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """``text`` for keyword matching: no diacritics (đ → d), upper case, single spaces."""
    return fold_text(text).upper()


def stop_keyword(text: str, keywords: Sequence[str]) -> str | None:
    """The keyword ``text`` opts out with, or None.

    A reply is a STOP when it is the keyword, or starts with it followed by a space or
    punctuation ("Hủy!", "tu choi, cam on"), ignoring case, diacritics and extra spaces. A
    keyword later in a sentence ("toi khong muon huy") is not a STOP, nor is a longer word
    ("HUYEN"). A keyword written with diacritics ("DỪNG") needs the same diacritics. The
    longest matching keyword wins, so ``HUY DK`` is reported over ``HUY``.
    """
    folded = fold(text)
    exact = _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip().upper()
    for keyword in sorted(keywords, key=lambda word: len(fold(word)), reverse=True):
        word = fold(keyword)
        marked = _SPACES.sub(" ", unicodedata.normalize("NFC", keyword)).strip().upper()
        reply = exact if marked != word else folded
        word = marked if marked != word else word
        if word and reply.startswith(word):
            rest = reply[len(word) :]
            if not rest or not (rest[0].isalnum() or rest[0] == "_"):
                return keyword
    return None


def is_stop(text: str, keywords: Sequence[str]) -> bool:
    """Whether ``text`` opts its sender out (see :func:`stop_keyword`)."""
    return stop_keyword(text, keywords) is not None


class SmsReplySettings(BaseModel):
    """How replies are handled.

    Attributes:
        stop_keywords: replies that opt the sender out of SMS; matched ignoring case,
            diacritics and extra spaces (an empty list turns opting out by reply off).
        secret: when set, the gateway must send it in the ``X-Thongbao-Secret`` header or
            the ``secret`` query parameter (the route is public: without it anyone could
            opt anyone out).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    stop_keywords: list[str] = Field(default_factory=lambda: list(DEFAULT_STOP_KEYWORDS))
    secret: SecretStr | None = None

    @field_validator("stop_keywords")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        for index, keyword in enumerate(value):
            if not fold(keyword):
                raise ValueError(f"stop_keywords[{index}] is blank")
        return value


class SmsInbound(BaseModel):
    """One message from a citizen, as the gateway forwards it."""

    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)

    sender: str = Field(alias="from", min_length=1, max_length=40)
    text: str = Field(max_length=2000)
    id: str | None = Field(default=None, min_length=1, max_length=200)
    at: AwareDatetime | None = None

    @field_validator("sender")
    @classmethod
    def _e164(cls, value: str) -> str:
        return e164(value)


def e164(sender: str) -> str:
    """``sender`` in E.164 (default region VN); ``ValueError`` when it is no phone number."""
    try:
        number = phonenumbers.parse(sender, "VN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValueError(f"{sender!r} is not a phone number such as 0912345678 or +84912345678")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class _BadReplyError(Exception):
    """The request cannot be read as a reply."""


def inbound_routes(settings: SmsReplySettings | None = None) -> list[RouteSpec]:
    """The inbound route (POST and GET), answering with ``settings`` (default: the defaults).

    Example::

        @hookimpl
        def register_routes():
            yield from inbound_routes(SmsReplySettings(stop_keywords=["TU CHOI", "STOP"]))
    """
    replies = settings or SmsReplySettings()

    async def handle(request: web.Request) -> web.Response:
        return await handle_reply(request, replies)

    return [
        RouteSpec("POST", INBOUND_PATH, handle),
        RouteSpec("GET", INBOUND_PATH, handle),
    ]


async def handle_reply(request: web.Request, settings: SmsReplySettings) -> web.Response:
    """Store one reply and opt its sender out when it is a STOP keyword."""
    if settings.secret is not None and not _has_secret(request, settings.secret):
        return problem(401, "Wrong or missing secret", f"send it in the {SECRET_HEADER} header")
    try:
        reply = _parse(await _payload(request))
    except _BadReplyError as exc:
        return problem(400, "Bad inbound message", str(exc))
    keyword = stop_keyword(reply.text, settings.stop_keywords)
    engine = services(request)
    try:
        # Opt out first: it is idempotent, so a gateway retrying after a failure half-way
        # never leaves a STOP stored but not applied.
        if keyword is not None:
            await engine.opt_out(CHANNEL, reply.sender, f"sms-reply:{keyword}")
        stored = await engine.record_inbound(
            CHANNEL,
            reply.sender,
            reply.text,
            provider_id=reply.id,
            received_at=reply.at,
            opted_out=keyword is not None,
        )
    except Exception as exc:
        log.error("sms_reply_failed", error=repr(exc))
        return problem(503, "The reply cannot be stored now", "try again later")
    log.info("sms_reply_stored", opted_out=stored.opted_out, linked=bool(stored.announcement_id))
    body = {
        "stored": True,
        "opted_out": keyword is not None,
        "announcement_id": stored.announcement_id,
    }
    return web.json_response(body)


def _has_secret(request: web.Request, secret: SecretStr) -> bool:
    given = request.headers.get(SECRET_HEADER) or request.query.get("secret") or ""
    return hmac.compare_digest(given.encode(), secret.get_secret_value().encode())


async def _payload(request: web.Request) -> Any:
    if request.method == "GET" or not request.body_exists:
        return dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        return dict(await request.post())
    try:
        return await request.json()
    except ValueError as exc:
        raise _BadReplyError("the body is not JSON: send a JSON object or a form") from exc


def _parse(payload: Any) -> SmsInbound:
    if not isinstance(payload, dict):
        raise _BadReplyError("send one message as an object with from and text")
    fields = {key: value for key, value in payload.items() if key != "secret"}
    try:
        return SmsInbound.model_validate(fields)
    except ValidationError as exc:
        raise _BadReplyError(
            "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
        ) from exc
