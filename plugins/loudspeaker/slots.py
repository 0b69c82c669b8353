"""Placing broadcast repeats into slots: pure functions, no I/O, no clock.

A cluster broadcasts in daily slots (06:00–06:30, 17:00–17:30 local time). :func:`occurrences`
turns those into concrete slots; :func:`plan` places every repeat of every item into them:

- items are taken by priority rank (emergency 0 … bulk 3), then in the order they came;
- each repeat goes to the first slot, not before the time it wants, whose free room (the
  slot's length less what is already in it, ``gap`` seconds between items) holds it, so an
  item of higher priority goes first in its slot and one of lower priority takes what room
  is left, moving on to a later slot when there is none;
- the repeats of one item go to distinct slots, in order;
- a repeat that would end after the item's deadline (its ``expires_at``), or finds no room
  among the slots given, is reported unplaced with the reason, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EXPIRED = "expired"
NO_ROOM = "no_room"


@dataclass(frozen=True, slots=True, order=True)
class DailySlot:
    """A daily broadcast window in local time; ``end`` after ``start`` on the same day."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"slot {self} ends before it starts: write it as 06:00-06:30")

    @classmethod
    def parse(cls, text: str) -> DailySlot:
        """``"06:00-06:30"`` (or with an en dash) → a slot.

        Raises:
            ValueError: not two HH:MM times, or the end is not after the start.
        """
        parts = text.replace("–", "-").split("-")
        try:
            start, end = (time.fromisoformat(part.strip()) for part in parts)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a slot: write it as 06:00-06:30") from exc
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class Slot:
    """One concrete slot, aware datetimes."""

    start: datetime
    end: datetime

    @property
    def capacity(self) -> float:
        """The slot's length in seconds."""
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class Request:
    """An item to place: ``wanted`` holds, per repeat, the earliest time it may play.

    Attributes:
        item: the item's key (a delivery id).
        rank: priority rank, 0 (emergency) first.
        order: arrival order among items of one rank.
        duration: seconds of audio.
        wanted: per repeat, the earliest start; a repeat never plays before it.
        deadline: nothing of the item may still play at this time (None: no limit).
    """

    item: str
    rank: int
    order: int
    duration: float
    wanted: tuple[datetime, ...]
    deadline: datetime | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Repeat ``repeat`` (0-based) of ``item`` plays ``offset`` seconds into slot ``slot``.

    ``moved`` says it went to a later slot than the first one it wanted, for want of room.
    """

    item: str
    repeat: int
    slot: int
    offset: float
    moved: bool


@dataclass(frozen=True, slots=True)
class Unplaced:
    """A repeat that found no slot: ``reason`` is :data:`EXPIRED` or :data:`NO_ROOM`."""

    item: str
    repeat: int
    reason: str


@dataclass
class Plan:
    """Where every repeat went."""

    placements: list[Placement] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)


def occurrences(
    daily: Iterable[DailySlot], zone: ZoneInfo, after: datetime, days: int
) -> list[Slot]:
    """The slots of ``daily`` that start after ``after``, for ``days`` local days from its
    date, in time order."""
    first: date = after.astimezone(zone).date()
    found: list[Slot] = []
    for n in range(days + 1):
        day = first + timedelta(days=n)
        for slot in sorted(set(daily)):
            start = datetime.combine(day, slot.start, zone)
            if start > after:
                found.append(Slot(start, datetime.combine(day, slot.end, zone)))
    return found


def plan(slots: Sequence[Slot], requests: Iterable[Request], gap: float = 0.0) -> Plan:
    """Place every repeat of ``requests`` into ``slots`` (in time order); see the module doc."""
    used = [0.0] * len(slots)
    result = Plan()
    for request in sorted(requests, key=lambda r: (r.rank, r.order, r.item)):
        previous = -1
        for repeat, wanted in enumerate(request.wanted):
            first = _first_slot(slots, wanted, previous + 1)
            found = _room(slots, used, request, first)
            if isinstance(found, str):
                result.unplaced.append(Unplaced(request.item, repeat, found))
                continue
            result.placements.append(
                Placement(request.item, repeat, found, used[found], moved=found != first)
            )
            used[found] += request.duration + gap
            previous = found
    return result


def _first_slot(slots: Sequence[Slot], wanted: datetime, lowest: int) -> int:
    index = lowest
    while index < len(slots) and slots[index].start < wanted:
        index += 1
    return index


def _room(slots: Sequence[Slot], used: list[float], request: Request, first: int) -> int | str:
    """The first slot from ``first`` with room for ``request``, or why there is none."""
    # Slots do not overlap, so once a slot is too late every later one is too.
    for index in range(first, len(slots)):
        slot = slots[index]
        if used[index] + request.duration > slot.capacity:
            if _too_late(request, slot.start, request.duration):
                return EXPIRED
            continue
        if _too_late(request, slot.start, used[index] + request.duration):
            return EXPIRED
        return index
    return NO_ROOM


def _too_late(request: Request, start: datetime, seconds: float) -> bool:
    return request.deadline is not None and start + timedelta(seconds=seconds) > request.deadline
