"""Turning SQLite rows into schema objects, and times into the REAL seconds SQLite keeps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dispatcher import jsontext
from dispatcher.store.base import Recipient
from schemas import (
    Announcement,
    AnnouncementIn,
    AnnouncementStatus,
    Attempt,
    AttemptOutcome,
    Contact,
    Delivery,
    DeliveryStatus,
    FailureKind,
    Receipt,
)

Row = Any  # sqlite3.Row


def ts(value: datetime | None) -> float | None:
    """Epoch seconds of an aware datetime (None stays None)."""
    return None if value is None else value.timestamp()


def dt(value: float | None) -> datetime | None:
    """UTC datetime of epoch seconds (None stays None)."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def dt_req(value: float) -> datetime:
    """UTC datetime of epoch seconds that cannot be None."""
    return datetime.fromtimestamp(value, UTC)


ANNOUNCEMENT_COLUMNS = "id, data, status, created_at, released_at, finished_at, created_by"


def announcement(row: Row, counts: dict[str, dict[str, int]] | None = None) -> Announcement:
    """An announcement row (see ANNOUNCEMENT_COLUMNS) with optional counts."""
    data = AnnouncementIn.model_validate_json(row["data"])
    return Announcement(
        **data.model_dump(),
        id=row["id"],
        status=AnnouncementStatus(row["status"]),
        created_at=dt_req(row["created_at"]),
        released_at=dt(row["released_at"]),
        finished_at=dt(row["finished_at"]),
        created_by=row["created_by"],
        counts=counts or {},
    )


CONTACT_COLUMNS = "id, name, area_code, language, tags, addresses, opt_outs, preferred_channels"


def contact(row: Row) -> Contact:
    """A contact row (see CONTACT_COLUMNS)."""
    return Contact.model_construct(
        id=row["id"],
        name=row["name"],
        area_code=row["area_code"],
        language=row["language"],
        tags=_json(row["tags"]),
        addresses=_json(row["addresses"]),
        opt_outs=_json(row["opt_outs"]),
        preferred_channels=_json(row["preferred_channels"]),
    )


# Contacts by id (a JSON array of ids) as one JSON array of objects, read by contacts().
CONTACTS_BY_ID_SQL = (
    "SELECT json_group_array(json_object('id', id, 'name', name, 'area_code', area_code, "
    "'language', language, 'tags', json(tags), 'addresses', json(addresses), "
    "'opt_outs', json(opt_outs), 'preferred_channels', json(preferred_channels))) "
    "FROM contacts WHERE id IN (SELECT value FROM json_each(?))"
)


def contacts(found: list[dict[str, Any]]) -> list[Contact]:
    """The contacts of CONTACTS_BY_ID_SQL, its JSON parsed."""
    return [Contact.model_construct(**fields) for fields in found]


RECIPIENT_COLUMNS = "id, addresses, opt_outs, preferred_channels"


def recipients_sql(sql: str) -> str:
    """``sql``, a query of RECIPIENT_COLUMNS ordered by id, as one JSON array of its rows."""
    return (
        "SELECT json_group_array(json_array(id, json(addresses), json(opt_outs), "
        f"json(preferred_channels))) FROM ({sql})"
    )


def recipients(found: list[list[Any]]) -> list[Recipient]:
    """The rows of :func:`recipients_sql`, its JSON parsed, in id order."""
    batch = [Recipient(*row) for row in found]
    batch.sort(key=lambda r: r.id)  # an aggregate keeps its subquery's order in practice only
    return batch


def _json(text: str) -> Any:
    # Most contacts have no tags, opt-outs or preferences: skip the parser for those.
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return jsontext.loads(text)


DELIVERY_COLUMNS = (
    "id, announcement_id, channel, address, contact_id, status, failure_kind, reason, "
    "provider_id, provider_code, attempt_count, unknown_count, due_at, created_at, updated_at, "
    "note"
)


def delivery(
    row: Row, attempts: list[Attempt] | None = None, receipts: list[Receipt] | None = None
) -> Delivery:
    """A delivery row (see DELIVERY_COLUMNS)."""
    status = DeliveryStatus(row["status"])
    return Delivery(
        id=str(row["id"]),
        announcement_id=row["announcement_id"],
        channel=row["channel"],
        address=row["address"],
        contact_id=row["contact_id"],
        status=status,
        failure_kind=FailureKind(row["failure_kind"]) if row["failure_kind"] else None,
        reason=row["reason"],
        note=row["note"],
        provider_id=row["provider_id"],
        provider_code=row["provider_code"],
        attempt_count=row["attempt_count"],
        unknown_count=row["unknown_count"],
        due_at=dt(row["due_at"]) if not status.is_final else None,
        created_at=dt_req(row["created_at"]),
        updated_at=dt_req(row["updated_at"]),
        attempts=attempts or [],
        receipts=receipts or [],
    )


def attempt(row: Row) -> Attempt:
    """An attempts row."""
    return Attempt(
        number=row["number"],
        started_at=dt_req(row["started_at"]),
        outcome=AttemptOutcome(row["outcome"]),
        latency_ms=row["latency_ms"],
        provider_id=row["provider_id"],
        provider_code=row["provider_code"],
        reason=row["reason"],
        retry_at=dt(row["retry_at"]),
    )


def receipt(row: Row) -> Receipt:
    """A receipts row."""
    return Receipt(
        channel=row["channel"],
        provider_id=row["provider_id"],
        status=DeliveryStatus(row["status"]),
        occurred_at=dt(row["occurred_at"]),
        provider_code=row["provider_code"],
        detail=row["detail"],
        received_at=dt_req(row["received_at"]),
        applied=bool(row["applied"]),
    )
