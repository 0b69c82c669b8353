"""SpeedSMS brandname SMS: settings, transport and the delivery-report route.

Sources: SpeedSMS's public "SMS API" page (API URL, authentication, rate limit, error
codes), its official sample code (PHP ``SpeedSMSAPI``) and the public client
``alexzvn/speedsms-api`` (answer and webhook fields).

Send: one request per chunk of at most 100 numbers that share one text. A batch is
grouped by (text, unicode) and each group cut into such chunks, sent one after the other;
a number appears once per chunk, so ``tranId`` and the number name one message::

    POST <base_url>/sms/send     Authorization: Basic base64("<access_token>:x")
    {"to": ["84912345678", ...], "content": "<text>", "sms_type": 3, "sender": "<brandname>"}
    → 200 {"status": "success", "code": "00",
           "data": {"tranId": 123456, "totalSMS": 2, "totalPrice": 500, "invalidPhone": []}}
    → 200 {"status": "error", "code": "105", "message": "...", "invalidPhone": ["..."]}
    → 429 {"name": "Too Many Requests", "message": "Rate limit exceeded.", "status": 429}

The provider id of a message is ``"<tranId>:<number>"`` (``"123456:84912345678"``), the
same on both sides: a report names ``tranId`` and ``phone``. Numbers in ``invalidPhone``
fail with code 105; when a request fails for its invalid numbers only, the others are
retried. SpeedSMS allows 60 requests a minute; a 429 waits for ``Retry-After`` or
``X-Rate-Limit-Reset``. The client's author reports that a wrong token answers 404, so
401, 403 and 404 are account errors. Codes: :mod:`plugins.sms.speedsms_codes`.

What the documentation does not give, and what is done instead:

- no request id to de-duplicate on: a message whose answer was lost may go out twice
  (``repeatable`` is False, for the channel to decide);
- no unicode flag: SpeedSMS reads the encoding from the text (code 110 refuses one it
  cannot send), so only the grouping uses ``unicode``;
- no sandbox: a test announcement fails with code ``no-sandbox`` unless
  ``send_test_messages`` is set, which sends it for real;
- no per-request callback: enter :attr:`SpeedSmsTransport.callback_url` as the webhook
  URL in the SpeedSMS account (it is logged at start).

Delivery reports come to :data:`ROUTES` (``POST /v1/callbacks/sms/speedsms``); their
format is in :mod:`plugins.sms.speedsms_report`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import aiohttp
import structlog
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator

from dispatcher import (
    Accepted,
    ChannelContext,
    DeliveryError,
    Failed,
    RetryLater,
    RouteSpec,
    SendResult,
)
from plugins.sms.account import AccountTransport
from plugins.sms.brandname import (
    Kind,
    Outcome,
    lookup,
    outcome,
    reported_digits,
    settle,
    stops_batch,
    with_latency,
)
from plugins.sms.speedsms_codes import INVALID_PHONE_CODE, MAX_NUMBERS, SPEEDSMS_CODES
from plugins.sms.speedsms_report import SPEEDSMS_CALLBACK_PATH, handle_speedsms_report
from plugins.sms.transport import SmsOut
from plugins.sms.wire import UNREADABLE
from schemas import FailureKind

log = structlog.get_logger(__name__)

GATEWAY = "SpeedSMS"
SPEEDSMS_API = "https://api.speedsms.vn/index.php"
SEND_PATH = "/sms/send"
NO_SANDBOX = (
    "SpeedSMS has no test mode: set send_test_messages = true to send test announcements for real"
)
_NEEDS_SENDER = frozenset({3, 5, 7, 8})


class SpeedSmsSettings(BaseModel):
    """One SpeedSMS account and sender.

    Attributes:
        access_token: the account's API access token.
        brandname: the ``sender``: a registered brandname (type 3), phone number (7, 8) or
            Android device id (5); empty for the random (2), default (4) and fixed (6) ones.
        sms_type: SpeedSMS's ``sms_type``; 3 sends through your brandname.
        base_url: the API root.
        timeout: seconds one request may take.
        rate_per_sec: messages a second for this account (SpeedSMS allows 60 requests a
            minute of up to 100 numbers each).
        callback_url: the webhook URL to enter in the SpeedSMS account; default the public
            URL plus ``/v1/callbacks/sms/speedsms``.
        send_test_messages: send test announcements for real (SpeedSMS has no sandbox).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    access_token: SecretStr
    brandname: str = Field(default="", max_length=40)
    sms_type: Literal[2, 3, 4, 5, 6, 7, 8] = 3
    base_url: AnyHttpUrl = AnyHttpUrl(SPEEDSMS_API)
    timeout: float = Field(default=10.0, gt=0)
    rate_per_sec: float | None = Field(default=50.0, gt=0)
    callback_url: AnyHttpUrl | None = None
    send_test_messages: bool = False

    @model_validator(mode="after")
    def _sender_given(self) -> SpeedSmsSettings:
        if self.sms_type in _NEEDS_SENDER and not self.brandname.strip():
            raise ValueError(
                f"sms_type {self.sms_type} needs a sender: set brandname to the registered "
                'brandname, e.g. brandname = "UBND-PHUONG"'
            )
        return self


class SpeedSmsTransport(AccountTransport):
    """Sends through one SpeedSMS account, a chunk of same-text numbers a request."""

    gateway = "speedsms"
    label = GATEWAY
    send_path = SEND_PATH
    account_statuses = (401, 403, 404)
    callback_path = SPEEDSMS_CALLBACK_PATH
    max_batch = 500
    repeatable = False  # SpeedSMS documents no request id to de-duplicate on

    def __init__(self, settings: SpeedSmsSettings, ctx: ChannelContext) -> None:
        super().__init__(settings, ctx)
        self.settings = settings

    def session_headers(self) -> dict[str, str]:
        """SpeedSMS takes its access token as Basic auth on every request."""
        return {"Authorization": basic_auth(self.settings.access_token)}

    async def start(self) -> None:
        """Open the session and log the webhook URL to enter in the SpeedSMS account."""
        started = self._session is None
        await super().start()
        if started:
            log.info("speedsms_webhook_url", account=self.account, url=self.callback_url)

    async def send(self, batch: Sequence[SmsOut]) -> list[SendResult]:
        """Send ``batch`` in same-text chunks; one result per message, in order."""
        session = self._client()
        found: list[Outcome] = [Failed(NO_SANDBOX, code="no-sandbox")] * len(batch)
        to_send = [
            index
            for index, item in enumerate(batch)
            if self.settings.send_test_messages or not item.message.test
        ]
        stopped: Outcome | None = None
        for chunk in chunks(batch, to_send, MAX_NUMBERS):
            if stopped is None:
                answers = await self._send_chunk(session, [batch[index] for index in chunk])
                stopped = next((answer for answer in answers if stops_batch(answer)), None)
            else:
                answers = [stopped] * len(chunk)
            for index, answer in zip(chunk, answers, strict=True):
                found[index] = answer
        return settle(found)

    def payload(self, items: Sequence[SmsOut]) -> dict[str, Any]:
        """The request body for a chunk of messages that share one text."""
        return {
            "to": [item.phone.lstrip("+") for item in items],
            "content": items[0].text,
            "sms_type": self.settings.sms_type,
            "sender": self.settings.brandname,
        }

    async def _send_chunk(
        self, session: aiohttp.ClientSession, items: Sequence[SmsOut]
    ) -> list[Outcome]:
        started = time.perf_counter()
        try:
            answer = await self._post(session, self.payload(items))
        except DeliveryError as exc:
            return [exc] * len(items)
        return with_latency(self._read(items, answer), started)

    def _read(self, items: Sequence[SmsOut], answer: Any) -> list[Outcome]:
        if not isinstance(answer, dict) or answer.get("status") not in ("success", "error"):
            return [RetryLater(UNREADABLE)] * len(items)
        code = str(answer.get("code", "")).strip()
        data: dict[str, Any] = answer["data"] if isinstance(answer.get("data"), dict) else {}
        invalid = _numbers(answer.get("invalidPhone") or data.get("invalidPhone"))
        numbers = [item.phone.lstrip("+") for item in items]
        if answer["status"] == "success":
            return self._accepted(numbers, data.get("tranId"), invalid, code or "00")
        detail = str(answer.get("message") or "")
        if not code:
            return [RetryLater(f"{GATEWAY} refused without a code: {detail[:200]}")] * len(items)
        kind, meaning = lookup(SPEEDSMS_CODES, code)
        if kind in (Kind.ACCEPTED, Kind.DUPLICATE):
            kind = Kind.RETRY
        refusal = outcome(
            kind, meaning, gateway=GATEWAY, code=code, channel=self.ctx.name, detail=detail
        )
        if kind is not Kind.FAILED or not invalid:
            return [refusal] * len(items)
        others = RetryLater(f"{GATEWAY} refused the request for other numbers in it", code=code)
        return [refusal if number in invalid else others for number in numbers]

    def _accepted(
        self, numbers: list[str], tran_id: Any, invalid: set[str], code: str
    ) -> list[Outcome]:
        if isinstance(tran_id, bool) or not isinstance(tran_id, str | int) or tran_id == "":
            return [RetryLater(UNREADABLE, code=code)] * len(numbers)
        bad = Failed(
            f"{GATEWAY} {INVALID_PHONE_CODE}: phone number invalid",
            code=INVALID_PHONE_CODE,
            kind=FailureKind.PERMANENT,
        )
        return [
            bad if number in invalid else Accepted(f"{tran_id}:{number}", provider_code=code)
            for number in numbers
        ]


def basic_auth(token: SecretStr) -> str:
    """SpeedSMS's HTTP Basic credentials: the token as user name, ``x`` as password."""
    pair = f"{token.get_secret_value()}:x".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def chunks(batch: Sequence[SmsOut], indices: Iterable[int], size: int) -> list[list[int]]:
    """Positions of ``batch`` in chunks of at most ``size`` messages that share one
    (text, unicode) and never hold a number twice; chunks follow the batch's order."""
    lanes: dict[tuple[str, bool], list[tuple[list[int], set[str]]]] = {}
    for index in indices:
        item = batch[index]
        group = lanes.setdefault((item.text, item.unicode), [])
        lane = next((ln for ln in group if len(ln[0]) < size and item.phone not in ln[1]), None)
        if lane is None:
            lane = ([], set())
            group.append(lane)
        lane[0].append(index)
        lane[1].add(item.phone)
    return [positions for group in lanes.values() for positions, _ in group]


def _numbers(value: Any) -> set[str]:
    items = value if isinstance(value, list) else []
    return {d for d in (reported_digits(str(item)) for item in items) if d is not None}


ROUTES: list[RouteSpec] = [RouteSpec("POST", SPEEDSMS_CALLBACK_PATH, handle_speedsms_report)]
