"""ZNS template messages to phone numbers: the request body and what fills it.

Send (``POST <zns_url>/message/template``, header ``access_token``)::

    {"phone": "84912345678", "template_id": "231677",
     "template_data": {"title": "...", ...}, "tracking_id": "<delivery id>",
     "mode": "development"}                     # only for announcements flagged test
    → {"error": 0, "message": "Success", "data": {"msg_id": "...", "sent_time": "...",
       "quota": {"dailyQuota": "500", "remainingQuota": "499"}}}

``tracking_id`` is the delivery id; Zalo echoes it in the ``user_received_message``
event. ``mode: development`` sends only to the app's and OA's administrators, which is
what a test announcement wants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from dispatcher import OutboundMessage
from schemas import Announcement, Contact


def zns_phone(e164: str) -> str:
    """``+84912345678`` → ``84912345678``: Zalo's documented form (no ``+``)."""
    return e164.lstrip("+")


def is_phone(address: str) -> bool:
    """Whether a normalised Zalo address is a phone number (E.164), not a user id."""
    return address.startswith("+")


def zns_body(message: OutboundMessage, template_id: str, data: Mapping[str, str]) -> dict[str, Any]:
    """The request body of one ZNS message."""
    body: dict[str, Any] = {
        "phone": zns_phone(message.address),
        "template_id": template_id,
        "template_data": dict(data),
        "tracking_id": message.delivery_id,
    }
    if message.test:
        body["mode"] = "development"
    return body


def param_context(
    message: OutboundMessage,
    announcement: Announcement | None,
    contact: Contact | None,
    zone: str,
) -> dict[str, Any]:
    """What a template parameter may be filled from (see ``ZnsSettings.params``)."""
    sent = message_time(message, announcement, zone)
    return {
        "title": message.title,
        "body": message.body,
        "announcement_id": message.announcement_id,
        "delivery_id": message.delivery_id,
        "priority": message.priority.value,
        "issuer": (announcement.issuer or "") if announcement else "",
        "date": sent,
        "variables": dict(announcement.variables) if announcement else {},
        "contact": {
            "id": contact.id if contact else "",
            "name": contact.name if contact else "",
            "area_code": (contact.area_code or "") if contact else "",
        },
        **(dict(announcement.variables) if announcement else {}),
    }


def message_time(message: OutboundMessage, announcement: Announcement | None, zone: str) -> str:
    """The announcement's release date as ``dd/mm/yyyy`` in ``zone`` ("" when unknown)."""
    when = announcement.released_at or announcement.created_at if announcement else None
    return when.astimezone(ZoneInfo(zone)).strftime("%d/%m/%Y") if when else ""
