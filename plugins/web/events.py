"""The JSON events thongbao posts: webhooks to subscribers and status callbacks.

Every event is ``{"type": …, "timestamp": …, "data": {…}}`` (the Standard Webhooks payload
shape), compact UTF-8 JSON. Types:

- ``announcement.released``: to subscribers; ``data`` is :func:`announcement_data`;
- ``announcement.cancelled``: to the subscribers that were sent it, when it is cancelled;
  ``data`` is :func:`cancellation_data` (queued by the callbacks outbox);
- ``announcement.released`` / ``.completed`` / ``.cancelled`` / ``.expired``: status
  callbacks, ``data`` is :func:`status_data`;
- ``deliveries.finished``: status callbacks that asked for deliveries; ``data`` lists the
  deliveries that reached a final state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dispatcher import StatusChange
from plugins.web.links import page_url
from schemas import Announcement, AnnouncementStatus

# Announcement statuses a callback names; fanning_out is the release.
STATUS_EVENT = {
    AnnouncementStatus.FANNING_OUT: "announcement.released",
    AnnouncementStatus.COMPLETED: "announcement.completed",
    AnnouncementStatus.CANCELLED: "announcement.cancelled",
    AnnouncementStatus.EXPIRED: "announcement.expired",
}
DELIVERIES_EVENT = "deliveries.finished"


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def encode(event_type: str, at: datetime, data: Mapping[str, Any]) -> bytes:
    """The exact bytes of an event (what is signed and sent)."""
    event = {"type": event_type, "timestamp": _time(at), "data": data}
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def announcement_data(
    announcement: Announcement,
    public_url: str,
    *,
    title: str | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    """What a subscriber learns of an announcement: its public fields and page.

    ``title`` and ``body`` replace the announcement's (the web channel's own wording).
    """
    return {
        "id": announcement.id,
        "title": title if title is not None else announcement.title,
        "body": body if body is not None else announcement.body,
        "language": announcement.language,
        "priority": announcement.priority.value,
        "issuer": announcement.issuer,
        "tags": list(announcement.tags),
        "areas": list(announcement.audience.areas),
        "excluded_areas": list(announcement.audience.exclude.areas),
        "released_at": _time(announcement.released_at),
        "expires_at": _time(announcement.expires_at),
        "updates": announcement.updates,
        "test": announcement.test,
        "url": page_url(public_url, announcement.id),
        "attachments": [a.model_dump(mode="json") for a in announcement.attachments],
    }


def status_data(
    announcement: Announcement, status: AnnouncementStatus, at: datetime
) -> dict[str, Any]:
    """What a status callback says of an announcement that moved to ``status``."""
    data: dict[str, Any] = {
        "id": announcement.id,
        "external_ref": announcement.external_ref,
        "status": "released" if status is AnnouncementStatus.FANNING_OUT else status.value,
        "at": _time(at),
    }
    if announcement.counts:
        data["counts"] = announcement.counts
    return data


def cancellation_data(announcement_id: str, at: datetime, public_url: str) -> dict[str, Any]:
    """What a subscriber that was sent an announcement learns of its cancellation."""
    return {
        "id": announcement_id,
        "status": "cancelled",
        "at": _time(at),
        "url": page_url(public_url, announcement_id),
    }


def deliveries_data(announcement: Announcement, changes: Sequence[StatusChange]) -> dict[str, Any]:
    """What a status callback says of deliveries that reached a final state."""
    return {
        "announcement_id": announcement.id,
        "external_ref": announcement.external_ref,
        "deliveries": [
            {
                "id": c.delivery_id,
                "channel": c.channel,
                "status": c.status.value,
                "reason": c.reason,
                "contact_id": c.contact_id,
            }
            for c in changes
        ],
    }
