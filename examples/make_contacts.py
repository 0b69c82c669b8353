"""Generate ``examples/contacts.csv``: 1,000 made-up residents of the communes in
``examples/areas.csv``, for the README's first announcement.

Deterministic: the same seed writes the same file, byte for byte. Every person and address
is invented; e-mail addresses use the reserved ``example.*`` domains.

Usage::

    python examples/make_contacts.py [--count 1000] [--seed 2025] [--out examples/contacts.csv]
"""

from __future__ import annotations

import argparse
import csv
import random
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Family names, weighted roughly by how common they are in Viet Nam.
FAMILY = {
    "Nguyễn": 38,
    "Trần": 11,
    "Lê": 9,
    "Phạm": 7,
    "Hoàng": 4,
    "Huỳnh": 3,
    "Phan": 4,
    "Vũ": 3,
    "Võ": 3,
    "Đặng": 2,
    "Bùi": 2,
    "Đỗ": 2,
    "Hồ": 2,
    "Ngô": 2,
    "Dương": 1,
    "Lý": 1,
}
MIDDLE_MALE = ["Văn", "Hữu", "Đức", "Minh", "Quang", "Thanh", "Công", "Xuân", "Gia", "Anh"]
MIDDLE_FEMALE = ["Thị", "Ngọc", "Thu", "Thanh", "Minh", "Kim", "Bảo", "Phương", "Mai", "Diệu"]
GIVEN_MALE = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Duy",
    "Hải",
    "Hiếu",
    "Hùng",
    "Khang",
    "Khoa",
    "Kiên",
    "Long",
    "Lộc",
    "Nam",
    "Nghĩa",
    "Phong",
    "Phúc",
    "Quân",
    "Sơn",
    "Tài",
    "Thắng",
    "Thịnh",
    "Toàn",
    "Trung",
    "Tuấn",
    "Việt",
    "Vinh",
    "Hoàng",
    "Đạt",
    "Huy",
]
GIVEN_FEMALE = [
    "Anh",
    "Chi",
    "Dung",
    "Giang",
    "Hà",
    "Hạnh",
    "Hằng",
    "Hoa",
    "Hương",
    "Lan",
    "Liên",
    "Linh",
    "Loan",
    "Mai",
    "My",
    "Nga",
    "Ngân",
    "Nhung",
    "Oanh",
    "Phương",
    "Quỳnh",
    "Tâm",
    "Thảo",
    "Thủy",
    "Trang",
    "Trinh",
    "Uyên",
    "Vân",
    "Xuân",
    "Yến",
]
# Mobile prefixes in use: Viettel, VinaPhone, MobiFone, Vietnamobile, Gmobile.
MOBILE_PREFIXES = [
    "086",
    "096",
    "097",
    "098",
    "032",
    "033",
    "034",
    "035",
    "036",
    "037",
    "038",
    "039",
    "088",
    "091",
    "094",
    "081",
    "082",
    "083",
    "084",
    "085",
    "090",
    "093",
    "070",
    "076",
    "077",
    "078",
    "079",
    "092",
    "056",
    "058",
    "059",
]
TAGS = ["tieu-thuong", "giao-vien", "y-te", "can-bo", "nguoi-cao-tuoi", "thanh-nien", "ngu-dan"]
EMAIL_DOMAINS = ["example.com", "example.net", "example.org"]
COLUMNS = ["id", "name", "area_code", "tags", "language", "sms", "email", "zalo"]


def ascii_fold(text: str) -> str:
    """ "Nguyễn Thị Đào" → "nguyen thi dao"."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def communes(areas_csv: Path) -> list[str]:
    """Codes of the areas that have a parent (communes and wards)."""
    with areas_csv.open(encoding="utf-8", newline="") as handle:
        return [row["code"] for row in csv.DictReader(handle) if row["parent_code"]]


def person_name(rng: random.Random) -> str:
    family = rng.choices(list(FAMILY), weights=list(FAMILY.values()))[0]
    if rng.random() < 0.5:
        return f"{family} {rng.choice(MIDDLE_MALE)} {rng.choice(GIVEN_MALE)}"
    return f"{family} {rng.choice(MIDDLE_FEMALE)} {rng.choice(GIVEN_FEMALE)}"


def mobile_number(rng: random.Random, taken: set[str]) -> str:
    while True:
        number = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}"
        if number not in taken:
            taken.add(number)
            return number


def email_address(rng: random.Random, name: str, index: int) -> str:
    parts = ascii_fold(name).split()
    local = f"{parts[-1]}.{''.join(p[0] for p in parts[:-1])}{index}"
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def contact_row(
    rng: random.Random, index: int, areas: list[str], phones: set[str]
) -> dict[str, str]:
    name = person_name(rng)
    phone = mobile_number(rng, phones)
    tags = sorted(rng.sample(TAGS, k=rng.choice([0, 0, 1, 1, 1, 2])))
    return {
        "id": f"c{index:04d}",
        "name": name,
        "area_code": areas[index % len(areas)],
        "tags": ";".join(tags),
        "language": "en" if rng.random() < 0.03 else "vi",
        "sms": phone,
        "email": email_address(rng, name, index) if rng.random() < 0.4 else "",
        # Zalo reaches people by the phone number their account is registered with.
        "zalo": phone,
    }


def generate(count: int, seed: int, areas: list[str]) -> list[dict[str, str]]:
    """``count`` contacts spread evenly over ``areas``."""
    rng = random.Random(seed)
    phones: set[str] = set()
    return [contact_row(rng, i, areas, phones) for i in range(1, count + 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--areas", type=Path, default=HERE / "areas.csv")
    parser.add_argument("--out", type=Path, default=HERE / "contacts.csv")
    args = parser.parse_args()
    rows = generate(args.count, args.seed, communes(args.areas))
    with args.out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} contacts to {args.out}")


if __name__ == "__main__":
    main()
