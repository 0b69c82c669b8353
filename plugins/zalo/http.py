"""The one HTTP session of the Zalo channel, and what HTTP failures mean.

Every Zalo API answers 200 with ``{"error": <code>, "message": ...}``; an HTTP error
status means the request never reached the API proper. Failures of the whole request
become typed ``DeliveryError`` s here, in one place: timeouts and connection errors and
5xx are transient, 429 waits for ``Retry-After``, other 4xx are permanent. Messages name
the host only: requests carry tokens and keys.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import structlog
from yarl import URL

from dispatcher import (
    ChannelTimeoutError,
    PermanentDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)

log = structlog.get_logger(__name__)


class ZaloHttp:
    """One ``aiohttp.ClientSession`` for every Zalo host the channel calls.

    Args:
        channel: the channel's name (for errors).
        timeout: seconds a request may take.
    """

    def __init__(self, channel: str, timeout: float) -> None:
        self.channel = channel
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the session."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def aclose(self) -> None:
        """Close the session; safe to call twice."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def call(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send one request; the answer's JSON object, or the ``DeliveryError`` it means."""
        if self._session is None:
            raise RuntimeError(f"channel {self.channel!r} is not started: call start() first")
        host = URL(url).host or ""
        async with (
            self._errors(host),
            self._session.request(
                method, url, headers=dict(headers), json=json_body, data=form, params=params
            ) as response,
        ):
            body = await response.read()
            status, retry = response.status, response.headers.get("Retry-After")
        return self._answer(status, retry, body, host)

    @asynccontextmanager
    async def _errors(self, host: str) -> AsyncIterator[None]:
        try:
            yield
        except TimeoutError as exc:
            log.warning("zalo_timeout", channel=self.channel, host=host)
            raise ChannelTimeoutError(
                f"Zalo ({host}) did not answer within {self.timeout:g} s; "
                "the message may have been sent",
                channel=self.channel,
            ) from exc
        except aiohttp.ClientError as exc:
            log.warning(
                "zalo_unreachable", channel=self.channel, host=host, error=type(exc).__name__
            )
            raise TransientDeliveryError(
                f"cannot reach Zalo ({host}): {type(exc).__name__}", channel=self.channel
            ) from exc

    def _answer(self, status: int, retry: str | None, body: bytes, host: str) -> dict[str, Any]:
        code = str(status)
        if status == 429:
            raise RateLimitedError(
                f"Zalo ({host}) asked us to slow down",
                retry_after=_seconds(retry),
                channel=self.channel,
                code=code,
            )
        if 400 <= status < 500:
            raise PermanentDeliveryError(
                f"Zalo ({host}) refused the request with HTTP {status}",
                channel=self.channel,
                code=code,
            )
        if not 200 <= status < 300:
            raise TransientDeliveryError(
                f"Zalo ({host}) failed with HTTP {status}", channel=self.channel, code=code
            )
        try:
            answer = json.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            answer = None
        if not isinstance(answer, dict):
            raise TransientDeliveryError(
                f"Zalo ({host}) answered with something that is not a JSON object",
                channel=self.channel,
            )
        return answer


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def error_code(answer: Mapping[str, Any]) -> int | None:
    """The ``error`` of an answer as an int (0 is success); None when it has none."""
    value = answer.get("error")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
