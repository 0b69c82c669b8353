"""STOP keywords in citizens' messages to the Official Account."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """``text`` for keyword matching: no diacritics (đ → d), upper case, single spaces."""
    stripped = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(char for char in stripped if not unicodedata.combining(char))
    return _SPACES.sub(" ", bare).strip().upper()


def is_stop(text: str, keywords: Sequence[str]) -> bool:
    """Whether ``text`` is a keyword, or starts with one followed by a non-letter.

    "Hủy", "tu choi, cam on" are STOPs; "HUYEN" and "toi khong muon huy" are not.
    """
    reply = fold(text)
    for keyword in keywords:
        word = fold(keyword)
        if word and reply.startswith(word):
            rest = reply[len(word) :]
            if not rest or not (rest[0].isalnum() or rest[0] == "_"):
                return True
    return False
