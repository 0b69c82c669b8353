"""The daily ZNS quota: the figures Zalo reports, and the pause when it is spent.

Every accepted ZNS answer carries ``data.quota`` (``dailyQuota``, ``remainingQuota``).
The figures are shown in ``/metrics``. When Zalo says the quota is spent (or a send
leaves nothing remaining), the channel pauses until the quota resets, at midnight in
``quota_timezone``: every worker reads the pause from the store (key ``quota``) and
answers its batches with ``RetryLater`` until then, without calling Zalo.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dispatcher import ChannelContext

log = structlog.get_logger(__name__)

QUOTA_KEY = "quota"


def next_time(now: datetime, zone: str, at: time) -> datetime:
    """The next moment after ``now`` when the wall clock in ``zone`` shows ``at``."""
    local = now.astimezone(ZoneInfo(zone))
    moment = datetime.combine(local.date(), at, tzinfo=local.tzinfo)
    if moment <= local:
        moment = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=local.tzinfo)
    return moment


class Quota:
    """The channel's view of its ZNS quota, and whether it is paused.

    Args:
        ctx: the channel's context (the pause is kept in ``ctx.state`` when there is one).
        zone: where the quota resets at midnight.
    """

    def __init__(self, ctx: ChannelContext, zone: str) -> None:
        self.ctx = ctx
        self.zone = zone
        self.daily: int | None = None
        self.remaining: int | None = None
        self._paused: dict[str, Any] | None = None

    async def load(self) -> None:
        """Read the figures and any pause a previous run left in the store."""
        if self.ctx.state is None:
            return
        stored = await self.ctx.state.get(QUOTA_KEY)
        if stored:
            self.daily, self.remaining = stored.get("daily"), stored.get("remaining")
            self._paused = stored if stored.get("until") else None

    def seen(self, quota: Any) -> bool:
        """Keep the figures of an answer's ``data.quota``; True when nothing remains."""
        if not isinstance(quota, Mapping):
            return False
        daily, remaining = _int(quota.get("dailyQuota")), _int(quota.get("remainingQuota"))
        if daily is not None:
            self.daily = daily
        if remaining is not None:
            self.remaining = remaining
        return remaining == 0

    async def pause(self, reason: str) -> float:
        """Pause until the quota resets; returns the seconds until then."""
        until = next_time(self.ctx.clock.now(), self.zone, time(0, 0))
        self._paused = {"until": until.isoformat(), "reason": reason}
        if self.ctx.state is not None:
            await self.ctx.state.put(
                QUOTA_KEY, {"daily": self.daily, "remaining": self.remaining, **self._paused}
            )
        log.warning("zalo_quota_paused", channel=self.ctx.name, until=until.isoformat())
        return self._seconds(until)

    async def paused(self) -> tuple[float, str] | None:
        """``(seconds left, reason)`` while paused (as any worker recorded it), else None."""
        if self.ctx.state is not None:
            stored = await self.ctx.state.get(QUOTA_KEY)
            self._paused = stored if stored and stored.get("until") else None
        if self._paused is None:
            return None
        left = self._seconds(datetime.fromisoformat(self._paused["until"]))
        if left <= 0:
            return None
        return left, str(self._paused.get("reason", "the daily ZNS quota is spent"))

    def _seconds(self, until: datetime) -> float:
        return (until - self.ctx.clock.now()).total_seconds()


class ZaloCollector(Collector):
    """``thongbao_zalo_*`` gauges: the ZNS quota and whether the token works."""

    def __init__(self, channel: str, quota: Quota, token_ok: Any) -> None:
        self.channel = channel
        self.quota = quota
        self.token_ok = token_ok

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The current figures (a quota Zalo has not reported yet is left out)."""
        figures = (
            ("thongbao_zalo_quota_daily", "ZNS messages the OA may send today.", self.quota.daily),
            (
                "thongbao_zalo_quota_remaining",
                "ZNS messages the OA may still send today.",
                self.quota.remaining,
            ),
            (
                "thongbao_zalo_token_ok",
                "1 while the OA access token can be had, 0 after Zalo refused a refresh.",
                1 if self.token_ok() else 0,
            ),
        )
        for name, text, value in figures:
            family = GaugeMetricFamily(name, text, labels=["channel"])
            if value is not None:
                family.add_metric([self.channel], float(value))
                yield family


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
