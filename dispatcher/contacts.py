"""Reading contacts and areas from CSV and JSON, row by row, with a report of bad rows."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas import Area

M = TypeVar("M", bound=BaseModel)

CONTACT_COLUMNS = (
    "id",
    "name",
    "area_code",
    "old_area_code",
    "tags",
    "language",
    "opt_outs",
    "preferred_channels",
)
LIST_COLUMNS = ("tags", "opt_outs", "preferred_channels")
_LIST_SEP = ";"


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def validate_rows(
    model: type[M], rows: Iterable[Mapping[str, Any]]
) -> tuple[list[M], list[tuple[int, str]]]:
    """Validate each row; returns the good models and ``(row number, problem)`` for the rest.

    Row numbers start at 1 for the first data row. A repeated id is a problem too.
    """
    good, errors = numbered_rows(model, rows)
    return [item for _, item in good], errors


def numbered_rows(
    model: type[M], rows: Iterable[Mapping[str, Any]]
) -> tuple[list[tuple[int, M]], list[tuple[int, str]]]:
    """Like :func:`validate_rows`, with each good model's row number."""
    good: list[tuple[int, M]] = []
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            errors.append((number, "each row must be an object"))
            continue
        try:
            item = model.model_validate(row)
        except ValidationError as exc:
            errors.append((number, _explain(exc)))
            continue
        key = getattr(item, "id", None) or getattr(item, "code", None)
        if isinstance(key, str):
            if key in seen:
                errors.append((number, f"id {key!r} repeats row {seen[key]}"))
                continue
            seen[key] = number
        good.append((number, item))
    return good, errors


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(_LIST_SEP) if part.strip()]


def contact_row_from_csv(row: Mapping[str, str | None]) -> dict[str, Any]:
    """Turn one CSV row into a contact dict.

    Columns ``id, name, area_code`` (or ``old_area_code``, a pre-2025 code), ``tags,
    language, opt_outs, preferred_channels``; lists are ``;``-separated.
    Any other column is a channel name and holds that channel's address (``sms``, ``email``…).
    """
    out: dict[str, Any] = {}
    addresses: dict[str, str] = {}
    for column, raw in row.items():
        if column is None:
            out["_extra"] = "the row has more cells than the header"
            continue
        value = (raw or "").strip()
        if column in LIST_COLUMNS:
            out[column] = _split(value)
        elif column in CONTACT_COLUMNS:
            if value:
                out[column] = value
        elif value:
            addresses[column.strip()] = value
    if addresses:
        out["addresses"] = addresses
    return out


def parse_csv(text: str) -> list[dict[str, Any]]:
    """Rows of a CSV file with a header line, as dicts."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    return [dict(row) for row in reader]


def parse_contacts(text: str, fmt: str) -> list[dict[str, Any]]:
    """Contact rows from CSV or JSON (a list of objects, or ``{"contacts": [...]}``)."""
    if fmt == "csv":
        return [contact_row_from_csv(row) for row in parse_csv(text)]
    data = json.loads(text)
    if isinstance(data, dict) and "contacts" in data:
        data = data["contacts"]
    if not isinstance(data, list):
        raise ValueError('a JSON import must be a list of contacts or {"contacts": [...]}')
    return data


def parse_areas(text: str, fmt: str) -> list[dict[str, Any]]:
    """Area rows (``code, name, parent_code``) from CSV or JSON."""
    if fmt == "csv":
        return [{k: v for k, v in row.items() if v} for row in parse_csv(text)]
    data = json.loads(text)
    if isinstance(data, dict) and "areas" in data:
        data = data["areas"]
    if not isinstance(data, list):
        raise ValueError('a JSON import must be a list of areas or {"areas": [...]}')
    return data


def validate_areas(rows: Iterable[Mapping[str, Any]]) -> tuple[list[Area], list[tuple[int, str]]]:
    """Validate area rows (see :func:`validate_rows`)."""
    return validate_rows(Area, rows)
