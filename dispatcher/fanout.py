"""Fan-out: an announcement's audience turned into deliveries, in streaming batches.

Explicit addresses go first, then contacts in id order, a batch at a time; each batch and
the cursor after it are written in one transaction, and the store ignores deliveries that
exist, so a fan-out that crashed half-way resumes from its cursor without duplicates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

import structlog

from dispatcher.channel import Channel
from dispatcher.clock import Clock
from dispatcher.errors import InvalidAddressError
from dispatcher.policy import Policy
from dispatcher.store.base import DayCounts, NewDelivery, Recipient, StaleCountsError, Store
from dispatcher.store.urgency import urgent
from schemas import (
    Announcement,
    AnnouncementStatus,
    ChannelMode,
    Contact,
    DeliveryStatus,
    Priority,
)

log = structlog.get_logger(__name__)

CONTACTS_CURSOR = "contacts:"

# A contact whole (a fallback's next step reads one) or as fan-out reads it: the planner
# needs only its id, addresses, opt-outs and preferred channels.
Person = Contact | Recipient
Blocked = Mapping[str, set[str]]  # channel → addresses that opted out
Owned = Mapping[str, Sequence[str]]  # channel → addresses the channel itself keeps


def _normalize(channel: Channel, address: str) -> tuple[str, str | None]:
    """The canonical address, or the raw one and why it cannot be used."""
    try:
        return channel.normalize_address(address), None
    except InvalidAddressError as exc:
        return address.strip(), f"invalid address: {exc}"


Counts = Mapping[tuple[str, str], int]  # (contact id, channel) → non-emergency sent today


class Planner:
    """Decides, per recipient, which deliveries to write and in which state.

    Args:
        channels: the running channels.
        policy: quiet hours and caps (None: neither applies).
    """

    def __init__(self, channels: Mapping[str, Channel], policy: Policy | None = None) -> None:
        self.channels = channels
        self.policy = policy
        self._normalized: dict[tuple[str, str], tuple[str, str | None]] = {}
        self._last_excluded: tuple[Announcement, dict[str, set[str]]] | None = None

    def _normalize(self, channel: Channel, address: str) -> tuple[str, str | None]:
        # A batch's addresses are normalised to look up opt-outs, then again to plan:
        # remember the last batches' answers (a number costs a phonenumbers parse).
        key = (channel.name, address)
        found = self._normalized.get(key)
        if found is None:
            if len(self._normalized) >= 20_000:
                self._normalized.clear()
            found = self._normalized[key] = _normalize(channel, address)
        return found

    def _reaches_contacts(self, name: str) -> bool:
        channel = self.channels.get(name)
        return channel is None or channel.reaches_contacts

    def _excluded(self, announcement: Announcement) -> dict[str, set[str]]:
        # Asked once per recipient: remember the last announcement's answer (its content
        # never changes once stored).
        last = self._last_excluded
        if last is not None and last[0] is announcement:
            return last[1]
        excluded = self._exclusions(announcement)
        self._last_excluded = (announcement, excluded)
        return excluded

    def _exclusions(self, announcement: Announcement) -> dict[str, set[str]]:
        excluded: dict[str, set[str]] = {}
        for name, addresses in announcement.audience.exclude.addresses.items():
            channel = self.channels.get(name)
            if channel is not None:
                excluded[name] = {self._normalize(channel, a)[0] for a in addresses}
        return excluded

    def _candidate(
        self,
        announcement: Announcement,
        contact: Person,
        name: str,
        step: int,
        now: datetime,
        blocked: Blocked,
        counts: Counts,
    ) -> NewDelivery:
        channel = self.channels.get(name)
        raw = contact.addresses.get(name)
        reason: str | None = None
        if channel is None:
            address, reason = f"contact:{contact.id}", f"channel {name!r} is not running"
        elif name in contact.opt_outs:
            address, reason = raw or f"contact:{contact.id}", "opted out of this channel"
        elif raw is None:
            address, reason = f"contact:{contact.id}", "no address for this channel"
        else:
            address, reason = self._normalize(channel, raw)
            if reason is None and address in blocked.get(name, ()):
                reason = "opted out of this channel"
        due_at, note = now, None
        if reason is None and self.policy is not None:
            verdict = self.policy.judge(
                name,
                emergency=announcement.priority is Priority.EMERGENCY,
                now=now,
                sent_today=counts.get((contact.id, name), 0),
            )
            reason, note, due_at = verdict.suppress, verdict.note, verdict.due_at or now
        return NewDelivery(
            announcement_id=announcement.id,
            channel=name,
            address=address,
            priority=announcement.priority,
            due_at=due_at,
            contact_id=contact.id,
            status=DeliveryStatus.SUPPRESSED if reason else DeliveryStatus.QUEUED,
            reason=reason,
            step=step,
            note=note,
        )

    def for_contact(
        self,
        announcement: Announcement,
        contact: Person,
        now: datetime,
        *,
        from_step: int = 0,
        blocked: Blocked | None = None,
        counts: Counts | None = None,
    ) -> Iterator[NewDelivery]:
        """Deliveries for one contact: every channel (``all``) or the first usable one from
        ``from_step`` on (``fallback``, in the contact's preferred order; when none is
        usable, the reason of the first)."""
        excluded = self._excluded(announcement)
        first: NewDelivery | None = None
        for step, name in enumerate(self.order(announcement, contact)):
            if step < from_step or not self._reaches_contacts(name):
                continue
            candidate = self._candidate(
                announcement, contact, name, step, now, blocked or {}, counts or {}
            )
            if candidate.address in excluded.get(name, ()):
                continue
            if announcement.mode is ChannelMode.ALL:
                yield candidate
                continue
            if candidate.status is DeliveryStatus.QUEUED:
                yield candidate
                return
            first = first or candidate
        if first is not None:
            yield first

    def order(self, announcement: Announcement, contact: Person) -> list[str]:
        """The announcement's channels in the order this contact gets them: with
        ``fallback``, the contact's preferred channels first (in their order)."""
        if announcement.mode is ChannelMode.ALL or not contact.preferred_channels:
            return list(announcement.channels)
        preferred = [c for c in contact.preferred_channels if c in announcement.channels]
        return preferred + [c for c in announcement.channels if c not in preferred]

    def addresses_of(
        self, announcement: Announcement, contacts: Sequence[Person], owned: Owned | None = None
    ) -> dict[str, list[str]]:
        """Per channel, the normalised addresses ``contacts`` have or, when no contacts are
        given, the explicit list and the channels' own recipients (``owned``)."""
        found: dict[str, list[str]] = {}
        explicit = _explicit(announcement, owned) if not contacts else {}
        for name in announcement.channels:
            channel = self.channels.get(name)
            if channel is None:
                continue
            raws = [c.addresses[name] for c in contacts if name in c.addresses]
            raws += explicit.get(name, [])
            found[name] = [self._normalize(channel, raw)[0] for raw in raws]
        return found

    def for_addresses(
        self,
        announcement: Announcement,
        now: datetime,
        blocked: Blocked | None = None,
        owned: Owned | None = None,
    ) -> Iterator[NewDelivery]:
        """Deliveries for the explicit ``audience.addresses`` and the channels' own
        recipients (``owned``: webhook subscriptions, loudspeaker clusters)."""
        excluded = self._excluded(announcement)
        for name, addresses in _explicit(announcement, owned).items():
            channel = self.channels.get(name)
            for raw in addresses:
                reason: str | None
                if channel is None:
                    address, reason = raw, f"channel {name!r} is not running"
                else:
                    address, reason = self._normalize(channel, raw)
                if address in excluded.get(name, ()):
                    continue
                if reason is None and address in (blocked or {}).get(name, ()):
                    reason = "opted out of this channel"
                yield NewDelivery(
                    announcement_id=announcement.id,
                    channel=name,
                    address=address,
                    priority=announcement.priority,
                    due_at=now,
                    status=DeliveryStatus.SUPPRESSED if reason else DeliveryStatus.QUEUED,
                    reason=reason,
                    step=announcement.channels.index(name),
                )


def _explicit(announcement: Announcement, owned: Owned | None) -> dict[str, list[str]]:
    merged = {name: list(found) for name, found in announcement.audience.addresses.items()}
    for name, found in (owned or {}).items():
        merged.setdefault(name, []).extend(found)
    return merged


async def owned_recipients(
    store: Store, channels: Mapping[str, Channel], announcement: Announcement
) -> dict[str, list[str]]:
    """Per channel of ``announcement``, the recipients the channel itself keeps."""
    keepers = {
        name: channel
        for name in announcement.channels
        if (channel := channels.get(name)) is not None
        and type(channel).recipients is not Channel.recipients
    }
    if not keepers:
        return {}  # no channel keeps recipients: no need to walk the area tree
    audience = announcement.audience
    areas = frozenset(
        await store.area_subtree(audience.areas) - await store.area_subtree(audience.exclude.areas)
    )
    owned: dict[str, list[str]] = {}
    for name, channel in keepers.items():
        found = await channel.recipients(announcement, areas)
        if found:
            owned[name] = list(found)
    return owned


async def sent_today(
    store: Store, planner: Planner, contacts: Sequence[Person], now: datetime
) -> DayCounts | None:
    """Per (contact, channel), the non-emergency deliveries of today, when caps apply (hand
    it to ``add_deliveries`` with what was planned by it)."""
    policy = planner.policy
    if policy is None or not policy.settings.daily_caps or not contacts:
        return None
    day = policy.day_start(now)
    return await store.recent_counts([c.id for c in contacts], day, day + timedelta(days=1))


async def blocked_addresses(
    store: Store,
    planner: Planner,
    announcement: Announcement,
    contacts: Sequence[Person],
    owned: Owned | None = None,
) -> Blocked:
    """Per channel, the addresses of ``contacts`` (or of the explicit list and ``owned``,
    when no contacts are given) that opted out: one query per channel."""
    wanted = planner.addresses_of(announcement, contacts, owned)
    return {
        name: await store.opted_out(name, addresses)
        for name, addresses in wanted.items()
        if addresses
    }


class Fanout:
    """Runs fan-outs against the store.

    Args:
        store: the store.
        planner: decides the deliveries of each recipient.
        clock: time source.
        batch_size: contacts read and deliveries written per transaction.
        on_batch: called with the number of new deliveries after each batch (wakes workers).
        on_released: awaited with the announcement's id once it moved to ``fanning_out``.
    """

    def __init__(
        self,
        store: Store,
        planner: Planner,
        clock: Clock,
        *,
        batch_size: int = 1000,
        on_batch: Callable[[int], None] = lambda n: None,
        on_released: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.planner = planner
        self.clock = clock
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.on_released = on_released

    async def run(self, announcement: Announcement) -> int:
        """Fan ``announcement`` out (or resume it); returns deliveries created by this run.

        Stops early, without error, when the announcement is cancelled or expires meanwhile.
        """
        hurry = announcement.priority.rank <= Priority.HIGH.rank
        with (
            structlog.contextvars.bound_contextvars(announcement_id=announcement.id),
            urgent(hurry),
        ):
            return await self._run(announcement)

    async def _run(self, announcement: Announcement) -> int:
        ann_id = announcement.id
        if announcement.status is AnnouncementStatus.SCHEDULED:
            moved = await self.store.set_announcement_status(
                ann_id,
                [AnnouncementStatus.SCHEDULED],
                AnnouncementStatus.FANNING_OUT,
                self.clock.now(),
            )
            if not moved:
                return 0
            if self.on_released is not None:
                await self.on_released(ann_id)
        created = 0
        cursor = await self.store.fanout_cursor(ann_id)
        if cursor is None:
            owned = await owned_recipients(self.store, self.planner.channels, announcement)
            blocked = await blocked_addresses(self.store, self.planner, announcement, [], owned)
            batch = list(self.planner.for_addresses(announcement, self.clock.now(), blocked, owned))
            created += await self._write(ann_id, batch, CONTACTS_CURSOR)
            cursor = CONTACTS_CURSOR
        after = cursor.removeprefix(CONTACTS_CURSOR) or None
        audience = announcement.audience
        # Addresses only (an emergency's list, say): no contact to read, not even once.
        while audience.areas or audience.tags or audience.contact_ids:
            contacts = await self.store.audience_batch(
                announcement.audience, after=after, limit=self.batch_size
            )
            if not contacts:
                break
            after = contacts[-1].id
            _, written = await self._plan_and_write(
                announcement, contacts, cursor=CONTACTS_CURSOR + after
            )
            created += written
            if len(contacts) < self.batch_size:
                break
            if not written and not await self._still_fanning_out(ann_id):
                log.info("fanout_stopped", announcement_id=ann_id, deliveries=created)
                return created
        await self.store.set_announcement_status(
            ann_id, [AnnouncementStatus.FANNING_OUT], AnnouncementStatus.SENDING, self.clock.now()
        )
        log.info("fanout_finished", announcement_id=ann_id, deliveries=created)
        return created

    async def blocked(self, announcement: Announcement, contacts: Sequence[Person]) -> Blocked:
        """Per channel, the addresses of this batch that opted out."""
        return await blocked_addresses(self.store, self.planner, announcement, contacts)

    async def next_step(
        self, announcement: Announcement, contact: Person, from_step: int
    ) -> list[NewDelivery]:
        """A fallback's next step for ``contact``, planned and written; empty when there is
        none, or when it was written already."""
        planned, written = await self._plan_and_write(
            announcement, [contact], cursor=None, from_step=from_step
        )
        return planned if written else []

    async def _plan_and_write(
        self,
        announcement: Announcement,
        contacts: Sequence[Person],
        *,
        cursor: str | None,
        from_step: int = 0,
    ) -> tuple[list[NewDelivery], int]:
        """Plan the deliveries of ``contacts`` and write them: the plan, and how many were
        new. Planned again when another fan-out wrote to the same people between the count
        of their day and the write, so a daily cap gives each person's last message once."""
        while True:
            now = self.clock.now()
            blocked = await self.blocked(announcement, contacts)
            counted = await sent_today(self.store, self.planner, contacts, now)
            counts = counted.counts if counted is not None else None
            batch = [
                d
                for c in contacts
                for d in self.planner.for_contact(
                    announcement, c, now, from_step=from_step, blocked=blocked, counts=counts
                )
            ]
            if not batch and cursor is None:
                return batch, 0  # nothing to write, no place to save
            try:
                return batch, await self._write(announcement.id, batch, cursor, counted)
            except StaleCountsError:
                log.debug("fanout_batch_recounted", announcement_id=announcement.id)

    async def _still_fanning_out(self, ann_id: str) -> bool:
        found = await self.store.get_announcements([ann_id])
        return ann_id in found and found[ann_id].status is AnnouncementStatus.FANNING_OUT

    async def _write(
        self,
        ann_id: str,
        batch: list[NewDelivery],
        cursor: str | None,
        counted: DayCounts | None = None,
    ) -> int:
        created = await self.store.add_deliveries(
            batch, announcement_id=ann_id, cursor=cursor, counted=counted
        )
        if created:
            self.on_batch(created)
        return created
