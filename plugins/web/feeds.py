"""What the public feeds list, a page at a time, and HTTP caching for them and the page.

A feed lists released, public, non-test announcements, newest first. An area's feed lists
those addressed to the area, to an area above it (its province, the country) or to an area
under it, unless the area (or one above it) was excluded. ``?before=<id>`` pages back;
each page links the next.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING

from aiohttp import web

from plugins.web.links import is_visible, modified_at
from schemas import Announcement

if TYPE_CHECKING:
    from dispatcher import Store

_SCAN_BATCH = 200
_SCAN_LIMIT = 5000  # announcements looked at for one page of a narrow area feed


@dataclass(frozen=True)
class AreaScope:
    """An area feed's reach: the area with the areas above it, and those under it."""

    code: str
    lineage: frozenset[str]
    subtree: frozenset[str]

    def includes(self, announcement: Announcement) -> bool:
        """Addressed to this area, above it or under it, and not excluded here."""
        audience = announcement.audience
        if set(audience.exclude.areas) & self.lineage:
            return False
        return bool(set(audience.areas) & (self.lineage | self.subtree))


@dataclass(frozen=True)
class FeedPage:
    """One page of a feed: its entries, newest first, and the cursor of the next page."""

    entries: list[Announcement]
    next_before: str | None
    related: dict[str, Announcement] = field(default_factory=dict)

    @property
    def modified(self) -> datetime | None:
        """The latest change among the entries (``Last-Modified``)."""
        return max((modified_at(a) for a in self.entries), default=None)


async def area_scope(store: Store, code: str) -> AreaScope | None:
    """The reach of ``code``'s feed, or None when no such area is known."""
    if not await store.known_areas([code]):
        return None
    lineage = await store.area_lineage(code)
    subtree = await store.area_subtree([code])
    return AreaScope(code, frozenset(lineage), frozenset(subtree))


async def feed_page(
    store: Store, *, scope: AreaScope | None, before: str | None, limit: int
) -> FeedPage:
    """Up to ``limit`` entries older than ``before`` (an id), newest first."""
    found: list[Announcement] = []
    after, scanned, last = before, 0, before
    while scanned < _SCAN_LIMIT:
        page = await store.released_announcements(after=after, limit=_SCAN_BATCH)
        for announcement in page.items:
            scanned += 1
            last = announcement.id
            if is_visible(announcement) and (scope is None or scope.includes(announcement)):
                found.append(announcement)
                if len(found) == limit + 1:
                    return FeedPage(found[:limit], found[limit - 1].id)
        if page.next_cursor is None:
            return FeedPage(found, None)
        after = page.next_cursor
    # A narrow feed: stop looking here and let the next page go on from what was seen.
    return FeedPage(found, last)


async def with_related(store: Store, page: FeedPage) -> FeedPage:
    """``page`` with the announcements its entries update (CAP ``references``)."""
    wanted = [a.updates for a in page.entries if a.updates]
    related = await store.get_announcements(wanted) if wanted else {}
    return FeedPage(page.entries, page.next_before, related)


def cached_response(
    request: web.Request,
    body: bytes,
    content_type: str,
    modified: datetime | None,
    *,
    max_age: int = 60,
) -> web.Response:
    """``body`` with ``ETag`` and ``Last-Modified``, or ``304`` when the client has it.

    ``If-None-Match`` wins over ``If-Modified-Since`` (RFC 9110 §13.2.2).
    """
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified.replace(microsecond=0), usegmt=True)
    if _not_modified(request, etag, modified):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers=headers, content_type=content_type, charset="utf-8")


def _not_modified(request: web.Request, etag: str, modified: datetime | None) -> bool:
    match = request.headers.get("If-None-Match")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("If-Modified-Since")
    if since is None or modified is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    return when.tzinfo is not None and modified.replace(microsecond=0) <= when
