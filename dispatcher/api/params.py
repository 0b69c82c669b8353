"""Reading what a request carries: JSON bodies, query parameters, opaque cursors.

Every failure becomes a :class:`ProblemError` or :class:`InvalidRequestError` naming the
part of the request that is wrong; nothing here lets a malformed input through as a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from enum import StrEnum
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from dispatcher.api.endpoint import Param
from dispatcher.api.problems import ProblemError, field_errors
from dispatcher.errors import InvalidRequestError

M = TypeVar("M", bound=BaseModel)
E = TypeVar("E", bound=StrEnum)

# A \uXXXX escape of a UTF-16 surrogate: JSON allows a lone one, UTF-8 (and SQLite) cannot
# hold it, and pydantic lets it through plain ``str`` fields.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def is_json(content_type: str) -> bool:
    """True for ``application/json`` and ``application/*+json``."""
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def read_text(request: web.Request) -> str:
    """The body as text; too large raises aiohttp's 413, which becomes a problem."""
    raw = await request.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(
            400,
            f"the body is not UTF-8 (byte {exc.start}): send it encoded as UTF-8",
            kind="invalid-body",
            title="Unreadable body",
        ) from None


def _has_lone_surrogate(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def parse_json(text: str) -> Any:
    """Parse JSON text, with a 400 problem saying where it breaks.

    Text with an unpaired surrogate escape (``"\\ud800"``) is refused too: it is valid JSON
    but not text that can be stored.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        detail = f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except RecursionError:
        detail = "the body is not acceptable JSON: it is nested too deeply"
    else:
        if not (_SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(data)):
            return data
        detail = "the body has a \\u escape of an unpaired UTF-16 surrogate: send real text"
    raise ProblemError(400, detail, kind="invalid-json", title="Malformed JSON")


def check_json_text(text: str) -> None:
    """Raise the 400 problem :func:`parse_json` would, without keeping the result.

    Cheap for ordinary text: it parses only when a surrogate escape appears at all.
    """
    if _SURROGATE_ESCAPE.search(text):
        parse_json(text)


async def read_json(request: web.Request) -> Any:
    """The body parsed as JSON; it must be sent as ``application/json``."""
    if not is_json(request.content_type):
        raise ProblemError(
            400,
            f"the body must be JSON sent with Content-Type: application/json, "
            f"not {request.content_type}",
            kind="invalid-content-type",
            title="Wrong content type",
        )
    return parse_json(await read_text(request))


async def read_model(request: web.Request, model: type[M]) -> M:
    """The JSON body validated as ``model``; 422 with every field error otherwise."""
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError(
            f"the body is not a valid {model.__name__}: see errors", field_errors(exc)
        ) from None


def encode_cursor(scope: str, cursor: str | None) -> str | None:
    """Wrap a store cursor so that it is opaque and tied to the listing it came from."""
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(f"{scope}|{cursor}".encode()).decode().rstrip("=")


def decode_cursor(scope: str, value: str) -> str | None:
    """The store cursor inside ``value``, or None when ``value`` is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    found, sep, cursor = text.partition("|")
    return cursor if sep and found == scope and cursor else None


class Query:
    """The query string of a listing, checked parameter by parameter.

    Problems are collected, so one answer names every bad parameter; call :meth:`check`
    after reading them all.
    """

    def __init__(self, request: web.Request, allowed: Collection[str]) -> None:
        self._query = request.query
        self.errors: list[dict[str, object]] = []
        self._bad: list[str] = []
        for name in sorted(set(self._query)):
            if name not in allowed:
                self._error(
                    name, f"unknown parameter; this route takes {', '.join(sorted(allowed))}"
                )
            elif len(self._query.getall(name)) > 1:
                self._error(name, "given more than once; give it once")

    def _error(self, name: str, msg: str) -> None:
        self.errors.append({"loc": ["query", name], "msg": msg})
        self._bad.append(name)

    def text(self, name: str, max_length: int = 200) -> str | None:
        """A free-text parameter, or None when absent."""
        value = self._query.get(name)
        if value is not None and not 1 <= len(value) <= max_length:
            self._error(name, f"must be 1 to {max_length} characters")
            return None
        return value

    def flag(self, name: str) -> bool:
        """A ``true``/``false`` parameter; absent is false."""
        value = self._query.get(name)
        if value not in (None, "true", "false"):
            self._error(name, "must be true or false")
        return value == "true"

    def enum(self, name: str, kind: type[E]) -> E | None:
        """A parameter that must be one of ``kind``'s values, or None when absent."""
        value = self._query.get(name)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            self._error(name, f"must be one of {', '.join(m.value for m in kind)}")
            return None

    def limit(self, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
        """The page size, 1 to ``maximum``."""
        value = self._query.get("limit")
        if value is None:
            return default
        # The length check comes first: int() refuses strings of over 4300 digits.
        if len(value) <= 6 and value.isascii() and value.isdigit() and 1 <= int(value) <= maximum:
            return int(value)
        self._error("limit", f"must be a whole number from 1 to {maximum}")
        return default

    def cursor(self, scope: str) -> str | None:
        """The store cursor from ``cursor``, which must come from this same listing."""
        value = self._query.get("cursor")
        if value is None:
            return None
        found = decode_cursor(scope, value)
        if found is None:
            self._error("cursor", "not a cursor from this listing: pass next_cursor back as is")
        return found

    def check(self) -> None:
        """Raise ``InvalidRequestError`` naming every bad parameter, if any."""
        if self.errors:
            names = ", ".join(self._bad)
            raise InvalidRequestError(f"invalid query parameter(s): {names}", self.errors)


def enum_param(name: str, kind: type[StrEnum], description: str) -> Param:
    """An OpenAPI description of an enum query parameter."""
    return Param(name, "query", {"type": "string", "enum": [m.value for m in kind]}, description)


LIMIT = Param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    "Most items in one page.",
)
CURSOR = Param(
    "cursor", "query", {"type": "string"}, "The next_cursor of the previous page, as given."
)
