"""Slot scheduling: examples, then hypothesis properties over random programmes."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.loudspeaker.slots import (
    EXPIRED,
    NO_ROOM,
    DailySlot,
    Placement,
    Plan,
    Request,
    Slot,
    Unplaced,
    occurrences,
    plan,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
DAILY = [DailySlot(time(6), time(6, 30)), DailySlot(time(17), time(17, 30))]
MORNING = datetime(2026, 3, 2, 5, 0, tzinfo=HCM)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=HCM)


def request(item: str, rank: int = 2, order: int = 0, duration: float = 600, **kw) -> Request:
    wanted = kw.pop("wanted", (MORNING,))
    return Request(item, rank, order, duration, tuple(wanted), **kw)


def test_occurrences_start_after_the_given_time_in_local_time() -> None:
    found = occurrences(DAILY, HCM, at(2, 6, 10), days=1)
    assert [at(2, 17), at(3, 6), at(3, 17)] == [slot.start for slot in found]
    assert 1800 == found[0].capacity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("06:00-06:30", DailySlot(time(6), time(6, 30)), id="dash"),
        pytest.param("17:00 – 17:30", DailySlot(time(17), time(17, 30)), id="en-dash"),
    ],
)
def test_daily_slots_are_parsed(text: str, expected: DailySlot) -> None:
    assert expected == DailySlot.parse(text)


@pytest.mark.parametrize("text", ["06:30-06:00", "6h-7h", "06:00"])
def test_bad_daily_slots_are_refused_with_advice(text: str) -> None:
    with pytest.raises(ValueError, match="06:00-06:30"):
        DailySlot.parse(text)


def test_normal_items_fill_the_next_free_room_then_move_on() -> None:
    slots = occurrences(DAILY, HCM, MORNING, days=0)
    result = plan(slots, [request("a", order=1), request("b", order=2), request("c", order=3)])
    assert [
        Placement("a", 0, 0, 0.0, moved=False),
        Placement("b", 0, 0, 600.0, moved=False),
        Placement("c", 0, 0, 1200.0, moved=False),
    ] == result.placements
    more = plan(slots, [request(x, order=n) for n, x in enumerate("abcd")])
    assert Placement("d", 0, 1, 0.0, moved=True) == more.placements[-1]


def test_priority_items_go_first_and_push_normal_ones_to_the_next_slot() -> None:
    slots = occurrences(DAILY, HCM, MORNING, days=0)
    normal = [request(f"n{n}", order=n) for n in range(3)]
    result = plan(slots, [*normal, request("urgent", rank=1, order=9)])
    first = [(p.item, p.offset) for p in result.placements if p.slot == 0]
    assert [("urgent", 0.0), ("n0", 600.0), ("n1", 1200.0)] == first
    assert Placement("n2", 0, 1, 0.0, moved=True) in result.placements


def test_repeats_go_to_distinct_slots_in_order() -> None:
    slots = occurrences(DAILY, HCM, MORNING, days=1)
    result = plan(slots, [request("a", duration=60, wanted=(MORNING,) * 3)])
    assert [0, 1, 2] == [p.slot for p in result.placements]


def test_repeats_after_the_deadline_are_reported_expired() -> None:
    slots = occurrences(DAILY, HCM, MORNING, days=2)
    item = request("a", duration=60, wanted=(MORNING,) * 3, deadline=at(2, 12))
    result = plan(slots, [item])
    assert [0] == [p.slot for p in result.placements]
    assert [Unplaced("a", 1, EXPIRED), Unplaced("a", 2, EXPIRED)] == result.unplaced


def test_a_repeat_longer_than_every_slot_is_reported_without_room() -> None:
    slots = occurrences(DAILY, HCM, MORNING, days=0)
    assert [Unplaced("a", 0, NO_ROOM)] == plan(slots, [request("a", duration=3600)]).unplaced


# -- properties -----------------------------------------------------------------------------
DAILY_CHOICES = st.lists(
    st.builds(
        lambda hour, minutes: DailySlot(time(hour), time(hour, minutes)),
        st.integers(0, 23),
        st.integers(1, 59),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda s: s.start.hour,
)


@st.composite
def programmes(draw: st.DrawFn) -> tuple[list[Slot], list[Request], float]:
    start = MORNING + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    slots = occurrences(draw(DAILY_CHOICES), HCM, start, days=draw(st.integers(0, 3)))
    requests = []
    for n in range(draw(st.integers(0, 12))):
        wanted = sorted(
            start + timedelta(hours=h) for h in draw(st.lists(st.integers(0, 72), max_size=4))
        )
        deadline = draw(st.none() | st.integers(1, 96).map(lambda h: start + timedelta(hours=h)))
        requests.append(
            Request(
                item=f"i{n}",
                rank=draw(st.integers(0, 3)),
                order=draw(st.integers(0, 5)),
                duration=draw(st.floats(1, 1200)),
                wanted=tuple(wanted),
                deadline=deadline,
            )
        )
    return slots, requests, draw(st.sampled_from([0.0, 2.0]))


def _by_slot(result: Plan, requests: dict[str, Request]) -> dict[int, list[Placement]]:
    found: dict[int, list[Placement]] = defaultdict(list)
    for placement in result.placements:
        found[placement.slot].append(placement)
    return found


@settings(max_examples=150, deadline=None)
@given(programmes())
def test_no_slot_is_over_capacity(programme: tuple[list[Slot], list[Request], float]) -> None:
    slots, requests, gap = programme
    index = {r.item: r for r in requests}
    for slot, placed in _by_slot(plan(slots, requests, gap), index).items():
        last = max(placed, key=lambda p: p.offset)
        assert last.offset + index[last.item].duration <= slots[slot].capacity + 1e-6
        durations = sum(index[p.item].duration for p in placed)
        assert durations + gap * (len(placed) - 1) <= slots[slot].capacity + 1e-6


@settings(max_examples=150, deadline=None)
@given(programmes())
def test_every_repeat_is_placed_or_reported(
    programme: tuple[list[Slot], list[Request], float],
) -> None:
    slots, requests, gap = programme
    result = plan(slots, requests, gap)
    expected = {(r.item, n) for r in requests for n in range(len(r.wanted))}
    placed = [(p.item, p.repeat) for p in result.placements]
    reported = [(u.item, u.repeat) for u in result.unplaced]
    assert expected == set(placed) | set(reported)
    assert len(expected) == len(placed) + len(reported)


@settings(max_examples=150, deadline=None)
@given(programmes())
def test_repeats_play_in_time_in_distinct_slots(
    programme: tuple[list[Slot], list[Request], float],
) -> None:
    slots, requests, gap = programme
    index = {r.item: r for r in requests}
    result = plan(slots, requests, gap)
    for placement in result.placements:
        request = index[placement.item]
        starts = slots[placement.slot].start + timedelta(seconds=placement.offset)
        assert starts >= request.wanted[placement.repeat]
        if request.deadline is not None:
            assert starts + timedelta(seconds=request.duration) <= request.deadline
    for item in index:
        mine = [p.slot for p in result.placements if p.item == item]
        assert mine == sorted(set(mine))


@settings(max_examples=150, deadline=None)
@given(programmes())
def test_priorities_are_respected(programme: tuple[list[Slot], list[Request], float]) -> None:
    """In a slot, higher priority plays first; and a repeat passed over a slot only when the
    items of its own or higher priority left no room there for it."""
    slots, requests, gap = programme
    index = {r.item: r for r in requests}
    result = plan(slots, requests, gap)
    key = {r.item: (r.rank, r.order, r.item) for r in requests}
    for placed in _by_slot(result, index).values():
        in_order = sorted(placed, key=lambda p: p.offset)
        assert [key[p.item] for p in in_order] == sorted(key[p.item] for p in in_order)
    for p in result.placements:
        ahead = [q for q in result.placements if key[q.item] < key[p.item]]
        request = index[p.item]
        earlier = [q.slot for q in result.placements if q.item == p.item and q.repeat < p.repeat]
        for skipped in range(max(earlier, default=-1) + 1, p.slot):
            if slots[skipped].start < request.wanted[p.repeat]:
                continue
            load = sum(index[q.item].duration + gap for q in ahead if q.slot == skipped)
            assert load + request.duration > slots[skipped].capacity, (p, skipped)
