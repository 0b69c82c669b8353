"""The SMS channel: the sandbox, or a generic HTTP gateway.

Wire shape of the generic gateway (``transport = "http"``); every request carries
``Authorization: Bearer <auth_token>`` when a token is set.

One message a request (``http.batch = false``), the batch's messages sent concurrently::

    POST <url>  {"to": "+84912345678", "text": "<body>", "ref": "<delivery id>"}
    → 2xx       {"id": "<provider id>"}

A whole batch a request (``http.batch = true``)::

    POST <url>  {"messages": [{"to": ..., "text": ..., "ref": ...}, ...]}
    → 2xx       {"results": [{"ref": ..., "id": ...}
                             | {"ref": ..., "error": "...", "code": "...", "permanent": true}]}

The gateway must de-duplicate on ``ref``: a message whose outcome was lost (a timeout, an
unreadable answer, a crash) is sent again. Answers mean:

- 5xx (and any other status that is not 2xx or 4xx), timeouts, connection errors: try
  again later;
- 429: try again after ``Retry-After`` (delta-seconds or an HTTP date);
- any other 4xx: refused for good, with the status as code and the body's error as reason;
- a 2xx without a readable id: try again (``ref`` makes that safe).

In batch mode a failure of the whole request raises a ``DeliveryError``; with one message a
request each message gets its own result. Delivery reports come back on the route of
:mod:`plugins.sms.callback`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import phonenumbers
import structlog

from dispatcher import (
    Accepted,
    Channel,
    ChannelContext,
    ChannelTimeoutError,
    ConfigError,
    DeliveryError,
    Failed,
    InvalidAddressError,
    OutboundMessage,
    PermanentDeliveryError,
    RateLimitedError,
    RetryLater,
    SandboxTransport,
    SendResult,
    TransientDeliveryError,
)
from plugins.sms.settings import SmsHttpSettings, SmsSettings
from plugins.sms.wire import (
    UNREADABLE,
    batch_results,
    message_payload,
    parse_retry_after,
    provider_id,
    refusal_reason,
)
from schemas import FailureKind

log = structlog.get_logger(__name__)


class SmsChannel(Channel):
    """Text messages to mobile phones, in E.164 form (``+84912345678``)."""

    max_batch = 100
    rate_per_sec: float | None = 50.0  # a common brandname-gateway allowance; None in sandbox mode
    # Four concatenated GSM-7 segments of 153 characters: a sane cost ceiling per person.
    max_length = 612
    repeatable = True  # the gateway de-duplicates on ``ref``
    concurrency = 4

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, SmsSettings):
            raise ConfigError(
                f"channel {ctx.name!r} needs SmsSettings, not {type(ctx.settings).__name__}"
            )
        self.settings = ctx.settings
        sandboxed = ctx.settings.transport == "sandbox"
        self._sandbox = SandboxTransport(ctx, ctx.settings.sandbox) if sandboxed else None
        if sandboxed:
            # The rate protects the gateway; the sandbox runs at full speed (demos, tests).
            self.rate_per_sec = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Start the sandbox, or open the one HTTP session to the gateway."""
        if self._sandbox is not None:
            await self._sandbox.start()
        elif self._session is None:
            gateway = self._gateway()
            headers = {}
            if gateway.auth_token is not None:
                headers["Authorization"] = f"Bearer {gateway.auth_token.get_secret_value()}"
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=gateway.timeout)
            )

    def normalize_address(self, address: str) -> str:
        """Any way of writing a phone number, as E.164; ``InvalidAddressError`` otherwise."""
        return normalize_phone(address)

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send ``batch`` through the sandbox or the gateway; one result per message."""
        if self._sandbox is not None:
            return await self._sandbox.send(batch)
        self._client()  # fail before fanning out when not started
        if self._gateway().batch:
            return await self._send_batch(batch)
        return await self._send_each(batch)

    async def flush(self) -> None:
        """Hand over every pending simulated receipt now (sandbox only; tests, drain mode)."""
        if self._sandbox is not None:
            await self._sandbox.flush()

    async def aclose(self) -> None:
        """Stop the sandbox or close the HTTP session; safe to call twice."""
        if self._sandbox is not None:
            await self._sandbox.aclose()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- the HTTP gateway -------------------------------------------------------------------
    def _gateway(self) -> SmsHttpSettings:
        if self.settings.http is None:  # SmsSettings refuses transport=http without it
            raise ConfigError(f"channel {self.name!r} has no http gateway settings")
        return self.settings.http

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"channel {self.name!r} is not started: call start() first")
        return self._session

    async def _send_each(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        limit = asyncio.Semaphore(self._gateway().parallel)

        async def one(message: OutboundMessage) -> SendResult:
            async with limit:
                return await self._send_one(message)

        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(one(message), name=f"sms-send-{message.delivery_id}")
                for message in batch
            ]
        return [task.result() for task in tasks]

    async def _send_one(self, message: OutboundMessage) -> SendResult:
        try:
            answer = await self._post(message_payload(message))
        except DeliveryError as exc:
            return result_for(exc)
        accepted_id = provider_id(answer)
        return Accepted(provider_id=accepted_id) if accepted_id else RetryLater(UNREADABLE)

    async def _send_batch(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        answer = await self._post({"messages": [message_payload(m) for m in batch]})
        results = batch_results(batch, answer)
        if results is None:
            raise TransientDeliveryError(UNREADABLE, channel=self.name)
        return results

    async def _post(self, payload: dict[str, Any]) -> Any:
        """POST ``payload``; the JSON answer, or the ``DeliveryError`` the failure means.

        The one place where statuses and aiohttp failures become thongbao errors.
        """
        gateway = self._gateway()
        async with (
            gateway_errors(self.name, gateway),
            self._client().post(str(gateway.url), json=payload) as response,
        ):
            body = await response.read()
            status, retry_after = response.status, response.headers.get("Retry-After")
        if status == 429:
            after = parse_retry_after(retry_after, self.ctx.clock.now())
            raise RateLimitedError(
                "the gateway asked us to slow down",
                retry_after=after,
                channel=self.name,
                code="429",
            )
        if 400 <= status < 500:
            reason = refusal_reason(body, status)
            raise PermanentDeliveryError(reason, channel=self.name, code=str(status))
        if not 200 <= status < 300:
            raise TransientDeliveryError(
                f"the gateway failed with HTTP {status}", channel=self.name, code=str(status)
            )
        try:
            return json.loads(body)
        except ValueError:
            return None


@asynccontextmanager
async def gateway_errors(channel: str, gateway: SmsHttpSettings) -> AsyncIterator[None]:
    """Turn aiohttp failures raised inside the block into transient ``DeliveryError`` s.

    Messages name the gateway's host only: a URL may carry a key in its query string.
    """
    try:
        yield
    except DeliveryError:
        raise
    except TimeoutError as exc:
        log.warning("sms_gateway_timeout", channel=channel, host=gateway.url.host)
        raise ChannelTimeoutError(
            f"the gateway did not answer within {gateway.timeout:g} s", channel=channel
        ) from exc
    except aiohttp.ClientError as exc:
        log.warning(
            "sms_gateway_unreachable",
            channel=channel,
            host=gateway.url.host,
            error=type(exc).__name__,
        )
        raise TransientDeliveryError(
            f"cannot reach the gateway ({type(exc).__name__})", channel=channel
        ) from exc


def result_for(exc: DeliveryError) -> SendResult:
    """The result of one message whose request failed with ``exc``."""
    if isinstance(exc, RateLimitedError):
        return RetryLater(str(exc), after=exc.retry_after, code=exc.code)
    if isinstance(exc, PermanentDeliveryError):
        return Failed(str(exc), code=exc.code, kind=FailureKind.PERMANENT)
    return RetryLater(str(exc), code=exc.code)


def normalize_phone(address: str) -> str:
    """``0912345678``, ``84912345678`` and ``+84 912 345 678`` all become ``+84912345678``.

    Raises:
        InvalidAddressError: not a valid phone number, or a landline.
    """
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
