"""Pushing a cluster's schedule to its controller over HTTP: ``POST <endpoint>`` with JSON."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from dispatcher import (
    ChannelTimeoutError,
    PermanentDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from plugins.loudspeaker.registry import Cluster
from plugins.loudspeaker.settings import HttpSettings

CHANNEL = "loudspeaker"


class HttpTransport:
    """One ``aiohttp.ClientSession`` for every controller, opened on first use.

    Failures map as for any HTTP provider: 5xx, timeouts and connection errors are
    transient, 429 is rate limited (``Retry-After`` honoured), other 4xx permanent.
    """

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def push(self, cluster: Cluster, message: dict[str, Any]) -> None:
        """POST ``message`` to the cluster's controller.

        Raises:
            TransientDeliveryError: try again later (a subclass says why).
            PermanentDeliveryError: the controller refused the schedule.
        """
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        headers = {"Content-Type": "application/json"}
        if self.settings.token is not None:
            headers["Authorization"] = f"Bearer {self.settings.token.get_secret_value()}"
        body = json.dumps(message, ensure_ascii=False).encode()
        assert cluster.endpoint is not None  # validated for http clusters
        try:
            async with self._session.post(cluster.endpoint, data=body, headers=headers) as answer:
                text = (await answer.text())[:200]
                _check(answer.status, answer.headers.get("Retry-After"), text, cluster.id)
        except TimeoutError as exc:
            raise ChannelTimeoutError(
                f"controller of {cluster.id} did not answer in {self.settings.timeout:g} s",
                channel=CHANNEL,
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransientDeliveryError(
                f"controller of {cluster.id} unreachable: {type(exc).__name__}", channel=CHANNEL
            ) from exc

    async def aclose(self) -> None:
        """Close the session; safe twice."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _check(status: int, retry_after: str | None, text: str, cluster: str) -> None:
    if status < 300:
        return
    message = f"controller of {cluster} answered {status}: {text}"
    if status == 429:
        after = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise RateLimitedError(message, retry_after=after, channel=CHANNEL, code=str(status))
    if status >= 500:
        raise TransientDeliveryError(message, channel=CHANNEL, code=str(status))
    raise PermanentDeliveryError(message, channel=CHANNEL, code=str(status))
