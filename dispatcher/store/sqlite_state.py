"""The plugin part of the SQLite store: plugins' documents, named leases, area lineage and
the released announcements the public feeds show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from sqlite3 import Connection
from typing import Any

from dispatcher import jsontext
from dispatcher.store import sqlite_rows as rows
from dispatcher.store.base import Page, StateEntry
from dispatcher.store.sqlite_conn import SQLiteConnections
from schemas import Announcement


def _entry(row: Any) -> StateEntry:
    return StateEntry(
        key=row["key"],
        value=jsontext.loads(row["value"]),
        version=row["version"],
        updated_at=rows.dt_req(row["updated_at"]),
    )


_TAKE_LEASE = (
    "INSERT INTO leases (name, owner, until) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until "
    "WHERE leases.owner = excluded.owner OR leases.until <= ?"
)


def _put(
    db: Connection, at: tuple[str, str], text: str, now: float | None, expect: int | None
) -> int | None:
    """Write the document at ``(namespace, key)``; None when it is not at version ``expect``."""
    row = db.execute(
        "SELECT version FROM plugin_state WHERE namespace = ? AND key = ?", at
    ).fetchone()
    current = 0 if row is None else int(row[0])
    if expect is not None and expect != current:
        return None
    db.execute(
        "INSERT INTO plugin_state (namespace, key, value, version, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET "
        "value = excluded.value, version = excluded.version, updated_at = excluded.updated_at",
        (*at, text, current + 1, now),
    )
    return current + 1


class SQLiteState(SQLiteConnections):
    """Plugin documents and leases (see :class:`~dispatcher.store.base.Store`)."""

    async def state_get(self, namespace: str, key: str) -> StateEntry | None:
        """The document under ``key``, or None."""
        row = await self._fetchone(
            "SELECT key, value, version, updated_at FROM plugin_state "
            "WHERE namespace = ? AND key = ?",
            (namespace, key),
        )
        return None if row is None else _entry(row)

    async def state_put(
        self,
        namespace: str,
        key: str,
        value: dict[str, Any],
        *,
        now: datetime,
        expect_version: int | None = None,
    ) -> int | None:
        """Write a document; with ``expect_version`` only over that version (0: absent)."""
        text = jsontext.dumps(value)
        return await self._transaction(
            lambda db: _put(db, (namespace, key), text, rows.ts(now), expect_version)
        )

    async def state_delete(self, namespace: str, key: str) -> bool:
        """Remove a document; False if there was none."""
        return await self._transaction(
            lambda db: bool(
                db.execute(
                    "DELETE FROM plugin_state WHERE namespace = ? AND key = ?", (namespace, key)
                ).rowcount
            )
        )

    async def state_items(
        self, namespace: str, *, prefix: str = "", after: str | None = None, limit: int = 1000
    ) -> list[StateEntry]:
        """Documents whose key starts with ``prefix``, in key order, after ``after``."""
        found = await self._fetchall(
            "SELECT key, value, version, updated_at FROM plugin_state "
            "WHERE namespace = ? AND substr(key, 1, ?) = ? AND key > ? "
            "ORDER BY key LIMIT ?",
            (namespace, len(prefix), prefix, after or "", limit),
        )
        return [_entry(row) for row in found]

    async def acquire_lease(self, name: str, owner: str, *, now: datetime, until: datetime) -> bool:
        """Take or extend the lease ``name`` for ``owner``; False while another holds it."""
        params = (name, owner, rows.ts(until), rows.ts(now))
        return await self._transaction(lambda db: bool(db.execute(_TAKE_LEASE, params).rowcount))

    async def release_lease(self, name: str, owner: str) -> None:
        """Give up the lease ``name`` if ``owner`` holds it."""
        await self._transaction(
            lambda db: db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))
        )

    async def area_subtree(self, codes: Sequence[str]) -> set[str]:
        """``codes`` and every area under them."""
        if not codes:
            return set()
        found = await self._fetchall(
            "WITH RECURSIVE sub(code) AS (SELECT value FROM json_each(?) "
            "UNION SELECT a.code FROM areas a JOIN sub ON a.parent_code = sub.code) "
            "SELECT code FROM sub",
            (jsontext.dumps(list(codes)),),
        )
        return {row["code"] for row in found}

    async def area_lineage(self, code: str) -> list[str]:
        """``code`` and its parents up to the country, nearest first ([code] if unknown)."""
        found = await self._fetchall(
            "WITH RECURSIVE up(code, parent, depth) AS ("
            "SELECT code, parent_code, 0 FROM areas WHERE code = ? "
            "UNION ALL SELECT a.code, a.parent_code, up.depth + 1 FROM areas a "
            "JOIN up ON a.code = up.parent WHERE up.depth < 32) "
            "SELECT code FROM up ORDER BY depth",
            (code,),
        )
        return [row["code"] for row in found] or [code]

    async def released_announcements(self, *, after: str | None, limit: int) -> Page[Announcement]:
        """Announcements that were released (sending, completed, cancelled or expired after
        release), newest first."""
        found = await self._fetchall(
            f"SELECT {rows.ANNOUNCEMENT_COLUMNS} FROM announcements "
            "WHERE released_at IS NOT NULL AND (:after IS NULL OR id < :after) "
            "ORDER BY id DESC LIMIT :limit",
            {"after": after, "limit": limit + 1},
        )
        items = [rows.announcement(row) for row in found[:limit]]
        return Page(items, items[-1].id if len(found) > limit else None)
