"""The wire contract of thongbao: pydantic models only, no I/O, no imports of ours."""

from __future__ import annotations

from schemas.announcement import (
    Announcement,
    AnnouncementIn,
    AnnouncementStatus,
    Attachment,
    Audience,
    ChannelContent,
    ChannelMode,
    Exclusions,
    Priority,
    StatusCallback,
)
from schemas.contact import Area, Consent, ConsentIn, Contact, ContactDetails
from schemas.delivery import (
    Attempt,
    AttemptOutcome,
    Delivery,
    DeliveryStatus,
    FailureKind,
    Receipt,
    ReceiptIn,
)
from schemas.inbound import Inbound, OptOut
from schemas.preview import ChannelPreview, Preview

__all__ = [
    "Announcement",
    "AnnouncementIn",
    "AnnouncementStatus",
    "Area",
    "Attachment",
    "Attempt",
    "AttemptOutcome",
    "Audience",
    "ChannelContent",
    "ChannelMode",
    "ChannelPreview",
    "Consent",
    "ConsentIn",
    "Contact",
    "ContactDetails",
    "Delivery",
    "DeliveryStatus",
    "Exclusions",
    "FailureKind",
    "Inbound",
    "OptOut",
    "Preview",
    "Priority",
    "Receipt",
    "ReceiptIn",
    "StatusCallback",
]
