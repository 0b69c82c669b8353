"""A plugin that loads: one channel, ``fake``, and an observer of the dispatcher starting."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import structlog
from pydantic import BaseModel, ConfigDict

from dispatcher import (
    Accepted,
    Channel,
    ChannelSpec,
    OutboundMessage,
    SendResult,
    hookimpl,
)

log = structlog.get_logger(__name__)


class FakePluginSettings(BaseModel):
    """Settings of the ``fake`` channel: none."""

    model_config = ConfigDict(extra="forbid")


class FakePluginChannel(Channel):
    """Accepts every message, with provider id ``fake-<delivery id>``."""

    max_batch = 10

    async def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        """Accept the whole batch."""
        return [Accepted(provider_id=f"fake-{message.delivery_id}") for message in batch]


@hookimpl
def register_channels() -> Iterator[ChannelSpec]:
    """Declare the ``fake`` channel."""
    yield ChannelSpec(
        name="fake",
        factory=FakePluginChannel,
        settings=FakePluginSettings,
        description="Accepts everything (the tests' third-party plugin)",
    )


@hookimpl
def dispatcher_started(channels: Sequence[str]) -> None:
    """Say that the fake plugin saw the dispatcher start."""
    log.info("fake_plugin_started", channels=list(channels))
