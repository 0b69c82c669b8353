"""One signed POST and what its answer means, for webhooks and status callbacks alike.

- 2xx: delivered (the HTTP answer is the receipt);
- 410 Gone: the receiver wants no more (a subscription is then disabled);
- 429 and 5xx, timeouts, refused connections: try again later (``Retry-After`` honoured);
- anything else (3xx are not followed, other 4xx, an address thongbao may not call, see
  ``dispatcher/outbound.py``): refused for good.
"""

from __future__ import annotations

import asyncio
import email.utils
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from yarl import URL

from dispatcher import refused_address

USER_AGENT = "thongbao-webhooks/1 (+https://www.standardwebhooks.com/)"


@dataclass(frozen=True, slots=True)
class PostAnswer:
    """What came of one POST.

    Attributes:
        status: the HTTP status, None when no answer came.
        retry_after: seconds the receiver asked us to wait (``Retry-After``).
        error: why no answer came (timeout, connection refused).
        timed_out: the request went out but the answer did not come in time.
        refused: thongbao would not connect to the URL's address (not public and not in
            ``[outbound] allowed_networks``): trying again cannot help.
    """

    status: int | None
    retry_after: float | None = None
    error: str | None = None
    timed_out: bool = False
    refused: bool = False

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        """410 Gone."""
        return self.status == 410

    @property
    def transient(self) -> bool:
        """Worth trying again: no answer (unless refused), 429, or 5xx."""
        if self.status is None:
            return not self.refused
        return self.status == 429 or self.status >= 500

    @property
    def reason(self) -> str:
        """For people: what the receiver did."""
        if self.status is None:
            return self.error or "no answer"
        if 300 <= self.status < 400:
            return (
                f"the receiver answered HTTP {self.status}: redirects are not followed, "
                "register the final URL"
            )
        return f"the receiver answered HTTP {self.status}"


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    now: datetime,
) -> PostAnswer:
    """POST ``body`` to ``url``; never raises for what the network or receiver does."""
    try:
        async with asyncio.timeout(timeout):
            async with session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                wait = retry_after(response.headers.get("Retry-After"), now)
                return PostAnswer(response.status, retry_after=wait)
    except TimeoutError:
        return PostAnswer(None, error=f"no answer within {timeout:g} s", timed_out=True)
    except aiohttp.ClientError as exc:
        if (why := refused_address(exc)) is not None:
            return PostAnswer(None, error=f"{URL(url).host}: {why}", refused=True)
        return PostAnswer(None, error=f"cannot reach the receiver: {type(exc).__name__}")


def retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)
