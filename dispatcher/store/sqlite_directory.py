"""The directory part of the SQLite store: API keys, contacts, areas, audiences."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from dispatcher.store import sqlite_rows as rows
from dispatcher.store.base import ApiKey
from dispatcher.store.sqlite_audience import audience_query
from dispatcher.store.sqlite_conn import SQLiteConnections
from schemas import Area, Audience, Contact


class SQLiteDirectory(SQLiteConnections):
    """Keys, contacts and areas; :class:`SQLiteStore` adds announcements and the queue."""

    # -- API keys --------------------------------------------------------------------------
    async def add_api_key(self, key: ApiKey, token_hash: str) -> None:
        """Store a new key under the hash of its token."""
        async with self._write() as db:
            await db.execute(
                "INSERT INTO api_keys (id, name, role, token_hash, created_at) VALUES (?,?,?,?,?)",
                (key.id, key.name, key.role, token_hash, rows.ts(key.created_at)),
            )

    async def find_api_key(self, token_hash: str) -> ApiKey | None:
        """The key whose token hashes to ``token_hash``, or None."""
        row = await self._fetchone(
            "SELECT id, name, role, created_at, revoked_at FROM api_keys WHERE token_hash = ?",
            (token_hash,),
        )
        if row is None:
            return None
        return ApiKey(
            id=row["id"],
            name=row["name"],
            role=row["role"],
            created_at=rows.dt_req(row["created_at"]),
            revoked=row["revoked_at"] is not None,
        )

    # -- contacts and areas ----------------------------------------------------------------
    async def upsert_contacts(self, contacts: Sequence[Contact], now: datetime) -> int:
        """Insert or replace contacts by id, in one transaction."""
        stamp = rows.ts(now)
        async with self._write() as db:
            await db.executemany(
                "INSERT INTO contacts (id, name, area_code, language, tags, addresses, opt_outs, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "area_code = excluded.area_code, language = excluded.language, "
                "tags = excluded.tags, addresses = excluded.addresses, "
                "opt_outs = excluded.opt_outs, updated_at = excluded.updated_at",
                [
                    (
                        c.id,
                        c.name,
                        c.area_code,
                        c.language,
                        json.dumps(c.tags, ensure_ascii=False),
                        json.dumps(c.addresses, ensure_ascii=False),
                        json.dumps(c.opt_outs),
                        stamp,
                        stamp,
                    )
                    for c in contacts
                ],
            )
            await db.executemany(
                "DELETE FROM contact_tags WHERE contact_id = ?", [(c.id,) for c in contacts]
            )
            await db.executemany(
                "INSERT OR IGNORE INTO contact_tags (tag, contact_id) VALUES (?, ?)",
                [(tag, c.id) for c in contacts for tag in c.tags],
            )
        return len(contacts)

    async def upsert_areas(self, areas: Sequence[Area]) -> int:
        """Insert or replace areas by code, in one transaction."""
        async with self._write() as db:
            await db.executemany(
                "INSERT INTO areas (code, name, parent_code) VALUES (?, ?, ?) "
                "ON CONFLICT (code) DO UPDATE SET name = excluded.name, "
                "parent_code = excluded.parent_code",
                [(a.code, a.name, a.parent_code) for a in areas],
            )
        return len(areas)

    async def audience_batch(
        self, audience: Audience, *, after: str | None, limit: int
    ) -> list[Contact]:
        """Contacts matching ``audience``, by id, after ``after``."""
        sql, params = audience_query(audience, after=after, limit=limit)
        return [rows.contact(row) for row in await self._fetchall(sql, params)]

    async def get_contacts(self, ids: Sequence[str]) -> dict[str, Contact]:
        """Contacts by id."""
        if not ids:
            return {}
        found = await self._fetchall(
            f"SELECT {rows.CONTACT_COLUMNS} FROM contacts "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        return {row["id"]: rows.contact(row) for row in found}
