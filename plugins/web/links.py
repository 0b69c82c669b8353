"""What the public may see of an announcement, and when it last changed. The short link
itself is the engine's (``dispatcher.page_url``), so SMS and Zalo templates can carry it."""

from __future__ import annotations

from datetime import datetime

from dispatcher import announcement_id, page_url, short_code
from schemas import Announcement, AnnouncementStatus

PAGE_PREFIX = "/a/"  # the path dispatcher.page_url() builds; the web channel serves it

__all__ = [
    "PAGE_PREFIX",
    "announcement_id",
    "is_visible",
    "is_withdrawn",
    "modified_at",
    "page_url",
    "short_code",
]


def is_visible(announcement: Announcement) -> bool:
    """Shown on feeds and pages: released, public and not a test."""
    return announcement.released_at is not None and announcement.public and not announcement.test


def is_withdrawn(announcement: Announcement) -> bool:
    """Cancelled after its release."""
    return announcement.status is AnnouncementStatus.CANCELLED


def modified_at(announcement: Announcement) -> datetime:
    """When what the public sees last changed: its release, or its cancellation/expiry."""
    released = announcement.released_at or announcement.created_at
    ended = announcement.status in {AnnouncementStatus.CANCELLED, AnnouncementStatus.EXPIRED}
    if ended and announcement.finished_at is not None:
        return max(released, announcement.finished_at)
    return released
