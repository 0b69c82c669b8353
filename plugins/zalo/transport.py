"""The Zalo transport: ZNS to phone numbers, OA messages to user ids, one batch at a time.

For a batch: while the quota pause holds, every message waits without a call to Zalo;
otherwise the access token is made sure of once, the announcements and contacts of the
batch are read (for template parameters), each message is prepared (template chosen,
parameters filled and checked) and the ready ones are sent, ``parallel`` at a time.
A failure of a whole request (timeout, 5xx) stops the rest of the batch with the same
outcome; a spent quota pauses the channel and the rest of the batch waits for the reset.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import time
from functools import partial
from time import perf_counter
from typing import Any

import structlog

from dispatcher import (
    Accepted,
    ChannelContext,
    ChannelTimeoutError,
    DeliveryError,
    Failed,
    FailureKind,
    OutboundMessage,
    PermanentDeliveryError,
    RateLimitedError,
    RetryLater,
    SendResult,
    in_lanes,
    timed,
)
from plugins.zalo.api import ZaloApi
from plugins.zalo.catalog import TemplateCatalog
from plugins.zalo.codes import OA_CODES, ZNS_CODES, CodeTable, Kind, lookup
from plugins.zalo.http import error_code
from plugins.zalo.oa import oa_body, oa_problem
from plugins.zalo.quota import Quota, ZaloCollector, next_time
from plugins.zalo.settings import ZaloApiSettings, ZnsSettings
from plugins.zalo.template import fill
from plugins.zalo.token import TokenUnavailableError
from plugins.zalo.zns import is_phone, param_context, zns_body
from schemas import Announcement, Contact

log = structlog.get_logger(__name__)

#: A prepared send: its result, and whether the rest of the batch should stop with it.
Send = Callable[[], Awaitable[tuple[SendResult, bool]]]


class ZaloTransport:
    """Sends through one Zalo app and its Official Account.

    Args:
        ctx: the channel's context.
        api: the app's credentials and hosts.
        zns: the template choice.
    """

    def __init__(self, ctx: ChannelContext, api: ZaloApiSettings, zns: ZnsSettings) -> None:
        self.ctx = ctx
        self.settings = api
        self.zns = zns
        self.api = ZaloApi(ctx, api)
        self.catalog = TemplateCatalog(ctx, self.api, zns.template_ttl)
        self.quota = Quota(ctx, api.quota_timezone)
        self.collector = ZaloCollector(ctx.name, self.quota, lambda: self.api.tokens.health.ok)

    async def start(self) -> None:
        """Open the session; read the quota figures and pause a previous run left."""
        await self.api.start()
        await self.quota.load()

    async def aclose(self) -> None:
        """Close the session; safe to call twice."""
        await self.api.aclose()

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """One result per message, in order (see the module docstring)."""
        waiting = await self._hold()
        if waiting is not None:
            return [waiting] * len(batch)
        announcements, contacts = await self._lookup(batch)
        prepared: list[SendResult | Send] = []
        for message in batch:
            ann = announcements.get(message.announcement_id)
            contact = contacts.get(message.contact_id or "")
            try:
                prepared.append(await self._prepare(message, ann, contact))
            except DeliveryError as exc:
                # Zalo cannot be reached: the rest of the batch would fare no better.
                stop = _whole_request(exc, self.settings.token_retry_after)
                prepared += [stop] * (len(batch) - len(prepared))
                break
        return await self._run(prepared)

    # -- before sending --------------------------------------------------------------------
    async def _hold(self) -> RetryLater | None:
        paused = await self.quota.paused()
        if paused is not None:
            left, reason = paused
            return RetryLater(
                f"Zalo quota paused until it resets: {reason}", after=left, untried=True
            )
        try:
            await self.api.tokens.access_token()
        except TokenUnavailableError as exc:
            return RetryLater(
                str(exc), after=self.settings.token_retry_after, code="token", untried=True
            )
        return None

    async def _lookup(
        self, batch: Sequence[OutboundMessage]
    ) -> tuple[dict[str, Announcement], dict[str, Contact]]:
        store = self.ctx.store
        if store is None or not any(is_phone(m.address) for m in batch):
            return {}, {}
        ids = sorted({m.announcement_id for m in batch})
        people = sorted({m.contact_id for m in batch if m.contact_id})
        return await store.get_announcements(ids), await store.get_contacts(people)

    async def _prepare(
        self, message: OutboundMessage, ann: Announcement | None, contact: Contact | None
    ) -> SendResult | Send:
        if not is_phone(message.address):
            problem = oa_problem(message)
            if problem:
                return Failed(problem, code="refused_by_channel")
            body = oa_body(message)
            return lambda: self._send(self.api.send_oa, body, OA_CODES, "message_id")
        template = self.zns.choose(message.priority, message.options.get("template_id"))
        if template is None:
            return Failed(
                f"no ZNS template for a {message.priority.value} announcement: set "
                "content.zalo.options.template_id or [channels.zalo.zns] default_template",
                code="refused_by_channel",
            )
        info = await self.catalog.get(template)
        if isinstance(info, Failed | RetryLater):
            return info
        zone = self.settings.quota_timezone
        data, problems = fill(info, self.zns.params, param_context(message, ann, contact, zone))
        if problems:
            return Failed("; ".join(problems), code="refused_by_channel")
        body = zns_body(message, template, data)
        return lambda: self._send(self.api.send_zns, body, ZNS_CODES, "msg_id")

    # -- sending ---------------------------------------------------------------------------
    async def _run(self, prepared: list[SendResult | Send]) -> list[SendResult]:
        sent = await in_lanes(
            [partial(self._call, item) for item in prepared if callable(item)],
            self.settings.parallel,
            stops=lambda found: found[1],
            name="zalo-send",
        )
        answers = iter(sent)
        return [next(answers)[0] if callable(item) else item for item in prepared]

    async def _call(self, send: Send) -> tuple[SendResult, bool]:
        """One request: its result, and whether it stops the rest of the batch."""
        started = perf_counter()
        try:
            result, stops = await send()
        except DeliveryError as exc:
            return timed(_whole_request(exc, self.settings.token_retry_after), started), True
        return timed(result, started), stops

    async def _send(
        self,
        call: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
        body: dict[str, Any],
        table: CodeTable,
        id_field: str,
    ) -> tuple[SendResult, bool]:
        answer = await call(body)
        code = error_code(answer)
        found = answer.get("data")
        data: dict[str, Any] = found if isinstance(found, dict) else {}
        if code == 0:
            return await self._accepted(data, id_field), False
        if code is None:
            return RetryLater("Zalo answered without an error code", code="unreadable"), False
        kind, meaning = lookup(table, code)
        detail = str(answer.get("message") or "")
        reason = f"Zalo error {code}: {meaning}" + (f" ({detail})" if detail else "")
        # A spent quota or a dead token holds for every other message of the batch too.
        return await self._refused(kind, reason, str(code)), kind in (Kind.QUOTA, Kind.TOKEN)

    async def _accepted(self, data: dict[str, Any], id_field: str) -> SendResult:
        provider_id = data.get(id_field)
        if self.quota.seen(data.get("quota")):
            await self.quota.pause("the last message used the OA's remaining daily quota")
        if not provider_id:
            return RetryLater("Zalo accepted without a message id", code="unreadable")
        return Accepted(provider_id=str(provider_id), provider_code="0")

    async def _refused(self, kind: Kind, reason: str, code: str) -> SendResult:
        if kind in (Kind.RECIPIENT, Kind.MESSAGE):
            return Failed(reason, code=code)
        if kind is Kind.ACCOUNT:
            log.error("zalo_account_refused", channel=self.ctx.name, code=code, reason=reason)
            return Failed(reason, code=code, kind=FailureKind.TECHNICAL)
        if kind is Kind.QUOTA:
            left = await self.quota.pause(reason)
            return RetryLater(reason, after=left, code=code, untried=True)
        if kind is Kind.NIGHT:
            morning = next_time(self.ctx.clock.now(), self.settings.quota_timezone, time(6, 0))
            return RetryLater(reason, after=(morning - self.ctx.clock.now()).total_seconds())
        if kind is Kind.TOKEN:
            return RetryLater(reason, after=self.settings.token_retry_after, code=code)
        return RetryLater(reason, code=code)


def _whole_request(exc: DeliveryError, token_wait: float) -> SendResult:
    """What a failure of a whole request (no answer from Zalo) means for its message."""
    if isinstance(exc, TokenUnavailableError):
        return RetryLater(str(exc), after=token_wait, code="token")
    if isinstance(exc, RateLimitedError):
        return RetryLater(str(exc), after=exc.retry_after, code=exc.code)
    if isinstance(exc, PermanentDeliveryError):
        return Failed(str(exc), code=exc.code)
    return RetryLater(str(exc), code=exc.code, unknown=isinstance(exc, ChannelTimeoutError))
