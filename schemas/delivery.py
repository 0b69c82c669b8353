"""Deliveries (one per recipient and channel), their attempts and receipts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.base import InputModel


class DeliveryStatus(StrEnum):
    """The life of one delivery.

    ``queued → sending → sent → delivered``; ``sending → retry_wait → sending``; and the
    final ``failed``, ``suppressed``, ``cancelled``, ``expired``.
    """

    QUEUED = "queued"
    SENDING = "sending"
    RETRY_WAIT = "retry_wait"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        """True when nothing will move this delivery on except a receipt."""
        return self not in _OPEN


_OPEN = frozenset({DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRY_WAIT})


class FailureKind(StrEnum):
    """Why a delivery failed: the provider refused for good, gave up, or we could not tell."""

    PERMANENT = "permanent"
    TEMPORARY = "temporary"
    TECHNICAL = "technical"


class AttemptOutcome(StrEnum):
    """What one call to a provider came to."""

    ACCEPTED = "accepted"
    RETRY = "retry"
    FAILED = "failed"
    UNKNOWN = "unknown"
    ABORTED = "aborted"


class Attempt(BaseModel):
    """One call to a provider for one delivery."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: int
    started_at: datetime
    outcome: AttemptOutcome
    latency_ms: float | None = Field(
        default=None,
        description="How long the provider took to answer the request that carried this "
        "attempt, in milliseconds (the whole send's duration for a channel that does not time "
        "its requests one by one).",
    )
    provider_id: str | None = None
    provider_code: str | None = None
    reason: str | None = None
    retry_at: datetime | None = None


class ReceiptIn(InputModel):
    """A delivery report as a channel plugin normalises it from the provider's payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    provider_id: str = Field(min_length=1, max_length=200)
    status: DeliveryStatus = Field(description="delivered or failed")
    occurred_at: datetime | None = None
    provider_code: str | None = Field(default=None, max_length=100)
    detail: str | None = Field(default=None, max_length=1000)


class Receipt(ReceiptIn):
    """A receipt as stored, with when it arrived and whether it changed the delivery."""

    received_at: datetime
    applied: bool


class Delivery(BaseModel):
    """One message to one recipient over one channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    announcement_id: str
    channel: str
    address: str
    contact_id: str | None = None
    status: DeliveryStatus
    failure_kind: FailureKind | None = None
    reason: str | None = None
    note: str | None = Field(
        default=None,
        description="what the audience rules did: 'quiet hours: waits until 07:00', "
        "'emergency: sent despite quiet hours'",
    )
    provider_id: str | None = None
    provider_code: str | None = None
    attempt_count: int = 0
    unknown_count: int = Field(default=0, description="attempts whose outcome was lost in a crash")
    due_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    attempts: list[Attempt] = Field(default_factory=list)
    receipts: list[Receipt] = Field(default_factory=list)
