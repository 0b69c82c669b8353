"""Broadcast scripts: an announcement's text written out the way a Vietnamese announcer reads it.

:func:`read_aloud` spells out, in this order: abbreviations (``UBND``), phone numbers (digit
by digit, in their groups), dates (``15/8/2026`` → "ngày mười lăm tháng tám năm hai nghìn
không trăm hai mươi sáu"), ranges (``7h-9h`` → "… đến …"), times (``7h30``), weekdays
(``thứ 4`` → "thứ tư"), percentages, numbers with units (``5 km``), and every other number
(``1.500.000`` → "một triệu năm trăm nghìn", ``2,5`` → "hai phẩy năm"). Numbers under a
thousand come from ``num2words``; the thousands groups are ours, since ``num2words`` reads
2026 as "hai nghìn lẻ hai mươi sáu" where an announcer says "không trăm".

:func:`build_script` wraps the text in the commune's opening and closing formula.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from num2words import num2words  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
_GROUPS = ("", "nghìn", "triệu", "tỷ", "nghìn tỷ", "triệu tỷ")

ABBREVIATIONS: Mapping[str, str] = {
    "UBMTTQ": "ủy ban Mặt trận Tổ quốc",
    "UBND": "ủy ban nhân dân",
    "HĐND": "hội đồng nhân dân",
    "MTTQ": "Mặt trận Tổ quốc",
    "CAND": "công an nhân dân",
    "CSGT": "cảnh sát giao thông",
    "PCCC": "phòng cháy chữa cháy",
    "CNCH": "cứu nạn cứu hộ",
    "PCTT": "phòng chống thiên tai",
    "TKCN": "tìm kiếm cứu nạn",
    "ATGT": "an toàn giao thông",
    "ATTP": "an toàn thực phẩm",
    "BHYT": "bảo hiểm y tế",
    "BHXH": "bảo hiểm xã hội",
    "CCCD": "căn cước công dân",
    "THCS": "trung học cơ sở",
    "THPT": "trung học phổ thông",
    "TTYT": "trung tâm y tế",
    "TYT": "trạm y tế",
    "HTX": "hợp tác xã",
    "GPMB": "giải phóng mặt bằng",
    "NĐ-CP": "nghị định của Chính phủ",
    "QĐ": "quyết định",
    "SĐT": "số điện thoại",
    "ĐT": "điện thoại",
    "TDP": "tổ dân phố",
    "KP": "khu phố",
    "CN": "chủ nhật",
    "VNĐ": "đồng",
    "VND": "đồng",
    "TP.": "thành phố",
    "Tp.": "thành phố",
    "TP": "thành phố",
    "TX.": "thị xã",
    "Q.": "quận",
    "P.": "phường",
    "Đ/c": "đồng chí",
    "đ/c": "đồng chí",
    "v.v.": "vân vân",
}

UNITS: Mapping[str, str] = {
    "km/h": "ki-lô-mét một giờ",
    "km2": "ki-lô-mét vuông",
    "km²": "ki-lô-mét vuông",
    "m2": "mét vuông",
    "m²": "mét vuông",
    "m3": "mét khối",
    "m³": "mét khối",
    "km": "ki-lô-mét",
    "cm": "xăng-ti-mét",
    "mm": "mi-li-mét",
    "kg": "ki-lô-gam",
    "ha": "héc-ta",
    "°C": "độ C",
    "kWh": "ki-lô-oát giờ",
    "kW": "ki-lô-oát",
    "kV": "ki-lô-vôn",
    "tấn": "tấn",
    "lít": "lít",
    "đồng": "đồng",
    "VNĐ": "đồng",
    "VND": "đồng",
    "đ": "đồng",
    "m": "mét",
    "g": "gam",
    "l": "lít",
}

_WEEKDAYS = {"2": "hai", "3": "ba", "4": "tư", "5": "năm", "6": "sáu", "7": "bảy"}
_MONTHS = {4: "tư"}
_B = r"(?<![\w.,])"  # no letter, digit, dot or comma just before
_E = r"(?![\w])"


def say_number(value: int) -> str:
    """An integer in words: 2026 → "hai nghìn không trăm hai mươi sáu"."""
    if value < 0:
        return "âm " + say_number(-value)
    if value < 1000:
        return str(num2words(value, lang="vi"))
    groups: list[int] = []
    while value:
        value, group = divmod(value, 1000)
        groups.append(group)
    if len(groups) > len(_GROUPS):
        return say_digits(str(value))
    words: list[str] = []
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            continue
        leading = index == len(groups) - 1
        words.append(_say_group(group, leading))
        if _GROUPS[index]:
            words.append(_GROUPS[index])
    return " ".join(words)


def _say_group(group: int, leading: bool) -> str:
    if leading or group >= 100:
        return str(num2words(group, lang="vi"))
    if group >= 10:
        return "không trăm " + str(num2words(group, lang="vi"))
    return "không trăm lẻ " + DIGITS[group]


def say_digits(text: str) -> str:
    """Digit by digit: "113" → "một một ba"."""
    return " ".join(DIGITS[int(ch)] for ch in text if ch.isdigit())


def say_decimal(text: str) -> str:
    """A number as written in Vietnamese: ``1.500.000`` (dots group thousands), ``2,5``
    (comma before decimals); a dot followed by other than three digits is a decimal point."""
    if re.fullmatch(r"\d+\.\d{1,2}", text):
        text = text.replace(".", ",")
    whole, _, fraction = text.replace(".", "").partition(",")
    words = say_number(int(whole))
    if fraction:
        spoken = say_digits(fraction) if fraction.startswith("0") else say_number(int(fraction))
        words += " phẩy " + spoken
    return words


def say_day(day: int) -> str:
    """Days 1 to 10 of a month take "mùng": "mùng năm", "mười lăm"."""
    return ("mùng " if day <= 10 else "") + say_number(day)


def say_month(month: int) -> str:
    """ "tháng tư", not "tháng bốn"."""
    return _MONTHS.get(month) or say_number(month)


# -- the rules, each a pattern and a function of its match ------------------------------------
_NUMBER = r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:[.,]\d+)?"


def _abbreviation(match: re.Match[str]) -> str:
    word = match.group(0)
    # "QĐ-UBND": the hyphen only joins the abbreviations; read them as words apart.
    return " " + ABBREVIATIONS[word[1:]] if word.startswith("-") else ABBREVIATIONS[word]


def _phone(match: re.Match[str]) -> str:
    text = re.sub(r"^\+84\s*", "0", match.group(0))
    groups = re.findall(r"\d+", text)
    if len(groups) == 1:
        digits = groups[0]
        cut = [4, 7] if len(digits) <= 10 else [4, 7, 10]
        groups = [digits[a:b] for a, b in zip([0, *cut], [*cut, None], strict=True)]
    return ", ".join(say_digits(group) for group in groups if group)


def _date(match: re.Match[str]) -> str:
    day, month, year = int(match["d"]), int(match["m"]), match["y"]
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return match.group(0)
    words = f"{match['pre'] or 'ngày'} {say_day(day)} tháng {say_month(month)}"
    if year:
        words += f" năm {say_number(int(year))}"
    return words


def _time(match: re.Match[str]) -> str:
    hour, minute = int(match["h"]), int(match["min"] or 0)
    if hour > 24 or minute > 59:
        return match.group(0)
    return f"{say_number(hour)} giờ" + (f" {say_number(minute)} phút" if minute else "")


def _weekday(match: re.Match[str]) -> str:
    return f"{match['word']} {_WEEKDAYS[match['n']]}"


def _percent(match: re.Match[str]) -> str:
    return f"{say_decimal(match['n'])} phần trăm"


def _unit(match: re.Match[str]) -> str:
    return f"{say_decimal(match['n'])} {UNITS[match['u']]}"


def _number(match: re.Match[str]) -> str:
    return say_decimal(match.group(0))


def _alternation(words: Mapping[str, str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str] | str]

RULES: tuple[Rule, ...] = (
    (re.compile(rf"-?(?<!\w)(?:{_alternation(ABBREVIATIONS)})(?!\w)"), _abbreviation),
    (
        re.compile(r"(?<![\d])(?:\+84[ .]?|0)\d{2,3}(?:[ .-]?\d{3,4}){2}(?![\d])"),
        _phone,
    ),
    (re.compile(r"(?<!\d)(?:1800|1900)[ .]?\d{4}(?!\d)"), _phone),
    (
        re.compile(
            rf"(?:(?P<pre>[Nn]gày)\s+)?{_B}(?P<d>\d{{1,2}})(?P<sep>[/-])(?P<m>\d{{1,2}})"
            rf"(?:(?P=sep)(?P<y>\d{{4}}))?(?![\d/])"
        ),
        _date,
    ),
    (
        re.compile(
            rf"(?:(?P<pre>[Nn]gày)\s+)?{_B}(?P<d>\d{{1,2}})\.(?P<m>\d{{1,2}})\.(?P<y>\d{{4}})(?!\d)"
        ),
        _date,
    ),
    (re.compile(r"(?<=[\dh'’])\s*[-–]\s*(?=\d)"), " đến "),
    (
        re.compile(
            rf"{_B}(?P<h>\d{{1,2}})\s*(?:h|giờ|:)\s*(?P<min>\d{{2}})?(?:\s*(?:phút|p|'|’)(?!\w))?{_E}"
        ),
        _time,
    ),
    (re.compile(r"(?P<word>[Tt]hứ)\s*(?P<n>[2-7])(?!\d)"), _weekday),
    (re.compile(rf"{_B}(?P<n>{_NUMBER})\s*%"), _percent),
    (re.compile(rf"{_B}(?P<n>{_NUMBER})\s*(?P<u>{_alternation(UNITS)}){_E}"), _unit),
    (re.compile(rf"{_B}(?:{_NUMBER})"), _number),
    (re.compile(r"\s*&\s*"), " và "),
    (re.compile(r"(?<=\w)/(?=[^\W\d_])"), " "),
    (re.compile(r"\s+"), " "),
)


def read_aloud(text: str) -> str:
    """``text`` with numbers, dates, times, phone numbers, units, percentages and common
    abbreviations written out in Vietnamese words (see the module docstring)."""
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text.strip()


class Formula(BaseModel):
    """How a commune opens and closes a broadcast.

    ``{issuer}``, ``{title}`` and ``{area}`` in ``opening`` and ``closing`` are replaced by
    the announcement's issuer (or ``issuer`` here when it names none), its title and the
    cluster's name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(default="Ủy ban nhân dân", max_length=200)
    opening: str = Field(
        default="Kính thưa bà con nhân dân! Sau đây là thông báo của {issuer}: {title}.",
        max_length=1000,
    )
    closing: str = Field(
        default="Trên đây là thông báo của {issuer}. Xin trân trọng thông báo!", max_length=1000
    )


def build_script(
    title: str,
    body: str,
    formula: Formula | None,
    *,
    issuer: str | None = None,
    area: str = "",
) -> str:
    """The script read on air: opening, body, closing (no formula when ``formula`` is None),
    all read aloud."""
    if formula is None:
        return read_aloud(body)
    values = {"issuer": issuer or formula.issuer, "title": title.rstrip(" .!"), "area": area}
    parts = [formula.opening.format_map(values), body, formula.closing.format_map(values)]
    return read_aloud(" ".join(part.strip() for part in parts if part.strip()))
