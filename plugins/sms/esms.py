"""eSMS (ViHAT) brandname SMS: settings, transport and the delivery-report route.

Source: the public eSMS developer book (pages "Send OTP/Customer care message",
"Callback Url", "Sandbox", "Table of error codes"), read in the repositories
``devesms/gitbook_esms_for_develop`` and ``devesms/gitbook_esms_for_develop_v2_en``.

Send, one message a request, the batch's messages concurrently (``parallel`` at once)::

    POST <base_url>/MainService.svc/json/SendMultipleMessage_V4_post_json/
    {"ApiKey", "SecretKey", "Phone": "0912345678", "Content", "Brandname", "SmsType": "2",
     "IsUnicode": "1"|"0", "Sandbox": "1"|"0", "RequestId": "<delivery id>",
     "CallbackUrl": "<callback_url>", "campaignid": "<announcement id>"}
    → 200 {"CodeResult": "100", "CountRegenerate": 0, "SMSID": "<provider id>"}
    → 200 {"CodeResult": "104", "CountRegenerate": 0, "ErrorMessage": "..."}
    → 200 {"error": "Invalid request"}  (documented as a connection problem: retried)

eSMS documents no multi-number send for customer-care messages (type 2):
``SendMultipleSMSBrandname_json`` is for advertising only (30 to 5000 numbers, reviewed
before sending), which does not fit announcements. ``Brandname`` is left out for type 8
(fixed number), as documented. The credentials travel in the body (eSMS has no header
auth), so bodies are never logged. ``RequestId`` is the delivery id: eSMS refuses a
repeated one with code 124, which makes resending after a lost answer safe. Numbers go
in the national form of eSMS's examples (``0912345678``). ``Sandbox`` is 1 for test
announcements and when ``sandbox`` is set: eSMS then checks the request without sending,
charging or keeping it, so no delivery report follows. Codes: :mod:`plugins.sms.esms_codes`.

Delivery reports come to :data:`ROUTES` (``GET`` and ``POST /v1/callbacks/sms/esms``) and
match the delivery by ``SMSID``; their format is in :mod:`plugins.sms.esms_report`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

import aiohttp
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator

from dispatcher import (
    Accepted,
    ChannelContext,
    DeliveryError,
    RetryLater,
    RouteSpec,
    SendResult,
    in_lanes,
)
from plugins.sms.account import AccountTransport
from plugins.sms.brandname import (
    Kind,
    Outcome,
    lookup,
    outcome,
    settle,
    stops_batch,
    with_latency,
)
from plugins.sms.esms_codes import ESMS_CODES
from plugins.sms.esms_report import ESMS_CALLBACK_PATH, handle_esms_report
from plugins.sms.transport import SmsOut
from plugins.sms.wire import UNREADABLE

GATEWAY = "eSMS"
ESMS_API = "https://rest.esms.vn"
SEND_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"


class EsmsSettings(BaseModel):
    """One eSMS account and brandname.

    Attributes:
        api_key: the account's ApiKey.
        secret_key: the account's SecretKey.
        brandname: the registered sender name (required for ``sms_type`` 2).
        sms_type: 2 customer care through the brandname; 8 a fixed number, no brandname.
        base_url: the API host.
        timeout: seconds one request may take.
        rate_per_sec: messages a second for this account (eSMS documents no limit).
        parallel: requests in flight at once.
        callback_url: where eSMS reports deliveries; default the public URL plus
            ``/v1/callbacks/sms/esms``.
        sandbox: send every message with ``Sandbox: 1`` (checked, never sent or charged).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr
    secret_key: SecretStr
    brandname: str = Field(default="", max_length=20)
    sms_type: Literal[2, 8] = 2
    base_url: AnyHttpUrl = AnyHttpUrl(ESMS_API)
    timeout: float = Field(default=10.0, gt=0)
    rate_per_sec: float | None = Field(default=20.0, gt=0)
    parallel: int = Field(default=10, ge=1, le=100)
    callback_url: AnyHttpUrl | None = None
    sandbox: bool = False

    @model_validator(mode="after")
    def _brandname_given(self) -> EsmsSettings:
        if self.sms_type == 2 and not self.brandname.strip():
            raise ValueError(
                "sms_type 2 sends through a registered brandname: set brandname, "
                'e.g. brandname = "UBND-PHUONG", or use sms_type = 8'
            )
        return self


class EsmsTransport(AccountTransport):
    """Sends through one eSMS account, one request a message (see the module docstring)."""

    gateway = "esms"
    label = GATEWAY
    send_path = SEND_PATH
    callback_path = ESMS_CALLBACK_PATH
    max_batch = 100
    repeatable = True  # eSMS de-duplicates on RequestId

    def __init__(self, settings: EsmsSettings, ctx: ChannelContext) -> None:
        super().__init__(settings, ctx)
        self.settings = settings

    async def send(self, batch: Sequence[SmsOut]) -> list[SendResult]:
        """Send each message in its own request; one result per message, in order."""
        session = self._client()
        jobs = [partial(self._send_one, session, item) for item in batch]
        found = await in_lanes(jobs, self.settings.parallel, stops=stops_batch, name="esms-send")
        return settle(found)

    def payload(self, item: SmsOut) -> dict[str, str]:
        """The request body for ``item`` (it holds the credentials: never log it)."""
        sandbox = self.settings.sandbox or item.message.test
        body = {
            "ApiKey": self.settings.api_key.get_secret_value(),
            "SecretKey": self.settings.secret_key.get_secret_value(),
            "Phone": esms_phone(item.phone),
            "Content": item.text,
            "SmsType": str(self.settings.sms_type),
            "IsUnicode": "1" if item.unicode else "0",
            "Sandbox": "1" if sandbox else "0",
            "RequestId": item.ref,
            "CallbackUrl": self.callback_url,
            "campaignid": item.message.announcement_id,
        }
        if self.settings.sms_type == 2:
            body["Brandname"] = self.settings.brandname
        return body

    async def _send_one(self, session: aiohttp.ClientSession, item: SmsOut) -> Outcome:
        started = time.perf_counter()
        try:
            answer = await self._post(session, self.payload(item))
        except DeliveryError as exc:
            return exc
        [found] = with_latency([self._read(answer)], started)
        return found

    def _read(self, answer: Any) -> Outcome:
        if not isinstance(answer, dict):
            return RetryLater(UNREADABLE)
        if answer.get("CodeResult") is None:
            error = answer.get("error")
            return RetryLater(f"{GATEWAY} refused the request: {error}" if error else UNREADABLE)
        code = str(answer["CodeResult"]).strip()
        kind, meaning = lookup(ESMS_CODES, code)
        if kind is Kind.ACCEPTED:
            sms_id = answer.get("SMSID")
            if isinstance(sms_id, str) and sms_id:
                return Accepted(provider_id=sms_id, provider_code=code)
            return RetryLater(UNREADABLE, code=code)
        detail = str(answer.get("ErrorMessage") or "")
        return outcome(
            kind, meaning, gateway=GATEWAY, code=code, channel=self.ctx.name, detail=detail
        )


def esms_phone(e164: str) -> str:
    """``+84912345678`` → ``0912345678`` (eSMS's examples); other countries as digits."""
    return "0" + e164[3:] if e164.startswith("+84") else e164.lstrip("+")


ROUTES: list[RouteSpec] = [
    RouteSpec("GET", ESMS_CALLBACK_PATH, handle_esms_report),
    RouteSpec("POST", ESMS_CALLBACK_PATH, handle_esms_report),
]
