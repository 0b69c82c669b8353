"""Vietnam's administrative units since the 2025 reorganisation, and pre-2025 codes mapped
onto them.

The official list (34 provinces, 3,321 communes) comes from the ``vietnam-provinces``
package; the old codes from ``data/old_area_codes.csv`` (see ``scripts/
build_old_area_codes.py`` for where it comes from). Province codes have two digits, commune
codes five.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from vietnam_provinces import Province, Ward

from schemas import Area


def official_areas() -> list[Area]:
    """Every province, then every commune under its province."""
    provinces = [Area(code=f"{int(p.code):02d}", name=p.name) for p in Province.iter_all()]
    communes = [
        Area(
            code=f"{int(w.code):05d}",
            name=w.name,
            parent_code=f"{int(w.province_code):02d}",
        )
        for w in Ward.iter_all()
    ]
    return provinces + communes


@dataclass(frozen=True)
class OldCode:
    """Where a pre-2025 code went: ``split`` when the old commune was divided and this is
    the part most of it joined."""

    new_code: str
    level: str
    split: bool


@cache
def old_codes() -> dict[str, OldCode]:
    """Pre-2025 commune and province codes → today's."""
    text = resources.files("dispatcher").joinpath("data/old_area_codes.csv").read_text("utf-8")
    return {
        row["old_code"]: OldCode(row["new_code"], row["level"], row["split"] == "split")
        for row in csv.DictReader(text.splitlines())
    }


def map_old_code(code: str) -> str | None:
    """Today's code for a pre-2025 commune or province code, or None if it is not one."""
    found = old_codes().get(code.strip())
    return None if found is None else found.new_code
