"""The JSON shapes of the generic SMS gateway (see :mod:`plugins.sms.channel`): pure functions."""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dispatcher import Accepted, Failed, OutboundMessage, RetryLater, SendResult
from schemas import FailureKind

UNREADABLE = "unreadable answer from gateway"
NO_RESULT = "the gateway gave no result for this message"


def message_payload(message: OutboundMessage) -> dict[str, Any]:
    """One message as the gateway takes it: ``{"to", "text", "ref"}``."""
    return {"to": message.address, "text": message.body, "ref": message.delivery_id}


def provider_id(answer: Any) -> str | None:
    """The ``id`` of an answer, as text; None when missing, empty or not a string/number."""
    value = answer.get("id") if isinstance(answer, dict) else None
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def batch_results(batch: Sequence[OutboundMessage], answer: Any) -> list[SendResult] | None:
    """One result per message from a batch answer, matched on ``ref``; None if unreadable."""
    items = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        return None
    by_ref = {
        item["ref"]: item
        for item in items
        if isinstance(item, dict) and isinstance(item.get("ref"), str)
    }
    return [item_result(by_ref.get(message.delivery_id)) for message in batch]


def item_result(item: dict[str, Any] | None) -> SendResult:
    """The result of one entry of ``results`` (None: the gateway left the message out)."""
    if item is None:
        return RetryLater(NO_RESULT)
    accepted_id = provider_id(item)
    if accepted_id:
        return Accepted(provider_id=accepted_id)
    error = item.get("error")
    if not error:
        return RetryLater(UNREADABLE)
    code = str(item["code"]) if item.get("code") is not None else None
    if item.get("permanent") is True:
        return Failed(str(error), code=code, kind=FailureKind.PERMANENT)
    return RetryLater(str(error), code=code)


def refusal_reason(body: bytes, status: int) -> str:
    """The gateway's own words for a refusal, from a JSON or a text body."""
    try:
        data = json.loads(body)
    except ValueError:
        data = body.decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        data = next((data[k] for k in ("error", "message", "detail", "title") if data.get(k)), None)
    if isinstance(data, str) and data:
        return data[:300]
    return f"the gateway refused with HTTP {status}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are GMT anyway
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None
