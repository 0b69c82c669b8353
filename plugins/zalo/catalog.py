"""What each ZNS template declares, fetched from Zalo once and kept for a while.

Templates are kept in memory and in the store (``template:<id>``, with when they were
fetched), so workers and restarts share them; after ``zns.template_ttl`` seconds a
template is fetched again (an operator may have edited it at Zalo).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dispatcher import ChannelContext, Failed, FailureKind, RetryLater
from plugins.zalo.api import ZaloApi
from plugins.zalo.codes import ZNS_CODES, Kind, lookup
from plugins.zalo.http import error_code
from plugins.zalo.template import TemplateInfo, parse_info


class TemplateCatalog:
    """ZNS templates by id.

    Args:
        ctx: the channel's context.
        api: where templates are fetched.
        ttl: seconds a fetched template is trusted.
    """

    def __init__(self, ctx: ChannelContext, api: ZaloApi, ttl: float) -> None:
        self.ctx = ctx
        self.api = api
        self.ttl = timedelta(seconds=ttl)
        self._memory: dict[str, tuple[datetime, TemplateInfo]] = {}

    async def get(self, template_id: str) -> TemplateInfo | Failed | RetryLater:
        """The template, or why messages with it cannot go now.

        Raises:
            DeliveryError: Zalo could not be reached (the whole request failed).
        """
        now = self.ctx.clock.now()
        cached = self._memory.get(template_id) or await self._stored(template_id)
        if cached is not None and now - cached[0] < self.ttl:
            self._memory[template_id] = cached
            return cached[1]
        answer = await self.api.template_info(template_id)
        code = error_code(answer)
        if code != 0:
            return _refused(template_id, code, str(answer.get("message") or ""))
        try:
            info = parse_info(template_id, answer.get("data"))
        except ValueError as exc:
            return RetryLater(str(exc), code="template_unreadable")
        self._memory[template_id] = (now, info)
        if self.ctx.state is not None:
            value = {"fetched_at": now.isoformat(), "info": info.to_json()}
            await self.ctx.state.put(f"template:{template_id}", value)
        return info

    async def _stored(self, template_id: str) -> tuple[datetime, TemplateInfo] | None:
        if self.ctx.state is None:
            return None
        stored = await self.ctx.state.get(f"template:{template_id}")
        if not stored:
            return None
        return datetime.fromisoformat(stored["fetched_at"]), TemplateInfo.from_json(stored["info"])


def _refused(template_id: str, code: int | None, message: str) -> Failed | RetryLater:
    kind, meaning = lookup(ZNS_CODES, code) if code is not None else (Kind.RETRY, "no error code")
    reason = f"Zalo would not describe ZNS template {template_id}: {meaning}"
    if message:
        reason += f" ({message})"
    if kind in (Kind.MESSAGE, Kind.RECIPIENT):
        return Failed(reason, code=str(code))
    if kind is Kind.ACCOUNT:
        return Failed(reason, code=str(code), kind=FailureKind.TECHNICAL)
    return RetryLater(reason, code=None if code is None else str(code))
