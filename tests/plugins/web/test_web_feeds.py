"""The public feeds: Atom, JSON Feed and CAP, overall and per area; only what is released,
public and not a test; cached with ETag/Last-Modified; paged with next links."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
import xmlschema
from web_helpers import PUBLIC_URL, Receiver, Web

from schemas import Announcement

WebFactory = Callable[..., Awaitable[Web]]
ReceiverFactory = Callable[..., Awaitable[Receiver]]
CAP_XSD = Path(__file__).parent / "data" / "CAP-v1.2.xsd"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
FEEDS = ["announcements.atom", "announcements.json", "announcements.cap.xml"]


@dataclass
class Feed:
    """What a reader sees of a feed: entries (title, link) and the next page's URL."""

    entries: list[tuple[str, str]]
    next_url: str | None


async def fetch(web: Web, path: str) -> Feed:
    """GET a feed and read it: Atom and CAP with feedparser, JSON Feed by its 1.1 rules
    (feedparser 6.0 reads no JSON Feed)."""
    response = await web.client.get(path)
    assert 200 == response.status, await response.text()
    body = await response.read()
    if response.content_type == "application/feed+json":
        return read_json_feed(json.loads(body))
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    after = [link.href for link in parsed.feed.links if link.rel == "next"]
    return Feed([(e.title, e.link) for e in parsed.entries], after[0] if after else None)


def read_json_feed(feed: dict[str, Any]) -> Feed:
    """The feed, after checking what JSON Feed 1.1 requires of it."""
    assert "https://jsonfeed.org/version/1.1" == feed["version"]
    assert isinstance(feed["title"], str) and feed["feed_url"].startswith(PUBLIC_URL)
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert "content_text" in item or "content_html" in item
        for key in ("date_published", "date_modified"):
            if key in item:
                datetime.fromisoformat(item[key].replace("Z", "+00:00"))
        assert all(k in KNOWN_ITEM_KEYS or k.startswith("_") for k in item)
    return Feed([(i["title"], i["url"]) for i in feed["items"]], feed.get("next_url"))


KNOWN_ITEM_KEYS = {
    "id",
    "url",
    "external_url",
    "title",
    "content_html",
    "content_text",
    "summary",
    "image",
    "banner_image",
    "date_published",
    "date_modified",
    "authors",
    "tags",
    "language",
    "attachments",
}


@pytest.mark.parametrize("name", FEEDS)
async def test_each_feed_parses_and_lists_released_public_announcements(
    web_factory: WebFactory, name: str
) -> None:
    web = await web_factory()
    older = await web.announce(title="Lịch tiêm chủng", tags=["y tế"])
    web.clock.advance(60)
    newer = await web.announce(title="Cảnh báo bão số 3", priority="emergency")
    await web.announce(title="Nội bộ", public=False)
    await web.announce(title="Thử nghiệm", test=True)
    await web.announce(title="Chưa phát", send_at=web.clock.now().replace(year=2099).isoformat())

    parsed = await fetch(web, f"/feeds/{name}")

    assert ["Cảnh báo bão số 3", "Lịch tiêm chủng"] == [title for title, _ in parsed.entries]
    links = [link for _, link in parsed.entries]
    assert all(link.startswith(f"{PUBLIC_URL}/a/") for link in links)
    assert [newer.id, older.id] == [await page_id(web, link) for link in links]


async def page_id(web: Web, link: str) -> str:
    """The announcement a page link shows (its page names the id)."""
    response = await web.client.get(link.removeprefix(PUBLIC_URL))
    text = await response.text()
    return text.split("Mã thông báo: ", 1)[1].split("<", 1)[0]


async def test_cap_feed_alerts_validate_against_the_cap_1_2_schema(
    web_factory: WebFactory, receiver_factory: ReceiverFactory
) -> None:
    web = await web_factory()
    receiver = await receiver_factory([500])
    await web.subscribe(receiver.url)
    first = await web.announce(
        title="Cắt điện",
        tags=["điện"],
        expires_at="2099-01-01T00:00:00+07:00",
        attachments=[{"url": "https://hcm.gov.vn/qd.pdf", "name": "Quyết định.pdf"}],
    )
    web.clock.advance(60)
    update = await web.announce(title="Cắt điện (cập nhật)", updates=first.id)
    await web.engine.services.cancel_announcement(update.id)
    schema = xmlschema.XMLSchema(CAP_XSD)

    response = await web.client.get("/feeds/announcements.cap.xml")
    alerts = ET.fromstring(await response.read()).iter(f"{CAP}alert")

    found = []
    for alert in alerts:
        schema.validate(alert)
        found.append((alert.findtext(f"{CAP}msgType"), alert.findtext(f"{CAP}identifier")))
    assert [("Cancel", f"{update.id}.cancel"), ("Alert", first.id)] == found


async def test_cap_alert_carries_the_announcement(web_factory: WebFactory) -> None:
    web = await web_factory()
    first = await web.announce(title="Triều cường", tags=["thời tiết"], priority="high")
    web.clock.advance(60)
    update = await web.announce(
        title="Triều cường (cập nhật)", updates=first.id, tags=["thời tiết"], priority="high"
    )
    response = await web.client.get("/feeds/announcements.cap.xml")
    newest = next(ET.fromstring(await response.read()).iter(f"{CAP}alert"))
    info = newest.find(f"{CAP}info")
    assert info is not None
    assert (
        update.id,
        "Update",
        f"thongbao@thongbao.hcm.gov.vn,{first.id},",
        "Met",
        "Expected",
        "Triều cường (cập nhật)",
        "Thành phố Hồ Chí Minh",
    ) == (
        newest.findtext(f"{CAP}identifier"),
        newest.findtext(f"{CAP}msgType"),
        (newest.findtext(f"{CAP}references") or "").rsplit(",", 1)[0] + ",",
        info.findtext(f"{CAP}category"),
        info.findtext(f"{CAP}urgency"),
        info.findtext(f"{CAP}headline"),
        info.findtext(f"{CAP}area/{CAP}areaDesc"),
    )
    assert (newest.findtext(f"{CAP}sent") or "").endswith("+07:00")


async def test_an_area_feed_includes_what_went_to_the_areas_above_and_below(
    web_factory: WebFactory,
) -> None:
    web = await web_factory()
    province = await web.announce(title="Toàn thành phố", audience={"areas": ["79"]})
    commune = await web.announce(title="Phường Sài Gòn", audience={"areas": ["26740"]})
    await web.announce(title="Phường Bến Thành", audience={"areas": ["26743"]})
    await web.announce(title="Hà Nội", audience={"areas": ["01"]})
    await web.announce(
        title="Trừ Sài Gòn", audience={"areas": ["79"], "exclude": {"areas": ["26740"]}}
    )

    for_commune = await fetch(web, "/feeds/areas/26740/announcements.json")
    for_province = await fetch(web, "/feeds/areas/79/announcements.atom")

    assert [commune.title, province.title] == [title for title, _ in for_commune.entries]
    assert {"Trừ Sài Gòn", "Phường Bến Thành", "Phường Sài Gòn", "Toàn thành phố"} == {
        title for title, _ in for_province.entries
    }


async def test_an_unknown_area_has_no_feed(web_factory: WebFactory) -> None:
    web = await web_factory()
    response = await web.client.get("/feeds/areas/99999/announcements.atom")
    assert 404 == response.status


@pytest.mark.parametrize("name", FEEDS)
async def test_an_unchanged_feed_is_answered_304(web_factory: WebFactory, name: str) -> None:
    web = await web_factory()
    await web.announce()
    first = await web.client.get(f"/feeds/{name}")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]

    by_etag = await web.client.get(f"/feeds/{name}", headers={"If-None-Match": etag})
    by_date = await web.client.get(f"/feeds/{name}", headers={"If-Modified-Since": modified})
    web.clock.advance(60)
    await web.announce(title="Thông báo mới")
    changed = await web.client.get(f"/feeds/{name}", headers={"If-None-Match": etag})

    assert (304, b"") == (by_etag.status, await by_etag.read())
    assert 304 == by_date.status
    assert 200 == changed.status and changed.headers["ETag"] != etag


@pytest.mark.parametrize("name", ["announcements.atom", "announcements.json"])
async def test_feeds_page_back_through_next_links(web_factory: WebFactory, name: str) -> None:
    web = await web_factory(feed_page_size=2)
    made: list[Announcement] = []
    for n in range(5):
        made.append(await web.announce(title=f"Thông báo {n}"))
        web.clock.advance(60)
    titles: list[str] = []
    path: str | None = f"/feeds/{name}"
    pages = 0
    while path:
        parsed = await fetch(web, path)
        pages += 1
        titles += [title for title, _ in parsed.entries]
        path = parsed.next_url.removeprefix(PUBLIC_URL) if parsed.next_url else None
    assert [f"Thông báo {n}" for n in reversed(range(5))] == titles
    assert 3 == pages


async def test_a_bad_cursor_is_refused(web_factory: WebFactory) -> None:
    web = await web_factory()
    response = await web.client.get("/feeds/announcements.json?before=%3Cscript%3E")
    assert 400 == response.status
