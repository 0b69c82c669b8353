"""What one send came to: a channel's result turned into the Outcome the store writes.

Pure functions of the result, the attempt and the announcement, so the rules (attempt
limit, Retry-After, expiry, unknown outcomes, quiet hours for retries) live in one place and
read top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dispatcher.channel import Accepted, Failed, RetryLater, SendResult
from dispatcher.clock import Clock
from dispatcher.retry import RetryPolicy
from dispatcher.store.base import AttemptRecord, ClaimedDelivery, Outcome
from schemas import Announcement, AttemptOutcome, DeliveryStatus, FailureKind, Priority


@dataclass(frozen=True, slots=True)
class Unknown:
    """The provider may or may not have the message (the call timed out or was cut)."""

    reason: str
    code: str | None = None
    after: float | None = None


@dataclass(frozen=True)
class Judge:
    """Turns results of one channel into outcomes.

    Attributes:
        channel: the channel's name, for reasons.
        repeatable: whether the channel may send again after an unknown outcome.
        retry: the backoff policy.
        clock: time source (retry times count from now).
        quiet_until: the end of the channel's quiet hours a time falls in (None outside
            them, or when none apply): a retry of anything but an emergency that would come
            inside them waits for their end, as a first send planned then would.
    """

    channel: str
    repeatable: bool
    retry: RetryPolicy
    clock: Clock
    quiet_until: Callable[[datetime], datetime | None] | None = None

    def _held(self, ann: Announcement, retry_at: datetime) -> datetime:
        if self.quiet_until is None or ann.priority is Priority.EMERGENCY:
            return retry_at
        return self.quiet_until(retry_at) or retry_at

    def before_send(self, c: ClaimedDelivery, ann: Announcement | None) -> Outcome | None:
        """An outcome that makes the send pointless (announcement gone or expired), or None."""
        if ann is None:
            return Outcome(
                c.id, c.lease_token, DeliveryStatus.FAILED, None,
                reason="its announcement is gone", failure_kind=FailureKind.TECHNICAL,
            )  # fmt: skip
        if ann.expires_at is not None and ann.expires_at <= self.clock.now():
            return Outcome(
                c.id, c.lease_token, DeliveryStatus.EXPIRED, None,
                reason="expired before it could be sent",
            )  # fmt: skip
        return None

    def judge(
        self,
        c: ClaimedDelivery,
        ann: Announcement,
        result: SendResult | Unknown,
        started: datetime,
        latency_ms: float | None,
    ) -> Outcome:
        """The outcome of attempt ``c.attempt`` that came to ``result``; its latency is the
        result's own when the channel timed its request, ``latency_ms`` (the send's)
        otherwise."""
        if not isinstance(result, Unknown) and result.latency_ms is not None:
            latency_ms = result.latency_ms
        if isinstance(result, Accepted):  # most of a bulk send: built without the helper
            provider_id, code = result.provider_id, result.provider_code
            return Outcome(
                c.id, c.lease_token, DeliveryStatus.SENT,
                AttemptRecord(c.attempt, started, AttemptOutcome.ACCEPTED, latency_ms,
                              provider_id, code),
                provider_id=provider_id, provider_code=code,
            )  # fmt: skip

        def attempt(outcome: AttemptOutcome, **extra: Any) -> AttemptRecord:
            return AttemptRecord(
                number=c.attempt, started_at=started, outcome=outcome, latency_ms=latency_ms,
                **extra,
            )  # fmt: skip

        if isinstance(result, Failed):
            return Outcome(
                c.id, c.lease_token, DeliveryStatus.FAILED,
                attempt(AttemptOutcome.FAILED, provider_code=result.code, reason=result.reason),
                provider_code=result.code, reason=result.reason, failure_kind=result.kind,
            )  # fmt: skip
        if isinstance(result, RetryLater) and result.untried:
            return self._wait(c, ann, result)
        if isinstance(result, RetryLater) and result.unknown:
            result = Unknown(result.reason, result.code, result.after)
        kind = AttemptOutcome.UNKNOWN if isinstance(result, Unknown) else AttemptOutcome.RETRY
        code = result.code
        if isinstance(result, Unknown) and not self.repeatable:
            return Outcome(
                c.id, c.lease_token, DeliveryStatus.FAILED, attempt(kind, reason=result.reason),
                reason=f"{result.reason}; outcome unknown and {self.channel} may not send twice",
                failure_kind=FailureKind.TECHNICAL,
            )  # fmt: skip
        if c.attempt >= ann.max_attempts:
            return Outcome(
                c.id, c.lease_token, DeliveryStatus.FAILED,
                attempt(kind, provider_code=code, reason=result.reason), provider_code=code,
                reason=f"gave up after {c.attempt} attempts: {result.reason}",
                failure_kind=FailureKind.TEMPORARY,
            )  # fmt: skip
        after = result.after
        retry_at = self.clock.now() + timedelta(seconds=self.retry.delay(c.attempt, after))
        retry_at = self._held(ann, retry_at)
        if ann.expires_at is not None and retry_at >= ann.expires_at:
            return Outcome(
                c.id, c.lease_token, DeliveryStatus.EXPIRED,
                attempt(kind, provider_code=code, reason=result.reason), provider_code=code,
                reason=f"the next try would come after expiry: {result.reason}",
            )  # fmt: skip
        return Outcome(
            c.id, c.lease_token, DeliveryStatus.RETRY_WAIT,
            attempt(kind, provider_code=code, reason=result.reason, retry_at=retry_at),
            provider_code=code, reason=result.reason, retry_at=retry_at,
        )  # fmt: skip

    def _wait(self, c: ClaimedDelivery, ann: Announcement, result: RetryLater) -> Outcome:
        # No attempt is recorded: the store gives the claim's attempt back.
        retry_at = self.clock.now() + timedelta(
            seconds=result.after if result.after is not None else self.retry.delay(1, None)
        )
        retry_at = self._held(ann, retry_at)
        if ann.expires_at is not None and retry_at >= ann.expires_at:
            return Outcome(
                c.id, c.lease_token, DeliveryStatus.EXPIRED, None, provider_code=result.code,
                reason=f"the wait would end after expiry: {result.reason}",
            )  # fmt: skip
        return Outcome(
            c.id, c.lease_token, DeliveryStatus.RETRY_WAIT, None, provider_code=result.code,
            reason=f"waiting, not an attempt: {result.reason}", retry_at=retry_at,
        )  # fmt: skip

    def released(self, c: ClaimedDelivery) -> Outcome:
        """A claimed delivery handed back unsent (the service stopped before its send):
        queued again, its attempt not counted."""
        return Outcome(
            c.id, c.lease_token, DeliveryStatus.QUEUED, None,
            reason="handed back unsent when the service stopped",
        )  # fmt: skip

    def aborted(self, c: ClaimedDelivery) -> Outcome:
        """What a batch cut by shutdown records: the attempt, and the delivery due again
        (or failed, when the channel may not send twice)."""
        now = self.clock.now()
        reason = "the service stopped during the send"
        attempt = AttemptRecord(
            number=c.attempt, started_at=now, outcome=AttemptOutcome.ABORTED, reason=reason
        )
        if self.repeatable:
            return Outcome(
                c.id, c.lease_token, DeliveryStatus.RETRY_WAIT, attempt, reason=reason,
                retry_at=now,
            )  # fmt: skip
        return Outcome(
            c.id, c.lease_token, DeliveryStatus.FAILED, attempt,
            reason=f"{reason}; outcome unknown and {self.channel} may not send twice",
            failure_kind=FailureKind.TECHNICAL,
        )  # fmt: skip
