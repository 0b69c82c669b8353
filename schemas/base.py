"""The base of every input model: strict, and only text that can be stored as UTF-8."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import Enum
from typing import Any

from pydantic import BaseModel, model_validator


def _bad_place(value: Any) -> str | None:
    """Where in ``value`` a string cannot be encoded as UTF-8 (``""`` for ``value`` itself or
    a dict's key, ``".key"``, ``"[3]"``, and so on inwards), or None when all can. An ASCII
    string (most of them) needs no encoding to know; the place is put together only on the
    way out of a failure."""
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return ""
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if _bad_place(key) is not None:
                return ""
            inner = _bad_place(item)
            if inner is not None:
                return f".{key}{inner}"
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            inner = _bad_place(item)
            if inner is not None:
                return f"[{index}]{inner}"
    return None


# Values that hold no text: nothing to check.
_PLAIN = frozenset({int, float, bool, datetime, date, time})


class InputModel(BaseModel):
    """Refuses strings that are not valid Unicode (JSON allows lone ``\\ud800`` escapes,
    which could never be written out again)."""

    @model_validator(mode="after")
    def _valid_unicode(self) -> Any:
        for name, value in self.__dict__.items():
            # The usual fields first, without a call: ASCII text, None, numbers, times. Every
            # SMS delivery report comes through here once, as a receipt.
            kind = type(value)
            if kind is str:
                if value.isascii():
                    continue
            elif value is None or kind in _PLAIN or isinstance(value, Enum):
                continue  # an enum's text is ours, not the sender's
            place = None if isinstance(value, BaseModel) else _bad_place(value)
            if place is not None:
                raise ValueError(
                    f"{name}{place} holds a lone surrogate (an invalid \\ud800-style escape): "
                    "send valid Unicode text"
                )
        return self
