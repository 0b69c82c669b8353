"""The delivery-report route of the generic SMS gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dispatcher.service import Services
from dispatcher.testing import FakeReceiptSink
from dispatcher.webkeys import SERVICES
from plugins.sms import register_routes
from plugins.sms.callback import CALLBACK_PATH
from schemas import DeliveryStatus, ReceiptIn

Client = TestClient[web.Request, web.Application]
ICT = timezone(timedelta(hours=7))


@pytest.fixture
async def client(sink: FakeReceiptSink) -> AsyncIterator[Client]:
    """A small app serving the plugin's routes, with the fake sink as its services."""
    app = web.Application()
    app[SERVICES] = cast(Services, sink)  # the route only calls submit()
    for route in register_routes():
        app.router.add_route(route.method, route.path, route.handler)
    async with TestClient(TestServer(app)) as client:
        yield client


def receipt(status: DeliveryStatus, code: str | None = None, **fields: Any) -> ReceiptIn:
    return ReceiptIn(channel="sms", provider_id="gw-1", status=status, provider_code=code, **fields)


async def test_json_report_is_stored(client: Client, sink: FakeReceiptSink) -> None:
    report = {"id": "gw-1", "status": "delivered", "at": "2026-03-01T08:00:05+07:00"}
    response = await client.post(CALLBACK_PATH, json=report)
    assert (200, {"applied": True}) == (response.status, await response.json())
    at = datetime(2026, 3, 1, 8, 0, 5, tzinfo=ICT)
    assert [receipt(DeliveryStatus.DELIVERED, occurred_at=at)] == sink.receipts


async def test_query_report_is_stored(client: Client, sink: FakeReceiptSink) -> None:
    response = await client.get(CALLBACK_PATH, params={"id": "gw-1", "status": "DELIVRD"})
    assert (200, {"applied": True}) == (response.status, await response.json())
    assert [receipt(DeliveryStatus.DELIVERED, "DELIVRD")] == sink.receipts


async def test_form_report_is_stored(client: Client, sink: FakeReceiptSink) -> None:
    response = await client.post(CALLBACK_PATH, data={"id": "gw-1", "status": "failed"})
    assert 200 == response.status
    assert [receipt(DeliveryStatus.FAILED)] == sink.receipts


FAILED, DELIVERED = DeliveryStatus.FAILED, DeliveryStatus.DELIVERED


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        pytest.param({"status": "UNDELIV"}, receipt(FAILED, "UNDELIV"), id="undeliv"),
        pytest.param({"status": "rejectd"}, receipt(FAILED, "REJECTD"), id="rejectd"),
        pytest.param({"status": "EXPIRED"}, receipt(FAILED, "EXPIRED"), id="expired"),
        pytest.param(
            {"status": "failed", "code": "E12"}, receipt(FAILED, "E12"), id="failed-with-code"
        ),
        pytest.param(
            {"status": "DELIVRD", "code": "000"},
            receipt(DELIVERED, "000"),
            id="code-wins-over-word",
        ),
    ],
)
async def test_status_words_are_normalised(
    client: Client, sink: FakeReceiptSink, report: dict[str, str], expected: ReceiptIn
) -> None:
    response = await client.post(CALLBACK_PATH, json={"id": "gw-1", **report})
    assert 200 == response.status
    assert [expected] == sink.receipts


async def test_numeric_id_is_read_as_text(client: Client, sink: FakeReceiptSink) -> None:
    await client.post(CALLBACK_PATH, json={"id": 4711, "status": "delivered"})
    assert ["4711"] == [r.provider_id for r in sink.receipts]


async def test_fields_of_the_gateways_own_are_ignored_and_the_word_is_trimmed(
    client: Client, sink: FakeReceiptSink
) -> None:
    report = {"id": "gw-1", "status": " DELIVRD ", "smsc": "VTL", "price": 350, "to": None}
    response = await client.post(CALLBACK_PATH, json=report)
    assert (200, {"applied": True}) == (response.status, await response.json())
    assert [receipt(DeliveryStatus.DELIVERED, "DELIVRD")] == sink.receipts


async def test_interim_report_is_acknowledged_and_changes_nothing(
    client: Client, sink: FakeReceiptSink
) -> None:
    response = await client.post(CALLBACK_PATH, json={"id": "gw-1", "status": "ENROUTE"})
    assert (200, {"applied": False}) == (response.status, await response.json())
    assert [] == sink.receipts


async def test_list_of_reports_answers_per_report(client: Client, sink: FakeReceiptSink) -> None:
    reports = [
        {"id": "gw-1", "status": "delivered"},
        {"id": "gw-2", "status": "ACCEPTD"},
        {"id": "gw-3", "status": "failed"},
    ]
    response = await client.post(CALLBACK_PATH, json=reports)
    assert {"applied": [True, False, True]} == await response.json()
    assert ["gw-1", "gw-3"] == [r.provider_id for r in sink.receipts]


async def test_report_that_changes_nothing_says_so(client: Client, sink: FakeReceiptSink) -> None:
    sink.applied = False
    response = await client.post(CALLBACK_PATH, json={"id": "gw-1", "status": "delivered"})
    assert {"applied": False} == await response.json()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(b"id=gw-1&", "not JSON", id="not-json"),
        pytest.param(b'{"status": "delivered"}', "id: Field required", id="no-id"),
        pytest.param(b'{"id": "gw-1", "status": "lost"}', "status", id="unknown-status"),
        pytest.param(
            b'{"id": "gw-1", "status": "failed", "at": "2026-03-01T08:00:00"}',
            "at:",
            id="naive-time",
        ),
        pytest.param(b"[]", "empty", id="empty-list"),
        pytest.param(b'[{"id": "gw-1", "status": "delivered"}, 7]', "report[1]", id="list-item"),
        pytest.param(b'"delivered"', "not an object", id="scalar"),
        pytest.param(
            b'[{"id": "gw-1", "status": "delivered"}, {"id": "gw-2", "status": "x"}]',
            "[1]status",
            id="second-report-named",
        ),
        pytest.param(b'{"id": "\\ud800", "status": "delivered"}', "unicode", id="lone-surrogate"),
    ],
)
async def test_bad_input_is_a_problem(
    client: Client, sink: FakeReceiptSink, body: bytes, detail: str
) -> None:
    response = await client.post(
        CALLBACK_PATH, data=body, headers={"Content-Type": "application/json"}
    )
    problem = await response.json(content_type="application/problem+json")
    assert (400, "application/problem+json") == (response.status, response.content_type)
    assert {"type", "title", "status", "detail"} == set(problem)
    assert ("about:blank", 400) == (problem["type"], problem["status"])
    assert detail in problem["detail"]
    assert [] == sink.receipts


async def test_query_without_id_is_a_problem(client: Client) -> None:
    response = await client.get(CALLBACK_PATH, params={"status": "DELIVRD"})
    assert 400 == response.status


async def test_store_trouble_asks_the_gateway_to_retry(
    client: Client, sink: FakeReceiptSink
) -> None:
    sink.fail_next = 1
    response = await client.post(CALLBACK_PATH, json={"id": "gw-1", "status": "delivered"})
    problem = await response.json(content_type="application/problem+json")
    assert (503, 503) == (response.status, problem["status"])
