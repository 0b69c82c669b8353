"""Plugins' documents and leases in the SQLite store, area lineage, released announcements."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from store_helpers import T0, announce

from dispatcher.clock import FakeClock
from dispatcher.state import LeaseTimeoutError, PluginState
from dispatcher.store import SQLiteStore
from schemas import AnnouncementStatus, Area


async def test_a_document_round_trips_and_counts_its_versions(store: SQLiteStore) -> None:
    assert await store.state_get("zalo", "token") is None
    assert 1 == await store.state_put("zalo", "token", {"access": "á"}, now=T0)
    assert 2 == await store.state_put("zalo", "token", {"access": "b"}, now=T0)
    entry = await store.state_get("zalo", "token")
    assert entry is not None
    assert ({"access": "b"}, 2, T0) == (entry.value, entry.version, entry.updated_at)
    assert await store.state_get("web", "token") is None


async def test_a_stale_version_does_not_overwrite(store: SQLiteStore) -> None:
    assert 1 == await store.state_put("zalo", "t", {"n": 1}, now=T0, expect_version=0)
    assert await store.state_put("zalo", "t", {"n": 2}, now=T0, expect_version=0) is None
    assert 2 == await store.state_put("zalo", "t", {"n": 3}, now=T0, expect_version=1)
    assert await store.state_put("zalo", "t", {"n": 4}, now=T0, expect_version=1) is None
    entry = await store.state_get("zalo", "t")
    assert entry is not None and {"n": 3} == entry.value


async def test_items_page_through_one_prefix_of_one_namespace(store: SQLiteStore) -> None:
    state = PluginState(store, "web", FakeClock(T0))
    for n in range(25):
        await state.put(f"sub:{n:03}", {"n": n})
    await state.put("other", {})
    await store.state_put("zalo", "sub:999", {}, now=T0)
    keys = [e.key async for e in state.items("sub:", page=10)]
    assert [f"sub:{n:03}" for n in range(25)] == keys
    assert await state.delete("sub:000")
    assert not await state.delete("sub:000")


async def test_a_lease_is_held_by_one_process_at_a_time(tmp_path: Path) -> None:
    first, second = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    await first.open()
    await second.open()
    try:
        a, b = PluginState(first, "zalo"), PluginState(second, "zalo")
        inside: list[str] = []
        peak = 0

        async def hold(state: PluginState, who: str) -> None:
            nonlocal peak
            async with state.lease("refresh", wait=5):
                inside.append(who)
                peak = max(peak, len(inside))
                await asyncio.sleep(0.05)
                inside.remove(who)

        await asyncio.gather(*(hold(s, str(i)) for i, s in enumerate([a, b, a, b])))
        assert 1 == peak
    finally:
        await first.close()
        await second.close()


async def test_a_dead_holders_lease_expires(store: SQLiteStore) -> None:
    clock = FakeClock(T0)
    assert await store.acquire_lease(
        "zalo:refresh", "dead", now=T0, until=T0 + timedelta(seconds=30)
    )
    state = PluginState(store, "zalo", clock)
    with pytest.raises(LeaseTimeoutError, match="stuck worker"):
        async with state.lease("refresh", wait=0.1):
            pass
    clock.advance(31)
    async with state.lease("refresh", wait=0.1):
        assert not await store.acquire_lease(
            "zalo:refresh", "dead", now=clock.now(), until=clock.now() + timedelta(seconds=30)
        )


async def test_areas_have_subtrees_and_lineage(store: SQLiteStore) -> None:
    await store.upsert_areas(
        [
            Area(code="01", name="Hà Nội"),
            Area(code="00004", name="Ba Đình", parent_code="01"),
            Area(code="00004-T1", name="Tổ 1", parent_code="00004"),
            Area(code="79", name="Hồ Chí Minh"),
        ]
    )
    assert {"01", "00004", "00004-T1"} == await store.area_subtree(["01"])
    assert ["00004-T1", "00004", "01"] == await store.area_lineage("00004-T1")
    assert ["zz"] == await store.area_lineage("zz")


async def test_released_announcements_leave_out_unreleased(store: SQLiteStore) -> None:
    await announce(store, "a1", status=AnnouncementStatus.FANNING_OUT)
    await announce(store, "a2")
    await announce(store, "a3", status=AnnouncementStatus.FANNING_OUT)
    page = await store.released_announcements(after=None, limit=1)
    assert (["a3"], "a3") == ([a.id for a in page.items], page.next_cursor)
    page = await store.released_announcements(after="a3", limit=5)
    assert (["a1"], None) == ([a.id for a in page.items], page.next_cursor)
