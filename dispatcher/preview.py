"""Preview: what a draft announcement would send, per channel, without writing anything.

It walks the same audience, with the same planner and opt-outs as the fan-out, and asks
each channel to inspect the text the first recipient would get.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from dispatcher.channel import Channel, OutboundMessage
from dispatcher.fanout import Planner, blocked_addresses, owned_recipients, sent_today
from dispatcher.policy import QUIET, Policy
from dispatcher.render import SAMPLE_CONTACT, outbound_message, person
from dispatcher.store.base import NewDelivery, Store
from schemas import (
    Announcement,
    AnnouncementIn,
    AnnouncementStatus,
    ChannelPreview,
    Contact,
    DeliveryStatus,
    Preview,
)

PREVIEW_ID = "preview"


def draft(data: AnnouncementIn, now: datetime) -> Announcement:
    """The draft as an announcement that is never stored."""
    return Announcement(
        **data.model_dump(), id=PREVIEW_ID, status=AnnouncementStatus.SCHEDULED, created_at=now
    )


def sample_message(
    data: AnnouncementIn, channel: str, contact: Contact | None = None, public_url: str = ""
) -> OutboundMessage:
    """The message ``channel`` would send to ``contact`` (a sample person when None)."""
    return outbound_message(
        data,
        channel,
        person(contact) or SAMPLE_CONTACT,
        delivery_id="0",
        announcement_id=PREVIEW_ID,
        address=contact.addresses.get(channel, "") if contact else "",
        public_url=public_url,
    )


def _reason_key(reason: str | None) -> str:
    # "invalid address: +84 12 is not ..." → "invalid address": counts group by kind.
    return (reason or "unknown").split(":", 1)[0]


class _Tally:
    def __init__(self) -> None:
        self.queued: Counter[str] = Counter()
        self.suppressed: dict[str, Counter[str]] = {}
        self.seen: set[tuple[str, str]] = set()
        self.duplicates = 0
        self.deferred: dict[str, Counter[str]] = {}

    def add(self, delivery: NewDelivery) -> None:
        key = (delivery.channel, delivery.address)
        if key in self.seen:
            self.duplicates += 1
            self.suppressed.setdefault(delivery.channel, Counter())["duplicate"] += 1
            return
        self.seen.add(key)
        if delivery.status is DeliveryStatus.QUEUED:
            self.queued[delivery.channel] += 1
            if delivery.note and delivery.note.startswith(QUIET):
                self.deferred.setdefault(delivery.channel, Counter())[QUIET] += 1
        else:
            self.suppressed.setdefault(delivery.channel, Counter())[
                _reason_key(delivery.reason)
            ] += 1


async def preview(
    store: Store,
    channels: Mapping[str, Channel],
    data: AnnouncementIn,
    *,
    now: datetime,
    batch_size: int = 1000,
    policy: Policy | None = None,
) -> Preview:
    """Count the draft's deliveries per channel and inspect its text on each channel."""
    announcement = draft(data, now)
    planner = Planner(channels, policy)
    tally = _Tally()
    owned = await owned_recipients(store, channels, announcement)
    blocked = await blocked_addresses(store, planner, announcement, [], owned)
    for delivery in planner.for_addresses(announcement, now, blocked, owned):
        tally.add(delivery)
    first_id: str | None = None
    after: str | None = None
    while contacts := await store.audience_batch(data.audience, after=after, limit=batch_size):
        first_id = first_id or contacts[0].id
        blocked = await blocked_addresses(store, planner, announcement, contacts)
        counted = await sent_today(store, planner, contacts, now)
        counts = counted.counts if counted is not None else None
        for contact in contacts:
            for delivery in planner.for_contact(
                announcement, contact, now, blocked=blocked, counts=counts
            ):
                tally.add(delivery)
        after = contacts[-1].id
        if len(contacts) < batch_size:
            break
    # The sample text is the first recipient's, whole: fan-out reads only what it needs.
    first = (await store.get_contacts([first_id])).get(first_id) if first_id else None
    return Preview(
        channels=[_channel(data, name, channels.get(name), first, tally) for name in data.channels],
        recipients=sum(tally.queued.values()),
        duplicates=tally.duplicates,
    )


def _channel(
    data: AnnouncementIn, name: str, channel: Channel | None, first: Contact | None, tally: _Tally
) -> ChannelPreview:
    message = sample_message(data, name, first, channel.ctx.public_url if channel else "")
    if channel is None:
        return ChannelPreview(
            channel=name, text=message.body, problems=[f"channel {name!r} is not running"]
        )
    seen = channel.inspect(message)
    return ChannelPreview(
        channel=name,
        text=seen.text,
        details=dict(seen.details),
        problems=list(seen.problems),
        recipients=tally.queued[name],
        suppressed=dict(tally.suppressed.get(name, {})),
        deferred=dict(tally.deferred.get(name, {})),
    )
