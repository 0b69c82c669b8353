"""Preparing the text of one SMS: options, diacritics, the segment ceiling.

Pure functions shared by intake, the preview and the send path, so the segment count
people see in a preview is the one the gateway is sent. An announcement's SMS options come
from ``content.sms.options``; the one known today is ``strip_diacritics`` (bool), which
wins over the channel's default.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from dispatcher import Inspection, OutboundMessage
from plugins.sms.encoding import TextInfo, analyse, fitting_prefix, strip_diacritics
from plugins.sms.transport import SmsOut

STRIP_DIACRITICS = "strip_diacritics"
KNOWN_OPTIONS = (STRIP_DIACRITICS,)
"""The per-announcement SMS options, sorted."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """The text as it would be sent, and why it cannot be.

    Attributes:
        text: the text to send, NFC-normalised and stripped of diacritics if ``stripped``.
        info: its encoding and segment count.
        stripped: whether diacritics were stripped (allowed, and it saved segments).
        problems: why it cannot be sent (empty, too long, a bad option); empty if fine.
    """

    text: str
    info: TextInfo
    stripped: bool
    problems: list[str]


@lru_cache(maxsize=4096)
def prepare(body: str, *, strip: bool, max_segments: int) -> Prepared:
    """Prepare ``body`` for sending as one SMS of at most ``max_segments`` segments.

    Remembered per text: a bulk send prepares one text for many numbers (the result is
    shared, so it must not be changed).

    Diacritics are stripped only when ``strip`` allows it and it lowers the segment
    count; otherwise the text keeps them (NFC-normalised: decomposed input would cost a
    unit per mark). A text that is empty or longer than ``max_segments`` gets a problem
    that says what to do; it is never truncated.

    Raises:
        ValueError: ``max_segments`` is below 1.
    """
    if max_segments < 1:
        raise ValueError(f"max_segments must be at least 1, not {max_segments}")
    text = unicodedata.normalize("NFC", body)
    info = analyse(text)
    plain = strip_diacritics(text)
    plain_info = analyse(plain)
    if strip and plain_info.segments < info.segments:
        return Prepared(plain, plain_info, True, _text_problems(plain, plain_info, max_segments))
    hint = "" if strip else _strip_hint(plain_info, info, max_segments)
    return Prepared(text, info, False, _text_problems(text, info, max_segments, hint))


def _text_problems(text: str, info: TextInfo, max_segments: int, hint: str = "") -> list[str]:
    if not text.strip():
        return ["the SMS text is empty: write the message to send"]
    if info.segments <= max_segments:
        return []
    return [
        f"the SMS is {_segments(info.segments)} of {info.encoding} ({info.characters} "
        f"characters); at most {_segments(max_segments)} allowed: shorten it to "
        f"{fitting_prefix(text, max_segments)} characters{hint}"
    ]


def _strip_hint(plain: TextInfo, info: TextInfo, max_segments: int) -> str:
    """What allowing ``strip_diacritics`` would do, if it would lower the count."""
    if plain.segments >= info.segments:
        return ""
    if plain.segments <= max_segments:
        return f", or allow {STRIP_DIACRITICS}, which would make it {_segments(plain.segments)}"
    return f" ({STRIP_DIACRITICS} would make it {_segments(plain.segments)}, still too many)"


def _segments(count: int) -> str:
    return f"{count} segment" if count == 1 else f"{count} segments"


def options_problems(options: Mapping[str, Any]) -> list[str]:
    """What is wrong with an announcement's SMS options; empty if nothing."""
    problems = []
    for name, value in options.items():
        if name not in KNOWN_OPTIONS:
            problems.append(
                f"unknown SMS option {name!r}: the known options are {', '.join(KNOWN_OPTIONS)}"
            )
        elif not isinstance(value, bool):
            problems.append(f"SMS option {name!r} must be true or false, not {value!r}")
    return problems


def resolve_strip(options: Mapping[str, Any], default: bool) -> bool:
    """Whether diacritics may be stripped: the announcement's option, else ``default``.

    An invalid option value falls back to ``default``; :func:`options_problems` reports it.
    """
    value = options.get(STRIP_DIACRITICS)
    return value if isinstance(value, bool) else default


def prepare_message(
    message: OutboundMessage, *, default_strip: bool, max_segments: int
) -> Prepared:
    """:func:`prepare` for ``message`` with its options applied; option problems come first."""
    if not message.options:  # the usual case, once per message of a bulk send
        return prepare(message.body, strip=default_strip, max_segments=max_segments)
    prepared = prepare(
        message.body,
        strip=resolve_strip(message.options, default_strip),
        max_segments=max_segments,
    )
    option_problems = options_problems(message.options)
    if not option_problems:
        return prepared
    return replace(prepared, problems=option_problems + prepared.problems)


def inspection(message: OutboundMessage, *, default_strip: bool, max_segments: int) -> Inspection:
    """What the SMS channel would send for ``message``: text, details and problems."""
    prepared = prepare_message(message, default_strip=default_strip, max_segments=max_segments)
    details = {
        "encoding": prepared.info.encoding,
        "segments": prepared.info.segments,
        "characters": prepared.info.characters,
        "units": prepared.info.units,
        "stripped_diacritics": prepared.stripped,
    }
    return Inspection(text=prepared.text, details=details, problems=list(prepared.problems))


def sms_out(message: OutboundMessage, prepared: Prepared) -> SmsOut:
    """The transport's view of ``message`` sent as ``prepared`` (which must have no problems)."""
    return SmsOut(
        message=message,
        text=prepared.text,
        unicode=prepared.info.encoding == "UCS-2",
        segments=prepared.info.segments,
    )
