"""The broadcaster: loads a cluster's schedule, changes it, pushes it, hands receipts over.

Every change to ``schedule:<cluster>`` happens under the lease of that name, so sends,
reports, heartbeats and the periodic resync of every process on the store take turns.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import structlog

from dispatcher import (
    Accepted,
    Clock,
    DeliveryError,
    Failed,
    FailureKind,
    OutboundMessage,
    PermanentDeliveryError,
    PluginState,
    RateLimitedError,
    ReceiptIn,
    ReceiptSink,
    RetryLater,
    SendResult,
    elapsed_ms,
)
from plugins.loudspeaker import schedule as sched
from plugins.loudspeaker.registry import Cluster, ClusterBook
from plugins.loudspeaker.schedule import Item, Schedule
from plugins.loudspeaker.settings import LoudspeakerSettings
from plugins.loudspeaker.slots import DailySlot, occurrences
from plugins.loudspeaker.wire import Heartbeat, PlayReports, schedule_message
from schemas import DeliveryStatus

log = structlog.get_logger(__name__)

CHANNEL = "loudspeaker"
PUSHED, OFFLINE = "pushed", "offline"


class Transport(Protocol):
    """Gets a schedule to a controller."""

    async def push(self, cluster: Cluster, message: dict[str, Any]) -> None:
        """Deliver ``message``; raise a ``DeliveryError`` when it could not."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class SandboxPush:
    """The sandbox controller: each push is a line of ``schedules.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def push(self, cluster: Cluster, message: dict[str, Any]) -> None:
        """Append ``message`` to the outbox of schedules."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as outbox:
            outbox.write(json.dumps(message, ensure_ascii=False) + "\n")

    async def aclose(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a push: pushed, offline, or the error; ``latency_ms``, how long the
    controller took to answer, when a push went out."""

    state: str
    error: DeliveryError | None = None
    latency_ms: float | None = None


def make_transports(settings: LoudspeakerSettings, data_dir: Path) -> dict[str, Transport]:
    """One transport of each kind, for a channel (or a command) with ``settings``."""
    from plugins.loudspeaker.transport_http import HttpTransport
    from plugins.loudspeaker.transport_mqtt import MqttTransport

    return {
        "sandbox": SandboxPush(data_dir / "schedules.jsonl"),
        "http": HttpTransport(settings.http),
        "mqtt": MqttTransport(settings.mqtt),
    }


class Broadcaster:
    """Schedules deliveries on clusters and keeps their controllers in step.

    Args:
        settings: the channel's settings.
        state: the channel's plugin state.
        receipts: where receipts go.
        clock: the time.
        public_url: where controllers reach thongbao.
        transports: by name (``sandbox``, ``http``, ``mqtt``).
    """

    def __init__(
        self,
        settings: LoudspeakerSettings,
        state: PluginState,
        receipts: ReceiptSink,
        clock: Clock,
        public_url: str,
        transports: dict[str, Transport],
    ) -> None:
        self.settings = settings
        self.state = state
        self.book = ClusterBook(state)
        self.receipts = receipts
        self.clock = clock
        self.public_url = public_url
        self.transports = transports

    # -- documents --------------------------------------------------------------------------
    async def load(self, cluster_id: str) -> Schedule:
        """The cluster's schedule (empty if none yet)."""
        found = await self.state.get(f"schedule:{cluster_id}")
        return Schedule() if found is None else Schedule.model_validate(found)

    async def _save(self, cluster_id: str, schedule: Schedule) -> None:
        await self.state.put(f"schedule:{cluster_id}", schedule.model_dump(mode="json"))

    def transport_of(self, cluster: Cluster) -> str:
        """The transport name the cluster uses."""
        return cluster.transport or self.settings.transport

    # -- sending ----------------------------------------------------------------------------
    async def admit(
        self, cluster: Cluster, entries: Sequence[tuple[OutboundMessage, Item | SendResult]]
    ) -> list[SendResult | None]:
        """Schedule prepared items on ``cluster`` and push; one result per entry.

        ``None`` means the sandbox answers for the message. An entry already prepared as
        a result (a speech failure) is answered with it.
        """
        now = self.clock.now()
        async with self.state.lease(f"schedule:{cluster.id}"):
            schedule = await self.load(cluster.id)
            for message, prepared in entries:
                if isinstance(prepared, Item) and schedule.find(message.delivery_id) is None:
                    wanted = [p.wanted for p in prepared.plays]
                    sched.admit(schedule, prepared, wanted, now)
            self._refresh(cluster, schedule, now)
            unplayable = self._drop_unplayable(schedule, [m for m, p in entries])
            outcome = await self._push(cluster, schedule, now)
            await self._hand_over(schedule)
            await self._save(cluster.id, schedule)
        results: list[SendResult | None] = []
        for message, prepared in entries:
            if not isinstance(prepared, Item):
                results.append(prepared)
            elif message.delivery_id in unplayable:
                results.append(unplayable[message.delivery_id])
            else:
                results.append(self._result(cluster, prepared, outcome))
        return results

    def _drop_unplayable(
        self, schedule: Schedule, messages: list[OutboundMessage]
    ) -> dict[str, SendResult]:
        """New items none of whose plays can happen fail at once, without a push."""
        failed: dict[str, SendResult] = {}
        for message in messages:
            item = schedule.find(message.delivery_id)
            if item is None or any(p.status not in sched.FINAL for p in item.plays):
                continue
            if any(p.status == "played" for p in item.plays):
                continue
            reasons = sorted({p.reason or p.status for p in item.plays})
            failed[message.delivery_id] = Failed(
                f"no slot can take it: {', '.join(reasons)}", code="NO_SLOT"
            )
            schedule.items.remove(item)
        return failed

    def _result(self, cluster: Cluster, item: Item, outcome: Outcome) -> SendResult | None:
        if self.transport_of(cluster) == "sandbox":
            return None
        latency_ms = outcome.latency_ms  # None: no push went out (nothing new, or offline)
        if outcome.state == PUSHED:
            return Accepted(provider_id=item.provider_id, latency_ms=latency_ms)
        if outcome.state == OFFLINE:
            return RetryLater(
                f"cluster {cluster.id} is offline: its items wait and are pushed when it "
                "sends a heartbeat",
                after=self.settings.offline_retry,
                code="CLUSTER_OFFLINE",
            )
        error = outcome.error
        assert error is not None
        if isinstance(error, PermanentDeliveryError):
            return Failed(
                str(error), code=error.code, kind=FailureKind.PERMANENT, latency_ms=latency_ms
            )
        after = error.retry_after if isinstance(error, RateLimitedError) else None
        return RetryLater(str(error), after=after, code=error.code, latency_ms=latency_ms)

    # -- keeping in step --------------------------------------------------------------------
    def slots_of(self, cluster: Cluster, after: datetime) -> list[Any]:
        """The cluster's open slots from ``after`` over the horizon."""
        daily = [DailySlot.parse(s) for s in cluster.slots or self.settings.slots]
        return occurrences(daily, self.settings.zone, after, self.settings.horizon_days)

    def _refresh(self, cluster: Cluster, schedule: Schedule, now: datetime) -> None:
        """Missed plays, a new placement, forgotten old items; a new version if the
        controller's part changed."""
        before = _fingerprint(schedule, now)
        sched.mark_missed(schedule, now, self.settings.report_grace)
        cutoff = now + timedelta(seconds=self.settings.push_lead)
        sched.replan(schedule, self.slots_of(cluster, cutoff), cutoff, self.settings.gap)
        sched.prune(schedule, now, self.settings.keep_days)
        if _fingerprint(schedule, now) != before:
            schedule.version += 1

    async def _push(self, cluster: Cluster, schedule: Schedule, now: datetime) -> Outcome:
        if not schedule.unpushed:
            return Outcome(PUSHED)
        online = await self.book.online(cluster.id, now, self.settings.heartbeat_timeout)
        if online is False:
            return Outcome(OFFLINE)
        message = schedule_message(cluster, schedule, now, self.settings.zone, self.public_url)
        started = time.perf_counter()
        try:
            await self.transports[self.transport_of(cluster)].push(cluster, message)
        except DeliveryError as exc:
            log.warning("loudspeaker_push_failed", cluster=cluster.id, error=str(exc))
            return Outcome("error", exc, latency_ms=elapsed_ms(started))
        schedule.pushed_version = schedule.version
        log.info("loudspeaker_pushed", cluster=cluster.id, version=schedule.version)
        return Outcome(PUSHED, latency_ms=elapsed_ms(started))

    async def _hand_over(self, schedule: Schedule) -> None:
        """Submit the receipts that became due (before saving: a duplicate is harmless)."""
        due = sched.due_receipts(schedule)
        if not due:
            return
        receipts = [
            ReceiptIn(
                channel=CHANNEL,
                provider_id=item.provider_id or "",
                status=DeliveryStatus.DELIVERED if delivered else DeliveryStatus.FAILED,
                occurred_at=when,
                provider_code=None if delivered else "NOT_PLAYED",
                detail=why,
            )
            for item, delivered, when, why in due
        ]
        await self.receipts.submit(receipts)

    async def sync(self, cluster_id: str, cancelled: Callable[[Item], str | None]) -> Outcome:
        """Bring one cluster up to date: cancel what ``cancelled`` names a reason for,
        replace, push if the controller is behind, hand receipts over."""
        cluster = await self.book.get(cluster_id)
        now = self.clock.now()
        async with self.state.lease(f"schedule:{cluster_id}"):
            schedule = await self.load(cluster_id)
            for item in schedule.items:
                reason = "cluster removed" if cluster is None else cancelled(item)
                if reason and not item.cancelled:
                    sched.cancel(item, reason, now)
                    schedule.version += 1
            if cluster is None:
                await self._save(cluster_id, schedule)
                return Outcome(OFFLINE)
            self._refresh(cluster, schedule, now)
            outcome = await self._push(cluster, schedule, now)
            await self._hand_over(schedule)
            await self._save(cluster_id, schedule)
        return outcome

    async def cancel_announcement(self, announcement_id: str) -> int:
        """Take every unplayed repeat of ``announcement_id`` off every cluster, pushing the
        schedules that changed; returns how many clusters had some."""
        touched = 0
        for cluster_id in await self.cluster_ids_with_schedules():
            schedule = await self.load(cluster_id)
            if not any(item.announcement_id == announcement_id for item in schedule.items):
                continue
            touched += 1
            await self.sync(
                cluster_id,
                lambda item: (
                    "announcement cancelled" if item.announcement_id == announcement_id else None
                ),
            )
        return touched

    async def cluster_ids_with_schedules(self) -> list[str]:
        """Every cluster that has a schedule document."""
        return [e.key.removeprefix("schedule:") async for e in self.state.items("schedule:")]

    # -- controllers' messages -------------------------------------------------------------
    async def apply_reports(self, reports: PlayReports) -> list[bool]:
        """Record each play; hand over the receipts that became due."""
        async with self.state.lease(f"schedule:{reports.cluster}"):
            schedule = await self.load(reports.cluster)
            applied = [
                sched.report(schedule, r.play_id, r.status == "played", r.at) for r in reports.plays
            ]
            await self._hand_over(schedule)
            await self._save(reports.cluster, schedule)
        log.info("loudspeaker_plays_reported", cluster=reports.cluster, applied=sum(applied))
        return applied

    async def heartbeat(self, beat: Heartbeat) -> dict[str, Any]:
        """Record that the controller lives; push at once if it lacks the latest schedule."""
        now = self.clock.now()
        before = await self.book.seen(beat.cluster, now)
        schedule = await self.load(beat.cluster)
        behind = beat.schedule_version is not None and beat.schedule_version < schedule.version
        came_back = before is None or (now - before).total_seconds() > (
            self.settings.heartbeat_timeout
        )
        if schedule.version and (behind or came_back):
            async with self.state.lease(f"schedule:{beat.cluster}"):
                schedule = await self.load(beat.cluster)
                schedule.pushed_version = min(schedule.pushed_version, schedule.version - 1)
                await self._save(beat.cluster, schedule)
        outcome = await self.sync(beat.cluster, lambda item: None)
        schedule = await self.load(beat.cluster)
        return {"schedule_version": schedule.version, "pushed": outcome.state == PUSHED}


def _fingerprint(schedule: Schedule, now: datetime) -> list[tuple[str, str]]:
    return [
        (item.play_id(play), play.at.isoformat() if play.at else "")
        for item, play in sched.upcoming(schedule, now)
    ]
