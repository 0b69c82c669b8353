"""AccountTransport: what the brandname gateways (eSMS, SpeedSMS) share.

One gateway account: its pacing name, its rate, the URL its delivery reports come back
to, and the one HTTP session it sends through.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import aiohttp
from pydantic import AnyHttpUrl

from dispatcher import ChannelContext
from plugins.sms.brandname import http_errors, read_json, status_error
from plugins.sms.transport import SmsTransport


class AccountSettings(Protocol):
    """The settings fields every brandname gateway has (read-only here)."""

    @property
    def brandname(self) -> str: ...
    @property
    def sms_type(self) -> int: ...
    @property
    def rate_per_sec(self) -> float | None: ...
    @property
    def callback_url(self) -> AnyHttpUrl | None: ...
    @property
    def base_url(self) -> AnyHttpUrl: ...
    @property
    def timeout(self) -> float: ...


class AccountTransport(SmsTransport):
    """A transport bound to one gateway account.

    Subclasses name the gateway (``gateway``: ``"esms"``, ``label``: ``"eSMS"``), the path
    requests go to
    (``send_path``) and the route reports come back on (``callback_path``), and may add
    headers to every request with :meth:`session_headers`.
    """

    gateway: ClassVar[str]
    label: ClassVar[str]
    send_path: ClassVar[str]
    callback_path: ClassVar[str]
    # HTTP statuses that mean the account itself is refused (the whole batch stops).
    account_statuses: ClassVar[tuple[int, ...]] = (401, 403)

    def __init__(self, settings: AccountSettings, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.account = f"{self.gateway}:{settings.brandname or f'type{settings.sms_type}'}"
        self.rate_per_sec = settings.rate_per_sec
        self.callback_url = str(settings.callback_url or "") or (
            ctx.public_url.rstrip("/") + self.callback_path
        )
        self._url = str(settings.base_url).rstrip("/") + self.send_path
        self._host = settings.base_url.host or ""
        self._timeout = settings.timeout
        self._session: aiohttp.ClientSession | None = None

    def session_headers(self) -> dict[str, str]:
        """Headers of every request (credentials, for a gateway that takes them there)."""
        return {}

    async def start(self) -> None:
        """Open the one HTTP session of this account."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self.session_headers(),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )

    async def aclose(self) -> None:
        """Close the HTTP session; safe to call twice."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.account!r}>"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"the {self.account} transport is not started: call start() first")
        return self._session

    async def _post(self, session: aiohttp.ClientSession, payload: dict[str, Any]) -> Any:
        """POST ``payload`` as JSON; the answer's JSON, or the error its status means."""
        async with (
            http_errors(self.ctx.name, self.label, self._host, self._timeout),
            session.post(self._url, json=payload) as response,
        ):
            body = await response.read()
            status, headers = response.status, response.headers
        error = status_error(
            status,
            headers,
            body,
            gateway=self.label,
            channel=self.ctx.name,
            now=self.ctx.clock.now(),
            account_statuses=self.account_statuses,
        )
        if error is not None:
            raise error
        return read_json(body)
