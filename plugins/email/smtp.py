"""The SMTP transport: a bounded pool of reused connections to one server.

Each e-mail is one SMTP transaction (``MAIL``, ``RCPT``, ``DATA``) on a pooled connection,
so a refusal concerns that recipient only. Answers are mapped here, in one place:

- a 4xx reply (to MAIL, RCPT or DATA) → ``RetryLater`` with the SMTP code;
- a 5xx reply → ``Failed`` (permanent) with the SMTP code;
- a lost connection or timeout before DATA → ``RetryLater``;
- a lost connection or timeout once DATA was sent → ``RetryLater(unknown=True)``: the
  server may have the message;
- no connection at all before the batch starts → ``TransientDeliveryError`` for the batch.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence

import aiosmtplib
import structlog

from dispatcher import (
    Accepted,
    Failed,
    RetryLater,
    SendResult,
    TransientDeliveryError,
    timed,
)
from plugins.email.message import ascii_address
from plugins.email.settings import SmtpSettings
from plugins.email.transport import EmailOut, EmailTransport

log = structlog.get_logger(__name__)

_CONNECTION_TROUBLE = (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError)


class _Lost(Exception):
    """The connection failed during a transaction (``after_data``: once DATA was sent)."""

    def __init__(self, cause: BaseException, after_data: bool) -> None:
        super().__init__(repr(cause))
        self.after_data = after_data


class SmtpTransport(EmailTransport):
    """Sends over SMTP to one server, with at most ``pool_size`` connections.

    Args:
        settings: the server.
        sender: the envelope sender (``MAIL FROM``).
        channel: the channel's name, for errors and logs.
    """

    def __init__(self, settings: SmtpSettings, sender: str, channel: str = "email") -> None:
        self.settings = settings
        self.sender = ascii_address(sender)
        self.channel = channel
        self.rate_per_sec = settings.rate_per_sec
        self.max_batch = settings.max_batch
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._tls = _tls_context(settings)
        self._closed = False

    def __repr__(self) -> str:
        s = self.settings
        return f"<SmtpTransport {s.security}://{s.host}:{s.port} pool={s.pool_size}>"

    async def send(self, batch: Sequence[EmailOut]) -> list[SendResult]:
        """Send every e-mail of ``batch`` on the pool; one result each, in order.

        Raises:
            TransientDeliveryError: no connection to the server could be opened.
        """
        if not batch:
            return []
        await self._check_reachable()
        return list(await asyncio.gather(*(self._send_one(out) for out in batch)))

    async def aclose(self) -> None:
        """Say QUIT on every idle connection; safe to call twice."""
        self._closed = True
        idle, self._idle = self._idle, []
        for client in idle:
            await _quit(client)

    # -- the pool ---------------------------------------------------------------------------
    async def _check_reachable(self) -> None:
        """Make sure one connection exists, so a dead server fails the batch once."""
        if self._idle:
            return
        async with self._slots:
            try:
                self._idle.append(await self._connect())
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise TransientDeliveryError(
                    f"SMTP server {self.settings.host}:{self.settings.port} cannot be reached: "
                    f"{exc}",
                    channel=self.channel,
                    code=str(getattr(exc, "code", "")) or None,
                ) from exc

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            timeout=s.timeout,
            tls_context=self._tls,
        )
        await client.connect()
        return client

    async def _send_one(self, out: EmailOut) -> SendResult:
        async with self._slots:
            started = time.perf_counter()  # the server's time, not the wait for a slot
            return timed(await self._send_pooled(out), started)

    async def _send_pooled(self, out: EmailOut, *, reuse: bool = True) -> SendResult:
        """Send ``out`` on an idle connection (a new one when none is idle or ``reuse`` is
        false)."""
        reused = reuse and bool(self._idle)
        try:
            client = self._idle.pop() if reused else await self._connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            return RetryLater(f"no connection to the SMTP server: {exc!r}")
        try:
            result = await self._transact(client, out)
        except _Lost as lost:
            client.close()
            if reused and not lost.after_data:
                # An idle connection the server dropped: one fresh try is always safe.
                return await self._send_pooled(out, reuse=False)
            return _lost_result(lost)
        self._release(client)
        return result

    def _release(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected and not self._closed:
            self._idle.append(client)
        else:
            client.close()

    # -- one transaction ---------------------------------------------------------------------
    async def _transact(self, client: aiosmtplib.SMTP, out: EmailOut) -> SendResult:
        """MAIL, RCPT, DATA for one e-mail; an SMTP reply becomes a result.

        Raises:
            _Lost: the connection failed or timed out.
        """
        after_data = False
        try:
            await client.mail(self.sender)
            await client.rcpt(ascii_address(out.message.address))
            after_data = True
            reply = await client.data(out.email.as_bytes())
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(client)
            return _reply_result(exc)
        except _CONNECTION_TROUBLE as exc:
            raise _Lost(exc, after_data) from exc
        return Accepted(provider_id=out.message_id, provider_code=str(reply.code))


def _reply_result(exc: aiosmtplib.SMTPResponseException) -> SendResult:
    reason = f"SMTP {exc.code}: {exc.message}"
    if 500 <= exc.code < 600:
        return Failed(reason, code=str(exc.code))
    return RetryLater(reason, code=str(exc.code) if exc.code > 0 else None)


def _lost_result(lost: _Lost) -> SendResult:
    if lost.after_data:
        return RetryLater(f"connection lost after DATA: {lost}", unknown=True)
    return RetryLater(f"connection lost: {lost}")


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a refusal so the connection can carry the next e-mail; close it if not."""
    if not client.is_connected:
        return
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    if settings.security == "plain":
        return None
    cafile = str(settings.ca_file) if settings.ca_file else None
    return ssl.create_default_context(cafile=cafile)
