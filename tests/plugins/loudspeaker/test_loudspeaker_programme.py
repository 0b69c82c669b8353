"""The day's programme of a commune, from the API, as JSON, text and printable HTML."""

from __future__ import annotations

from typing import Any

from loudspeaker_helpers import Controller, LoudFactory


async def programme(loud: Any, shape: str, commune: str = "00004") -> Any:
    answer = await loud.client.get(
        "/v1/loudspeaker/programme",
        params={"commune": commune, "date": "2026-03-02", "format": shape},
        headers={"Authorization": f"Bearer {loud.admin}"},
    )
    assert 200 == answer.status, await answer.text()
    return await answer.json() if shape == "json" else await answer.text()


async def scheduled(loud_factory: LoudFactory, controller: Controller) -> Any:
    loud = await loud_factory()
    for cid, area in (("loa-bd-1", "00004"), ("loa-tdp-1", "00004-tdp1"), ("loa-nh", "00008")):
        await loud.clusters(
            {
                "id": cid,
                "name": f"Cụm {cid}",
                "area_code": area,
                "transport": "http",
                "endpoint": controller.url,
            }
        )
    await loud.announce(title="Lịch cắt điện <khu A>")
    await loud.announce(title="Cháy rừng", priority="emergency")
    return loud


async def test_the_programme_lists_each_cluster_of_the_commune_slot_by_slot(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await scheduled(loud_factory, controller)
    found = await programme(loud, "json")
    assert ["loa-bd-1", "loa-tdp-1"] == [c["id"] for c in found["clusters"]]
    first = found["clusters"][0]
    assert [("06:00", []), ("17:00", ["Lịch cắt điện <khu A>"])] == [
        (slot["start"], [p["title"] for p in slot["plays"]]) for slot in first["slots"]
    ]
    assert [("07:00:00", "Cháy rừng", True)] == [
        (p["at"], p["title"], p["interrupt"]) for p in first["interrupts"]
    ]


async def test_the_printed_programme_reads_in_vietnamese(
    loud_factory: LoudFactory, controller: Controller, espeak: None
) -> None:
    loud = await scheduled(loud_factory, controller)
    text = await programme(loud, "text")
    assert "Chương trình phát thanh ngày 2026-03-02 — địa bàn 00004" in text
    assert "  phát ngay  07:00:00  Cháy rừng (" in text
    assert "lần 1/1; KHẨN CẤP, sẽ phát)" in text
    html = await programme(loud, "html")
    assert "Lịch cắt điện &lt;khu A&gt;" in html
    assert "<khu A>" not in html


async def test_the_programme_needs_an_api_key(loud_factory: LoudFactory) -> None:
    loud = await loud_factory()
    answer = await loud.client.get(
        "/v1/loudspeaker/programme", params={"commune": "00004", "date": "2026-03-02"}
    )
    assert 401 == answer.status
