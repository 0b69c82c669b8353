"""Helpers to put announcements and deliveries in a store under test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dispatcher.store import NewDelivery, SQLiteStore
from schemas import AnnouncementIn, AnnouncementStatus, Priority

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def announce(
    store: SQLiteStore,
    ann_id: str = "a1",
    *,
    status: AnnouncementStatus | None = None,
    **fields: Any,
) -> str:
    """Store an announcement over sms (optionally moved to ``status``)."""
    data = {"title": "T", "body": "B", "channels": ["sms"], "audience": {"areas": ["01"]}}
    data.update(fields)
    await store.create_announcement(
        ann_id, AnnouncementIn.model_validate(data), created_by=None, now=T0
    )
    if status is not None:
        await store.set_announcement_status(ann_id, [AnnouncementStatus.SCHEDULED], status, T0)
    return ann_id


async def queue_deliveries(
    store: SQLiteStore,
    ann_id: str,
    n: int,
    *,
    priority: Priority = Priority.NORMAL,
    channel: str = "sms",
    due: datetime = T0,
) -> None:
    """Fan ``n`` deliveries of ``ann_id`` out (the announcement must be fanning out)."""
    await store.add_deliveries(
        [NewDelivery(ann_id, channel, f"+8491000{i:04d}", priority, due) for i in range(n)],
        announcement_id=ann_id,
        cursor="contacts:",
    )


def later(seconds: float) -> datetime:
    """``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)
