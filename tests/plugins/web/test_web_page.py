"""The public page of an announcement: Vietnamese HTML for a phone, reached by a short
link; cancellations and updates shown; nothing unreleased, private or test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import pytest
from web_helpers import PUBLIC_URL, Receiver, Web

from plugins.web.links import announcement_id, page_url, short_code

WebFactory = Callable[..., Awaitable[Web]]
ReceiverFactory = Callable[..., Awaitable[Receiver]]


async def page(web: Web, announcement_id: str) -> tuple[int, str]:
    response = await web.client.get(page_url("", announcement_id))
    return response.status, await response.text()


async def test_the_page_shows_the_announcement_in_vietnamese(web_factory: WebFactory) -> None:
    web = await web_factory()
    announcement = await web.announce(
        title="Cắt điện <khẩn>",
        body="Từ 8:00 đến 11:00.\nMang theo đèn pin.",
        audience={"areas": ["26740", "26743"]},
        priority="emergency",
    )
    status, html = await page(web, announcement.id)
    released = announcement.released_at
    assert released is not None
    local = released.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert 200 == status
    for expected in (
        '<html lang="vi">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "Cắt điện &lt;khẩn&gt;",
        "Từ 8:00 đến 11:00.\nMang theo đèn pin.",
        "UBND Thành phố Hồ Chí Minh",
        "Phường Sài Gòn (26740), Phường Bến Thành (26743)",
        local.strftime("%H:%M, %d/%m/%Y"),
        "KHẨN CẤP",
        f"{PUBLIC_URL}/a/{short_code(announcement.id)}",
    ):
        assert expected in html, expected
    assert "<khẩn>" not in html


def test_short_links_are_short_and_stable() -> None:
    an_id = "019b7a2c3d4e5f60718293"
    code = short_code(an_id)
    assert (15, an_id, code) == (len(code), announcement_id(code), short_code(an_id))
    assert len(page_url(PUBLIC_URL, an_id)) <= len(PUBLIC_URL) + 18


async def test_a_cancelled_announcement_says_so(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory([500])
    await web.subscribe(receiver.url)  # keeps the announcement open, so it can be cancelled
    announcement = await web.announce()
    await web.engine.services.cancel_announcement(announcement.id)
    _, html = await page(web, announcement.id)
    assert "Đã hủy" in html


async def test_an_update_and_the_updated_link_each_other(web_factory: WebFactory) -> None:
    web = await web_factory()
    first = await web.announce(title="Lịch cắt nước")
    web.clock.advance(60)
    update = await web.announce(title="Lịch cắt nước (đổi giờ)", updates=first.id)
    _, first_html = await page(web, first.id)
    _, update_html = await page(web, update.id)
    assert "Đã có thông báo cập nhật" in first_html
    assert page_url(PUBLIC_URL, update.id) in first_html
    assert "Thông báo này cập nhật" in update_html
    assert page_url(PUBLIC_URL, first.id) in update_html


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"public": False}, id="private"),
        pytest.param({"test": True}, id="test"),
        pytest.param({"send_at": "2099-01-01T08:00:00+07:00"}, id="not-released"),
    ],
)
async def test_what_is_not_public_is_not_found(web_factory: WebFactory, fields: dict) -> None:
    web = await web_factory()
    announcement = await web.announce(**fields)
    status, html = await page(web, announcement.id)
    assert (404, True) == (status, "Không tìm thấy thông báo" in html)
    assert announcement.title not in html


async def test_a_link_to_nothing_is_not_found(web_factory: WebFactory) -> None:
    web = await web_factory()
    for code in ("000000000000000", "nothing", "zzzzzzzzzzzzzzz"):
        response = await web.client.get(f"/a/{code}")
        assert 404 == response.status, code


async def test_the_page_is_cached_with_an_etag(web_factory: WebFactory) -> None:
    web = await web_factory()
    announcement = await web.announce()
    first = await web.client.get(page_url("", announcement.id))
    again = await web.client.get(
        page_url("", announcement.id), headers={"If-None-Match": first.headers["ETag"]}
    )
    assert (200, 304) == (first.status, again.status)
