"""The JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/).

Each item carries thongbao's own facts under ``_thongbao`` (JSON Feed's extension rule):
priority, areas, status, what it updates, expiry and the short link.
"""

from __future__ import annotations

import json
from typing import Any

from plugins.web.feeds import FeedPage
from plugins.web.feeds_atom import WITHDRAWN, FeedInfo, entry_id, rfc3339
from plugins.web.links import is_withdrawn, modified_at, page_url
from schemas import Announcement

VERSION = "https://jsonfeed.org/version/1.1"


def json_feed(page: FeedPage, info: FeedInfo) -> bytes:
    """The feed document, UTF-8 JSON."""
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": info.title,
        "home_page_url": info.public_url,
        "feed_url": info.self_url,
        "language": "vi",
        "items": [_item(a, info.public_url) for a in page.entries],
    }
    if info.next_url:
        feed["next_url"] = info.next_url
    return json.dumps(feed, ensure_ascii=False, indent=1).encode()


def _item(announcement: Announcement, public_url: str) -> dict[str, Any]:
    withdrawn = is_withdrawn(announcement)
    item: dict[str, Any] = {
        "id": entry_id(announcement),
        "url": page_url(public_url, announcement.id),
        "title": (WITHDRAWN if withdrawn else "") + announcement.title,
        "content_text": announcement.body,
        "date_modified": rfc3339(modified_at(announcement)),
        "authors": [{"name": announcement.issuer or "thongbao"}],
        "language": announcement.language,
        "_thongbao": {
            "announcement_id": announcement.id,
            "priority": announcement.priority.value,
            "areas": list(announcement.audience.areas),
            "status": "cancelled" if withdrawn else "released",
            "updates": announcement.updates,
            "expires_at": rfc3339(announcement.expires_at) if announcement.expires_at else None,
        },
    }
    if announcement.released_at:
        item["date_published"] = rfc3339(announcement.released_at)
    if announcement.tags:
        item["tags"] = list(announcement.tags)
    if announcement.attachments:
        item["attachments"] = [
            {"url": str(a.url), "mime_type": a.content_type, "title": a.name}
            for a in announcement.attachments
        ]
    return item
