"""Where thongbao may connect for URLs that came in requests (``dispatcher/outbound.py``):
public addresses, and the networks the settings allow; checked on the address actually
connected to, after DNS and on every redirect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from ipaddress import IPv4Network
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from dispatcher import InvalidRequestError, OutboundGuard, refused_address
from dispatcher.testing import loopback_guard
from schemas import AnnouncementIn

PUBLIC_ONLY = OutboundGuard()


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "203.113.131.1", "2001:4860:4860::8888"],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert PUBLIC_ONLY.allows(address)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",  # loopback
        "::1",
        "::ffff:127.0.0.1",  # loopback written as IPv6
        "10.1.2.3",  # private networks
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service (link-local)
        "fe80::1%eth0",
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "fd00::1",  # unique local
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(address: str) -> None:
    assert not PUBLIC_ONLY.allows(address)


def test_allowed_networks_open_what_they_name_and_nothing_else() -> None:
    office = OutboundGuard((IPv4Network("10.20.0.0/16"),))
    assert office.allows("10.20.7.7")
    assert not office.allows("10.21.0.1")
    assert not office.allows("127.0.0.1")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1"),
        ("http://localhost/hook", "localhost"),
        ("http://api.localhost/hook", "api.localhost"),
        ("http://[::1]:9000/", "::1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ],
)
def test_a_refused_address_in_the_url_is_named_with_what_to_do(url: str, host: str) -> None:
    problem = PUBLIC_ONLY.url_problem(url)
    assert problem is not None
    assert problem.startswith(f"{host} is not a public address")
    assert "[outbound] allowed_networks" in problem


def test_a_name_is_left_to_the_check_on_connect() -> None:
    assert PUBLIC_ONLY.url_problem("https://hethong.tphcm.gov.vn/hook") is None


# -- on connect ----------------------------------------------------------------------------
class Target:
    """An HTTP server on a loopback address that counts what reaches it; ``/go`` redirects
    to ``redirect_to``."""

    def __init__(self) -> None:
        self.hits = 0
        self.redirect_to = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if request.path == "/go":
            raise web.HTTPFound(self.redirect_to)
        return web.Response(text="secret of the internal network")


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    servers: list[TestServer] = []

    async def start(host: str = "127.0.0.1") -> tuple[Target, str]:
        target = Target()
        app = web.Application()
        app.router.add_get("/{tail:.*}", target.handle)
        server = TestServer(app, host=host)
        await server.start_server()
        servers.append(server)
        return target, f"http://{host}:{server.port}"

    yield start
    for server in servers:
        await server.close()


async def fetch(guard: OutboundGuard, url: str) -> str:
    async with (
        aiohttp.ClientSession(connector=guard.connector()) as session,
        session.get(url) as answer,
    ):
        return await answer.text()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_connection_to_loopback_is_refused_before_it_is_opened(
    serve: Any, host: str
) -> None:
    target, base = await serve()
    url = base.replace("127.0.0.1", host)
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await fetch(PUBLIC_ONLY, url)
    reason = refused_address(caught.value)
    assert reason is not None and "not public" in reason
    assert 0 == target.hits


async def test_an_allowed_network_is_reached(serve: Any) -> None:
    target, base = await serve()
    assert "secret of the internal network" == await fetch(loopback_guard(), f"{base}/doc")
    assert 1 == target.hits


async def test_a_redirect_to_a_refused_address_is_not_followed(serve: Any) -> None:
    inner, inner_base = await serve("127.0.0.2")
    outer, outer_base = await serve("127.0.0.1")
    outer.redirect_to = f"{inner_base}/doc"
    only_outer = OutboundGuard((IPv4Network("127.0.0.1/32"),))
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await fetch(only_outer, f"{outer_base}/go")
    assert refused_address(caught.value) is not None
    assert (1, 0) == (outer.hits, inner.hits)


def test_other_connection_errors_are_not_refusals() -> None:
    assert refused_address(ConnectionRefusedError(111, "Connection refused")) is None


# -- at intake -----------------------------------------------------------------------------
def announcement(**fields: Any) -> AnnouncementIn:
    data = {
        "title": "Lịch cắt điện",
        "body": "Cắt điện khu phố 3 từ 8:00 đến 11:00 ngày 28/11.",
        "channels": ["sms"],
        "audience": {"areas": ["79"]},
        **fields,
    }
    return AnnouncementIn.model_validate(data)


async def test_an_announcement_naming_refused_urls_is_refused_whole(
    dispatcher_factory: Any,
) -> None:
    engine = await dispatcher_factory(outbound={"allowed_networks": []})
    data = announcement(
        callback={"url": "http://127.0.0.1:9000/status"},
        attachments=[
            {"url": "https://congbao.chinhphu.vn/qd-17.pdf", "name": "qd-17.pdf"},
            {"url": "http://169.254.169.254/latest/meta-data/", "name": "x.pdf"},
        ],
    )
    with pytest.raises(InvalidRequestError) as caught:
        await engine.services.create_announcement(data)
    places = {tuple(e["loc"]): e["msg"] for e in caught.value.errors}
    assert {("attachments", 1, "url"), ("callback", "url")} == set(places)
    assert "169.254.169.254 is not a public address" in str(places["attachments", 1, "url"])
    assert [] == (await engine.services.list_announcements()).items


async def test_an_allowed_network_may_be_named(dispatcher_factory: Any) -> None:
    engine = await dispatcher_factory(outbound={"allowed_networks": ["10.20.0.0/16"]})
    data = announcement(callback={"url": "http://10.20.0.5/status"})
    created, _ = await engine.services.create_announcement(data)
    assert created.callback is not None
