"""Per-announcement options of the loudspeaker channel: ``content.loudspeaker.options``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_RECORDING = re.compile(r"^[0-9a-f]{64}$")
MAX_REPEATS = 30
MAX_DAYS = 14


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """How an announcement is broadcast.

    Attributes:
        repeats: how many times it plays in all (default 1).
        days: over how many days the repeats are spread (default 1).
        recording: the SHA-256 of an uploaded recording that replaces the spoken script.
        formula: False leaves out the commune's opening and closing formula.
    """

    repeats: int = 1
    days: int = 1
    recording: str | None = None
    formula: bool = True


def parse_options(options: Mapping[str, object]) -> tuple[BroadcastOptions, list[str]]:
    """The options, and a problem for each unknown or bad one (defaults stand in for those)."""
    problems = [
        f"unknown option {name!r} for channel 'loudspeaker': use repeats, days, recording "
        "or formula"
        for name in options
        if name not in {"repeats", "days", "recording", "formula"}
    ]
    repeats = _count(options, "repeats", MAX_REPEATS, problems)
    days = _count(options, "days", MAX_DAYS, problems)
    if days > repeats:
        problems.append(f"days ({days}) is more than repeats ({repeats}): each day needs a play")
    recording = options.get("recording")
    if recording is not None and not (isinstance(recording, str) and _RECORDING.match(recording)):
        problems.append("recording must be the id (SHA-256) 'thongbao loudspeaker upload' answered")
        recording = None
    formula = options.get("formula", True)
    if not isinstance(formula, bool):
        problems.append("formula must be true or false")
        formula = True
    return BroadcastOptions(
        repeats, days, recording if isinstance(recording, str) else None, formula
    ), problems


def _count(options: Mapping[str, object], name: str, top: int, problems: list[str]) -> int:
    value = options.get(name, 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        problems.append(f"{name} must be a whole number from 1 to {top}")
        return 1
    return value
