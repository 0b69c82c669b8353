"""Small pure helpers the SMS gateways share: answer texts, Retry-After, refusal reasons."""

from __future__ import annotations

import email.utils
import json
import math
from datetime import UTC, datetime

UNREADABLE = "unreadable answer from gateway"
NO_RESULT = "the gateway gave no result for this message"


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
