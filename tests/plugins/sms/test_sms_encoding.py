"""GSM 03.38 vs UCS-2, segments as carriers bill them, and Vietnamese "không dấu"."""

from __future__ import annotations

import math
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plugins.sms.encoding import (
    GSM_BASIC,
    GSM_EXTENSION,
    TextInfo,
    analyse,
    count_segments,
    fitting_prefix,
    strip_diacritics,
    unit_widths,
)

# Each row: a vowel with no mark, then huyền, sắc, hỏi, ngã, nặng; written precomposed.
VOWEL_ROWS = {
    "a": "aàáảãạ",
    "ă": "ăằắẳẵặ",
    "â": "âầấẩẫậ",
    "e": "eèéẻẽẹ",
    "ê": "êềếểễệ",
    "i": "iìíỉĩị",
    "o": "oòóỏõọ",
    "ô": "ôồốổỗộ",
    "ơ": "ơờớởỡợ",
    "u": "uùúủũụ",
    "ư": "ưừứửữự",
    "y": "yỳýỷỹỵ",
}
BASE = {"ă": "a", "â": "a", "ê": "e", "ô": "o", "ơ": "o", "ư": "u"}
VIETNAMESE_LETTERS = "".join(row + row.upper() for row in VOWEL_ROWS.values()) + "đĐ"
ALL_EXTENSION = "€[]{}~^|\\\f"


def vowel_cases() -> list[pytest.ParameterSet]:
    cases = []
    for vowel, row in VOWEL_ROWS.items():
        base = BASE.get(vowel, vowel)
        cases.append(pytest.param(row, base * 6, id=f"{vowel}-lower"))
        cases.append(pytest.param(row.upper(), base.upper() * 6, id=f"{vowel}-upper"))
    return cases


@pytest.mark.parametrize(("row", "expected"), vowel_cases())
def test_every_tone_on_every_vowel_strips_to_its_base_letter(row: str, expected: str) -> None:
    assert 6 == len(row)  # precomposed, one code point a letter
    assert expected == strip_diacritics(row)


@pytest.mark.parametrize(("row", "expected"), vowel_cases())
def test_decomposed_vowels_strip_like_precomposed_ones(row: str, expected: str) -> None:
    assert expected == strip_diacritics(unicodedata.normalize("NFD", row))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("đ", "d", id="d-lower"),
        pytest.param("Đ", "D", id="d-upper"),
        pytest.param("ĐƯỜNG ĐIỆN", "DUONG DIEN", id="upper-words"),
        pytest.param(
            "Thông báo: Đường Nguyễn Trãi mất điện từ 7h đến 17h.",
            "Thong bao: Duong Nguyen Trai mat dien tu 7h den 17h.",
            id="sentence",
        ),
    ],
)
def test_strip_diacritics(text: str, expected: str) -> None:
    assert expected == strip_diacritics(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("ñ Ñ ü Ü ä Ö Å å Ç ß", id="gsm-letters-with-other-marks"),
        pytest.param("😀 🚨", id="emoji"),
        pytest.param("“quoted” – … «»", id="punctuation"),
        pytest.param("€[]{}~^|\\", id="gsm-extension"),
        pytest.param("中文 Ελληνικά", id="other-scripts"),
    ],
)
def test_strip_diacritics_keeps_other_characters(text: str) -> None:
    assert text == strip_diacritics(text)


def test_marked_vietnamese_letters_force_ucs2_but_for_seven_in_gsm() -> None:
    in_gsm = {char for char in VIETNAMESE_LETTERS if analyse(char).encoding == "GSM-7"}
    assert set("aàeèéiìoòuùyAEÉIOUY") == in_gsm


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", TextInfo("GSM-7", 0, 0, 160, 0), id="empty"),
        pytest.param("Xin chào", TextInfo("GSM-7", 8, 1, 160, 8), id="gsm"),
        pytest.param("Mất điện", TextInfo("UCS-2", 8, 1, 70, 8), id="vietnamese"),
        pytest.param("😀", TextInfo("UCS-2", 2, 1, 70, 1), id="emoji-two-units"),
        pytest.param("OK 😀", TextInfo("UCS-2", 5, 1, 70, 4), id="emoji-makes-ucs2"),
        pytest.param("\x1b", TextInfo("UCS-2", 1, 1, 70, 1), id="escape-code-is-not-text"),
        pytest.param("ç", TextInfo("UCS-2", 1, 1, 70, 1), id="small-c-cedilla-not-gsm"),
        pytest.param("\r\n", TextInfo("GSM-7", 2, 1, 160, 2), id="line-breaks"),
    ],
)
def test_analyse(text: str, expected: TextInfo) -> None:
    assert expected == analyse(text)


@pytest.mark.parametrize("char", [pytest.param(c, id=f"U+{ord(c):04X}") for c in ALL_EXTENSION])
def test_extension_characters_count_two_septets(char: str) -> None:
    assert TextInfo("GSM-7", 2, 1, 160, 1) == analyse(char)


@pytest.mark.parametrize("char", [pytest.param(c, id=f"U+{ord(c):04X}") for c in ALL_EXTENSION])
def test_eighty_one_extension_characters_need_two_segments(char: str) -> None:
    assert (1, 2) == (analyse(char * 80).segments, analyse(char * 81).segments)


def test_extension_table_is_the_documented_one() -> None:
    assert set(ALL_EXTENSION) == GSM_EXTENSION
    assert 127 == len(GSM_BASIC)  # 128 codes, less the escape


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        pytest.param(70, TextInfo("GSM-7", 70, 1, 160, 70), id="70"),
        pytest.param(71, TextInfo("GSM-7", 71, 1, 160, 71), id="71"),
        pytest.param(134, TextInfo("GSM-7", 134, 1, 160, 134), id="134"),
        pytest.param(135, TextInfo("GSM-7", 135, 1, 160, 135), id="135"),
        pytest.param(160, TextInfo("GSM-7", 160, 1, 160, 160), id="160"),
        pytest.param(161, TextInfo("GSM-7", 161, 2, 153, 161), id="161"),
        pytest.param(306, TextInfo("GSM-7", 306, 2, 153, 306), id="306"),
        pytest.param(307, TextInfo("GSM-7", 307, 3, 153, 307), id="307"),
    ],
)
def test_gsm_boundaries(length: int, expected: TextInfo) -> None:
    assert expected == analyse("a" * length)


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        pytest.param(70, TextInfo("UCS-2", 70, 1, 70, 70), id="70"),
        pytest.param(71, TextInfo("UCS-2", 71, 2, 67, 71), id="71"),
        pytest.param(134, TextInfo("UCS-2", 134, 2, 67, 134), id="134"),
        pytest.param(135, TextInfo("UCS-2", 135, 3, 67, 135), id="135"),
        pytest.param(160, TextInfo("UCS-2", 160, 3, 67, 160), id="160"),
        pytest.param(161, TextInfo("UCS-2", 161, 3, 67, 161), id="161"),
        pytest.param(306, TextInfo("UCS-2", 306, 5, 67, 306), id="306"),
        pytest.param(307, TextInfo("UCS-2", 307, 5, 67, 307), id="307"),
    ],
)
def test_ucs2_boundaries(length: int, expected: TextInfo) -> None:
    assert expected == analyse("ệ" * length)


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        pytest.param("a" * 158 + "€", 1, id="ends-at-160-septets"),
        pytest.param("a" * 159 + "€", 2, id="escape-pair-pushes-past-160"),
        pytest.param("a" * 151 + "€" + "a" * 153, 2, id="pair-fills-first-segment"),
        pytest.param("a" * 152 + "€" + "a" * 152, 3, id="pair-not-split-across-segments"),
        pytest.param("€" * 153, 3, id="only-pairs"),
    ],
)
def test_extension_character_at_a_segment_boundary(text: str, segments: int) -> None:
    assert segments == analyse(text).segments


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        pytest.param("ệ" * 68 + "😀", 1, id="ends-at-70-units"),
        pytest.param("ệ" * 69 + "😀", 2, id="surrogate-pair-pushes-past-70"),
        pytest.param("ệ" * 65 + "😀" + "ệ" * 67, 2, id="pair-fills-first-segment"),
        pytest.param("ệ" * 66 + "😀" + "ệ" * 66, 3, id="pair-not-split-across-segments"),
        pytest.param("😀" * 67, 3, id="only-emoji"),
    ],
)
def test_emoji_at_a_segment_boundary(text: str, segments: int) -> None:
    assert segments == analyse(text).segments


@pytest.mark.parametrize(
    ("text", "max_segments", "expected"),
    [
        pytest.param("a" * 200, 1, 160, id="gsm-one"),
        pytest.param("a" * 400, 2, 306, id="gsm-two"),
        pytest.param("a" * 100, 2, 100, id="fits"),
        pytest.param("a" * 152 + "€" + "a" * 200, 2, 304, id="pair-moved-to-second"),
        pytest.param("ệ" * 100, 1, 70, id="ucs2-one"),
        pytest.param("ệ" * 200, 2, 134, id="ucs2-two"),
        pytest.param("ệ" * 66 + "😀" * 40, 2, 99, id="emoji-moved-to-second"),
    ],
)
def test_fitting_prefix(text: str, max_segments: int, expected: int) -> None:
    assert expected == fitting_prefix(text, max_segments)


@given(st.text(max_size=800))
def test_segments_never_fewer_than_units_allow(text: str) -> None:
    info = analyse(text)
    assert info.segments >= math.ceil(info.units / info.per_segment)


@given(st.text(min_size=161, max_size=800))
def test_segments_are_the_walk_carriers_do(text: str) -> None:
    encoding, widths = unit_widths(text)
    info = analyse(text)
    assert (encoding, count_segments(widths, info.per_segment)) == (info.encoding, info.segments)


@given(st.text(min_size=1, max_size=800))
def test_at_most_one_unit_is_wasted_per_segment(text: str) -> None:
    info = analyse(text)
    assert info.segments <= max(1, math.ceil(info.units / (info.per_segment - 1)))


@given(st.text(alphabet=sorted(GSM_BASIC | GSM_EXTENSION) + list(VIETNAMESE_LETTERS)))
def test_stripped_vietnamese_is_gsm_when_the_rest_is(text: str) -> None:
    assert "GSM-7" == analyse(strip_diacritics(text)).encoding


@given(st.text(max_size=400), st.integers(min_value=1, max_value=6))
def test_fitting_prefix_fits(text: str, max_segments: int) -> None:
    prefix = text[: fitting_prefix(text, max_segments)]
    assert analyse(prefix).segments <= max_segments
