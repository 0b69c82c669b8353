"""The retry policy: exponential, jittered, capped, never before Retry-After."""

from __future__ import annotations

import random

import pytest

from dispatcher.retry import RetryPolicy


def policy(**kw: float) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7), **kw)  # type: ignore[arg-type]


def test_waits_double_within_ten_percent() -> None:
    p = policy(initial=5, maximum=10_000)
    for attempt in range(1, 8):
        expected = 5 * 2 ** (attempt - 1)
        assert expected * 0.9 <= p.delay(attempt) <= expected * 1.1


def test_waits_are_jittered() -> None:
    p = policy(initial=5, maximum=10_000)
    assert len({p.delay(3) for _ in range(20)}) > 1


def test_wait_is_capped_at_the_maximum_plus_jitter() -> None:
    p = policy(initial=5, maximum=60)
    assert all(p.delay(30) <= 66 for _ in range(50))


@pytest.mark.parametrize(
    ("attempt", "retry_after", "floor"),
    [
        pytest.param(1, 120.0, 120.0, id="retry-after-longer-than-backoff"),
        pytest.param(6, 1.0, 5 * 2**5 * 0.9, id="backoff-longer-than-retry-after"),
    ],
)
def test_never_earlier_than_retry_after(attempt: int, retry_after: float, floor: float) -> None:
    assert policy(initial=5, maximum=10_000).delay(attempt, retry_after) >= floor
