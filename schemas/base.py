"""The base of every input model: strict, and only text that can be stored as UTF-8."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator


def _check_text(value: Any, where: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{where or 'a field'} holds a lone surrogate (an invalid \\ud800-style escape): "
                "send valid Unicode text"
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_text(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_text(item, f"{where}[{index}]")


def _valid(value: Any) -> bool:
    """Whether every string in ``value`` encodes, asked quickly: an ASCII string (most of
    them) needs no encoding to know; :func:`_check_text` names the place when one fails."""
    if isinstance(value, str):
        if value.isascii():
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_valid(key) and _valid(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return all(_valid(item) for item in value)
    return True


class InputModel(BaseModel):
    """Refuses strings that are not valid Unicode (JSON allows lone ``\\ud800`` escapes,
    which could never be written out again)."""

    @model_validator(mode="after")
    def _valid_unicode(self) -> Any:
        for name, value in self.__dict__.items():
            if not isinstance(value, BaseModel) and not _valid(value):
                _check_text(value, name)
        return self
