"""The Atom feed (RFC 4287), with RFC 5005 ``next`` links; the CAP feed reuses it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from plugins.web.feeds import FeedPage
from plugins.web.links import is_withdrawn, modified_at, page_url
from schemas import Announcement

ATOM = "http://www.w3.org/2005/Atom"
WITHDRAWN = "[Đã hủy] "
_EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class FeedInfo:
    """What names a feed: its title, its permanent id, and its addresses."""

    title: str
    feed_id: str
    self_url: str
    next_url: str | None
    public_url: str


def rfc3339(value: datetime) -> str:
    """``2026-01-01T00:00:00Z``."""
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def entry_id(announcement: Announcement) -> str:
    """A permanent id for an announcement, whatever the public URL becomes."""
    return f"urn:thongbao:announcement:{announcement.id}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    # Atom elements stay unqualified under a default xmlns on <feed>: ElementTree's
    # default_namespace refuses the unqualified attributes (rel, href) Atom uses.
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def atom_feed(
    page: FeedPage,
    info: FeedInfo,
    content: Callable[[Announcement], ET.Element] | None = None,
) -> bytes:
    """The feed document; ``content`` makes each entry's ``<content>`` child (CAP alerts),
    else the entry carries the announcement's text."""
    feed = ET.Element("feed", {"xmlns": ATOM, "{http://www.w3.org/XML/1998/namespace}lang": "vi"})
    _sub(feed, "id", info.feed_id)
    _sub(feed, "title", info.title)
    modified = page.modified
    _sub(feed, "updated", rfc3339(modified) if modified else _EPOCH)
    _sub(feed, "link", rel="self", href=info.self_url)
    _sub(feed, "link", rel="alternate", type="text/html", href=info.public_url)
    if info.next_url:
        _sub(feed, "link", rel="next", href=info.next_url)
    _sub(feed, "generator", "thongbao")
    for announcement in page.entries:
        _entry(feed, announcement, info.public_url, content)
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document


def _entry(
    feed: ET.Element,
    announcement: Announcement,
    public_url: str,
    content: Callable[[Announcement], ET.Element] | None,
) -> None:
    entry = _sub(feed, "entry")
    _sub(entry, "id", entry_id(announcement))
    title = (WITHDRAWN if is_withdrawn(announcement) else "") + announcement.title
    _sub(entry, "title", title)
    _sub(entry, "updated", rfc3339(modified_at(announcement)))
    if announcement.released_at:
        _sub(entry, "published", rfc3339(announcement.released_at))
    author = _sub(entry, "author")
    _sub(author, "name", announcement.issuer or "thongbao")
    _sub(
        entry, "link", rel="alternate", type="text/html", href=page_url(public_url, announcement.id)
    )
    for tag in announcement.tags:
        _sub(entry, "category", term=tag)
    if content is None:
        _sub(entry, "content", announcement.body, type="text")
    else:
        _sub(entry, "summary", announcement.body, type="text")
        holder = _sub(entry, "content", type="application/cap+xml")
        holder.append(content(announcement))
