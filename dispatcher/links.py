"""Short links to announcements' public pages: ``{public_url}/a/<code>``.

An announcement id is 22 hex digits (time, then randomness). Its short code is that number
in base 62, 15 characters, so the link fits an SMS and needs no lookup table: the code turns
back into the id. Ids of another shape are used as they are. Templates see the link as
``{{ link }}``; the web channel serves the page.
"""

from __future__ import annotations

import re

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
