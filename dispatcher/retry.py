"""When to try a failed send again: tenacity's wait strategies turned into a due time.

Retries live in the store as a due time; nothing here sleeps. The wait grows exponentially
from ``initial`` up to ``maximum`` with ±10 % jitter, and never comes before the provider's
``Retry-After``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tenacity import RetryCallState, wait_exponential
from tenacity.wait import wait_base


class wait_proportional_jitter(wait_base):
    """Wrap a wait so each value is spread by ±``share`` of itself."""

    def __init__(self, inner: wait_base, share: float = 0.1, rng: random.Random | None = None):
        self.inner = inner
        self.share = share
        self.rng = rng or random.Random()

    def __call__(self, retry_state: RetryCallState) -> float:
        base = self.inner(retry_state)
        return base * (1 + self.rng.uniform(-self.share, self.share))


def _state(attempt: int) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return state


@dataclass
class RetryPolicy:
    """Backoff for deliveries.

    Attributes:
        initial: wait after the first failed attempt, in seconds.
        maximum: longest wait, in seconds.
        jitter: spread of every wait, as a share of it.
    """

    initial: float = 5.0
    maximum: float = 3600.0
    jitter: float = 0.1
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._wait = wait_proportional_jitter(
            wait_exponential(multiplier=self.initial, exp_base=2, max=self.maximum),
            self.jitter,
            self.rng,
        )

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 for the first).

        ``retry_after`` (the provider's Retry-After) is a floor: the wait is never shorter.
        """
        # wait_exponential gives multiplier * 2**(n-1) for attempt n: initial, 2×, 4× …
        wait = self._wait(_state(attempt))
        if retry_after is not None:
            wait = max(wait, retry_after)
        return max(wait, 0.0)
