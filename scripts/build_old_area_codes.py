"""Build ``dispatcher/data/old_area_codes.csv``: pre-2025 area codes → today's codes.

Source: the ``vietnamadminunits`` package (MIT, © 2025 Tran Ngoc Minh Hieu), whose
``converter_2025.json`` maps each of the 10,040 pre-2025 communes to the commune(s) it became
and ``dataset.db`` gives both lists with their official codes. It needs shapely and geopy
at runtime, so thongbao ships only the table this script derives from its data files::

    pip download --no-deps vietnamadminunits -d /tmp/vau && cd /tmp/vau && unzip -q *.whl
    python scripts/build_old_area_codes.py /tmp/vau/vietnamadminunits/data

A commune split between several new ones maps to the one the source marks as default (the
one that took most of it); the ``split`` column says so. Old provinces map to the province
they merged into. District codes have no successor (districts were abolished) and are left out.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import sys
from pathlib import Path

from vietnam_provinces import Province, Ward

from dispatcher.text import fold

OUT = Path(__file__).resolve().parent.parent / "dispatcher" / "data" / "old_area_codes.csv"


def main(data: Path) -> None:
    db = sqlite3.connect(data / "dataset.db")
    converter = json.loads((data / "converter_2025.json").read_text(encoding="utf-8"))
    # The two packages agree on most codes; where not, the name within the province decides,
    # so every target is a code of ``vietnam-provinces`` (the list thongbao loads).
    official = {
        (f"{int(w.province_code):02d}", fold(w.name)): f"{int(w.code):05d}" for w in Ward.iter_all()
    }
    new_ward = {
        (p, w): official.get((pcode, fold(name)), code)
        for p, w, code, pcode, name in db.execute(
            "SELECT provinceKey, wardKey, wardCode, provinceCode, ward FROM admin_units"
        )
    }
    new_province = dict(db.execute("SELECT DISTINCT provinceKey, provinceCode FROM admin_units"))
    old_ward = {
        f"{p}_{d}_{w}": code
        for p, d, w, code in db.execute(
            "SELECT provinceKey, districtKey, wardKey, wardCode FROM admin_units_legacy"
        )
    }
    old_province = dict(
        db.execute("SELECT DISTINCT provinceKey, provinceCode FROM admin_units_legacy")
    )
    rows: dict[str, tuple[str, str, str]] = {}
    for province, olds in converter["DICT_PROVINCE"].items():
        for old in olds:
            rows[old_province[old]] = (new_province[province], "province", "")
    for province, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for ward, olds in wards.items():
            for old in olds:
                if old in old_ward and (province, ward) in new_ward:
                    rows[old_ward[old]] = (new_ward[(province, ward)], "commune", "")
    for province, splits in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old, targets in splits.items():
            default = next(t for t in targets if t["isDefaultNewWard"])
            if old in old_ward and (province, default["newWardKey"]) in new_ward:
                rows[old_ward[old]] = (
                    new_ward[(province, default["newWardKey"])],
                    "commune",
                    "split",
                )
    targets = set(official.values()) | {f"{int(p.code):02d}" for p in Province.iter_all()}
    dropped = sorted(old for old, (new, _, _) in rows.items() if new not in targets)
    for old in dropped:
        del rows[old]
    print(f"left out, no official successor found: {', '.join(dropped)}", file=sys.stderr)
    with OUT.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["old_code", "new_code", "level", "split"])
        for old_code in sorted(rows):
            writer.writerow([old_code, *rows[old_code]])
    print(f"{len(rows)} codes written to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
