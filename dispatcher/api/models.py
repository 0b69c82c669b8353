"""Shapes the HTTP API adds around the wire schemas: pages, keys, imports and problems."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, RootModel

from dispatcher.keys import Role
from schemas import Announcement, Area, Contact, Delivery


class AnnouncementPage(BaseModel):
    """One page of announcements, newest first."""

    items: list[Announcement]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )


class DeliveryPage(BaseModel):
    """One page of an announcement's deliveries."""

    items: list[Delivery]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )


class KeyIn(BaseModel):
    """A request for a new API key."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    name: str = Field(default="", max_length=100, description="who or what holds it")


class KeyOut(BaseModel):
    """A new API key; ``token`` is shown this once and never stored."""

    id: str
    name: str
    role: Role
    created_at: datetime
    token: str


class ContactList(BaseModel):
    """Contacts wrapped in an object."""

    contacts: list[Contact]


class AreaList(BaseModel):
    """Areas wrapped in an object."""

    areas: list[Area]


class ContactImport(RootModel[list[Contact] | ContactList]):
    """Contacts to import: a list, or ``{"contacts": [...]}``."""


class AreaImport(RootModel[list[Area] | AreaList]):
    """Areas to import: a list, or ``{"areas": [...]}``."""


class RejectedRow(BaseModel):
    """A row a partial import left out, and why."""

    row: int
    msg: str


class ImportResult(BaseModel):
    """What an import wrote: every row, or (``partial=true``) the good ones."""

    accepted: int
    mapped: int = Field(default=0, description="rows whose pre-2025 area code was mapped")
    rejected: list[RejectedRow] = Field(default_factory=list)


class AreaMatches(BaseModel):
    """Areas found by a search."""

    items: list[Area]


class OfficialAreas(BaseModel):
    """How many official areas were loaded."""

    loaded: int


class Health(BaseModel):
    """A health or readiness answer."""

    status: str


class FieldError(BaseModel):
    """One thing wrong with a request: where (``loc``) and what (``msg``)."""

    loc: list[str | int]
    msg: str


class RowError(BaseModel):
    """One bad row of an import (rows count from 1, the first data row)."""

    row: int
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem document, as every error of this API is answered."""

    type: str = Field(description="about:blank or urn:thongbao:problem:<kind>")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="the request path")
    errors: list[FieldError | RowError] | None = Field(
        default=None, description="422 only: every field (or import row) that is wrong"
    )
    allowed_roles: list[str] | None = Field(default=None, description="403 only")
