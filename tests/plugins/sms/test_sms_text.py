"""Preparing an SMS: stripping only when it saves segments, the ceiling, the options."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher import Inspection, OutboundMessage
from dispatcher.testing import make_message
from plugins.sms.encoding import GSM_BASIC, TextInfo, analyse
from plugins.sms.text import (
    Prepared,
    inspection,
    options_problems,
    prepare,
    prepare_message,
    resolve_strip,
    sms_out,
)
from plugins.sms.transport import SmsOut

SHORT_VI = "Mất điện"  # 1 segment with or without diacritics
# 80 characters: 2 UCS-2 segments as written, 1 GSM-7 segment without diacritics.
LONG_VI = "Thông báo: phường Hàng Bạc cắt điện từ 7h đến 17h ngày 12/3 để sửa đường dây xx."
LONG_PLAIN = "Thong bao: phuong Hang Bac cat dien tu 7h den 17h ngay 12/3 de sua duong day xx."


def message(body: str, **options: Any) -> OutboundMessage:
    return replace(
        make_message("+84912345678", channel="sms"), body=body, options=MappingProxyType(options)
    )


def test_long_vietnamese_fixture_is_what_the_tests_assume() -> None:
    assert (80, 2, 1) == (len(LONG_VI), analyse(LONG_VI).segments, analyse(LONG_PLAIN).segments)


@pytest.mark.parametrize(
    ("body", "strip", "expected"),
    [
        pytest.param(
            LONG_VI,
            True,
            Prepared(LONG_PLAIN, TextInfo("GSM-7", 80, 1, 160, 80), True, []),
            id="strips-when-it-saves-a-segment",
        ),
        pytest.param(
            LONG_VI,
            False,
            Prepared(LONG_VI, TextInfo("UCS-2", 80, 2, 67, 80), False, []),
            id="keeps-when-not-allowed",
        ),
        pytest.param(
            SHORT_VI,
            True,
            Prepared(SHORT_VI, TextInfo("UCS-2", 8, 1, 70, 8), False, []),
            id="keeps-when-it-saves-nothing",
        ),
        pytest.param(
            LONG_VI + "😀",
            True,
            Prepared(LONG_VI + "😀", TextInfo("UCS-2", 82, 2, 67, 81), False, []),
            id="keeps-when-emoji-keeps-ucs2",
        ),
        pytest.param(
            "Xin chào",
            True,
            Prepared("Xin chào", TextInfo("GSM-7", 8, 1, 160, 8), False, []),
            id="gsm-accents-kept",
        ),
    ],
)
def test_prepare_strips_only_when_allowed_and_it_lowers_the_count(
    body: str, strip: bool, expected: Prepared
) -> None:
    assert expected == prepare(body, strip=strip, max_segments=4)


def test_prepare_sends_composed_text() -> None:
    decomposed = unicodedata.normalize("NFD", SHORT_VI)
    expected = Prepared(SHORT_VI, TextInfo("UCS-2", 8, 1, 70, 8), False, [])
    assert expected == prepare(decomposed, strip=False, max_segments=1)


@pytest.mark.parametrize(
    ("body", "strip", "max_segments", "problem"),
    [
        pytest.param(
            LONG_VI,
            False,
            1,
            "the SMS is 2 segments of UCS-2 (80 characters); at most 1 segment allowed: "
            "shorten it to 70 characters, or allow strip_diacritics, which would make it "
            "1 segment",
            id="stripping-would-fix-it",
        ),
        pytest.param(
            LONG_VI * 4,
            False,
            2,
            "the SMS is 5 segments of UCS-2 (320 characters); at most 2 segments allowed: "
            "shorten it to 134 characters (strip_diacritics would make it 3 segments, "
            "still too many)",
            id="stripping-would-not-be-enough",
        ),
        pytest.param(
            LONG_VI * 4,
            True,
            2,
            "the SMS is 3 segments of GSM-7 (320 characters); at most 2 segments allowed: "
            "shorten it to 306 characters",
            id="stripped-and-still-too-long",
        ),
        pytest.param(
            "😀" * 40,
            False,
            1,
            "the SMS is 2 segments of UCS-2 (40 characters); at most 1 segment allowed: "
            "shorten it to 35 characters",
            id="stripping-would-not-help",
        ),
        pytest.param(
            "a" * 152 + "€" * 100,
            False,
            2,
            "the SMS is 3 segments of GSM-7 (252 characters); at most 2 segments allowed: "
            "shorten it to 228 characters",
            id="extension-characters",
        ),
    ],
)
def test_too_long_is_a_problem_that_says_what_to_do(
    body: str, strip: bool, max_segments: int, problem: str
) -> None:
    assert [problem] == prepare(body, strip=strip, max_segments=max_segments).problems


@pytest.mark.parametrize("body", [pytest.param("", id="empty"), pytest.param(" \n", id="blank")])
def test_empty_text_is_a_problem(body: str) -> None:
    problems = prepare(body, strip=True, max_segments=4).problems
    assert ["the SMS text is empty: write the message to send"] == problems


def test_max_segments_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        prepare("hi", strip=False, max_segments=0)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({}, [], id="none"),
        pytest.param({"strip_diacritics": True}, [], id="strip-true"),
        pytest.param({"strip_diacritics": False}, [], id="strip-false"),
        pytest.param(
            {"strip": True},
            ["unknown SMS option 'strip': the known options are strip_diacritics"],
            id="unknown",
        ),
        pytest.param(
            {"strip_diacritics": "yes"},
            ["SMS option 'strip_diacritics' must be true or false, not 'yes'"],
            id="not-a-bool",
        ),
        pytest.param(
            {"strip_diacritics": 1},
            ["SMS option 'strip_diacritics' must be true or false, not 1"],
            id="int-is-not-a-bool",
        ),
    ],
)
def test_options_problems(options: dict[str, Any], expected: list[str]) -> None:
    assert expected == options_problems(options)


@pytest.mark.parametrize(
    ("options", "default", "expected"),
    [
        pytest.param({}, True, True, id="default-true"),
        pytest.param({}, False, False, id="default-false"),
        pytest.param({"strip_diacritics": False}, True, False, id="option-refuses"),
        pytest.param({"strip_diacritics": True}, False, True, id="option-allows"),
        pytest.param({"strip_diacritics": "yes"}, False, False, id="invalid-falls-back"),
    ],
)
def test_resolve_strip_prefers_the_announcement(
    options: dict[str, Any], default: bool, expected: bool
) -> None:
    assert expected == resolve_strip(options, default)


def test_prepare_message_applies_the_option_over_the_default() -> None:
    prepared = prepare_message(
        message(LONG_VI, strip_diacritics=True), default_strip=False, max_segments=4
    )
    assert (LONG_PLAIN, True) == (prepared.text, prepared.stripped)


def test_inspection() -> None:
    expected = Inspection(
        text=LONG_PLAIN,
        details={
            "encoding": "GSM-7",
            "segments": 1,
            "characters": 80,
            "units": 80,
            "stripped_diacritics": True,
        },
        problems=[],
    )
    assert expected == inspection(message(LONG_VI), default_strip=True, max_segments=1)


def test_inspection_lists_option_problems_before_length() -> None:
    problems = inspection(
        message(LONG_VI * 4, colour="red"), default_strip=True, max_segments=2
    ).problems
    expected = [
        "unknown SMS option 'colour': the known options are strip_diacritics",
        "the SMS is 3 segments of GSM-7 (320 characters); at most 2 segments allowed: "
        "shorten it to 306 characters",
    ]
    assert expected == problems


def test_sms_out_carries_what_was_prepared() -> None:
    outbound = message(LONG_VI)
    prepared = prepare(LONG_VI, strip=False, max_segments=4)
    expected = SmsOut(message=outbound, text=LONG_VI, unicode=True, segments=2)
    assert expected == sms_out(outbound, prepared)


@given(st.text(max_size=500), st.integers(min_value=1, max_value=6))
def test_stripping_never_costs_segments(body: str, max_segments: int) -> None:
    kept = prepare(body, strip=False, max_segments=max_segments)
    stripped = prepare(body, strip=True, max_segments=max_segments)
    assert stripped.info.segments <= kept.info.segments


@given(st.text(alphabet=sorted(GSM_BASIC), min_size=1, max_size=500))
def test_gsm_text_is_never_stripped(body: str) -> None:
    assert not prepare(body, strip=True, max_segments=4).stripped
