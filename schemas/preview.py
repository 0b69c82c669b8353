"""What a draft announcement would do, per channel, before anything is sent."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChannelPreview(BaseModel):
    """One channel's share of a draft.

    Attributes:
        text: the text the first recipient would get, as the channel would send it.
        details: channel facts (SMS: encoding, segments, stripped diacritics).
        problems: why the channel would refuse it; an announcement with problems is refused.
        recipients: deliveries that would be queued (including those that wait).
        suppressed: deliveries that would not go out, counted by reason ("opted out of this
            channel", "no address for this channel", "daily cap reached", "duplicate", …).
        deferred: queued deliveries that would wait, by reason ("quiet hours").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    text: str
    details: dict[str, Any] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)
    recipients: int = 0
    suppressed: dict[str, int] = Field(default_factory=dict)
    deferred: dict[str, int] = Field(default_factory=dict)


class Preview(BaseModel):
    """Every channel of a draft announcement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: list[ChannelPreview]
    recipients: int = Field(description="deliveries that would be queued, all channels")
    duplicates: int = Field(
        default=0, description="addresses reached twice through overlapping selectors"
    )
