"""The directory with real imports: official areas, pre-2025 codes, bad rows and duplicates,
consent, erasure, export and search."""

from __future__ import annotations

from engine_helpers import announce, deliveries
from scripted import scripted

from dispatcher.areas import map_old_code, official_areas, old_codes
from dispatcher.contacts import parse_contacts
from dispatcher.errors import InvalidAddressError
from schemas import ConsentIn, DeliveryStatus

CSV = """\ufeffid,name,old_area_code,sms,email,tags
h1,Nguyễn Văn A,00001,0912 345 678,a@example.vn,ho-ngheo
h2,Trần Thị B,00006,0912345679,,
h3,Lê C,99999,0912345680,,
h4,Phạm D,00001,+84 912 345 678,,
h5,Võ E,00001,0123,,
h1,Nguyễn Văn A lặp,00001,0912000000,,
h6,Đỗ F,001,0912345681,,
"""


async def _official(d) -> None:
    loaded = await d.services.load_official_areas()
    assert 34 + 3321 == loaded


async def test_a_csv_with_old_codes_bad_rows_and_duplicates(dispatcher_factory) -> None:
    d = await dispatcher_factory({"sms": scripted("sms", normalize_address=_phone)})
    await _official(d)
    rows = parse_contacts(CSV, "csv")
    strict = await d.services.import_contacts(rows)
    assert (
        0 == strict.accepted
        and [] == (await d.services.store.list_contacts(after=None, limit=9)).items
    )
    report = await d.services.import_contacts(rows, partial=True)
    assert (2, 2) == (report.accepted, report.mapped)
    problems = dict(report.errors)
    assert [3, 4, 5, 6, 7] == sorted(problems)
    assert "'99999' is not a pre-2025 commune or province code" in problems[3]
    assert "row 1's (id 'h1')" in problems[4]
    assert problems[5].startswith("sms: ")
    assert "id 'h1' repeats row 1" == problems[6]
    assert "district codes have no successor" in problems[7]
    stored = await d.services.store.get_contacts(["h1", "h2"])
    # Phúc Xá (00001) joined Phường Hồng Hà (00097); Vĩnh Phúc (00006) joined Ngọc Hà (00008).
    assert {"h1": "00097", "h2": "00008"} == {k: c.area_code for k, c in stored.items()}
    assert "+84912345678" == stored["h1"].addresses["sms"]
    again = await d.services.import_contacts(
        [{"id": "h9", "area_code": "00097", "addresses": {"sms": "0912345678"}}]
    )
    assert [
        (
            1,
            "sms address belongs to contact 'h1' already: import the row with id 'h1' "
            "to update that person",
        )
    ] == again.errors


def _phone(self, address: str) -> str:
    digits = "".join(ch for ch in address if ch.isdigit())
    if digits.startswith("84"):
        digits = "0" + digits[2:]
    if len(digits) != 10:
        raise InvalidAddressError(f"{address!r} is not a mobile number")
    return "+84" + digits[1:]


def test_every_old_code_lands_on_an_official_area() -> None:
    official = {a.code for a in official_areas()}
    assert len(old_codes()) > 10_000
    assert {m.new_code for m in old_codes().values()} <= official
    assert "31" == map_old_code("30")  # Hải Dương merged into Hải Phòng
    assert map_old_code("001") is None


async def test_areas_are_found_with_or_without_tone_marks(dispatcher_factory) -> None:
    d = await dispatcher_factory()
    await _official(d)
    marked = [a.code for a in await d.services.search_areas("Ba Đình")]
    bare = [a.code for a in await d.services.search_areas("ba dinh")]
    assert "00004" in marked and marked == bare
    report = await d.services.import_areas(
        [{"code": "00004-TDP5", "name": "Tổ dân phố 5", "parent_code": "00004"}]
    )
    assert report.ok
    bad = await d.services.import_areas([{"code": "X-1", "name": "Xóm 1", "parent_code": "nope"}])
    assert [(1, "parent_code 'nope' is not an area: import it first")] == bad.errors


async def test_a_stop_reply_and_an_operator_write_consent_with_time_and_source(
    dispatcher_factory,
) -> None:
    d = await dispatcher_factory()
    await d.services.import_contacts(
        [{"id": "p1", "addresses": {"sms": "+84912345678"}, "opt_outs": []}]
    )
    await d.services.opt_out("sms", "+84912345678", "sms-reply:TU CHOI")
    details = await d.services.contact_details("p1")
    assert ["sms"] == details.contact.opt_outs
    [consent] = details.consents
    assert (False, "sms-reply:TU CHOI") == (consent.opted_in, consent.source)
    await d.services.set_consent("p1", "sms", ConsentIn(opted_in=True, source="gọi điện UBND"))
    details = await d.services.contact_details("p1")
    assert [] == details.contact.opt_outs
    assert set() == await d.services.store.opted_out("sms", ["+84912345678"])
    # A re-import cannot opt the person back out silently, nor in.
    await d.services.import_contacts([{"id": "p1", "addresses": {"sms": "+84912345678"}}])
    assert [] == (await d.services.contact_details("p1")).contact.opt_outs


async def test_erasure_removes_the_person_and_keeps_the_statistics(dispatcher_factory) -> None:
    d = await dispatcher_factory()
    await d.services.import_contacts(
        [
            {
                "id": "p1",
                "name": "Nguyễn Văn A",
                "area_code": "01",
                "addresses": {"sms": "+84912345678"},
            },
            {"id": "p2", "name": "Trần B", "area_code": "01", "addresses": {"sms": "+84912345679"}},
        ]
    )
    ann = await announce(d)
    await d.run(until_idle=True)
    await d.services.erase_contact("p1")
    details = await d.services.contact_details("p1")
    assert details.erased and "" == details.contact.name and {} == details.contact.addresses
    found = await deliveries(d, ann.id)
    assert [DeliveryStatus.SENT, DeliveryStatus.SENT] == [x.status for x in found]
    assert ["+84912345679"] == [x.address for x in found if x.contact_id == "p2"]
    assert all("+84912345678" not in x.address for x in found)
    assert {"sms": {"sent": 2}} == (await d.services.get_announcement(ann.id)).counts
    assert ["p2"] == [c.id async for c in d.services.export_contacts()]
    later = await announce(d)
    await d.run(until_idle=True)
    assert ["p2"] == [x.contact_id for x in await deliveries(d, later.id)]
