"""A gateway failing the ways real ones fail: retried on schedule, never early, never before
``Retry-After``, given up at the limit or at once for a refusal, with the reason kept.

The engine runs in-process on the real SMS plugin and a ``FakeClock``; each step drains
the engine, then moves the clock to the delivery's due time as the store records it.
"""

from __future__ import annotations

import email.utils
import itertools
import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from dispatcher.clock import FakeClock
from dispatcher.engine import Dispatcher
from schemas import AnnouncementIn, AttemptOutcome, Audience, Delivery, DeliveryStatus, FailureKind

from .harness import Gateway, Responder

pytestmark = pytest.mark.integration

Engine = Callable[..., Awaitable[Dispatcher]]
RETRY_INITIAL = 10.0
RETRY_AFTER = 120
UNREADABLE = "unreadable answer from gateway"


def status(code: int, *, text: str = "", json: Any = None, **headers: str) -> Responder:
    """A responder answering every message with HTTP ``code``."""

    async def respond(message: dict[str, Any]) -> web.StreamResponse:
        if json is not None:
            return web.json_response(json, status=code, headers=headers)
        return web.Response(status=code, text=text, headers=headers)

    return respond


def script(*steps: Responder) -> Responder:
    """Answer the n-th request with ``steps[n]``; the last step answers every later one."""
    remaining = list(steps)

    async def respond(message: dict[str, Any]) -> web.StreamResponse:
        step = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return await step(message)

    return respond


def in_seconds(clock: FakeClock) -> str:
    """``Retry-After`` as delta-seconds."""
    return str(RETRY_AFTER)


def as_http_date(clock: FakeClock) -> str:
    """``Retry-After`` as an HTTP date at least :data:`RETRY_AFTER` s after the fake now."""
    when = clock.now() + timedelta(seconds=RETRY_AFTER)
    when += timedelta(seconds=math.ceil(when.timestamp()) - when.timestamp())
    return email.utils.format_datetime(when, usegmt=True)


async def send_one(engine: Dispatcher, max_attempts: int) -> str:
    """Announce to one phone, drain once; returns the delivery's id."""
    data = AnnouncementIn(
        title="Cúp nước",
        body="Khu phố 3 cúp nước từ 22:00 đến 04:00.",
        channels=["sms"],
        audience=Audience(addresses={"sms": ["0912345678"]}),
        max_attempts=max_attempts,
    )
    announcement, _ = await engine.services.create_announcement(data)
    await engine.run(until_idle=True)
    [delivery] = (await engine.services.list_deliveries(announcement.id)).items
    return delivery.id


async def retry_when_due(engine: Dispatcher, gateway: Gateway, delivery_id: str) -> Delivery:
    """Drain a second before the retry is due (nothing may go), then at its due time."""
    delivery = await engine.services.get_delivery(delivery_id)
    due = delivery.attempts[-1].retry_at
    assert isinstance(engine.clock, FakeClock) and isinstance(due, datetime)
    before = gateway.refs.total()
    engine.clock.set(due - timedelta(seconds=1))
    await engine.run(until_idle=True)
    assert before == gateway.refs.total(), "a retry went out before its due time"
    engine.clock.set(due)
    await engine.run(until_idle=True)
    assert before + 1 == gateway.refs.total()
    return await engine.services.get_delivery(delivery_id)


@pytest.mark.parametrize(
    "retry_after",
    [
        pytest.param(in_seconds, id="retry-after-seconds"),
        pytest.param(as_http_date, id="retry-after-http-date"),
    ],
)
async def test_each_fault_is_retried_on_schedule_until_accepted(
    sms_engine: Engine, retry_after: Callable[[FakeClock], str]
) -> None:
    async with Gateway() as gateway:
        engine = await sms_engine(gateway.url(), retry_initial=RETRY_INITIAL)
        assert isinstance(engine.clock, FakeClock)
        clock = engine.clock

        async def rate_limited(message: dict[str, Any]) -> web.StreamResponse:
            return web.Response(status=429, headers={"Retry-After": retry_after(clock)})

        gateway.respond = script(
            status(500, text="Internal Server Error"),
            rate_limited,
            gateway.hang,
            status(200, text="<html>OK</html>"),
            gateway.accept,
        )
        delivery_id = await send_one(engine, max_attempts=5)
        for _ in range(4):
            delivery = await retry_when_due(engine, gateway, delivery_id)

    assert [
        (1, AttemptOutcome.RETRY, "500", "the gateway failed with HTTP 500"),
        (2, AttemptOutcome.RETRY, "429", "the gateway asked us to slow down"),
        (3, AttemptOutcome.RETRY, None, "the gateway did not answer within 0.5 s"),
        (4, AttemptOutcome.RETRY, None, UNREADABLE),
        (5, AttemptOutcome.ACCEPTED, None, None),
    ] == [(a.number, a.outcome, a.provider_code, a.reason) for a in delivery.attempts]
    assert (DeliveryStatus.SENT, f"gw-{delivery_id}") == (delivery.status, delivery.provider_id)
    assert {delivery_id: 5} == dict(gateway.refs)
    attempts = delivery.attempts
    for earlier, later in itertools.pairwise(attempts):
        assert earlier.retry_at is not None and later.started_at >= earlier.retry_at
    waits = [(a.retry_at - a.started_at).total_seconds() for a in attempts if a.retry_at]
    assert waits[1] >= RETRY_AFTER, "retried before Retry-After"
    backoff = [waits[0], waits[2], waits[3]]  # attempts 1, 3 and 4: no Retry-After
    for attempt, wait in zip((1, 3, 4), backoff, strict=True):
        base = RETRY_INITIAL * 2 ** (attempt - 1)  # exponential, ±10 % jitter
        assert base * 0.9 <= wait <= base * 1.1
    assert backoff == sorted(backoff) and len(set(backoff)) == 3


@pytest.mark.parametrize(
    ("answer", "code", "reason"),
    [
        pytest.param(status(500), "500", "the gateway failed with HTTP 500", id="always-500"),
        pytest.param(status(503), "503", "the gateway failed with HTTP 503", id="always-503"),
        pytest.param(status(200, text="not json"), None, UNREADABLE, id="always-garbage"),
        pytest.param(status(200, json={"id": ""}), None, UNREADABLE, id="always-empty-id"),
    ],
)
async def test_a_failing_gateway_is_given_up_at_max_attempts(
    sms_engine: Engine, answer: Responder, code: str | None, reason: str
) -> None:
    async with Gateway(answer) as gateway:
        engine = await sms_engine(gateway.url(), retry_initial=RETRY_INITIAL)
        delivery_id = await send_one(engine, max_attempts=3)
        await retry_when_due(engine, gateway, delivery_id)
        delivery = await retry_when_due(engine, gateway, delivery_id)

    assert (
        DeliveryStatus.FAILED,
        FailureKind.TEMPORARY,
        f"gave up after 3 attempts: {reason}",
        code,
    ) == (delivery.status, delivery.failure_kind, delivery.reason, delivery.provider_code)
    assert [
        (1, AttemptOutcome.RETRY, code, reason, True),
        (2, AttemptOutcome.RETRY, code, reason, True),
        (3, AttemptOutcome.RETRY, code, reason, False),
    ] == [
        (a.number, a.outcome, a.provider_code, a.reason, a.retry_at is not None)
        for a in delivery.attempts
    ]
    assert {delivery_id: 3} == dict(gateway.refs)


@pytest.mark.parametrize(
    ("answer", "code", "reason"),
    [
        pytest.param(
            status(400, json={"error": "số điện thoại bị chặn"}),
            "400",
            "số điện thoại bị chặn",
            id="400-json-error",
        ),
        pytest.param(
            status(403, text="brandname chưa đăng ký"),
            "403",
            "brandname chưa đăng ký",
            id="403-text",
        ),
        pytest.param(status(422), "422", "the gateway refused with HTTP 422", id="422-empty"),
    ],
)
async def test_a_refusal_fails_for_good_at_once(
    sms_engine: Engine, answer: Responder, code: str, reason: str
) -> None:
    async with Gateway(answer) as gateway:
        engine = await sms_engine(gateway.url(), retry_initial=RETRY_INITIAL)
        delivery_id = await send_one(engine, max_attempts=5)
        assert isinstance(engine.clock, FakeClock)
        engine.clock.advance(86_400)
        await engine.run(until_idle=True)
        delivery = await engine.services.get_delivery(delivery_id)

    assert (DeliveryStatus.FAILED, FailureKind.PERMANENT, reason, code) == (
        delivery.status,
        delivery.failure_kind,
        delivery.reason,
        delivery.provider_code,
    )
    assert [(1, AttemptOutcome.FAILED, code, reason, None)] == [
        (a.number, a.outcome, a.provider_code, a.reason, a.retry_at) for a in delivery.attempts
    ]
    assert {delivery_id: 1} == dict(gateway.refs)
