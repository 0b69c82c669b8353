"""The loudspeaker channel (ward broadcast clusters); only the sandbox transport exists so far."""

from __future__ import annotations

import re

from dispatcher import (
    InvalidAddressError,
    SandboxChannel,
)
from plugins.loudspeaker.settings import LoudspeakerSettings

_CLUSTER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class LoudspeakerChannel(SandboxChannel):
    """Broadcast scripts for a cluster of ward loudspeakers, addressed by cluster id."""

    settings_model = LoudspeakerSettings
    max_batch = 10
    max_length = 5000  # about five minutes of speech
    repeatable = True  # a script is keyed by its delivery id on the controller
    concurrency = 2

    def normalize_address(self, address: str) -> str:
        """A cluster id in lower case."""
        return normalize_cluster_id(address)


def normalize_cluster_id(address: str) -> str:
    """``HN-HoanKiem.HangBac-1`` → ``hn-hoankiem.hangbac-1``.

    Raises:
        InvalidAddressError: not made of letters, digits, '-', '_' and '.'.
    """
    cluster = address.strip().lower()
    if not _CLUSTER_ID.match(cluster):
        raise InvalidAddressError(
            f"{address!r} is not a loudspeaker cluster id: use 1 to 64 lower-case letters, "
            "digits, '-', '_' or '.', starting with a letter or digit, e.g. hn-hoankiem.hangbac-1"
        )
    return cluster
