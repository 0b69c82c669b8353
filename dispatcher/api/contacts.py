"""Directory routes: import contacts and areas, all rows or none."""

from __future__ import annotations

import csv
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from dispatcher.api.endpoint import Endpoint, Param, Reply, json_model
from dispatcher.api.models import AreaImport, ContactImport, ImportResult, RejectedRow
from dispatcher.api.params import Query, check_json_text, is_json, read_text
from dispatcher.api.problems import ProblemError
from dispatcher.contacts import parse_areas, parse_contacts
from dispatcher.keys import Role
from dispatcher.store.base import ImportReport
from dispatcher.webkeys import services

Parser = Callable[[str, str], list[dict[str, Any]]]
Importer = Callable[[list[dict[str, Any]]], Awaitable[ImportReport]]


def _format(content_type: str) -> str:
    if content_type == "text/csv":
        return "csv"
    if is_json(content_type):
        return "json"
    raise ProblemError(
        400,
        f"send the rows as application/json or text/csv, not {content_type}",
        kind="invalid-content-type",
        title="Wrong content type",
    )


async def _read_rows(request: web.Request, parse: Parser) -> list[dict[str, Any]]:
    fmt = _format(request.content_type)
    text = await read_text(request)
    if fmt == "json":
        check_json_text(text)
    try:
        return parse(text, fmt)
    except json.JSONDecodeError as exc:
        raise ProblemError(
            400,
            f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            kind="invalid-json",
            title="Malformed JSON",
        ) from None
    except RecursionError:
        raise ProblemError(
            400, "the body is nested too deeply", kind="invalid-json", title="Malformed JSON"
        ) from None
    except csv.Error as exc:
        raise ProblemError(
            400, f"the body is not readable CSV: {exc}", kind="invalid-csv", title="Malformed CSV"
        ) from None
    except ValueError as exc:  # the JSON parsed, but is not a list of rows
        raise ProblemError(
            422,
            str(exc),
            kind="invalid-request",
            title="Invalid request",
            errors=[{"loc": [], "msg": str(exc)}],
        ) from None


async def _import(request: web.Request, parse: Parser, run: Importer) -> web.Response:
    rows = await _read_rows(request, parse)
    report = await run(rows)
    if report.errors and report.accepted:
        return json_model(
            ImportResult(
                accepted=report.accepted,
                mapped=report.mapped,
                rejected=[RejectedRow(row=row, msg=msg) for row, msg in report.errors],
            )
        )
    if report.errors:
        raise ProblemError(
            422,
            f"{len(report.errors)} of {len(rows)} rows are not valid; nothing was imported",
            kind="invalid-rows",
            title="Invalid rows",
            errors=[{"row": row, "msg": msg} for row, msg in report.errors],
        )
    return json_model(ImportResult(accepted=report.accepted, mapped=report.mapped))


async def import_contacts(request: web.Request) -> web.Response:
    """Add or replace contacts by id (your own id), all of them or (when a row is bad) none.

    JSON: a list of contacts or ``{"contacts": [...]}``. CSV: a header line with ``id, name,
    area_code`` (or ``old_area_code``, a pre-2025 code) ``, tags, language, opt_outs,
    preferred_channels`` (lists ``;``-separated) and one column per channel holding that
    channel's address. ``old_codes=true``: ``area_code`` holds pre-2025 codes.
    ``partial=true``: write the good rows and list the others. A row whose address another
    person holds (in the file or the directory) is refused.
    """
    query = Query(request, ("old_codes", "partial"))
    old_codes, partial = query.flag("old_codes"), query.flag("partial")
    query.check()

    async def run(rows: list[dict[str, Any]]) -> ImportReport:
        return await services(request).import_contacts(rows, old_codes=old_codes, partial=partial)

    return await _import(request, parse_contacts, run)


async def import_areas(request: web.Request) -> web.Response:
    """Add or replace areas by code, all of them or (when a row is bad) none.

    JSON: a list of areas or ``{"areas": [...]}``. CSV: columns ``code, name, parent_code``.
    """
    return await _import(request, parse_areas, services(request).import_areas)


_CSV: dict[str, Any] = {"type": "string", "contentMediaType": "text/csv"}
_BOOL: dict[str, Any] = {"type": "string", "enum": ["true", "false"]}
_DONE = (Reply(200, "Every row was written.", ImportResult),)


def _body(model: Any) -> Mapping[str, Any]:
    return {"application/json": model, "text/csv": _CSV}


ENDPOINTS = (
    Endpoint(
        "POST",
        "/v1/contacts/import",
        import_contacts,
        name="import_contacts",
        summary="Import contacts",
        tag="directory",
        roles=(Role.STAFF,),
        params=(
            Param("old_codes", "query", _BOOL, "area_code holds pre-2025 codes."),
            Param("partial", "query", _BOOL, "Write the good rows, list the bad ones."),
        ),
        body=_body(ContactImport),
        replies=_DONE,
    ),
    Endpoint(
        "POST",
        "/v1/areas/import",
        import_areas,
        name="import_areas",
        summary="Import areas",
        tag="directory",
        roles=(Role.STAFF,),
        body=_body(AreaImport),
        replies=_DONE,
    ),
)
