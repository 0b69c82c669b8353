"""Announcements and their audience, as they cross the API."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AnyHttpUrl, ConfigDict, Field, model_validator

from schemas.base import InputModel

_CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def _channel_name(value: str) -> str:
    if not _CHANNEL_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a channel name: use lower-case letters, digits, '-' or '_'"
        )
    return value


ChannelName = Annotated[str, AfterValidator(_channel_name)]
AreaCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Tag = Annotated[str, Field(min_length=1, max_length=64)]


class Priority(StrEnum):
    """How urgent an announcement is; decides its lane in every queue."""

    EMERGENCY = "emergency"
    HIGH = "high"
    NORMAL = "normal"
    BULK = "bulk"

    @property
    def rank(self) -> int:
        """0 for emergency, 3 for bulk: lower ranks are claimed first."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.EMERGENCY: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.BULK: 3}


class ChannelMode(StrEnum):
    """``all``: every listed channel; ``fallback``: the next channel only if the previous failed."""

    ALL = "all"
    FALLBACK = "fallback"


class AnnouncementStatus(StrEnum):
    """Where an announcement stands as a whole."""

    SCHEDULED = "scheduled"
    FANNING_OUT = "fanning_out"
    SENDING = "sending"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Exclusions(InputModel):
    """Recipients removed from the audience even when a selector matched them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    areas: list[AreaCode] = Field(default_factory=list, max_length=1000)
    tags: list[Tag] = Field(default_factory=list, max_length=1000)
    contact_ids: list[str] = Field(default_factory=list, max_length=100_000)
    addresses: dict[ChannelName, list[str]] = Field(default_factory=dict)


class Audience(InputModel):
    """Who must hear an announcement.

    A contact matches when it lies in one of ``areas`` (an area reaches every area below it)
    or carries one of ``tags``, or is listed in ``contact_ids``. With both ``areas`` and
    ``tags`` given, a contact must match both. ``addresses`` adds explicit addresses per
    channel that need no contact.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    areas: list[AreaCode] = Field(default_factory=list, max_length=1000)
    tags: list[Tag] = Field(default_factory=list, max_length=1000)
    contact_ids: list[str] = Field(default_factory=list, max_length=100_000)
    addresses: dict[ChannelName, list[Annotated[str, Field(min_length=1, max_length=320)]]] = Field(
        default_factory=dict
    )
    exclude: Exclusions = Field(default_factory=Exclusions)

    @model_validator(mode="after")
    def _not_empty(self) -> Audience:
        if not (self.areas or self.tags or self.contact_ids or any(self.addresses.values())):
            raise ValueError(
                "the audience is empty: give at least one of areas, tags, contact_ids or addresses"
            )
        return self


class ChannelContent(InputModel):
    """Per-channel wording that replaces the announcement's title and body on that channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = Field(default=None, max_length=500)
    body: str | None = Field(default=None, min_length=1, max_length=20_000)
    options: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")], bool | int | str] = (
        Field(
            default_factory=dict,
            max_length=20,
            description="channel options, checked by the channel (sms: strip_diacritics)",
        )
    )


class Attachment(InputModel):
    """A document sent with the announcement by reference (e.g. the PDF of the decision).

    Channels that carry files (e-mail) fetch ``url`` when they send; others may link it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: AnyHttpUrl
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^/\\\x00]+$")
    content_type: str = Field(default="application/pdf", pattern=r"^[\w.+-]+/[\w.+-]+$")


class StatusCallback(InputModel):
    """Where another system wants the announcement's status changes posted (signed like the
    web channel's webhooks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: AnyHttpUrl
    deliveries: bool = Field(
        default=False,
        description="also post each delivery's final state, not only the "
        "announcement's (released, completed, cancelled, expired)",
    )


class AnnouncementIn(InputModel):
    """An announcement as a client submits it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=20_000)
    language: str = Field(default="vi", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    priority: Priority = Priority.NORMAL
    channels: list[ChannelName] = Field(min_length=1, max_length=10)
    mode: ChannelMode = ChannelMode.ALL
    audience: Audience
    send_at: datetime | None = None
    expires_at: datetime | None = None
    content: dict[ChannelName, ChannelContent] = Field(default_factory=dict)
    variables: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")], str] = Field(
        default_factory=dict, max_length=100
    )
    external_ref: str | None = Field(default=None, max_length=200)
    issuer: str | None = Field(
        default=None, max_length=200, description='the issuing body, e.g. "UBND phường Bến Nghé"'
    )
    tags: list[Tag] = Field(
        default_factory=list,
        max_length=50,
        description="the announcement's topics; webhook subscriptions filter on them",
    )
    public: bool = Field(
        default=True, description="shown on the public feeds and page once released"
    )
    updates: str | None = Field(
        default=None,
        max_length=64,
        description="id of an earlier announcement this one updates (CAP msgType Update)",
    )
    callback: StatusCallback | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=10)
    test: bool = False
    max_attempts: int = Field(default=5, ge=1, le=50)
    fallback_after: int | None = Field(
        default=None,
        ge=60,
        le=7 * 86400,
        description="with mode fallback: seconds a step may stay sent but undelivered before "
        "the next channel goes out (None: only a failure moves on)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AnnouncementIn:
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channels lists a channel twice: name each channel once")
        for field, value in (("send_at", self.send_at), ("expires_at", self.expires_at)):
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{field} has no time zone: write it as 2026-01-31T08:00:00+07:00")
        if self.fallback_after is not None and self.mode is not ChannelMode.FALLBACK:
            raise ValueError("fallback_after only applies with mode 'fallback'")
        if self.send_at and self.expires_at and self.expires_at <= self.send_at:
            raise ValueError("expires_at must come after send_at")
        stray = sorted(set(self.content) - set(self.channels))
        if stray:
            raise ValueError(f"content is given for channels not in channels: {', '.join(stray)}")
        stray = sorted(set(self.audience.addresses) - set(self.channels))
        if stray:
            raise ValueError(
                f"audience.addresses names channels not in channels: {', '.join(stray)}"
            )
        return self


ChannelCounts = dict[str, dict[str, int]]


class Announcement(AnnouncementIn):
    """An announcement as the store holds it, with its id, state and per-channel counts."""

    id: str
    status: AnnouncementStatus
    created_at: datetime
    released_at: datetime | None = None
    finished_at: datetime | None = None
    created_by: str | None = None
    counts: ChannelCounts = Field(
        default_factory=dict, description="deliveries per channel, then per status"
    )
