"""Contacts (people who may be in an audience) and administrative areas."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from schemas.announcement import AreaCode, ChannelName, Tag
from schemas.base import InputModel


class Contact(InputModel):
    """One person in the directory, with an address per channel.

    ``opt_outs`` lists channels the person refused; they are suppressed there.
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


class Area(InputModel):
    """An administrative unit; ``parent_code`` makes the hierarchy (province → commune → …)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: AreaCode
    name: str = Field(min_length=1, max_length=200)
    parent_code: AreaCode | None = None
