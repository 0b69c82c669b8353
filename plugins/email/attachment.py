"""Attachments by reference: fetched over HTTP when an announcement's e-mails are sent.

One ``aiohttp.ClientSession`` per channel. What was fetched is kept in memory for the few
most recent announcements, so a batch of 50 e-mails fetches each document once.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

import aiohttp

from dispatcher import (
    OutboundGuard,
    PermanentDeliveryError,
    TransientDeliveryError,
    refused_address,
)
from plugins.email.message import FetchedAttachment
from schemas import Attachment

_KEPT_ANNOUNCEMENTS = 4
_CHUNK = 64 * 1024


class AttachmentFetcher:
    """Fetches attachments with a size limit.

    Args:
        max_bytes: the largest document accepted.
        timeout: seconds for one fetch.
        outbound: the addresses attachment URLs may reach (redirects included).
    """

    def __init__(self, max_bytes: int, timeout: float, outbound: OutboundGuard) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.outbound = outbound
        self._session: aiohttp.ClientSession | None = None
        self._cache: OrderedDict[str, dict[str, asyncio.Task[FetchedAttachment]]] = OrderedDict()

    async def start(self) -> None:
        """Open the HTTP session."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            self._session = aiohttp.ClientSession(
                timeout=timeout, connector=self.outbound.connector()
            )

    async def aclose(self) -> None:
        """Close the session and forget what was fetched; safe to call twice."""
        for tasks in self._cache.values():
            for task in tasks.values():
                task.cancel()
        self._cache.clear()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def fetch(
        self, announcement_id: str, attachments: Sequence[Attachment]
    ) -> list[FetchedAttachment]:
        """The documents of one announcement, fetched once while it is being sent.

        Raises:
            PermanentDeliveryError: a document is too large or does not exist (4xx).
            TransientDeliveryError: the server failed (5xx), timed out or is unreachable.
        """
        tasks = self._cache.setdefault(announcement_id, {})
        self._cache.move_to_end(announcement_id)
        while len(self._cache) > _KEPT_ANNOUNCEMENTS:
            self._cache.popitem(last=False)
        for item in attachments:
            url = str(item.url)
            if url not in tasks or (tasks[url].done() and tasks[url].exception() is not None):
                tasks[url] = asyncio.create_task(self._get(item), name=f"email-attachment-{url}")
        # shield: one cancelled send must not cancel a fetch other sends wait for
        return [await asyncio.shield(tasks[str(item.url)]) for item in attachments]

    async def _get(self, item: Attachment) -> FetchedAttachment:
        if self._session is None:
            raise RuntimeError("the e-mail channel is not started: start() it")
        url = str(item.url)
        try:
            async with self._session.get(url) as answer:
                if answer.status >= 500:
                    raise TransientDeliveryError(f"attachment {url} answered {answer.status}")
                if answer.status >= 400:
                    raise PermanentDeliveryError(
                        f"attachment {url} answered {answer.status}: check its address",
                        code="attachment_unavailable",
                    )
                data = await self._read(answer, item)
        except aiohttp.ClientError as exc:
            if (why := refused_address(exc)) is not None:
                raise PermanentDeliveryError(
                    f"attachment {url}: {why}", code="attachment_refused"
                ) from exc
            raise TransientDeliveryError(f"attachment {url} could not be fetched: {exc!r}") from exc
        except TimeoutError as exc:
            raise TransientDeliveryError(f"attachment {url} could not be fetched: {exc!r}") from exc
        return FetchedAttachment(item.name, item.content_type, data)

    async def _read(self, answer: aiohttp.ClientResponse, item: Attachment) -> bytes:
        if (answer.content_length or 0) > self.max_bytes:
            raise self._too_large(item)
        data = bytearray()
        async for chunk in answer.content.iter_chunked(_CHUNK):
            data.extend(chunk)
            if len(data) > self.max_bytes:
                raise self._too_large(item)
        return bytes(data)

    def _too_large(self, item: Attachment) -> PermanentDeliveryError:
        return PermanentDeliveryError(
            f"attachment {item.name!r} is larger than {self.max_bytes} bytes "
            "(max_attachment_bytes): link it in the text instead",
            code="attachment_too_large",
        )
