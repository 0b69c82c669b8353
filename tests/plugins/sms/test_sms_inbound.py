"""Citizens' replies: STOP keywords and the inbound SMS route."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from dispatcher.service import Services
from dispatcher.webkeys import SERVICES
from plugins.sms.inbound import (
    DEFAULT_STOP_KEYWORDS,
    INBOUND_PATH,
    SmsReplySettings,
    inbound_routes,
    is_stop,
    stop_keyword,
)
from schemas import Inbound

Client = TestClient[web.Request, web.Application]
ICT = timezone(timedelta(hours=7))
NOW = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
KEYWORDS = list(DEFAULT_STOP_KEYWORDS)


# -- STOP keywords -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        pytest.param("TU CHOI", id="plain"),
        pytest.param("từ chối", id="diacritics"),
        pytest.param("  Từ   Chối  ", id="diacritics-extra-spaces"),
        pytest.param("TỪ CHỐI.", id="upper-diacritics-punctuation"),
        pytest.param("tuchoi", id="joined"),
        pytest.param("Hủy", id="huy-tone-on-u"),
        pytest.param("huỷ", id="huy-tone-on-y"),
        pytest.param("HỦY ĐK", id="huy-dk-with-d-stroke"),
        pytest.param("dừng", id="dung"),
        pytest.param("STOP", id="stop"),
        pytest.param("stop!", id="stop-exclaimed"),
        pytest.param("Stop please", id="stop-then-words"),
        pytest.param("tu choi, cam on", id="keyword-then-comma"),
        pytest.param("Unsubscribe", id="unsubscribe"),
        pytest.param("huy\ndk", id="newline-between-words"),
    ],
)
def test_stop_replies(text: str) -> None:
    assert is_stop(text, KEYWORDS)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Tôi không muốn hủy", id="keyword-later-vietnamese"),
        pytest.param("please stop", id="keyword-later-english"),
        pytest.param("Cảm ơn. STOP", id="keyword-after-a-sentence"),
        pytest.param("Huyện nào bị cắt điện?", id="longer-word-huyen"),
        pytest.param("Đúng rồi", id="dung-yes-is-not-dung-stop"),
        pytest.param("Dũng đây", id="the-name-dung"),
        pytest.param("stopped", id="longer-word-stopped"),
        pytest.param("TUCHOIX", id="joined-longer"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
    ],
)
def test_not_stop_replies(text: str) -> None:
    assert not is_stop(text, KEYWORDS)


def test_longest_keyword_is_reported() -> None:
    assert ("HUY DK", "HUY") == (stop_keyword("Hủy đk", KEYWORDS), stop_keyword("Hủy", KEYWORDS))


def test_configured_keywords_replace_the_defaults() -> None:
    settings = SmsReplySettings(stop_keywords=["Ngừng nhận"])
    assert (True, False) == (
        is_stop("ngừng nhận tin", settings.stop_keywords),
        is_stop("STOP", settings.stop_keywords),
    )


def test_blank_keyword_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"stop_keywords\[1\] is blank"):
        SmsReplySettings(stop_keywords=["STOP", "  "])


# -- the route -----------------------------------------------------------------------------
@dataclass
class FakeReplyServices:
    """Records what the route asks of ``Services``; ``fail`` makes every call raise."""

    announcement_id: str | None = "a1"
    fail: bool = False
    inbound: list[dict[str, Any]] = field(default_factory=list)
    opt_outs: list[tuple[str, str, str]] = field(default_factory=list)

    async def record_inbound(self, channel: str, sender: str, text: str, **fields: Any) -> Inbound:
        if self.fail:
            raise ConnectionError("store is down")
        self.inbound.append({"channel": channel, "sender": sender, "text": text, **fields})
        return Inbound(
            id="r1",
            channel=channel,
            sender=sender,
            text=text,
            received_at=fields["received_at"] or NOW,
            announcement_id=self.announcement_id,
            delivery_id="d1" if self.announcement_id else None,
            opted_out=fields["opted_out"],
        )

    async def opt_out(self, channel: str, address: str, source: str) -> bool:
        self.opt_outs.append((channel, address, source))
        return True


ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
def fake() -> FakeReplyServices:
    return FakeReplyServices()


@pytest.fixture
async def make_client(fake: FakeReplyServices) -> AsyncIterator[ClientFactory]:
    """``await make_client(settings)``: a small app serving the inbound routes."""
    clients: list[Client] = []

    async def make(settings: SmsReplySettings | None = None) -> Client:
        app = web.Application()
        app[SERVICES] = cast(Services, fake)  # the route only calls the recorded methods
        for route in inbound_routes(settings):
            app.router.add_route(route.method, route.path, route.handler)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: ClientFactory) -> Client:
    return await make_client()


def stored(
    text: str, provider_id: str | None = None, at: datetime | None = None, *, stop: bool = False
) -> dict[str, Any]:
    return {
        "channel": "sms",
        "sender": "+84912345678",
        "text": text,
        "provider_id": provider_id,
        "received_at": at,
        "opted_out": stop,
    }


async def test_json_reply_is_stored_and_linked(client: Client, fake: FakeReplyServices) -> None:
    reply = {
        "from": "0912345678",
        "text": "Mấy giờ có điện?",
        "id": 77,
        "at": "2026-03-01T08:05+07:00",
    }
    response = await client.post(INBOUND_PATH, json=reply)
    expected = {"stored": True, "opted_out": False, "announcement_id": "a1"}
    assert (200, expected) == (response.status, await response.json())
    at = datetime(2026, 3, 1, 8, 5, tzinfo=ICT)
    assert ([stored("Mấy giờ có điện?", "77", at)], []) == (fake.inbound, fake.opt_outs)


async def test_form_reply_is_stored(client: Client, fake: FakeReplyServices) -> None:
    response = await client.post(INBOUND_PATH, data={"from": "84912345678", "text": "ok"})
    assert 200 == response.status
    assert [stored("ok")] == fake.inbound


async def test_query_reply_is_stored(client: Client, fake: FakeReplyServices) -> None:
    response = await client.get(INBOUND_PATH, params={"from": "+84 912 345 678", "text": "ok"})
    assert 200 == response.status
    assert [stored("ok")] == fake.inbound


async def test_stop_reply_opts_the_number_out(client: Client, fake: FakeReplyServices) -> None:
    response = await client.post(INBOUND_PATH, json={"from": "0912345678", "text": "Từ chối"})
    expected = {"stored": True, "opted_out": True, "announcement_id": "a1"}
    assert expected == await response.json()
    opt_out = ("sms", "+84912345678", "sms-reply:TU CHOI")
    assert ([stored("Từ chối", stop=True)], [opt_out]) == (fake.inbound, fake.opt_outs)


async def test_reply_to_no_announcement_is_stored_unlinked(
    client: Client, fake: FakeReplyServices
) -> None:
    fake.announcement_id = None
    response = await client.post(INBOUND_PATH, json={"from": "0912345678", "text": "STOP"})
    assert {"stored": True, "opted_out": True, "announcement_id": None} == await response.json()


async def test_configured_keywords_are_used_by_the_route(
    make_client: ClientFactory, fake: FakeReplyServices
) -> None:
    client = await make_client(SmsReplySettings(stop_keywords=["NGUNG"]))
    await client.post(INBOUND_PATH, json={"from": "0912345678", "text": "STOP"})
    await client.post(INBOUND_PATH, json={"from": "0912345678", "text": "ngừng"})
    assert ["sms-reply:NGUNG"] == [source for _, _, source in fake.opt_outs]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        pytest.param(b'{"text": "STOP"}', "from: Field required", id="no-sender"),
        pytest.param(b'{"from": "0912345678"}', "text: Field required", id="no-text"),
        pytest.param(b'{"from": "0912", "text": "STOP"}', "not a phone number", id="bad-number"),
        pytest.param(
            b'{"from": "0912345678", "text": "x", "at": "2026-03-01T08:00:00"}',
            "at:",
            id="naive-time",
        ),
        pytest.param(b"from=0912345678", "not JSON", id="not-json"),
        pytest.param(b'[{"from": "0912345678", "text": "x"}]', "one message", id="list"),
    ],
)
async def test_bad_input_is_a_problem(
    client: Client, fake: FakeReplyServices, body: bytes, detail: str
) -> None:
    response = await client.post(
        INBOUND_PATH, data=body, headers={"Content-Type": "application/json"}
    )
    problem = await response.json(content_type="application/problem+json")
    assert (400, "application/problem+json") == (response.status, response.content_type)
    assert detail in problem["detail"]
    assert [] == fake.inbound


async def test_store_failure_asks_the_gateway_to_try_again(
    client: Client, fake: FakeReplyServices
) -> None:
    fake.fail = True
    response = await client.post(INBOUND_PATH, json={"from": "0912345678", "text": "hello"})
    assert 503 == response.status


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        pytest.param({}, {}, 401, id="missing"),
        pytest.param({"X-Thongbao-Secret": "wrong"}, {}, 401, id="wrong"),
        pytest.param({"X-Thongbao-Secret": "k3y"}, {}, 200, id="header"),
        pytest.param({}, {"secret": "k3y"}, 200, id="query"),
    ],
)
async def test_secret_guards_the_route_when_set(
    make_client: ClientFactory, headers: dict[str, str], params: dict[str, str], status: int
) -> None:
    client = await make_client(SmsReplySettings.model_validate({"secret": "k3y"}))
    reply = {"from": "0912345678", "text": "STOP"}
    response = await client.post(INBOUND_PATH, json=reply, headers=headers, params=params)
    assert status == response.status


async def test_route_works_with_the_real_services(dispatcher_factory: Any) -> None:
    """Signatures match ``dispatcher.Services``: a STOP from an unknown number is stored
    unlinked and opts the number out."""
    d = await dispatcher_factory()
    app = web.Application()
    app[SERVICES] = d.services
    for route in inbound_routes():
        app.router.add_route(route.method, route.path, route.handler)
    async with TestClient(TestServer(app)) as client:
        response = await client.post(INBOUND_PATH, json={"from": "0912345678", "text": "Hủy"})
        answer = await response.json()
    assert {"stored": True, "opted_out": True, "announcement_id": None} == answer
    assert not await d.services.opt_out("sms", "+84912345678", "again"), "already opted out"
