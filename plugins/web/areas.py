"""Names of Vietnam's official areas for people (pages, CAP ``areaDesc``).

Province codes have two digits, commune codes five (the 2025 list of ``vietnam-provinces``);
any other code is shown as it is.
"""

from __future__ import annotations

from functools import lru_cache

from vietnam_provinces import Province, Ward
from vietnam_provinces.codes import ProvinceCode, WardCode


@lru_cache(maxsize=4096)
def area_name(code: str) -> str | None:
    """The official name of ``code``, or None when it is not an official code."""
    if not code.isdigit():
        return None
    try:
        if len(code) == 2:
            return str(Province.from_code(ProvinceCode(int(code))).name)
        if len(code) == 5:
            return str(Ward.from_code(WardCode(int(code))).name)
    except (ValueError, KeyError, LookupError):
        return None
    return None


def area_label(code: str) -> str:
    """``"Phường Sài Gòn (26740)"``, or the bare code."""
    name = area_name(code)
    return f"{name} ({code})" if name else code
