"""Public addresses of announcements: the short link, the page, and what may be shown.

An announcement id is 22 hex digits (time, then randomness). Its short code is that number
in base 62, 15 characters, so ``{public_url}/a/<code>`` fits an SMS and needs no lookup
table: the code turns back into the id. Ids of another shape are used as they are.
"""

from __future__ import annotations

import re
from datetime import datetime

from schemas import Announcement, AnnouncementStatus

PAGE_PREFIX = "/a/"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_HEX_ID = re.compile(r"^[0-9a-f]{22}$")
_CODE_LEN = 15  # 62**15 > 16**22
_CODE = re.compile(rf"^[0-9A-Za-z]{{{_CODE_LEN}}}$")


def short_code(announcement_id: str) -> str:
    """``0190ab…`` (22 hex digits) → a 15-character base-62 code; other ids unchanged."""
    if not _HEX_ID.match(announcement_id):
        return announcement_id
    number = int(announcement_id, 16)
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits)).rjust(_CODE_LEN, "0")


def announcement_id(code: str) -> str:
    """The id a short code (or an id given as it is) stands for."""
    if not _CODE.match(code):
        return code
    number = 0
    for char in code:
        number = number * 62 + _INDEX[char]
    if number >= 16**22:
        return code
    return f"{number:022x}"


def page_url(public_url: str, announcement_id: str) -> str:
    """The public page of an announcement, by its short link."""
    return f"{public_url.rstrip('/')}{PAGE_PREFIX}{short_code(announcement_id)}"


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
