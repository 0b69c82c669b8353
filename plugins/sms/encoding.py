"""How carriers see a text: GSM 03.38 or UCS-2, and how many segments they bill.

Pure functions, no I/O. A text whose every character is in the GSM 03.38 default alphabet
or its extension table goes as GSM-7: 160 septets in one message, 153 a segment once it is
concatenated (the user data header takes the rest), and an extension character costs two
septets (an escape and the character). Anything else goes as UCS-2: 70 UTF-16 code units in
one message, 67 a segment, and a character outside the Basic Multilingual Plane (most emoji)
costs two units.

Carriers never split an escape pair or a surrogate pair across two segments: the pair moves
to the next segment and the septet or unit left over is wasted. :func:`analyse` counts the
same way, so ``152 x "a" + "€" + 152 x "a"`` is three segments, not two.

Vietnamese needs UCS-2 for almost every diacritic (``à è é ì ò ù`` happen to be in GSM
03.38, ``ạ ă â ê ô ơ ư đ`` are not); :func:`strip_diacritics` writes it "không dấu".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM 03.38 default alphabet, one septet each (the escape code 0x1B left out)."""

GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
"""The extension table: two septets each (escape + character)."""

SINGLE = {"GSM-7": 160, "UCS-2": 70}
"""Units that fit in one unconcatenated message."""

CONCATENATED = {"GSM-7": 153, "UCS-2": 67}
"""Units a segment holds once a message is split (the header takes the rest)."""

# Vietnamese quality marks (breve, circumflex, horn) and tone marks (huyền, sắc, hỏi, ngã,
# nặng) as NFD writes them.
_VIETNAMESE_MARKS = frozenset("\u0306\u0302\u031b\u0300\u0301\u0309\u0303\u0323")
_VOWELS = frozenset("aeiouyAEIOUY")
_STROKED_D = {"đ": "d", "Đ": "D"}
_GSM_ALL = GSM_BASIC | GSM_EXTENSION


@dataclass(frozen=True, slots=True)
class TextInfo:
    """What a text costs.

    Attributes:
        encoding: ``"GSM-7"`` or ``"UCS-2"``.
        units: septets (GSM-7) or UTF-16 code units (UCS-2) the text takes.
        segments: the segments carriers bill; 0 for the empty text.
        per_segment: units a segment holds at this length (160/70 alone, 153/67 split).
        characters: code points in the text.
    """

    encoding: Encoding
    units: int
    segments: int
    per_segment: int
    characters: int


def is_gsm(text: str) -> bool:
    """Whether every character of ``text`` is in GSM 03.38 (alphabet or extension)."""
    return _GSM_ALL.issuperset(text)


def unit_widths(text: str) -> tuple[Encoding, list[int]]:
    """The encoding of ``text`` and the units each of its characters takes."""
    if is_gsm(text):
        return "GSM-7", [2 if char in GSM_EXTENSION else 1 for char in text]
    return "UCS-2", [2 if ord(char) > 0xFFFF else 1 for char in text]


def count_segments(widths: list[int], capacity: int) -> int:
    """Segments of ``capacity`` units needed when no character may straddle two."""
    segments, used = 1, 0
    for width in widths:
        if used + width > capacity:
            segments, used = segments + 1, 0
        used += width
    return segments


def analyse(text: str) -> TextInfo:
    """Encoding, size and segment count of ``text``, exactly as given (no normalisation).

    >>> analyse("Xin chào").segments, analyse("Xin chào").encoding
    (1, 'GSM-7')
    """
    # Counted in C first: the per-character walk is only needed once a text is split.
    if is_gsm(text):
        encoding: Encoding = "GSM-7"
        units = len(text) + sum(map(text.count, GSM_EXTENSION))
    else:
        encoding, units = "UCS-2", len(text.encode("utf-16-le", "surrogatepass")) // 2
    if units <= SINGLE[encoding]:
        return TextInfo(encoding, units, 1 if units else 0, SINGLE[encoding], len(text))
    per_segment = CONCATENATED[encoding]
    if units == len(text):  # no pair that could straddle a segment boundary
        segments = -(-units // per_segment)
    else:
        segments = count_segments(unit_widths(text)[1], per_segment)
    return TextInfo(encoding, units, segments, per_segment, len(text))


def fitting_prefix(text: str, max_segments: int) -> int:
    """How many leading characters of ``text`` fit in ``max_segments`` segments.

    Counted in the encoding ``text`` needs as a whole.
    """
    encoding, widths = unit_widths(text)
    if sum(widths) <= SINGLE[encoding]:
        return len(text)
    if max_segments == 1:
        return _prefix_within(widths, SINGLE[encoding])
    capacity, segments, used = CONCATENATED[encoding], 1, 0
    for index, width in enumerate(widths):
        if used + width > capacity:
            if segments == max_segments:
                return index
            segments, used = segments + 1, 0
        used += width
    return len(text)


def _prefix_within(widths: list[int], limit: int) -> int:
    total = 0
    for index, width in enumerate(widths):
        total += width
        if total > limit:
            return index
    return len(widths)


def strip_diacritics(text: str) -> str:
    """``text`` "không dấu": Vietnamese vowels lose their marks, ``đ``/``Đ`` become d/D.

    Only the marks Vietnamese puts on vowels (breve, circumflex, horn and the five tones)
    are removed; other characters, case and other marks (``ñ``, ``ü``, ``Ç``) are kept.

    >>> strip_diacritics("Thông báo: Đường Nguyễn Trãi mất điện")
    'Thong bao: Duong Nguyen Trai mat dien'
    """
    return unicodedata.normalize("NFC", text).translate(_STRIP_TABLE)


def _strip_char(char: str) -> str:
    if char in _STROKED_D:
        return _STROKED_D[char]
    decomposed = unicodedata.normalize("NFD", char)
    base, marks = decomposed[0], decomposed[1:]
    if base not in _VOWELS or not marks:
        return char
    kept = "".join(mark for mark in marks if mark not in _VIETNAMESE_MARKS)
    return unicodedata.normalize("NFC", base + kept)


# After NFC, every precomposed Latin vowel lives in these two blocks (Latin-1 Supplement to
# Latin Extended-B, and Latin Extended Additional, where most Vietnamese letters are).
_STRIP_TABLE = {
    code: _strip_char(chr(code))
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00))
    if _strip_char(chr(code)) != chr(code)
}
