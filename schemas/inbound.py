"""Messages citizens send back, and their opt-outs."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Inbound(BaseModel):
    """A reply as stored, linked to the announcement it most likely answers.

    ``announcement_id`` and ``delivery_id`` name the latest delivery that went out to
    ``sender`` on ``channel`` (None when nothing did).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    channel: str
    sender: str
    text: str = Field(max_length=5000)
    provider_id: str | None = None
    received_at: datetime
    announcement_id: str | None = None
    delivery_id: str | None = None
    opted_out: bool = False


class OptOut(BaseModel):
    """An address that refused a channel, with when and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    address: str
    at: datetime
    source: str
