"""A plugin whose hook name is misspelled: ``register_channel`` is not a thongbao hook."""

from __future__ import annotations

from collections.abc import Iterator

from dispatcher import ChannelSpec, hookimpl


@hookimpl
def register_channel() -> Iterator[ChannelSpec]:
    """Meant to be ``register_channels``."""
    yield from ()
