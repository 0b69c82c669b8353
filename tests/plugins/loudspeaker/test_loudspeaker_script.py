"""Broadcast scripts read as a Vietnamese announcer says them."""

from __future__ import annotations

import pytest

from plugins.loudspeaker.script import Formula, build_script, read_aloud, say_number


@pytest.mark.parametrize(
    ("number", "words"),
    [
        pytest.param(15, "mười lăm", id="15"),
        pytest.param(21, "hai mươi mốt", id="21"),
        pytest.param(105, "một trăm lẻ năm", id="105"),
        pytest.param(2026, "hai nghìn không trăm hai mươi sáu", id="2026"),
        pytest.param(1005, "một nghìn không trăm lẻ năm", id="1005"),
        pytest.param(1_500_000, "một triệu năm trăm nghìn", id="1.5-million"),
        pytest.param(2_000_000_000, "hai tỷ", id="2-billion"),
    ],
)
def test_numbers_are_read_in_words(number: int, words: str) -> None:
    assert words == say_number(number)


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        pytest.param(
            "ngày 15/8/2026",
            "ngày mười lăm tháng tám năm hai nghìn không trăm hai mươi sáu",
            id="date-after-ngay",
        ),
        pytest.param("từ 5/4", "từ ngày mùng năm tháng tư", id="day-and-month"),
        pytest.param("lúc 7h30", "lúc bảy giờ ba mươi phút", id="time-h"),
        pytest.param("lúc 14:00", "lúc mười bốn giờ", id="time-colon"),
        pytest.param("7h-9h", "bảy giờ đến chín giờ", id="range"),
        pytest.param(
            "gọi 0912 345 678",
            "gọi không chín một hai, ba bốn năm, sáu bảy tám",
            id="phone-grouped",
        ),
        pytest.param(
            "gọi 0912345678",
            "gọi không chín một hai, ba bốn năm, sáu bảy tám",
            id="phone-plain",
        ),
        pytest.param(
            "+84912345678", "không chín một hai, ba bốn năm, sáu bảy tám", id="phone-intl"
        ),
        pytest.param("tăng 2,5%", "tăng hai phẩy năm phần trăm", id="percent"),
        pytest.param("mưa 120 mm", "mưa một trăm hai mươi mi-li-mét", id="unit"),
        pytest.param("phí 50.000đ", "phí năm mươi nghìn đồng", id="money"),
        pytest.param("thứ 4", "thứ tư", id="weekday"),
        pytest.param("UBND phường", "ủy ban nhân dân phường", id="abbreviation"),
        pytest.param(
            "số 12/QĐ-UBND", "số mười hai quyết định ủy ban nhân dân", id="document-number"
        ),
    ],
)
def test_text_is_written_out_for_reading_aloud(text: str, spoken: str) -> None:
    assert spoken == read_aloud(text)


def test_a_whole_announcement_reads_as_an_announcer_says_it() -> None:
    text = (
        "UBND phường Hàng Bạc thông báo: từ 7h30 đến 11h ngày 15/8/2026 (thứ 7) cắt điện "
        "tại 25 hộ. Liên hệ 0243.826.1234."
    )
    assert (
        "ủy ban nhân dân phường Hàng Bạc thông báo: từ bảy giờ ba mươi phút đến mười một giờ "
        "ngày mười lăm tháng tám năm hai nghìn không trăm hai mươi sáu (thứ bảy) cắt điện tại "
        "hai mươi lăm hộ. Liên hệ không hai bốn ba, tám hai sáu, một hai ba bốn."
    ) == read_aloud(text)


def test_the_formula_opens_and_closes_with_the_issuer_and_title() -> None:
    formula = Formula(issuer="UBND phường Ba Đình")
    script = build_script("Lịch tiêm chủng.", "Tiêm lúc 8h.", formula)
    assert (
        "Kính thưa bà con nhân dân! Sau đây là thông báo của ủy ban nhân dân phường Ba Đình: "
        "Lịch tiêm chủng. Tiêm lúc tám giờ. Trên đây là thông báo của ủy ban nhân dân phường "
        "Ba Đình. Xin trân trọng thông báo!"
    ) == script


def test_without_a_formula_only_the_text_is_read() -> None:
    assert "Tiêm lúc tám giờ." == build_script("T", "Tiêm lúc 8h.", None)
