"""Vietnamese text folded for matching: no tone marks, đ → d, lower case, single spaces."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """``"  Phường Bà  Điểm"`` → ``"phuong ba diem"``: what a search without marks matches."""
    stripped = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(char for char in stripped if not unicodedata.combining(char))
    return _SPACES.sub(" ", bare).strip().lower()
