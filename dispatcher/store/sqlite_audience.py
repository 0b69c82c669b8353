"""The SQL that selects an audience from the contacts directory, a batch at a time."""

from __future__ import annotations

from typing import Any

from dispatcher import jsontext
from dispatcher.store import sqlite_rows as rows
from schemas import Audience

_SUBTREE = (
    "{name}(code) AS (SELECT value FROM json_each(:{name}) "
    "UNION SELECT a.code FROM areas a JOIN {name} ON a.parent_code = {name}.code)"
)
_HAS_TAG = (
    "EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id "
    "AND t.tag IN (SELECT value FROM json_each(:{name})))"
)


def audience_query(
    audience: Audience, *, after: str | None, limit: int
) -> tuple[str, dict[str, Any]]:
    """SQL and parameters for the next ``limit`` contacts of ``audience`` after id ``after``.

    Areas and tags together must both match; listed contact ids are added; exclusions win.
    The ``+`` before ``area_code`` keeps SQLite walking contacts in id order (one pass over
    the table for the whole fan-out) instead of sorting every area match for every batch.
    """
    params: dict[str, Any] = {"after": after or "", "limit": limit}
    ctes: list[str] = []
    selectors: list[str] = []
    if audience.areas or audience.tags:
        both: list[str] = []
        if audience.areas:
            ctes.append(_SUBTREE.format(name="inc_area"))
            params["inc_area"] = jsontext.dumps(audience.areas)
            both.append("+c.area_code IN (SELECT code FROM inc_area)")
        if audience.tags:
            params["inc_tag"] = jsontext.dumps(audience.tags)
            both.append(_HAS_TAG.format(name="inc_tag"))
        selectors.append("(" + " AND ".join(both) + ")")
    if audience.contact_ids:
        params["inc_id"] = jsontext.dumps(audience.contact_ids)
        selectors.append("c.id IN (SELECT value FROM json_each(:inc_id))")
    if not selectors:
        selectors.append("0")
    excluded: list[str] = []
    exclude = audience.exclude
    if exclude.areas:
        ctes.append(_SUBTREE.format(name="exc_area"))
        params["exc_area"] = jsontext.dumps(exclude.areas)
        excluded.append("coalesce(+c.area_code IN (SELECT code FROM exc_area), 0)")
    if exclude.tags:
        params["exc_tag"] = jsontext.dumps(exclude.tags)
        excluded.append(_HAS_TAG.format(name="exc_tag"))
    if exclude.contact_ids:
        params["exc_id"] = jsontext.dumps(exclude.contact_ids)
        excluded.append("c.id IN (SELECT value FROM json_each(:exc_id))")
    with_clause = ("WITH RECURSIVE " + ", ".join(ctes) + " ") if ctes else ""
    not_excluded = "".join(f" AND NOT ({e})" for e in excluded)
    columns = ", ".join("c." + col for col in rows.RECIPIENT_COLUMNS.split(", "))
    sql = (
        f"{with_clause}SELECT {columns} "
        "FROM contacts c WHERE c.id > :after AND c.erased_at IS NULL "
        f"AND ({' OR '.join(selectors)}){not_excluded} "
        "ORDER BY c.id LIMIT :limit"
    )
    return sql, params
