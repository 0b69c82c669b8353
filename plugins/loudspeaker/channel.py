"""The loudspeaker channel: announcements become scheduled broadcasts on ward clusters.

A delivery is one announcement on one cluster (address = cluster id). ``send`` builds the
script, renders its audio, places its repeats in the cluster's slots and pushes the
cluster's schedule (see :mod:`~plugins.loudspeaker.broadcast`). Clusters on the sandbox
transport, and every message when the channel runs without a store (preview, unit tests),
go to the sandbox outbox with their script as body and get simulated receipts.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import structlog

from dispatcher import (
    Channel,
    ChannelContext,
    ConfigError,
    Failed,
    Inspection,
    OutboundMessage,
    SandboxTransport,
    SendResult,
    cancel_and_wait,
)
from plugins.loudspeaker.broadcast import Broadcaster, make_transports
from plugins.loudspeaker.options import parse_options
from plugins.loudspeaker.prepare import Preparer
from plugins.loudspeaker.registry import Cluster, ClusterBook, normalize_cluster_id
from plugins.loudspeaker.schedule import Item
from plugins.loudspeaker.script import build_script
from plugins.loudspeaker.settings import LoudspeakerSettings
from plugins.loudspeaker.speech import Speech, estimate_duration
from plugins.loudspeaker.transport_mqtt import MqttTransport
from plugins.loudspeaker.wire import Heartbeat, PlayReports
from schemas import Announcement, AnnouncementStatus

__all__ = ["LoudspeakerChannel", "normalize_cluster_id"]

log = structlog.get_logger(__name__)

_STOPPED = {AnnouncementStatus.CANCELLED: "cancelled", AnnouncementStatus.EXPIRED: "expired"}


class LoudspeakerChannel(Channel):
    """Broadcast scripts for clusters of ward loudspeakers, addressed by cluster id."""

    max_batch = 10
    max_length = 5000  # about five minutes of speech
    repeatable = True  # a push carries the whole schedule: repeating it changes nothing
    concurrency = 2
    reaches_contacts = False

    def __init__(self, ctx: ChannelContext) -> None:
        super().__init__(ctx)
        if not isinstance(ctx.settings, LoudspeakerSettings):
            raise ConfigError(
                f"channel {ctx.name!r} needs LoudspeakerSettings, not {type(ctx.settings).__name__}"
            )
        self.settings = ctx.settings
        self.speech = Speech(ctx.data_dir / "audio", self.settings.speech)
        self.preparer = Preparer(self.settings, self.speech, ctx.store, ctx.clock)
        self._sandbox = SandboxTransport(ctx, self.settings.sandbox)
        transports = make_transports(self.settings, ctx.data_dir)
        self._transports = transports
        mqtt = transports["mqtt"]
        assert isinstance(mqtt, MqttTransport)
        self.mqtt = mqtt
        self.broadcaster: Broadcaster | None = None
        if ctx.state is not None:
            self.broadcaster = Broadcaster(
                self.settings, ctx.state, ctx.receipts, ctx.clock, ctx.public_url, transports
            )
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = asyncio.Event()  # set once the MQTT listener has subscribed

    async def start(self) -> None:
        """Start the sandbox, the resync timer and, when a cluster uses MQTT, the listener.

        Raises:
            ConfigError: a real transport is the default and espeak-ng is missing.
        """
        await self._sandbox.start()
        if self.settings.transport != "sandbox" and not self.speech.available():
            raise ConfigError(
                f"the loudspeaker channel needs espeak-ng ({self.settings.speech.command!r}) "
                "to speak scripts: install it with 'apt-get install espeak-ng' (./dev setup "
                "does it) or set [channels.loudspeaker.speech] command"
            )
        if self.broadcaster is None or self._tasks:
            return
        if self.settings.resync_interval > 0:
            self._spawn(self._resync_forever(), "loudspeaker-resync")
        if await self._uses_mqtt():
            listener = self.mqtt.listen(self.on_controller_message, self.listening)
            self._spawn(listener, "loudspeaker-mqtt")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_report_death)
        self._tasks.append(task)

    async def _uses_mqtt(self) -> bool:
        if self.settings.transport == "mqtt":
            return True
        assert self.broadcaster is not None
        return any(c.transport == "mqtt" for c in await self.broadcaster.book.all())

    def normalize_address(self, address: str) -> str:
        """A cluster id in lower case."""
        return normalize_cluster_id(address)

    def inspect(self, message: OutboundMessage) -> Inspection:
        """The script with the default formula; refuses unknown or bad options."""
        options, problems = parse_options(message.options)
        if len(message.body) > (self.max_length or 0):
            problems.append(
                f"the text is {len(message.body)} characters; loudspeaker takes at most "
                f"{self.max_length}: shorten it or set content.loudspeaker.body"
            )
        formula = self.settings.formula if options.formula else None
        script = build_script(message.title, message.body, formula)
        seconds = estimate_duration(script, self.settings.speech.rate)
        details = {
            "repeats": options.repeats,
            "days": options.days,
            "estimated_seconds": seconds,
            "recording": options.recording,
        }
        return Inspection(text=script, details=details, problems=problems)

    async def recipients(self, announcement: Announcement, areas: frozenset[str]) -> list[str]:
        """Every registered cluster whose area is in the audience."""
        if self.ctx.state is None:
            return []
        return await ClusterBook(self.ctx.state).in_areas(areas)

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Schedule and push; one result per message, in order."""
        results: list[SendResult | None] = [None] * len(batch)
        if self.broadcaster is not None:
            await self._schedule(batch, results)
        sandboxed = [i for i, result in enumerate(results) if result is None]
        if sandboxed:
            answers = await self._sandbox.send([self._scripted(batch[i]) for i in sandboxed])
            for i, answer in zip(sandboxed, answers, strict=True):
                results[i] = answer
        return [result for result in results if result is not None]

    def _scripted(self, message: OutboundMessage) -> OutboundMessage:
        options, _ = parse_options(message.options)
        formula = self.settings.formula if options.formula else None
        return dataclasses.replace(message, body=build_script(message.title, message.body, formula))

    async def _schedule(
        self, batch: Sequence[OutboundMessage], results: list[SendResult | None]
    ) -> None:
        assert self.broadcaster is not None
        store = self.ctx.store
        ids = sorted({m.announcement_id for m in batch})
        announcements = await store.get_announcements(ids) if store is not None else {}
        by_cluster: dict[str, list[int]] = defaultdict(list)
        for index, message in enumerate(batch):
            by_cluster[message.address].append(index)
        for cluster_id, indexes in by_cluster.items():
            cluster = await self.broadcaster.book.get(cluster_id)
            if cluster is None:
                if self.settings.transport != "sandbox":
                    for i in indexes:
                        results[i] = Failed(
                            f"no loudspeaker cluster {cluster_id!r} in the registry: import it "
                            "with 'thongbao loudspeaker import'",
                            code="UNKNOWN_CLUSTER",
                        )
                continue  # the sandbox simulates clusters it does not know
            messages = [batch[i] for i in indexes]
            answers = await self._admit(cluster, messages, announcements)
            for i, answer in zip(indexes, answers, strict=True):
                results[i] = answer

    async def _admit(
        self,
        cluster: Cluster,
        messages: list[OutboundMessage],
        announcements: dict[str, Announcement],
    ) -> list[SendResult | None]:
        assert self.broadcaster is not None
        sandbox = self.broadcaster.transport_of(cluster) == "sandbox"
        known = await self.broadcaster.load(cluster.id)
        entries: list[tuple[OutboundMessage, Item | SendResult]] = []
        for message in messages:
            item = known.find(message.delivery_id)  # a retry: the item is scheduled already
            if item is None:
                announcement = announcements.get(message.announcement_id)
                prepared = await self.preparer.item(cluster, message, announcement, sandbox)
            entries.append((message, item if item is not None else prepared))
        return await self.broadcaster.admit(cluster, entries)

    # -- keeping controllers in step --------------------------------------------------------
    async def resync(self) -> None:
        """Cancel the items of cancelled or expired announcements, mark missed plays, push
        to clusters that are behind, hand over due receipts: every cluster, once."""
        assert self.broadcaster is not None
        for cluster_id in await self.broadcaster.cluster_ids_with_schedules():
            schedule = await self.broadcaster.load(cluster_id)
            ids = sorted({item.announcement_id for item in schedule.items if not item.cancelled})
            statuses = await self.ctx.store.announcement_statuses(ids) if self.ctx.store else {}

            def stopped(item: Item, statuses: dict[str, Any] = statuses) -> str | None:
                status = statuses.get(item.announcement_id)
                return f"announcement {_STOPPED[status]}" if status in _STOPPED else None

            await self.broadcaster.sync(cluster_id, stopped)

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_interval)
            try:
                await self.resync()
            except Exception as exc:
                log.warning("loudspeaker_resync_failed", error=repr(exc))

    async def on_controller_message(self, cluster: str, kind: str, body: dict[str, Any]) -> None:
        """A report or heartbeat heard over MQTT."""
        assert self.broadcaster is not None
        if kind == "played":
            await self.broadcaster.apply_reports(PlayReports.model_validate(body))
        elif kind == "heartbeat":
            await self.broadcaster.heartbeat(Heartbeat.model_validate(body))

    async def flush(self) -> None:
        """Hand over every pending simulated receipt now (tests, drain mode)."""
        await self._sandbox.flush()

    async def aclose(self) -> None:
        """Stop the timers and listener, close connections; safe to call twice."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            error = await cancel_and_wait(task)
            if error is not None:
                log.warning("loudspeaker_task_failed", task=task.get_name(), error=repr(error))
        await self._sandbox.aclose()
        for transport in self._transports.values():
            await transport.aclose()


def _report_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("loudspeaker_task_died", task=task.get_name(), error=repr(task.exception()))
