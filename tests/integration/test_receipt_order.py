"""Delivery reports through the HTTP API: repeated, early or out of order, each delivery's
status changes once and only forward (``sent`` < ``failed`` < ``delivered``).

The engine runs in-process on the real SMS plugin; its API (with the plugin's callback
route) is served on 127.0.0.1, and the stand-in gateway posts reports there as a real
gateway would. Every report and its effect is read back through ``GET /v1/deliveries``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dispatcher.api import make_app
from dispatcher.engine import Dispatcher
from dispatcher.keys import Role
from schemas import AnnouncementIn, Audience, Delivery, DeliveryStatus, FailureKind

from .harness import Gateway

pytestmark = pytest.mark.integration

CALLBACK = "/v1/callbacks/sms/http"
REPEATS = 40


@dataclass
class Service:
    """The engine, a client of its API, and a staff token."""

    engine: Dispatcher
    client: TestClient[web.Request, web.Application]
    token: str

    async def delivery(self, delivery_id: str) -> Delivery:
        """``GET /v1/deliveries/{id}``: the delivery with its attempts and receipts."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.client.get(f"/v1/deliveries/{delivery_id}", headers=headers) as answer:
            assert 200 == answer.status, await answer.text()
            return Delivery.model_validate(await answer.json())

    async def send_one(self) -> str:
        """Announce to one phone and drain; returns the delivery's id."""
        data = AnnouncementIn(
            title="Tiêm chủng",
            body="Trạm y tế phường tiêm vắc-xin sởi sáng thứ Bảy.",
            channels=["sms"],
            audience=Audience(addresses={"sms": ["0987654321"]}),
        )
        announcement, _ = await self.engine.services.create_announcement(data)
        await self.engine.run(until_idle=True)
        [delivery] = (await self.engine.services.list_deliveries(announcement.id)).items
        return delivery.id


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    """A gateway that accepts every message as ``gw-<ref>``."""
    async with Gateway() as running:
        yield running


@pytest.fixture
async def service(
    sms_engine: Callable[..., Awaitable[Dispatcher]], gateway: Gateway
) -> AsyncIterator[Service]:
    """The engine's API on 127.0.0.1, and the gateway pointed at its callback route."""
    engine = await sms_engine(gateway.url())
    app = make_app(engine.services, routes=engine.routes, metrics=engine.metrics)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        gateway.callback_url = str(client.make_url(CALLBACK))
        _, token = await engine.services.create_api_key(Role.STAFF, "receipts-test")
        yield Service(engine, client, token)


def receipts(delivery: Delivery) -> list[tuple[DeliveryStatus, bool]]:
    """What each stored receipt said and whether it moved the delivery, in arrival order."""
    return [(r.status, r.applied) for r in delivery.receipts]


async def test_a_report_repeated_40_times_moves_the_status_once(
    service: Service, gateway: Gateway
) -> None:
    delivery_id = await service.send_one()
    answers = await asyncio.gather(
        *(gateway.post_report(f"gw-{delivery_id}", "DELIVRD") for _ in range(REPEATS))
    )
    delivery = await service.delivery(delivery_id)
    assert 1 == sum(a["applied"] for a in answers)
    assert DeliveryStatus.DELIVERED == delivery.status
    assert REPEATS == len(delivery.receipts)
    assert [True] == [r.applied for r in delivery.receipts if r.applied]


async def test_a_report_before_the_send_is_recorded_is_applied_then(
    service: Service, gateway: Gateway
) -> None:
    early: list[Any] = []

    async def report_then_accept(message: dict[str, Any]) -> web.StreamResponse:
        early.append(await gateway.post_report(f"gw-{message['ref']}", "delivered"))
        return await gateway.accept(message)

    gateway.respond = report_then_accept
    delivery_id = await service.send_one()
    delivery = await service.delivery(delivery_id)
    assert [{"applied": False}] == early, "the report came before the send was recorded"
    assert (DeliveryStatus.DELIVERED, f"gw-{delivery_id}") == (
        delivery.status,
        delivery.provider_id,
    )
    assert [(DeliveryStatus.DELIVERED, True)] == receipts(delivery)


D, F = DeliveryStatus.DELIVERED, DeliveryStatus.FAILED


@pytest.mark.parametrize(
    ("reports", "final", "stored"),
    [
        pytest.param(
            ["DELIVRD", "UNDELIV"],
            D,
            [(D, True), (F, False)],
            id="failed-after-delivered-changes-nothing",
        ),
        pytest.param(
            ["UNDELIV", "DELIVRD"],
            D,
            [(F, True), (D, True)],
            id="delivered-after-failed-moves-forward",
        ),
        pytest.param(
            ["failed", "failed"], F, [(F, True), (F, False)], id="failed-twice-applies-once"
        ),
        pytest.param(
            ["delivered", "failed", "delivered"],
            D,
            [(D, True), (F, False), (D, False)],
            id="delivered-failed-delivered",
        ),
    ],
)
async def test_reports_only_move_a_delivery_forward(
    service: Service,
    gateway: Gateway,
    reports: list[str],
    final: DeliveryStatus,
    stored: list[tuple[DeliveryStatus, bool]],
) -> None:
    delivery_id = await service.send_one()
    answers = [await gateway.post_report(f"gw-{delivery_id}", word) for word in reports]
    delivery = await service.delivery(delivery_id)
    assert [{"applied": applied} for _, applied in stored] == answers
    assert stored == receipts(delivery)
    assert final == delivery.status
    if final is DeliveryStatus.DELIVERED:
        assert (None, None) == (delivery.failure_kind, delivery.reason)
    else:
        assert FailureKind.PERMANENT == delivery.failure_kind
