"""Records handed to observer hooks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas import AnnouncementStatus, DeliveryStatus


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A delivery moved to ``status``."""

    delivery_id: str
    announcement_id: str
    channel: str
    status: DeliveryStatus
    reason: str | None = None
    contact_id: str | None = None
    step: int = 0
    overdue: bool = False  # a sent fallback step past its deadline (status stays 'sent')


@dataclass(frozen=True, slots=True)
class AnnouncementChange:
    """An announcement moved to ``status`` at ``at``.

    ``fanning_out`` is its release; then ``completed``, ``cancelled`` or ``expired``.
    """

    announcement_id: str
    status: AnnouncementStatus
    at: datetime
