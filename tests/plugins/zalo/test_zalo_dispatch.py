"""Zalo inside a running dispatcher: fallback to SMS, the webhook's receipts and replies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from zalo_fake_api import FakeZalo, signed

from dispatcher import DeliveryStatus, Dispatcher, FakeClock
from dispatcher.webkeys import SERVICES
from plugins.zalo import register_routes
from schemas import AnnouncementIn

Client = TestClient[web.Request, web.Application]
MakeEngine = Callable[..., Awaitable[Dispatcher]]
WITH_ZALO, WITHOUT_ZALO, BLOCKED = "+84910000001", "+84910000002", "+84910000003"
USER_ID = "4367228941206354210"


@pytest.fixture
async def engine(make_engine: MakeEngine) -> Dispatcher:
    d = await make_engine()
    rows = [
        {"id": f"c{n}", "name": f"Người {n}", "addresses": {"zalo": phone, "sms": phone}}
        for n, phone in enumerate([WITH_ZALO, WITHOUT_ZALO, BLOCKED], start=1)
    ]
    report = await d.services.import_contacts(rows)
    assert report.ok, report.errors
    return d


@pytest.fixture
async def client(engine: Dispatcher) -> AsyncIterator[Client]:
    app = web.Application()
    app[SERVICES] = engine.services
    for route in register_routes():
        app.router.add_route(route.method, route.path, route.handler)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def announce(d: Dispatcher, **fields: Any) -> str:
    data = {
        "title": "Cắt điện",
        "body": "Phường Hàng Bạc cắt điện 8h-17h ngày 3/3.",
        "channels": ["zalo", "sms"],
        "mode": "fallback",
        "audience": {"contact_ids": ["c1", "c2", "c3"]},
        **fields,
    }
    announcement, _ = await d.services.create_announcement(AnnouncementIn.model_validate(data))
    await d.run(until_idle=True)
    return announcement.id


async def deliveries(d: Dispatcher, announcement_id: str) -> dict[tuple[str, str], str]:
    page = await d.services.list_deliveries(announcement_id, limit=100)
    return {(x.channel, x.address): x.status.value for x in page.items}


async def test_a_person_without_zalo_gets_the_sms_and_no_one_gets_both(
    engine: Dispatcher, zalo: tuple[FakeZalo, str]
) -> None:
    fake, _ = zalo
    fake.no_zalo.add(WITHOUT_ZALO[1:])
    fake.blocked.add(BLOCKED[1:])
    announcement_id = await announce(engine)
    found = await deliveries(engine, announcement_id)
    assert {
        ("zalo", WITH_ZALO): "sent",
        ("zalo", WITHOUT_ZALO): "failed",
        ("zalo", BLOCKED): "failed",
        ("sms", WITHOUT_ZALO): "delivered",
        ("sms", BLOCKED): "delivered",
    } == found
    paid = [("zalo", body["phone"]) for body in fake.zns if body["phone"] == WITH_ZALO[1:]]
    sms = [address for channel, address in found if channel == "sms"]
    assert [("zalo", WITH_ZALO[1:])] == paid
    assert WITH_ZALO not in sms


async def test_a_received_event_marks_the_delivery_delivered_once(
    engine: Dispatcher, zalo: tuple[FakeZalo, str], client: Client, clock: FakeClock
) -> None:
    announcement_id = await announce(engine, audience={"contact_ids": ["c1"]})
    page = await engine.services.list_deliveries(announcement_id, limit=10)
    [delivery] = page.items
    event = {
        "event_name": "user_received_message",
        "sender": {"id": "oa-1"},
        "recipient": {"id": USER_ID},
        "message": {
            "msg_id": f"zns-{delivery.id}",
            "tracking_id": delivery.id,
            "delivery_time": "1767225600000",
        },
    }
    body, headers = signed(event, clock.now())
    first = await client.post("/v1/callbacks/zalo/webhook", data=body, headers=headers)
    again = await client.post("/v1/callbacks/zalo/webhook", data=body, headers=headers)
    assert [200, 200] == [first.status, again.status]
    assert [[True], [False]] == [(await r.json())["applied"] for r in (first, again)]
    assert DeliveryStatus.DELIVERED == (await engine.services.get_delivery(delivery.id)).status


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        pytest.param({"secret": "wrong"}, "signature", id="wrong-secret"),
        pytest.param({"old": True}, "too old", id="replayed"),
        pytest.param({"no_header": True}, "missing", id="no-signature"),
    ],
)
async def test_events_that_fail_verification_change_nothing(
    engine: Dispatcher, client: Client, clock: FakeClock, tamper: dict[str, Any], reason: str
) -> None:
    announcement_id = await announce(engine, audience={"contact_ids": ["c1"]})
    [delivery] = (await engine.services.list_deliveries(announcement_id, limit=10)).items
    event = {"event_name": "user_received_message", "message": {"msg_id": f"zns-{delivery.id}"}}
    when = clock.now()
    if tamper.get("old"):
        event["timestamp"] = str(int(when.timestamp() * 1000) - 3 * 86400 * 1000)
    body, headers = signed(event, when, secret=tamper.get("secret", "oa-secret-91ab-never-show"))
    if tamper.get("no_header"):
        headers.pop("X-ZEvent-Signature")
    answer = await client.post("/v1/callbacks/zalo/webhook", data=body, headers=headers)
    assert 401 == answer.status
    assert reason in (await answer.json())["detail"]
    assert DeliveryStatus.SENT == (await engine.services.get_delivery(delivery.id)).status


async def test_a_reply_to_the_oa_is_linked_to_the_announcement_it_answers(
    engine: Dispatcher, client: Client, clock: FakeClock
) -> None:
    announcement_id = await announce(engine, audience={"contact_ids": ["c1"]})
    [delivery] = (await engine.services.list_deliveries(announcement_id, limit=10)).items
    received = {
        "event_name": "user_received_message",
        "recipient": {"id": USER_ID},
        "message": {"msg_id": f"zns-{delivery.id}", "tracking_id": delivery.id},
    }
    reply = {
        "event_name": "user_send_text",
        "sender": {"id": USER_ID},
        "recipient": {"id": "oa-1"},
        "message": {"text": "Mấy giờ có điện lại ạ?", "msg_id": "m-1"},
    }
    for event in (received, reply, reply):
        body, headers = signed(event, clock.now())
        answer = await client.post("/v1/callbacks/zalo/webhook", data=body, headers=headers)
        assert 200 == answer.status
    assert {"stored": True, "opted_out": False, "announcement_id": announcement_id} == {
        k: v for k, v in (await answer.json()).items() if k != "ok"
    }
    replies = await engine.store.list_inbound(announcement_id, limit=10)
    assert [("zalo", WITH_ZALO, "Mấy giờ có điện lại ạ?")] == [
        (r.channel, r.sender, r.text) for r in replies
    ]


async def test_a_stop_reply_opts_the_sender_out_of_zalo(
    engine: Dispatcher, client: Client, clock: FakeClock, zalo: tuple[FakeZalo, str]
) -> None:
    reply = {
        "event_name": "user_send_text",
        "sender": {"id": USER_ID},
        "message": {"text": "Hủy", "msg_id": "m-2"},
    }
    body, headers = signed(reply, clock.now())
    answer = await client.post("/v1/callbacks/zalo/webhook", data=body, headers=headers)
    assert (await answer.json())["opted_out"] is True
    await announce(
        engine, channels=["zalo"], mode="all", audience={"addresses": {"zalo": [USER_ID]}}
    )
    assert [] == zalo[0].oa


async def test_the_fallback_chain_follows_receipts_and_its_deadline(
    engine: Dispatcher, zalo: tuple[FakeZalo, str], client: Client, clock: FakeClock
) -> None:
    fake, _ = zalo
    fake.no_zalo.add(WITHOUT_ZALO[1:])
    announcement_id = await announce(engine, fallback_after=600)
    page = await engine.services.list_deliveries(announcement_id, limit=10)
    zns = {x.address: x for x in page.items if x.channel == "zalo"}
    # c1 reads it on Zalo before the deadline; c3's Zalo is sent but never confirmed.
    event = {
        "event_name": "user_received_message",
        "sender": {"id": "oa-1"},
        "recipient": {"id": USER_ID},
        "message": {"msg_id": f"zns-{zns[WITH_ZALO].id}", "tracking_id": zns[WITH_ZALO].id},
    }
    body, headers = signed(event, clock.now())
    assert (
        200 == (await client.post("/v1/callbacks/zalo/webhook", data=body, headers=headers)).status
    )
    # c2 has no Zalo account: the SMS went at once, without waiting for the deadline.
    assert {("sms", WITHOUT_ZALO): "delivered"} == {
        k: v for k, v in (await deliveries(engine, announcement_id)).items() if k[0] == "sms"
    }
    clock.advance(601)
    await engine.run(until_idle=True)
    found = await deliveries(engine, announcement_id)
    assert {
        ("zalo", WITH_ZALO): "delivered",
        ("zalo", WITHOUT_ZALO): "failed",
        ("zalo", BLOCKED): "sent",
        ("sms", WITHOUT_ZALO): "delivered",
        ("sms", BLOCKED): "delivered",
    } == found
    # Paid messages: two ZNS accepted (c1, c3) and two SMS (c2 at once, c3 after the deadline).
    accepted_zns = [b["phone"] for b in fake.zns if b["phone"] != WITHOUT_ZALO[1:]]
    assert 4 == len(accepted_zns) + sum(1 for k in found if k[0] == "sms")
