"""What the answers of Vietnamese brandname gateways mean: helpers eSMS and SpeedSMS share.

Each gateway module keeps its own table of documented codes, ``code → (Kind, meaning)``;
this module turns a :class:`Kind` into a per-message result or an error, maps HTTP and
aiohttp failures in one place, and settles a batch:

- a message refused for good gets ``Failed`` (with the gateway's code), one that may pass
  later gets ``RetryLater``;
- an error about the account (credentials, brandname, server IP, no balance) or a rate
  limit stops the batch: messages not yet sent get the same error without a request;
- when no message of the batch got through, the batch raises its error as a whole, so a
  timeout stays a timeout (the engine cannot tell whether it was sent) and an account
  error reaches the operator as a ``DeliveryError``.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import aiohttp
import phonenumbers
import structlog
from aiohttp import web
from pydantic import ValidationError

from dispatcher import (
    Accepted,
    ChannelTimeoutError,
    DeliveryError,
    Failed,
    PermanentDeliveryError,
    RateLimitedError,
    RetryLater,
    SendResult,
    TransientDeliveryError,
    elapsed_ms,
    services,
)
from plugins.sms.callback import problem
from plugins.sms.wire import parse_retry_after, refusal_reason
from schemas import FailureKind, ReceiptIn

log = structlog.get_logger(__name__)


class Kind(StrEnum):
    """What a gateway's code means for the message (or the batch) it answers."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # the gateway already took this request id, earlier
    FAILED = "failed"  # this message is refused for good
    RETRY = "retry"  # this message may pass later
    ACCOUNT = "account"  # the account cannot send at all until an operator fixes it
    ACCOUNT_RETRY = "account-retry"  # the account cannot send now (balance): retried later


CodeTable = Mapping[int, tuple[Kind, str]]
Outcome = SendResult | DeliveryError


class AccountRefusedError(PermanentDeliveryError):
    """The gateway refused the account: fix its credentials, brandname or server IP."""


class AccountPausedError(TransientDeliveryError):
    """The account cannot send now (its balance is too low): top it up; sends are retried."""


def lookup(table: CodeTable, code: object) -> tuple[Kind, str]:
    """The kind and meaning of ``code`` (``"007"`` and ``7`` are one code).

    A code the gateway does not document is retried: the retry policy bounds it.
    """
    try:
        key = int(str(code).strip())
    except ValueError:
        key = None
    if key is None or key not in table:
        return Kind.RETRY, "a code the gateway does not document"
    return table[key]


def outcome(
    kind: Kind, meaning: str, *, gateway: str, code: str, channel: str, detail: str = ""
) -> Outcome:
    """The outcome of one request answered with a code that is not a plain acceptance."""
    reason = f"{gateway} {code}: {meaning}" + (f" ({detail[:200]})" if detail else "")
    if kind is Kind.DUPLICATE:
        # The earlier attempt's provider id, if it was recorded, is kept by the store.
        return Accepted(provider_id=None, provider_code=code)
    if kind is Kind.FAILED:
        return Failed(reason, code=code, kind=FailureKind.PERMANENT)
    if kind is Kind.ACCOUNT:
        log.warning("sms_gateway_account_refused", gateway=gateway, code=code, meaning=meaning)
        return AccountRefusedError(
            f"{reason}: fix the {gateway} account in the SMS settings", channel=channel, code=code
        )
    if kind is Kind.ACCOUNT_RETRY:
        log.warning("sms_gateway_account_paused", gateway=gateway, code=code, meaning=meaning)
        return AccountPausedError(
            f"{reason}: top up the {gateway} account; sends are retried", channel=channel, code=code
        )
    return RetryLater(reason, code=code)


def stops_batch(found: Outcome) -> bool:
    """Whether the rest of the batch must not be sent (account trouble, a rate limit)."""
    return isinstance(found, AccountRefusedError | AccountPausedError | RateLimitedError)


def as_result(found: Outcome) -> SendResult:
    """One message's result from an outcome (an error of its request becomes its result)."""
    if not isinstance(found, DeliveryError):
        return found
    if isinstance(found, RateLimitedError):
        return RetryLater(str(found), after=found.retry_after, code=found.code)
    if isinstance(found, PermanentDeliveryError):
        return Failed(str(found), code=found.code, kind=FailureKind.PERMANENT)
    # A request that timed out may have been taken: say so, so that a gateway which cannot
    # de-duplicate (SpeedSMS) fails the message instead of sending it twice.
    return RetryLater(str(found), code=found.code, unknown=isinstance(found, TimeoutError))


def with_latency(found: Sequence[Outcome], started: float) -> list[Outcome]:
    """``found``, the outcomes of one request begun at ``started`` (a ``time.perf_counter()``
    reading), each result with that request's latency; errors stay as they are."""
    latency_ms = elapsed_ms(started)
    return [
        each if isinstance(each, DeliveryError) else replace(each, latency_ms=latency_ms)
        for each in found
    ]


def settle(outcomes: Sequence[Outcome]) -> list[SendResult]:
    """One result per message; raises when every message failed with a request error."""
    errors = [found for found in outcomes if isinstance(found, DeliveryError)]
    if errors and len(errors) == len(outcomes):
        raise next((error for error in errors if stops_batch(error)), errors[0])
    return [as_result(found) for found in outcomes]


@asynccontextmanager
async def http_errors(channel: str, gateway: str, host: str, timeout: float) -> AsyncIterator[None]:
    """Turn aiohttp failures inside the block into transient ``DeliveryError`` s.

    Messages name the host only; request bodies carry credentials and are never logged.
    """
    try:
        yield
    except DeliveryError:
        raise
    except TimeoutError as exc:
        log.warning("sms_gateway_timeout", channel=channel, gateway=gateway, host=host)
        raise ChannelTimeoutError(
            f"{gateway} did not answer within {timeout:g} s; the message may have been sent",
            channel=channel,
        ) from exc
    except aiohttp.ClientError as exc:
        log.warning(
            "sms_gateway_unreachable",
            channel=channel,
            gateway=gateway,
            host=host,
            error=type(exc).__name__,
        )
        raise TransientDeliveryError(
            f"cannot reach {gateway} ({type(exc).__name__})", channel=channel
        ) from exc


def status_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    gateway: str,
    channel: str,
    now: datetime,
    account_statuses: Collection[int] = (401, 403),
) -> DeliveryError | None:
    """The error an HTTP status means (None for 2xx).

    429 waits for ``Retry-After`` or, failing that, ``X-Rate-Limit-Reset`` (seconds).
    """
    if 200 <= status < 300:
        return None
    code = str(status)
    if status == 429:
        after = parse_retry_after(headers.get("Retry-After"), now)
        if after is None:
            after = _reset_seconds(headers.get("X-Rate-Limit-Reset"), now)
        return RateLimitedError(
            f"{gateway} asked us to slow down", retry_after=after, channel=channel, code=code
        )
    if status in account_statuses:
        return AccountRefusedError(
            f"{gateway} refused the account (HTTP {status}): check its credentials",
            channel=channel,
            code=code,
        )
    if 400 <= status < 500:
        reason = refusal_reason(body, status)
        return PermanentDeliveryError(f"{gateway}: {reason}", channel=channel, code=code)
    return TransientDeliveryError(
        f"{gateway} failed with HTTP {status}", channel=channel, code=code
    )


def read_json(body: bytes) -> Any:
    """The JSON of an answer (a UTF-8 byte-order mark is allowed); None if unreadable."""
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None


def reported_digits(phone: str) -> str | None:
    """A reported number as international digits, ``0912…`` → ``84912…``; None if invalid."""
    try:
        number = phonenumbers.parse(phone, "VN")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


async def submit_receipts(
    request: web.Request, receipts: Sequence[ReceiptIn], gateway: str
) -> list[bool] | None:
    """Hand receipts to the engine; None when they cannot be stored now (answer 503)."""
    if not receipts:
        return []
    try:
        return await services(request).submit(receipts)
    except Exception as exc:
        log.error("sms_report_not_stored", gateway=gateway, count=len(receipts), error=repr(exc))
        return None


def store_trouble() -> web.Response:
    """The answer when receipts cannot be stored now: the gateway should call again."""
    return problem(503, "Receipts cannot be stored now", "try again later")


def explain(exc: ValidationError) -> str:
    """A validation error as one line for a problem answer."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'report'}: {error['msg']}"
        for error in exc.errors()
    )


def _reset_seconds(value: str | None, now: datetime) -> float | None:
    try:
        seconds = float(value) if value else math.nan
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    if seconds > 1e9:  # an epoch timestamp rather than a delay
        seconds -= now.timestamp()
    return max(0.0, seconds)
