"""The sandbox transport: what every built-in channel uses until it has credentials.

The channel runs its normal code path up to the transport; the sandbox then writes each
message to a local outbox and, ``receipt_delay`` seconds later, hands a simulated receipt
to the receipt sink, so a fresh install shows the whole life of a message.

Two files live in the channel's ``data_dir``:

- ``outbox.jsonl``: one JSON object per accepted message (``delivery_id``,
  ``announcement_id``, ``channel``, ``address``, ``title``, ``body``, ``attempt``,
  ``provider_id``, ``at``);
- ``receipts.jsonl``: one JSON object per receipt handed over (``provider_id``, ``status``,
  ``at``).

``start()`` schedules again every outbox line that has no receipt line, so a killed process
loses no receipt. A receipt handed over just before a kill may be handed over twice; the
store treats the second as a duplicate.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import structlog
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.channel import Accepted, ChannelContext, OutboundMessage, SendResult
from dispatcher.tasks import cancel_and_wait
from schemas import DeliveryStatus, ReceiptIn

log = structlog.get_logger(__name__)

SANDBOX_FAILED = "SANDBOX_FAILED"
_HANDOVER_BATCH = 1000
_MAX_BACKOFF = 30.0
_OUTBOX_FIELDS = (
    "delivery_id",
    "announcement_id",
    "channel",
    "address",
    "title",
    "body",
    "attempt",
)


class SandboxSettings(BaseModel):
    """How the sandbox simulates a provider.

    Attributes:
        receipt_delay: seconds between acceptance and the simulated receipt.
        failure_share: share (0..1) of messages whose receipt says failed; which ones is
            decided by :func:`sandbox_fails`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    receipt_delay: float = Field(default=2.0, ge=0)
    failure_share: float = Field(default=0.0, ge=0, le=1)


def sandbox_fails(delivery_id: str, share: float) -> bool:
    """Whether the sandbox simulates a failed receipt for ``delivery_id``.

    Deterministic (a hash of the id), so a test can predict which deliveries fail.
    """
    if share <= 0:
        return False
    digest = hashlib.blake2b(delivery_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


@dataclass(frozen=True, slots=True)
class _Pending:
    provider_id: str
    delivery_id: str
    due: datetime


class SandboxTransport:
    """Writes messages to an outbox and simulates their receipts.

    One background task hands receipts over, in batches, when they fall due. Each
    accepted message gets the provider id ``sbx-<delivery id>-<attempt>``.

    Args:
        ctx: the channel's context (data folder, receipt sink, clock).
        settings: the simulation settings.
    """

    #: First wait, in seconds, before handing over again receipts the sink refused.
    retry_after: float = 1.0

    def __init__(self, ctx: ChannelContext, settings: SandboxSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.outbox_path = ctx.data_dir / "outbox.jsonl"
        self.receipts_path = ctx.data_dir / "receipts.jsonl"
        self._pending: deque[_Pending] = deque()
        self._queued: set[str] = set()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._outbox: TextIO | None = None
        self._receipt_log: TextIO | None = None
        self._failures = 0
        self._closed = False

    @property
    def pending(self) -> int:
        """How many simulated receipts are waiting to be handed over."""
        return len(self._pending)

    async def start(self) -> None:
        """Open the files, schedule receipts a previous run left behind, start the timer."""
        if self._task is not None or self._closed:
            return
        self.ctx.data_dir.mkdir(parents=True, exist_ok=True)
        self._replay()
        self._outbox = _open_append(self.outbox_path)
        self._receipt_log = _open_append(self.receipts_path)
        self._task = asyncio.create_task(self._run(), name=f"sandbox-receipts-{self.ctx.name}")
        self._task.add_done_callback(self._task_done)
        log.info("sandbox_started", channel=self.ctx.name, replayed=len(self._pending))

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Write ``batch`` to the outbox and schedule a receipt for each message.

        Raises:
            RuntimeError: the transport is not started, or already closed.
        """
        if self._outbox is None:
            raise RuntimeError(f"sandbox of channel {self.ctx.name!r} is not running: start() it")
        now = self.ctx.clock.now()
        due = now + timedelta(seconds=self.settings.receipt_delay)
        ids = [f"sbx-{message.delivery_id}-{message.attempt}" for message in batch]
        if not ids:
            return []
        # One buffered write and one flush per batch: flushing per line costs ~10x.
        at = now.isoformat()
        self._outbox.write(
            "".join(_outbox_line(m, pid, at) for m, pid in zip(batch, ids, strict=True))
        )
        self._outbox.flush()
        for message, pid in zip(batch, ids, strict=True):
            self._schedule(_Pending(pid, message.delivery_id, due))
        self._wake.set()
        return [Accepted(provider_id=pid) for pid in ids]

    async def flush(self) -> None:
        """Hand over every pending receipt now, whatever its due time.

        Raises:
            Exception: whatever the receipt sink raised; the receipts stay pending.
        """
        async with self._lock:
            while self._pending:
                await self._hand_over(self._take(None))

    async def aclose(self) -> None:
        """Stop the timer and close the files; pending receipts wait in the outbox."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        for file in (self._outbox, self._receipt_log):
            if file is not None:
                file.close()
        self._outbox = self._receipt_log = None

    # -- the timer --------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            wait = self._seconds_to_next_due()
            if wait is None or wait > 0:
                await self._sleep(wait)
                continue
            try:
                async with self._lock:
                    await self._hand_over(self._take(self.ctx.clock.now()))
            except Exception:
                # A plain sleep, not the wake event: new sends must not cut a backoff short.
                await asyncio.sleep(self._backoff())

    def _seconds_to_next_due(self) -> float | None:
        if not self._pending:
            return None
        return (self._pending[0].due - self.ctx.clock.now()).total_seconds()

    async def _sleep(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: for ever) or until a send wakes us."""
        self._wake.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _backoff(self) -> float:
        return min(self.retry_after * 2.0 ** max(self._failures - 1, 0), _MAX_BACKOFF)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("sandbox_task_died", channel=self.ctx.name, error=repr(task.exception()))

    # -- the queue --------------------------------------------------------------------------
    def _schedule(self, entry: _Pending) -> None:
        if entry.provider_id not in self._queued:
            self._queued.add(entry.provider_id)
            self._pending.append(entry)

    def _take(self, now: datetime | None) -> list[_Pending]:
        """Pop up to one hand-over batch of receipts due by ``now`` (None: all)."""
        taken: list[_Pending] = []
        while self._pending and len(taken) < _HANDOVER_BATCH:
            if now is not None and self._pending[0].due > now:
                break
            taken.append(self._pending.popleft())
        return taken

    async def _hand_over(self, batch: list[_Pending]) -> None:
        """Submit receipts for ``batch`` and log them; on failure put them back and raise."""
        if not batch:
            return
        now = self.ctx.clock.now()
        receipts = [self._receipt(entry, now) for entry in batch]
        try:
            await self.ctx.receipts.submit(receipts)
        except Exception as exc:
            self._pending.extendleft(reversed(batch))
            self._failures += 1
            log.warning(
                "sandbox_receipt_failed",
                channel=self.ctx.name,
                count=len(batch),
                error=repr(exc),
                attempt=self._failures,
            )
            raise
        self._failures = 0
        self._record(receipts, now)
        self._queued.difference_update(entry.provider_id for entry in batch)

    def _receipt(self, entry: _Pending, now: datetime) -> ReceiptIn:
        failed = sandbox_fails(entry.delivery_id, self.settings.failure_share)
        return ReceiptIn(
            channel=self.ctx.name,
            provider_id=entry.provider_id,
            occurred_at=now,
            status=DeliveryStatus.FAILED if failed else DeliveryStatus.DELIVERED,
            provider_code=SANDBOX_FAILED if failed else None,
            detail="simulated failure (sandbox failure_share)" if failed else None,
        )

    def _record(self, receipts: list[ReceiptIn], now: datetime) -> None:
        if self._receipt_log is None:  # closed while the sink was answering
            return
        at = now.isoformat()
        records = ({"provider_id": r.provider_id, "status": r.status, "at": at} for r in receipts)
        self._receipt_log.write("".join(json.dumps(record) + "\n" for record in records))
        self._receipt_log.flush()

    def _replay(self) -> None:
        emitted = {entry["provider_id"] for entry in _read_jsonl(self.receipts_path)}
        delay = timedelta(seconds=self.settings.receipt_delay)
        for entry in _read_jsonl(self.outbox_path, "delivery_id", "at"):
            if entry["provider_id"] not in emitted:
                due = datetime.fromisoformat(entry["at"]) + delay
                self._schedule(_Pending(entry["provider_id"], entry["delivery_id"], due))


def _outbox_line(message: OutboundMessage, provider_id: str, at: str) -> str:
    record: dict[str, object] = {name: getattr(message, name) for name in _OUTBOX_FIELDS}
    record.update(provider_id=provider_id, at=at)
    return json.dumps(record, ensure_ascii=False) + "\n"


def _read_jsonl(path: Path, *required: str) -> Iterator[dict[str, Any]]:
    """The lines of ``path`` with a text ``provider_id`` and ``required`` fields.

    Others (a line torn by a crash, a hand edit) are logged and skipped.
    """
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, start=1):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            keys = ("provider_id", *required)
            if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in keys):
                if line.strip():
                    log.warning("sandbox_line_skipped", file=str(path), line=number)
                continue
            yield entry


def _open_append(path: Path) -> TextIO:
    """Open ``path`` for appending, ending a line torn by a crash so the next one is whole."""
    file = path.open("a", encoding="utf-8")
    if file.tell() > 0:
        with path.open("rb") as raw:
            raw.seek(-1, 2)
            if raw.read(1) != b"\n":
                file.write("\n")
    return file
