"""Services: what the HTTP API and the CLI can ask of thongbao, in one place.

Both front ends call these methods; neither touches the store directly, so the rules
(validation, idempotency, roles) are written once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dispatcher.areas import official_areas
from dispatcher.channel import Channel
from dispatcher.clock import Clock
from dispatcher.config import AudienceSettings
from dispatcher.contacts import validate_areas
from dispatcher.errors import InvalidRequestError, NotFoundError
from dispatcher.events import AnnouncementChange, StatusChange
from dispatcher.keys import Role, hash_token, new_token
from dispatcher.metrics import Metrics
from dispatcher.outbound import OutboundGuard
from dispatcher.people import prepare_contacts
from dispatcher.policy import Policy
from dispatcher.preview import preview, sample_message
from dispatcher.registry import ChannelRegistry
from dispatcher.render import template_problems
from dispatcher.store.base import ApiKey, ImportReport, Page, Store
from dispatcher.store.urgency import urgent
from schemas import (
    Announcement,
    AnnouncementIn,
    AnnouncementStatus,
    Area,
    ConsentIn,
    Contact,
    ContactDetails,
    Delivery,
    DeliveryStatus,
    Inbound,
    Preview,
    Priority,
    ReceiptIn,
)

ChangeListener = Callable[[Sequence[StatusChange]], Any]
AnnouncementListener = Callable[[Sequence[AnnouncementChange]], Any]


def new_announcement_id(now: float | None = None) -> str:
    """Time-ordered id: 12 hex digits of milliseconds, then 10 random hex digits."""
    millis = int((now if now is not None else time.time()) * 1000)
    return f"{millis:012x}{secrets.token_hex(5)}"


def request_hash(data: AnnouncementIn) -> str:
    """A stable hash of the request body, to spot an Idempotency-Key reused for another body."""
    return hashlib.sha256(data.model_dump_json().encode()).hexdigest()


class Services:
    """The operations of thongbao, over a store and the registered channels.

    Args:
        store: an opened store.
        registry: the registered channels (announcements may only name these).
        clock: the time source.
        wake: called after something was queued, so in-process workers look at once.
        on_changes: called with status changes that a service call made (receipts).
        metrics: where receipts are counted.
    """

    def __init__(
        self,
        store: Store,
        registry: ChannelRegistry,
        clock: Clock | None = None,
        wake: Callable[[bool], None] | None = None,
        on_changes: ChangeListener | None = None,
        metrics: Metrics | None = None,
        on_announcements: AnnouncementListener | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock or Clock()
        self._wake = wake or _no_wake
        self._on_changes = on_changes
        self._metrics = metrics
        self._on_announcements = on_announcements
        self.channels: Mapping[str, Channel] = {}
        self.audience = AudienceSettings()
        self.outbound = OutboundGuard()

    # -- announcements ---------------------------------------------------------------------
    def check_announcement(self, data: AnnouncementIn, *, channel_problems: bool = True) -> None:
        """Raise ``InvalidRequestError`` for unknown channels, broken templates or text a
        running channel refuses (the preview reports the latter instead of raising)."""
        problems: list[dict[str, object]] = []
        for index, channel in enumerate(data.channels):
            if channel not in self.registry:
                problems.append(
                    {
                        "loc": ["channels", index],
                        "msg": f"no channel named {channel!r}; "
                        f"registered channels: {', '.join(self.registry.names())}",
                    }
                )
        problems.extend(self._url_problems(data))
        templates = template_problems(data)
        problems.extend(templates)
        if not templates and channel_problems:
            problems.extend(self._channel_problems(data))
        if problems:
            raise InvalidRequestError("the announcement cannot be sent as written", problems)

    def _url_problems(self, data: AnnouncementIn) -> list[dict[str, object]]:
        """URLs thongbao would refuse to call (``dispatcher/outbound.py``), known at intake."""
        urls: list[tuple[list[object], str]] = [
            (["attachments", index, "url"], str(item.url))
            for index, item in enumerate(data.attachments)
        ]
        if data.callback is not None:
            urls.append((["callback", "url"], str(data.callback.url)))
        return [
            {"loc": loc, "msg": problem}
            for loc, url in urls
            if (problem := self.outbound.url_problem(url)) is not None
        ]

    def _channel_problems(self, data: AnnouncementIn) -> list[dict[str, object]]:
        """What each running channel refuses in the text (too long, unknown options)."""
        problems: list[dict[str, object]] = []
        for name in data.channels:
            channel = self.channels.get(name)
            if channel is None:
                continue
            where: list[object] = ["content", name] if name in data.content else ["body"]
            for problem in channel.inspect(sample_message(data, name)).problems:
                problems.append({"loc": where, "msg": f"{name}: {problem}"})
        return problems

    async def preview(self, data: AnnouncementIn) -> Preview:
        """What ``data`` would send per channel: text, channel details, problems, and how
        many recipients it would reach or suppress, and why. Nothing is written."""
        self.check_announcement(data, channel_problems=False)
        policy = Policy(self.audience, self.channels)
        return await preview(self.store, self.channels, data, now=self.clock.now(), policy=policy)

    async def create_announcement(
        self,
        data: AnnouncementIn,
        *,
        key: ApiKey | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Announcement, bool]:
        """Validate and store an announcement; returns it and whether it is new.

        With ``idempotency_key``, a repeat by the same key owner returns the first one.
        """
        self.check_announcement(data)
        now = self.clock.now()
        idem = None
        if idempotency_key:
            owner = key.id if key else "cli"
            idem = (owner, idempotency_key, request_hash(data))
        hurry = data.priority.rank <= Priority.HIGH.rank
        with urgent(hurry):
            announcement_id, created = await self.store.create_announcement(
                new_announcement_id(now.timestamp()),
                data,
                created_by=key.name if key else None,
                now=now,
                idempotency=idem,
            )
        if created:
            self._wake(hurry)
        return await self.store.get_announcement(announcement_id), created

    async def get_announcement(self, announcement_id: str) -> Announcement:
        """The announcement and its counts; ``NotFoundError`` if none."""
        return await self.store.get_announcement(announcement_id)

    async def list_announcements(
        self, *, status: AnnouncementStatus | None = None, after: str | None = None, limit: int = 50
    ) -> Page[Announcement]:
        """Announcements, newest first."""
        return await self.store.list_announcements(status=status, after=after, limit=limit)

    async def cancel_announcement(self, announcement_id: str) -> Announcement:
        """Stop what has not gone out; what was sent stays sent."""
        now = self.clock.now()
        before = await self.store.announcement_statuses([announcement_id])
        await self.store.cancel_announcement(announcement_id, now)
        announcement = await self.store.get_announcement(announcement_id)
        moved = before.get(announcement_id) is not AnnouncementStatus.CANCELLED
        if (
            self._on_announcements is not None
            and moved
            and announcement.status is AnnouncementStatus.CANCELLED
        ):
            change = AnnouncementChange(announcement_id, AnnouncementStatus.CANCELLED, now)
            await self._on_announcements([change])
        return announcement

    # -- deliveries ------------------------------------------------------------------------
    async def list_deliveries(
        self,
        announcement_id: str,
        *,
        status: DeliveryStatus | None = None,
        channel: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page[Delivery]:
        """An announcement's deliveries, filtered, a page at a time."""
        await self.store.get_announcement(announcement_id)
        return await self.store.list_deliveries(
            announcement_id, status=status, channel=channel, after=after, limit=limit
        )

    async def get_delivery(self, delivery_id: str) -> Delivery:
        """One delivery with its attempts and receipts."""
        return await self.store.get_delivery(delivery_id)

    # -- receipts (also the ReceiptSink handed to channels) ---------------------------------
    async def submit(self, receipts: Sequence[ReceiptIn]) -> list[bool]:
        """Store and apply receipts; returns per receipt whether it changed a delivery."""
        if not receipts:
            return []
        applied, changes = await self.store.add_receipts(receipts, self.clock.now())
        if self._metrics is not None:
            tally: dict[tuple[str, bool], int] = {}
            for receipt, moved in zip(receipts, applied, strict=True):
                tally[(receipt.channel, moved)] = tally.get((receipt.channel, moved), 0) + 1
            for (channel, moved), n in tally.items():
                self._metrics.receipts(channel, moved, n)
        if changes and self._on_changes is not None:
            result = self._on_changes(changes)
            if hasattr(result, "__await__"):
                await result
        return applied

    # -- replies and opt-outs --------------------------------------------------------------
    async def opt_out(self, channel: str, address: str, source: str) -> bool:
        """Record that ``address`` refuses ``channel`` from now on (the next fan-out
        suppresses it); ``source`` says how (``"sms-reply:TU CHOI"``, ``"unsubscribe-link"``).
        Returns False when it had already opted out."""
        return await self.store.add_opt_out(channel, address, source, self.clock.now())

    async def record_inbound(
        self,
        channel: str,
        sender: str,
        text: str,
        *,
        provider_id: str | None = None,
        received_at: datetime | None = None,
        opted_out: bool = False,
    ) -> Inbound:
        """Store a citizen's reply, linked to the latest announcement sent to ``sender``."""
        return await self.store.add_inbound(
            channel,
            sender,
            text,
            provider_id=provider_id,
            received_at=received_at or self.clock.now(),
            opted_out=opted_out,
        )

    # -- directory -------------------------------------------------------------------------
    async def import_contacts(
        self, rows: Iterable[Mapping[str, Any]], *, old_codes: bool = False, partial: bool = False
    ) -> ImportReport:
        """Check every row (see :func:`~dispatcher.people.prepare_contacts`); write them all
        when none is bad, or (``partial``) the good ones, in one transaction either way."""
        prepared = await prepare_contacts(
            rows, store=self.store, channels=self.channels, old_codes=old_codes
        )
        if prepared.errors and not partial:
            return ImportReport(accepted=0, errors=prepared.errors)
        await self.store.upsert_contacts(prepared.contacts, self.clock.now())
        return ImportReport(
            accepted=len(prepared.contacts), errors=prepared.errors, mapped=prepared.mapped
        )

    async def import_areas(self, rows: Iterable[Mapping[str, Any]]) -> ImportReport:
        """Validate every area row; write all of them only when none is bad. A parent must be
        an area already or in the same import (a commune adds its villages under its code)."""
        areas, errors = validate_areas(rows)
        if errors:
            return ImportReport(accepted=0, errors=errors)
        parents = {a.parent_code for a in areas if a.parent_code} - {a.code for a in areas}
        missing = parents - await self.store.known_areas(sorted(parents))
        if missing:
            errors = [
                (number, f"parent_code {a.parent_code!r} is not an area: import it first")
                for number, a in enumerate(areas, start=1)
                if a.parent_code in missing
            ]
            return ImportReport(accepted=0, errors=errors)
        await self.store.upsert_areas(areas)
        return ImportReport(accepted=len(areas))

    async def load_official_areas(self) -> int:
        """Load (or refresh) Vietnam's 34 provinces and their communes; returns how many."""
        areas = official_areas()
        await self.store.upsert_areas(areas)
        return len(areas)

    async def search_areas(self, query: str, *, limit: int = 20) -> list[Area]:
        """Areas by name, with or without tone marks ("ba dinh" finds "Phường Ba Đình")."""
        return await self.store.search_areas(query, limit=limit)

    # -- people ----------------------------------------------------------------------------
    async def contact_details(self, contact_id: str) -> ContactDetails:
        """A contact with its consents; ``NotFoundError`` if there is none."""
        erased = await self.store.contact_erased(contact_id)
        found = await self.store.get_contacts([contact_id])
        if erased is None or contact_id not in found:
            raise NotFoundError(f"no contact {contact_id!r}")
        return ContactDetails(
            contact=found[contact_id],
            consents=await self.store.consents(contact_id),
            erased=erased,
        )

    async def set_consent(self, contact_id: str, channel: str, consent: ConsentIn) -> None:
        """Record a person's choice about ``channel``; ``NotFoundError`` if no such contact."""
        if channel not in self.registry:
            raise InvalidRequestError(
                f"unknown channel {channel!r}; known channels: {', '.join(self.registry.names())}"
            )
        done = await self.store.set_consent(
            contact_id,
            channel,
            opted_in=consent.opted_in,
            source=consent.source,
            now=self.clock.now(),
        )
        if not done:
            raise NotFoundError(f"no contact {contact_id!r} (or it was erased)")

    async def erase_contact(self, contact_id: str) -> None:
        """Remove a person's data on request; delivery statistics stay."""
        if not await self.store.erase_contact(contact_id, self.clock.now()):
            raise NotFoundError(f"no contact {contact_id!r}")

    async def export_contacts(self, *, page: int = 1000) -> AsyncIterator[Contact]:
        """Every live contact, in id order, a page at a time."""
        after: str | None = None
        while True:
            found = await self.store.list_contacts(after=after, limit=page)
            for contact in found.items:
                yield contact
            if found.next_cursor is None:
                return
            after = found.next_cursor

    # -- keys ------------------------------------------------------------------------------
    async def create_api_key(self, role: Role, name: str = "") -> tuple[ApiKey, str]:
        """Make a key; returns it and its token, which is shown this once and never stored."""
        token = new_token()
        key = ApiKey(
            id=secrets.token_hex(8),
            name=name or f"{role.value}-key",
            role=role.value,
            created_at=self.clock.now(),
        )
        await self.store.add_api_key(key, hash_token(token))
        return key, token

    async def authenticate(self, token: str) -> ApiKey | None:
        """The live key for a bearer token, or None."""
        key = await self.store.find_api_key(hash_token(token))
        if key is None or key.revoked:
            return None
        return key

    # -- bounces ---------------------------------------------------------------------------
    async def count_failed_receipts(self, channel: str, address: str, code_prefix: str) -> int:
        """How many deliveries to ``address`` on ``channel`` failed by a receipt coded
        ``code_prefix…`` (the e-mail channel counts hard bounces, ``"5."``, with it)."""
        return await self.store.count_failed_receipts(channel, address, code_prefix)


def _no_wake(hurry: bool = False) -> None:
    """The wake of a service with no engine attached: nothing to wake."""
