"""A cluster's schedule: the document ``schedule:<cluster id>`` and what changes it.

Everything here is pure: functions take the document and the time and change the document;
the :mod:`~plugins.loudspeaker.broadcast` module loads, saves and pushes it.

An *item* is one delivery (one announcement on one cluster); each of its *plays* is one
repeat. A play is ``scheduled`` (with a time, in a slot or, for an emergency, at once),
``waiting`` (no room yet: placed again at each change), or final: ``played``, ``failed``,
``missed`` (no report in time), ``expired`` (``expires_at`` came first) or ``cancelled``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatcher import Priority
from plugins.loudspeaker.slots import EXPIRED, Request, Slot, plan

PlayStatus = Literal["scheduled", "waiting", "played", "failed", "missed", "expired", "cancelled"]
FINAL = frozenset({"played", "failed", "missed", "expired", "cancelled"})


class Play(BaseModel):
    """One repeat of an item."""

    model_config = ConfigDict(extra="forbid")

    n: int
    wanted: datetime
    status: PlayStatus = "waiting"
    at: datetime | None = None
    slot_start: datetime | None = None
    slot_end: datetime | None = None
    interrupt: bool = False
    moved: bool = False
    reason: str | None = None
    reported_at: datetime | None = None


class Item(BaseModel):
    """One delivery on the cluster.

    ``provider_id`` is what receipts name (None for the sandbox, which sends its own);
    ``receipt`` is the receipt already handed over (``delivered`` or ``failed``).
    """

    model_config = ConfigDict(extra="forbid")

    delivery_id: str
    announcement_id: str
    provider_id: str | None
    title: str
    priority: Priority
    script: str
    audio: str
    recorded: bool = False
    duration: float
    order: int
    expires_at: datetime | None = None
    cancelled: bool = False
    receipt: Literal["delivered", "failed"] | None = None
    plays: list[Play] = Field(default_factory=list)

    def play_id(self, play: Play) -> str:
        """How controllers name a play in their reports."""
        return f"{self.delivery_id}:{play.n}"


class Schedule(BaseModel):
    """A cluster's items; ``version`` moves when what the controller must play changes."""

    model_config = ConfigDict(extra="forbid")

    version: int = 0
    pushed_version: int = 0
    next_order: int = 0
    items: list[Item] = Field(default_factory=list)

    def find(self, delivery_id: str) -> Item | None:
        """The item of ``delivery_id``."""
        return next((item for item in self.items if item.delivery_id == delivery_id), None)

    @property
    def unpushed(self) -> bool:
        """Whether the controller has an older schedule than this one."""
        return self.pushed_version < self.version


def wanted_times(now: datetime, repeats: int, days: int, zone: object) -> list[datetime]:
    """Earliest start of each repeat: ``repeats`` spread evenly over ``days`` local days,
    the first day from ``now``, later ones from their midnight."""
    local = now.astimezone(zone)  # type: ignore[arg-type]
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    times = []
    for k in range(repeats):
        day = k * days // repeats
        times.append(now if day == 0 else midnight + timedelta(days=day))
    return times


def admit(schedule: Schedule, item: Item, wanted: list[datetime], now: datetime) -> None:
    """Add ``item`` with one play per ``wanted`` time; an emergency's first play is at once."""
    item.order = schedule.next_order
    schedule.next_order += 1
    item.plays = [Play(n=n, wanted=when) for n, when in enumerate(wanted, start=1)]
    if item.priority is Priority.EMERGENCY and item.plays:
        first = item.plays[0]
        first.status, first.at, first.interrupt = "scheduled", now, True
    schedule.items.append(item)
    schedule.version += 1


def fixed(play: Play, cutoff: datetime) -> bool:
    """Whether ``play`` can no longer move: final, or its slot starts before ``cutoff``."""
    if play.status in FINAL:
        return True
    start = play.slot_start or (play.at if play.interrupt else None)
    return play.status == "scheduled" and start is not None and start <= cutoff


def replan(schedule: Schedule, slots: list[Slot], cutoff: datetime, gap: float) -> None:
    """Place every play that can still move into ``slots`` (those starting after ``cutoff``)."""
    free: dict[str, list[Play]] = {}
    requests = []
    for item in schedule.items:
        movable = [p for p in item.plays if not fixed(p, cutoff)]
        if item.cancelled or not movable:
            continue
        free[item.delivery_id] = movable
        requests.append(
            Request(
                item=item.delivery_id,
                rank=item.priority.rank,
                order=item.order,
                duration=item.duration,
                wanted=tuple(max(p.wanted, cutoff) for p in movable),
                deadline=item.expires_at,
            )
        )
    result = plan(slots, requests, gap)
    for placement in result.placements:
        play = free[placement.item][placement.repeat]
        slot = slots[placement.slot]
        play.status, play.moved, play.reason = "scheduled", placement.moved, None
        play.at = slot.start + timedelta(seconds=placement.offset)
        play.slot_start, play.slot_end = slot.start, slot.end
    for unplaced in result.unplaced:
        play = free[unplaced.item][unplaced.repeat]
        play.status = "expired" if unplaced.reason == EXPIRED else "waiting"
        play.reason = unplaced.reason
        play.at = play.slot_start = play.slot_end = None


def cancel(item: Item, reason: str, now: datetime) -> None:
    """Take the item's plays that have not begun off the air (the next push drops them)."""
    item.cancelled = True
    for play in item.plays:
        if play.status not in FINAL and (play.at is None or play.at > now):
            play.status, play.reason = "cancelled", reason


def mark_missed(schedule: Schedule, now: datetime, grace: float) -> None:
    """Plays that should have ended ``grace`` seconds ago without a report are missed."""
    for item in schedule.items:
        for play in item.plays:
            if play.status != "scheduled" or play.at is None:
                continue
            if play.at + timedelta(seconds=item.duration + grace) < now:
                play.status, play.reason = "missed", "no report from the controller"


def report(schedule: Schedule, play_id: str, played: bool, at: datetime) -> bool:
    """Apply a controller's report of one play; False if the play is unknown or final."""
    delivery_id, _, number = play_id.rpartition(":")
    item = schedule.find(delivery_id)
    if item is None or not number.isdigit():
        return False
    play = next((p for p in item.plays if p.n == int(number)), None)
    if play is None or play.status in {"played", "failed"}:
        return False
    play.status = "played" if played else "failed"
    play.reported_at = at
    return True


def due_receipts(schedule: Schedule) -> list[tuple[Item, bool, datetime | None, str | None]]:
    """Items whose receipt can be handed over now, as (item, delivered, when, why not).

    The first play makes a delivery delivered; it fails when every play ended unplayed
    (a cancelled item gets no failure: it was stopped, not lost).
    """
    due: list[tuple[Item, bool, datetime | None, str | None]] = []
    for item in schedule.items:
        if item.receipt is not None or item.provider_id is None:
            continue
        played = [p.reported_at or p.at for p in item.plays if p.status == "played"]
        if played:
            item.receipt = "delivered"
            due.append((item, True, min(t for t in played if t is not None), None))
        elif not item.cancelled and item.plays and all(p.status in FINAL for p in item.plays):
            item.receipt = "failed"
            words = sorted({p.status + (f" ({p.reason})" if p.reason else "") for p in item.plays})
            due.append((item, False, None, "not played: " + ", ".join(words)))
    return due


def prune(schedule: Schedule, now: datetime, keep_days: int) -> None:
    """Forget items settled more than ``keep_days`` ago."""
    horizon = now - timedelta(days=keep_days)

    def settled(item: Item) -> bool:
        if not all(p.status in FINAL for p in item.plays):
            return False
        times = [t for p in item.plays for t in (p.at, p.reported_at, p.wanted) if t is not None]
        return not times or max(times) < horizon

    schedule.items = [item for item in schedule.items if not settled(item)]


def upcoming(schedule: Schedule, now: datetime) -> list[tuple[Item, Play]]:
    """The plays the controller must hold: scheduled, not yet over, in time order."""
    found = [
        (item, play)
        for item in schedule.items
        for play in item.plays
        if play.status == "scheduled"
        and play.at is not None
        and play.at + timedelta(seconds=item.duration) > now
    ]
    return sorted(found, key=lambda pair: (pair[1].at, pair[0].priority.rank, pair[0].order))
