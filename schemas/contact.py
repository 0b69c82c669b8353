"""Contacts (people who may be in an audience) and administrative areas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.announcement import AreaCode, ChannelName, Tag
from schemas.base import InputModel


class Contact(InputModel):
    """One person in the directory, with an address per channel.

    ``id`` is the caller's own (external) id: importing a contact with an id that exists
    updates it. ``opt_outs`` lists channels the person refused; they are suppressed there.
    ``preferred_channels`` orders a fallback announcement's channels for this person.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=128)]
    name: str = Field(default="", max_length=200)
    area_code: AreaCode | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    language: str = Field(default="vi", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    addresses: dict[ChannelName, Annotated[str, Field(min_length=1, max_length=320)]] = Field(
        default_factory=dict
    )
    opt_outs: list[ChannelName] = Field(default_factory=list)
    preferred_channels: list[ChannelName] = Field(default_factory=list, max_length=10)


class ConsentIn(InputModel):
    """A person's choice about one channel, as an operator or a channel records it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    opted_in: bool
    source: str = Field(
        min_length=1,
        max_length=200,
        description="how it was given: 'phone call to the commune office', 'sms-reply:TU CHOI'",
    )


class Consent(ConsentIn):
    """A recorded choice about one channel, with when it was made."""

    channel: ChannelName
    at: datetime


class ContactDetails(BaseModel):
    """A contact with every consent recorded for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contact: Contact
    consents: list[Consent]
    erased: bool = False


class Area(InputModel):
    """An administrative unit; ``parent_code`` makes the hierarchy (province → commune → …)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: AreaCode
    name: str = Field(min_length=1, max_length=200)
    parent_code: AreaCode | None = None
