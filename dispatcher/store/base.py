"""The Store interface every storage backend implements, and the records it trades in.

Times cross this interface as timezone-aware ``datetime``; backends keep them as they like.
Every state change of a delivery is fenced: it names the state (and, for claimed rows, the
lease token) it expects, and does nothing when the row has moved on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from dispatcher.errors import DispatcherError
from dispatcher.events import StatusChange
from schemas import (
    Announcement,
    AnnouncementIn,
    AnnouncementStatus,
    Area,
    AttemptOutcome,
    Audience,
    Consent,
    Contact,
    Delivery,
    DeliveryStatus,
    FailureKind,
    Inbound,
    Priority,
    ReceiptIn,
)

T = TypeVar("T")


class IdempotencyConflictError(DispatcherError):
    """This Idempotency-Key was already used with a different request body."""


class StaleCountsError(DispatcherError):
    """The people of a fan-out batch got other messages between the count of their day and
    the write (another fan-out wrote to them meanwhile): count and plan the batch again."""


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored: only the hash of its token is kept."""

    id: str
    name: str
    role: str
    created_at: datetime
    revoked: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; pass ``next_cursor`` back to get the next."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class ImportReport:
    """What an import did: rows written, per bad row its number and what is wrong, and how
    many rows had a pre-2025 area code mapped to today's commune or province."""

    accepted: int
    errors: list[tuple[int, str]] = field(default_factory=list)
    mapped: int = 0

    @property
    def ok(self) -> bool:
        """True when no row was refused (and so every row was written)."""
        return not self.errors


@dataclass(frozen=True)
class StateEntry:
    """A plugin's JSON document as stored; ``version`` counts its writes (from 1)."""

    key: str
    value: dict[str, Any]
    version: int
    updated_at: datetime


# NewDelivery, ClaimedDelivery and Outcome are made once per delivery and step of a bulk
# send, and pass from fan-out and the workers to the store only. They are slotted but not
# frozen: a frozen dataclass sets each field through object.__setattr__, and for these three
# that was 8 % of the instructions the store's paths take per delivery (bench/README.md).
# Treat them as read-only all the same; being mutable, they are not hashable.
@dataclass(slots=True)
class NewDelivery:
    """A delivery fan-out wants to exist; ``(announcement_id, channel, address)`` is unique."""

    announcement_id: str
    channel: str
    address: str
    priority: Priority
    due_at: datetime
    contact_id: str | None = None
    status: DeliveryStatus = DeliveryStatus.QUEUED
    reason: str | None = None
    step: int = 0
    note: str | None = None


@dataclass(frozen=True, slots=True)
class DayCounts:
    """What a daily cap counts for ``contact_ids`` in [``since``, ``until``): per (contact,
    channel), the non-emergency deliveries not suppressed, cancelled or expired. Handed back
    to :meth:`Store.add_deliveries`, it is counted again inside the write."""

    contact_ids: tuple[str, ...]
    since: datetime
    until: datetime
    counts: Mapping[tuple[str, str], int]


class Recipient(NamedTuple):
    """A contact as fan-out reads it: what deciding its deliveries takes, and no more (a
    fan-out of a million reads a million of these)."""

    id: str
    addresses: dict[str, str]
    opt_outs: list[str]
    preferred_channels: list[str]


@dataclass(slots=True)
class ClaimedDelivery:
    """A delivery handed to a worker under a lease, with what is needed to render it.

    ``attempt`` is the number this send will have (1 for the first). ``unknown`` is True when
    the previous holder's lease ran out mid-send, so the provider may already have it.
    """

    id: str
    announcement_id: str
    channel: str
    address: str
    contact_id: str | None
    attempt: int
    lease_token: str
    unknown: bool
    step: int


class AttemptRecord(NamedTuple):
    """One call to a provider, as a worker hands it to the store (read back, it is a
    :class:`schemas.Attempt`). A tuple, not a model: a bulk send makes one per delivery, and
    nothing is validated, so a plugin's provider id of the wrong type (a number from a JSON
    answer) cannot crash the batch after the provider took it."""

    number: int
    started_at: datetime
    outcome: AttemptOutcome
    latency_ms: float | None = None
    provider_id: str | None = None
    provider_code: str | None = None
    reason: str | None = None
    retry_at: datetime | None = None


@dataclass(slots=True)
class Outcome:
    """The result of one attempt, to be written back (fenced by ``lease_token``).

    ``status`` is where the delivery goes: ``sent``, ``retry_wait`` (with ``retry_at``),
    ``failed`` or ``queued`` (released untried, e.g. at shutdown; the attempt is not counted).
    """

    delivery_id: str
    lease_token: str
    status: DeliveryStatus
    attempt: AttemptRecord | None
    provider_id: str | None = None
    provider_code: str | None = None
    reason: str | None = None
    failure_kind: FailureKind | None = None
    retry_at: datetime | None = None


class Store(ABC):
    """Durable state of thongbao. One instance per process; safe for concurrent tasks."""

    # -- lifecycle -------------------------------------------------------------------------
    @abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    @abstractmethod
    async def close(self) -> None:
        """Close connections. Safe to call twice."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the store answers (for ``/readyz``)."""

    # -- API keys --------------------------------------------------------------------------
    @abstractmethod
    async def add_api_key(self, key: ApiKey, token_hash: str) -> None:
        """Store a new key under the hash of its token."""

    @abstractmethod
    async def find_api_key(self, token_hash: str) -> ApiKey | None:
        """The key whose token hashes to ``token_hash``, or None."""

    # -- announcements ---------------------------------------------------------------------
    @abstractmethod
    async def create_announcement(
        self,
        announcement_id: str,
        data: AnnouncementIn,
        *,
        created_by: str | None,
        now: datetime,
        idempotency: tuple[str, str, str] | None = None,
    ) -> tuple[str, bool]:
        """Store an announcement as ``scheduled``.

        ``idempotency`` is ``(key owner, Idempotency-Key, request hash)``: when the owner used
        that key before, nothing is stored and the first announcement's id is returned with
        ``False``; a different request hash raises :class:`IdempotencyConflictError`.

        Returns:
            ``(announcement id, created)``.
        """

    @abstractmethod
    async def get_announcement(self, announcement_id: str) -> Announcement:
        """The announcement with its per-channel counts; ``NotFoundError`` if none."""

    @abstractmethod
    async def list_announcements(
        self, *, status: AnnouncementStatus | None, after: str | None, limit: int
    ) -> Page[Announcement]:
        """Announcements, newest first, without counts."""

    @abstractmethod
    async def announcements_to_release(self, now: datetime, limit: int) -> list[Announcement]:
        """``scheduled`` ones whose ``send_at`` has come, and ``fanning_out`` ones (to resume)."""

    @abstractmethod
    async def get_announcements(self, ids: Sequence[str]) -> dict[str, Announcement]:
        """Announcements by id, without counts (for rendering); missing ids are left out."""

    @abstractmethod
    async def announcement_statuses(self, ids: Sequence[str]) -> dict[str, AnnouncementStatus]:
        """The current status of each announcement in ``ids`` (missing ids left out)."""

    @abstractmethod
    async def set_announcement_status(
        self,
        announcement_id: str,
        expected: Sequence[AnnouncementStatus],
        status: AnnouncementStatus,
        now: datetime,
    ) -> bool:
        """Move an announcement on if it is in one of ``expected``; False if it was not."""

    @abstractmethod
    async def fanout_cursor(self, announcement_id: str) -> str | None:
        """Where an interrupted fan-out stopped (None: at the start)."""

    @abstractmethod
    async def add_deliveries(
        self,
        deliveries: Sequence[NewDelivery],
        *,
        announcement_id: str,
        cursor: str | None,
        counted: DayCounts | None = None,
    ) -> int:
        """Insert deliveries, ignoring ones that exist, and save the fan-out cursor (None leaves
        it as it is), in one transaction. Nothing is inserted unless the announcement is
        fanning out, sending or completed (a completed one goes back to sending: a fallback
        step reopened it). Returns how many were new.

        ``counted``, the day's counts the deliveries were planned with, is counted again in
        the transaction; when it changed, nothing is written and ``StaleCountsError`` is
        raised, so two fan-outs never both give a person the last message a cap allows."""

    @abstractmethod
    async def cancel_announcement(self, announcement_id: str, now: datetime) -> int:
        """Cancel it and every delivery that has not gone out; returns deliveries cancelled.

        ``NotFoundError`` if there is no such announcement. A completed one is withdrawn
        (cancelled, 0 returned): its public page and feeds say so, loudspeakers drop what
        they had still to play, and no fallback step reopens it. A cancelled or expired one
        is left as it is and 0 returned.
        """

    @abstractmethod
    async def expire(self, now: datetime) -> tuple[list[StatusChange], list[str]]:
        """Expire open announcements whose ``expires_at`` has passed, and their open
        deliveries; returns the deliveries' changes and the announcements' ids."""

    @abstractmethod
    async def complete_finished(self, now: datetime) -> list[str]:
        """Mark ``sending`` announcements with no open delivery ``completed``; return their ids.

        One past its ``expires_at`` that has an expired delivery is not completed: it is
        :meth:`expire`'s to mark ``expired``."""

    # -- contacts and areas ----------------------------------------------------------------
    @abstractmethod
    async def upsert_contacts(self, contacts: Sequence[Contact], now: datetime) -> int:
        """Insert or replace contacts by id, all in one transaction."""

    @abstractmethod
    async def upsert_areas(self, areas: Sequence[Area]) -> int:
        """Insert or replace areas by code, all in one transaction."""

    @abstractmethod
    async def audience_batch(
        self, audience: Audience, *, after: str | None, limit: int
    ) -> list[Recipient]:
        """Contacts matching ``audience`` (areas include their sub-areas), ordered by id,
        with id greater than ``after``; exclusions already applied."""

    @abstractmethod
    async def get_contacts(self, ids: Sequence[str]) -> dict[str, Contact]:
        """Contacts by id; missing ids are left out."""

    # -- replies and opt-outs --------------------------------------------------------------
    @abstractmethod
    async def add_opt_out(self, channel: str, address: str, source: str, now: datetime) -> bool:
        """Record that ``address`` refused ``channel``; False if it already had."""

    @abstractmethod
    async def opted_out(self, channel: str, addresses: Sequence[str]) -> set[str]:
        """Those of ``addresses`` that refused ``channel``."""

    @abstractmethod
    async def add_inbound(
        self,
        channel: str,
        sender: str,
        text: str,
        *,
        provider_id: str | None,
        received_at: datetime,
        opted_out: bool,
    ) -> Inbound:
        """Store a reply, linked to the latest delivery that went out to ``sender``."""

    @abstractmethod
    async def list_inbound(self, announcement_id: str, *, limit: int) -> list[Inbound]:
        """Replies linked to an announcement, oldest first."""

    # -- the queue -------------------------------------------------------------------------
    @abstractmethod
    async def claim(
        self,
        channel: str,
        *,
        limit: int,
        now: datetime,
        lease_seconds: float,
        repeatable: bool = True,
        max_rank: int | None = None,
    ) -> tuple[list[ClaimedDelivery], list[StatusChange]]:
        """Lease up to ``limit`` due deliveries of ``channel``, highest priority first
        (only of rank ``max_rank`` or better when given: the urgent lane).

        Due means ``queued`` or ``retry_wait`` with ``due_at <= now``. A ``sending`` row whose
        lease expired lost its holder mid-send: an ``unknown`` attempt is recorded for it and
        it is due again when ``repeatable``, else it fails (technical, outcome unknown).
        Each claimed row moves to ``sending`` with a fresh lease token.

        Returns:
            the claimed deliveries, and the status changes of rows failed as unknown.
        """

    @abstractmethod
    async def renew_leases(self, lease_tokens: Sequence[str], until: datetime) -> int:
        """Extend the leases still held under these tokens; returns rows renewed."""

    @abstractmethod
    async def record_outcomes(
        self, outcomes: Sequence[Outcome], now: datetime
    ) -> list[StatusChange]:
        """Write attempts and move deliveries on, in one transaction, each fenced by its lease
        token; applies receipts that arrived before the send was recorded. Returns the changes
        actually made."""

    @abstractmethod
    async def overdue_fallbacks(self, now: datetime, limit: int) -> list[StatusChange]:
        """Sent steps of fallback announcements whose ``fallback_after`` passed with no
        receipt; each is returned once, so its next channel goes out once."""

    @abstractmethod
    async def next_due(self, channel: str) -> datetime | None:
        """When the next delivery of ``channel`` falls due (a lease expiry counts)."""

    @abstractmethod
    async def has_due_work(self, now: datetime) -> bool:
        """True while an announcement is due for release or fanning out, a delivery is due
        (``queued``/``retry_wait`` with ``due_at <= now``) or a delivery is ``sending``."""

    # -- receipts --------------------------------------------------------------------------
    @abstractmethod
    async def add_receipts(
        self, receipts: Sequence[ReceiptIn], now: datetime
    ) -> tuple[list[bool], list[StatusChange]]:
        """Store receipts and apply them: status only moves forward (``sent → delivered`` or
        ``sent → failed``), a repeat changes nothing. A receipt for an unknown provider id is
        kept and applied when the send is recorded. Returns per receipt whether it changed a
        delivery, and the changes."""

    # -- reading ---------------------------------------------------------------------------
    @abstractmethod
    async def get_delivery(self, delivery_id: str) -> Delivery:
        """A delivery with every attempt and receipt; ``NotFoundError`` if none."""

    @abstractmethod
    async def list_deliveries(
        self,
        announcement_id: str,
        *,
        status: DeliveryStatus | None,
        channel: str | None,
        after: str | None,
        limit: int,
    ) -> Page[Delivery]:
        """Deliveries of an announcement in id order, without attempts and receipts."""

    @abstractmethod
    async def status_totals(self) -> dict[tuple[str, str], int]:
        """Deliveries per (channel, status), over all announcements (for metrics)."""

    # -- bounces ---------------------------------------------------------------------------
    @abstractmethod
    async def count_failed_receipts(self, channel: str, address: str, code_prefix: str) -> int:
        """How many deliveries to ``address`` on ``channel`` got a failed receipt whose
        provider code starts with ``code_prefix`` (e-mail hard bounces: ``"5."``)."""

    # -- plugin state ----------------------------------------------------------------------
    @abstractmethod
    async def state_get(self, namespace: str, key: str) -> StateEntry | None:
        """A plugin's document under ``key``, or None."""

    @abstractmethod
    async def state_put(
        self,
        namespace: str,
        key: str,
        value: dict[str, Any],
        *,
        now: datetime,
        expect_version: int | None = None,
    ) -> int | None:
        """Write a document and return its new version. With ``expect_version`` the write
        happens only if the stored version is that one (0: no document yet); None if not."""

    @abstractmethod
    async def state_delete(self, namespace: str, key: str) -> bool:
        """Remove a document; False if there was none."""

    @abstractmethod
    async def state_items(
        self, namespace: str, *, prefix: str = "", after: str | None = None, limit: int = 1000
    ) -> list[StateEntry]:
        """Documents whose key starts with ``prefix``, in key order, with key after ``after``."""

    @abstractmethod
    async def acquire_lease(self, name: str, owner: str, *, now: datetime, until: datetime) -> bool:
        """Take the named lease (or extend it, for its holder) until ``until``; False while
        another owner holds it unexpired. Works across processes sharing the store."""

    @abstractmethod
    async def release_lease(self, name: str, owner: str) -> None:
        """Give the named lease up if ``owner`` holds it."""

    # -- areas and public reading ----------------------------------------------------------
    @abstractmethod
    async def area_subtree(self, codes: Sequence[str]) -> set[str]:
        """``codes`` and every area under them."""

    @abstractmethod
    async def area_lineage(self, code: str) -> list[str]:
        """``code`` and its parents up to the root, nearest first (``[code]`` if unknown)."""

    @abstractmethod
    async def released_announcements(self, *, after: str | None, limit: int) -> Page[Announcement]:
        """Announcements that were released, newest first, without counts."""

    # -- people ----------------------------------------------------------------------------
    @abstractmethod
    async def contacts_by_address(
        self, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """The contact id that holds each ``(channel, normalised address)``, where one does."""

    @abstractmethod
    async def set_consent(
        self, contact_id: str, channel: str, *, opted_in: bool, source: str, now: datetime
    ) -> bool:
        """Record a person's choice about a channel (opting in also lifts an earlier refusal
        by their address); False when there is no such contact."""

    @abstractmethod
    async def consents(self, contact_id: str) -> list[Consent]:
        """Every consent recorded for a contact."""

    @abstractmethod
    async def contact_erased(self, contact_id: str) -> bool | None:
        """True if erased, False if live, None if there is no such contact."""

    @abstractmethod
    async def erase_contact(self, contact_id: str, now: datetime) -> bool:
        """Remove the person's name, area, tags and addresses (also from their deliveries and
        replies); keep deliveries' statuses, attempts and receipts. False if no such contact."""

    @abstractmethod
    async def list_contacts(self, *, after: str | None, limit: int) -> Page[Contact]:
        """Live contacts in id order, a page at a time."""

    @abstractmethod
    async def recent_counts(
        self, contact_ids: Sequence[str], since: datetime, until: datetime
    ) -> DayCounts:
        """Per (contact, channel), non-emergency deliveries first due in [since, until) and
        not suppressed, cancelled or expired."""

    @abstractmethod
    async def search_areas(self, query: str, *, limit: int) -> list[Area]:
        """Areas whose name contains ``query``, with or without tone marks."""

    @abstractmethod
    async def known_areas(self, codes: Sequence[str]) -> set[str]:
        """Those of ``codes`` that are areas."""
