"""Dispatcher: builds the channels, runs the scheduler and the workers, stops cleanly.

Shutdown order is fixed: stop claiming and releasing; wait for in-flight batches up to
``shutdown_timeout``; cancel the rest (their attempts are recorded as aborted); close the
channels in reverse order of opening, collecting every error; close the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any

import pluggy
import structlog
from pydantic import ValidationError

from dispatcher.channel import Channel, ChannelContext, ReceiptSink
from dispatcher.clock import Clock
from dispatcher.config import Settings
from dispatcher.doorbell import Doorbell, doorbell_folder
from dispatcher.errors import ConfigError, DispatcherError
from dispatcher.events import AnnouncementChange, StatusChange
from dispatcher.fanout import Fanout, Planner
from dispatcher.metrics import Metrics
from dispatcher.observers import notify
from dispatcher.outbound import OutboundGuard
from dispatcher.plugins import make_plugin_manager
from dispatcher.policy import Policy
from dispatcher.registry import ChannelRegistry, collect_routes
from dispatcher.retry import RetryPolicy
from dispatcher.scheduler import Scheduler
from dispatcher.service import Services
from dispatcher.state import PluginState
from dispatcher.store.base import Store
from dispatcher.store.sqlite import SQLiteStore
from dispatcher.store.urgency import is_urgent
from dispatcher.worker import AnnouncementCache, ChannelWorker, WorkerDeps
from schemas import AnnouncementStatus, ChannelMode, DeliveryStatus

log = structlog.get_logger(__name__)

LOOP_STOP_TIMEOUT = 2.0  # seconds a stopped scheduler or worker loop has to finish its step


class Dispatcher:
    """The engine of thongbao.

    Args:
        settings: validated settings (default: all defaults).
        pm: plugin manager (default: built-ins and installed plugins).
        store: the store (default: SQLite at ``settings.db``).
        clock: time source (tests pass a ``FakeClock``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        pm: pluggy.PluginManager | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.pm = pm or make_plugin_manager()
        self.registry = ChannelRegistry.from_plugins(self.pm)
        self.routes = collect_routes(self.pm)
        self.store = store or SQLiteStore(self.settings.db)
        self.clock = clock or Clock()
        self.metrics = Metrics()
        self.services = Services(
            self.store,
            self.registry,
            self.clock,
            wake=self.wake,
            on_changes=self.handle_changes,
            metrics=self.metrics,
            on_announcements=self.announcements_changed,
        )
        self.services.audience = self.settings.audience
        self.services.outbound = OutboundGuard.from_settings(self.settings.outbound)
        self.channels: dict[str, Channel] = {}
        self.workers: dict[str, ChannelWorker] = {}
        self._announcements = AnnouncementCache(self.store)
        self._planner = Planner(self.channels, Policy(self.settings.audience, self.channels))
        self._writes: set[asyncio.Task[object]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._scheduler: Scheduler | None = None
        self._started = False
        self._closed = False
        self._stop_requested = asyncio.Event()
        self._running = asyncio.Event()
        self._closed_event = asyncio.Event()
        self._shutdown_lock = asyncio.Lock()
        # Other processes on the same database file ring when they queue work.
        shared = self.store.file if isinstance(self.store, SQLiteStore) else None
        self._doorbell = Doorbell(doorbell_folder(shared), self._rung) if shared else None

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> Dispatcher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open the store and every channel; nothing is sent until :meth:`run`."""
        if self._started:
            return
        self._started = True
        await self.store.open()
        try:
            await self._open_channels()
        except BaseException:
            await self._close_channels()
            await self.store.close()
            raise
        worker = self.settings.worker
        self._deps = WorkerDeps(
            store=self.store,
            clock=self.clock,
            settings=worker,
            retry=RetryPolicy(initial=worker.retry_initial, maximum=worker.retry_max),
            announcements=self._announcements,
            on_changes=self.handle_changes,
            writes=self._writes,
            metrics=self.metrics,
            policy=self._planner.policy,
        )
        self._fanout = Fanout(
            self.store,
            self._planner,
            self.clock,
            batch_size=worker.fanout_batch,
            on_batch=self._fanned_out,
            on_released=self._released,
        )
        await notify(self.pm, "dispatcher_started", channels=list(self.channels))
        log.info("dispatcher_started", channels=list(self.channels))

    async def _open_channels(self) -> None:
        for name, channel in build_channels(
            self.settings, self.registry, self.services, self.clock, self.store
        ).items():
            self.channels[name] = channel
            for collector in channel.collectors():
                self.metrics.register(collector)
            await channel.start()
        self.services.channels = self.channels

    async def run(self, *, until_idle: bool = False) -> None:
        """Release, fan out and send until :meth:`stop`.

        With ``until_idle``, return instead once no work is due (channels that simulate
        receipts are flushed first); the dispatcher stays open and may run again.

        Raises:
            DispatcherError: when a background task died; the dispatcher has stopped.
        """
        await self.start()
        if self._stop_requested.is_set():
            await self._shutdown()
            return
        self._spawn()
        waiters: list[asyncio.Task[object]] = [
            asyncio.create_task(self._stop_requested.wait(), name="stop-waiter")
        ]
        if until_idle:
            waiters.append(asyncio.create_task(self._wait_idle(), name="idle-waiter"))
        died: list[asyncio.Task[object]] = []
        try:
            done, _ = await asyncio.wait(
                [*waiters, *self._tasks], return_when=asyncio.FIRST_COMPLETED
            )
            died = [t for t in done if t not in waiters]
        finally:
            for waiter in waiters:
                waiter.cancel()
            await self._halt()
            if died or not until_idle or self._stop_requested.is_set():
                await self._shutdown()
        if died:
            task = died[0]
            error = None if task.cancelled() else task.exception()
            log.error("side_task_died", task=task.get_name(), error=repr(error))
            raise DispatcherError(f"background task {task.get_name()} stopped: {error!r}")

    def _spawn(self) -> None:
        self._scheduler = Scheduler(
            self.store,
            self._fanout,
            self.clock,
            poll_interval=self.settings.worker.poll_interval,
            on_changes=self.handle_changes,
            on_announcements=self.announcements_changed,
        )
        self.workers = {name: ChannelWorker(ch, self._deps) for name, ch in self.channels.items()}
        if self.workers and self._doorbell is not None:
            self._doorbell.listen()
        self._tasks = [asyncio.create_task(self._scheduler.run(), name="scheduler")]
        self._tasks += [
            asyncio.create_task(w.run(), name=f"worker:{name}") for name, w in self.workers.items()
        ]
        self._tasks += [
            asyncio.create_task(w.run_urgent(), name=f"worker:{name}:urgent")
            for name, w in self.workers.items()
        ]
        self._tasks.append(asyncio.create_task(self._renew_leases(), name="lease-renewer"))
        self._running.set()

    async def drain(self) -> None:
        """Run until no work is due, then stop (same as ``run(until_idle=True)``)."""
        await self.run(until_idle=True)

    async def stop(self) -> None:
        """Stop, and wait until stopped. Idempotent; a stop requested before :meth:`run`
        starts makes ``run`` return at once."""
        self._stop_requested.set()
        if not self._running.is_set():
            await self._shutdown()
            return
        await self._closed_event.wait()

    async def ready(self) -> bool:
        """True when started, not stopping, and the store answers."""
        return self._started and not self._closed and await self.store.ping()

    def wake(self, hurry: bool = False) -> None:
        """Make the scheduler and every worker look for work now; with ``hurry`` (an
        emergency or high-priority announcement was posted), release it at once. The
        workers of other processes on the database are rung too."""
        self._wake_scheduler(hurry)
        self._wake_workers(urgent=False)
        if self._doorbell is not None:
            self._doorbell.ring(hurry)

    def _rung(self, urgent: bool, announcement: bool) -> None:
        # Another process queued work: an announcement (from the API or the CLI) for the
        # scheduler, deliveries (a fan-out batch) for the workers. Schedulers racing to
        # release one announcement is fine: the store lets one do it.
        if announcement:
            self._wake_scheduler(urgent)
        self._wake_workers(urgent)

    def _wake_scheduler(self, hurry: bool) -> None:
        if self._scheduler is not None:
            self._scheduler.wake.set()
            if hurry:
                self._scheduler.hurry()

    def _wake_workers(self, urgent: bool) -> None:
        for worker in self.workers.values():
            worker.wake.set()
            if urgent:
                worker.urgent_wake.set()

    # -- running ---------------------------------------------------------------------------
    def _fanned_out(self, created: int) -> None:
        self.metrics.fanout(created)
        hurry = is_urgent()  # an emergency's or high-priority fan-out
        self._wake_workers(hurry)
        if self._doorbell is not None:
            self._doorbell.ring(hurry, announcement=False)

    async def _renew_leases(self) -> None:
        period = self.settings.worker.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            tokens = [t for w in self.workers.values() for t in w.leases]
            if tokens:
                until = self.clock.now() + timedelta(seconds=self.settings.worker.lease_seconds)
                await self.store.renew_leases(tokens, until)

    def _busy(self) -> bool:
        scheduler_busy = self._scheduler is not None and bool(self._scheduler.fanouts)
        return (
            scheduler_busy or bool(self._writes) or any(w.inflight for w in self.workers.values())
        )

    async def _wait_idle(self) -> None:
        """Return once nothing is due, nothing is in flight, receipts held back by channels
        were flushed and a scheduler pass (completion, expiry) found nothing more to do."""
        quiet_checks = 0
        while True:
            await asyncio.sleep(self.settings.worker.poll_interval / 4)
            if self._busy() or await self.store.has_due_work(self.clock.now()):
                quiet_checks = 0
                continue
            quiet_checks += 1
            if quiet_checks == 1:
                await self._flush_channels()
                self.wake()
                continue
            if self._scheduler is not None:
                await self._scheduler.tick()
            if self._busy() or await self.store.has_due_work(self.clock.now()):
                quiet_checks = 0
                continue
            return

    async def _flush_channels(self) -> None:
        for channel in self.channels.values():
            await channel.flush()

    async def announcements_changed(self, changes: Sequence[AnnouncementChange]) -> None:
        """After announcements moved (released, completed, cancelled, expired): observers."""
        if changes:
            await notify(self.pm, "announcement_status_changed", changes=list(changes))

    async def _released(self, announcement_id: str) -> None:
        change = AnnouncementChange(
            announcement_id, AnnouncementStatus.FANNING_OUT, self.clock.now()
        )
        await self.announcements_changed([change])

    async def handle_changes(self, changes: Sequence[StatusChange]) -> None:
        """After deliveries moved: next fallback step, metrics, observer hooks."""
        if not changes:
            return
        await self._fallback(changes)
        await notify(self.pm, "delivery_status_changed", changes=list(changes))

    async def _fallback(self, changes: Sequence[StatusChange]) -> None:
        # A failure, or a sent step past its deadline (the store reports those as 'sent').
        failed = [
            c for c in changes if c.contact_id and (c.status is DeliveryStatus.FAILED or c.overdue)
        ]
        if not failed:
            return
        announcements = await self._announcements.get_many([c.announcement_id for c in failed])
        steps = [
            c
            for c in failed
            if (a := announcements.get(c.announcement_id)) is not None
            and a.mode is ChannelMode.FALLBACK
            and c.step + 1 < len(a.channels)
        ]
        if not steps:
            return
        contacts = await self.store.get_contacts([c.contact_id for c in steps if c.contact_id])
        for change in steps:
            contact = contacts.get(change.contact_id or "")
            if contact is None:
                continue
            announcement = announcements[change.announcement_id]
            nxt = await self._fanout.next_step(announcement, contact, change.step + 1)
            if nxt:
                log.info(
                    "fallback_step",
                    announcement_id=announcement.id,
                    delivery_id=change.delivery_id,
                    next_channel=nxt[0].channel,
                )
        self.wake()

    # -- stopping --------------------------------------------------------------------------
    async def _shutdown(self) -> None:
        async with self._shutdown_lock:
            if self._closed:
                return
            self._closed = True
            if self._started:
                await notify(self.pm, "dispatcher_stopping")
            await self._halt()
            if self._doorbell is not None:
                self._doorbell.close()  # its sender too, when it rang but never listened
            await self._close_channels()
            await self.store.close()
            self._closed_event.set()
            log.info("dispatcher_stopped")

    async def _halt(self) -> None:
        """Stop claiming; let in-flight batches finish within the timeout, abort the rest."""
        if not self._running.is_set():
            return
        if self._doorbell is not None:
            self._doorbell.close()
        if self._scheduler is not None:
            self._scheduler.stop()
        for worker in self.workers.values():
            worker.stop()
        inflight = {t for w in self.workers.values() for t in w.inflight}
        if inflight:
            _, pending = await asyncio.wait(inflight, timeout=self.settings.worker.shutdown_timeout)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("shutdown_aborted_sends", batches=len(pending))
                await asyncio.wait(pending)
        # The loops end on their own once stopped; cancelling one mid-write would only
        # make its transaction roll back. Give them a moment, then cancel what is left.
        loops = [t for t in self._tasks if t.get_name() != "lease-renewer"]
        if loops:
            await asyncio.wait(loops, timeout=LOOP_STOP_TIMEOUT)
        fanouts = list(self._scheduler.fanouts.values()) if self._scheduler else []
        for task in [*self._tasks, *fanouts]:
            task.cancel()
        await asyncio.gather(*self._tasks, *fanouts, return_exceptions=True)
        if self._writes:
            await asyncio.wait(set(self._writes))
        self._tasks = []
        self._running.clear()

    async def _close_channels(self) -> None:
        errors: list[BaseException] = []
        for name, channel in reversed(list(self.channels.items())):
            try:
                await channel.aclose()
            except Exception as exc:
                log.error("channel_close_failed", channel=name, error=repr(exc))
                errors.append(exc)
        if errors:
            log.error("channels_close_errors", count=len(errors))


def _channel_settings(settings: Settings, registry: ChannelRegistry, name: str) -> Any:
    spec = registry.get(name)
    try:
        return spec.settings.model_validate(settings.channels.get(name, {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or name}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"settings of channel {name!r} ({registry.origin(name)}) are invalid: "
            f"{problems}: fix [channels.{name}] in the config file"
        ) from exc


def build_channels(
    settings: Settings,
    registry: ChannelRegistry,
    receipts: ReceiptSink,
    clock: Clock,
    store: Store | None = None,
) -> dict[str, Channel]:
    """The configured channels, built from their validated settings but not started.

    Building does no I/O: the CLI builds channels to check and preview text without
    running them.

    Raises:
        ConfigError: settings for an unknown channel, or invalid settings (naming the
            plugin and the field).
    """
    unknown = sorted(set(settings.channels) - set(registry.names()))
    if unknown:
        raise ConfigError(
            f"settings given for unknown channel(s) {', '.join(unknown)}; "
            f"registered channels: {', '.join(registry.names())}"
        )
    outbound = OutboundGuard.from_settings(settings.outbound)
    channels: dict[str, Channel] = {}
    for name in settings.enabled_channels or registry.names():
        ctx = ChannelContext(
            name=name,
            settings=_channel_settings(settings, registry, name),
            data_dir=settings.data_dir / "channels" / name,
            receipts=receipts,
            clock=clock,
            public_url=settings.public_url,
            store=store,
            state=None if store is None else PluginState(store, name, clock),
            outbound=outbound,
        )
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        channels[name] = registry.get(name).factory(ctx)
    return channels
