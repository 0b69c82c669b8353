"""The directory part of the SQLite store: API keys, contacts, areas, audiences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from sqlite3 import Connection
from typing import Any

from dispatcher import jsontext
from dispatcher.store import sqlite_rows as rows
from dispatcher.store.base import ApiKey, Recipient
from dispatcher.store.sqlite_audience import audience_query
from dispatcher.store.sqlite_conn import SQLiteConnections
from dispatcher.text import fold
from schemas import Area, Audience, Contact, Inbound

OPT_OUTS_FROM_CONSENTS = (
    "UPDATE contacts SET opt_outs = (SELECT coalesce(json_group_array(channel), '[]') FROM "
    "(SELECT channel FROM consents WHERE contact_id = contacts.id AND opted_in = 0 "
    "ORDER BY channel)) WHERE id = ?"
)


def write_consent(
    db: Connection,
    contact_id: str,
    channel: str,
    opted_in: bool,
    source: str,
    now: datetime,
) -> None:
    """Record a consent and keep the contact's ``opt_outs`` in step, in ``db``'s transaction."""
    db.execute(
        "INSERT INTO consents (contact_id, channel, opted_in, at, source) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (contact_id, channel) DO UPDATE SET opted_in = excluded.opted_in, "
        "at = excluded.at, source = excluded.source",
        (contact_id, channel, int(opted_in), now.timestamp(), source),
    )
    db.execute(OPT_OUTS_FROM_CONSENTS, (contact_id,))


def _write_contacts(db: Connection, contacts: Sequence[Contact], stamp: float | None) -> None:
    """Insert or replace ``contacts`` with their tags, opt-outs and addresses. Each table's
    rows are made as they are written: an import's memory does not hold them all at once."""
    db.executemany(
        "INSERT INTO contacts (id, name, area_code, language, tags, addresses, opt_outs, "
        "preferred_channels, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
        "area_code = excluded.area_code, language = excluded.language, "
        "tags = excluded.tags, addresses = excluded.addresses, "
        "opt_outs = excluded.opt_outs, preferred_channels = excluded.preferred_channels, "
        "updated_at = excluded.updated_at, erased_at = NULL",
        (
            (
                c.id,
                c.name,
                c.area_code,
                c.language,
                jsontext.dumps(c.tags),
                jsontext.dumps(c.addresses),
                jsontext.dumps(c.opt_outs),
                jsontext.dumps(c.preferred_channels),
                stamp,
                stamp,
            )
            for c in contacts
        ),
    )
    db.executemany("DELETE FROM contact_tags WHERE contact_id = ?", ((c.id,) for c in contacts))
    db.executemany(
        "INSERT OR IGNORE INTO contact_tags (tag, contact_id) VALUES (?, ?)",
        ((tag, c.id) for c in contacts for tag in c.tags),
    )
    # An import can opt a person out, never back in: that takes a recorded consent.
    db.executemany(
        "INSERT INTO consents (contact_id, channel, opted_in, at, source) "
        "VALUES (?, ?, 0, ?, 'import') ON CONFLICT (contact_id, channel) DO UPDATE SET "
        "opted_in = 0, at = excluded.at, source = excluded.source "
        "WHERE consents.opted_in = 1",
        ((c.id, ch, stamp) for c in contacts for ch in c.opt_outs),
    )
    db.executemany(OPT_OUTS_FROM_CONSENTS, ((c.id,) for c in contacts))
    db.executemany(
        "DELETE FROM contact_addresses WHERE contact_id = ?", ((c.id,) for c in contacts)
    )
    db.executemany(
        "INSERT OR REPLACE INTO contact_addresses (channel, address, contact_id) VALUES (?, ?, ?)",
        ((ch, address, c.id) for c in contacts for ch, address in c.addresses.items()),
    )


def _add_opt_out(db: Connection, channel: str, address: str, source: str, now: datetime) -> bool:
    added = (
        db.execute(
            "INSERT OR IGNORE INTO opt_outs (channel, address, at, source) VALUES (?, ?, ?, ?)",
            (channel, address, now.timestamp(), source),
        ).rowcount
        == 1
    )
    # The person behind the address, if the directory knows them, opts out too.
    owners = db.execute(
        "SELECT contact_id FROM contact_addresses WHERE channel = ? AND address = ?",
        (channel, address),
    ).fetchall()
    for (contact_id,) in owners:
        write_consent(db, contact_id, channel, False, source, now)
    return added


def _add_inbound(db: Connection, values: tuple[object, ...]) -> tuple[int | None, Any]:
    """Insert a reply linked to the latest delivery sent to its sender: (its id, that row)."""
    channel, sender = values[0], values[1]
    last = db.execute(
        "SELECT id, announcement_id FROM deliveries WHERE channel = ? AND address = ? "
        "AND status IN ('sent', 'delivered', 'failed') AND provider_id IS NOT NULL "
        "ORDER BY id DESC LIMIT 1",
        (channel, sender),
    ).fetchone()
    cur = db.execute(
        "INSERT INTO inbound_messages (channel, sender, text, provider_id, received_at, "
        "opted_out, announcement_id, delivery_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*values, last["announcement_id"] if last else None, last["id"] if last else None),
    )
    return cur.lastrowid, last


class SQLiteDirectory(SQLiteConnections):
    """Keys, contacts and areas; :class:`SQLiteStore` adds announcements and the queue."""

    # -- API keys --------------------------------------------------------------------------
    async def add_api_key(self, key: ApiKey, token_hash: str) -> None:
        """Store a new key under the hash of its token."""
        params = (key.id, key.name, key.role, token_hash, rows.ts(key.created_at))
        await self._transaction(
            lambda db: db.execute(
                "INSERT INTO api_keys (id, name, role, token_hash, created_at) VALUES (?,?,?,?,?)",
                params,
            )
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
        await self._transaction(lambda db: _write_contacts(db, contacts, stamp))
        return len(contacts)

    async def upsert_areas(self, areas: Sequence[Area]) -> int:
        """Insert or replace areas by code, in one transaction."""
        params = [(a.code, a.name, a.parent_code, fold(a.name)) for a in areas]
        await self._transaction(
            lambda db: db.executemany(
                "INSERT INTO areas (code, name, parent_code, folded) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (code) DO UPDATE SET name = excluded.name, "
                "parent_code = excluded.parent_code, folded = excluded.folded",
                params,
            )
        )
        return len(areas)

    async def audience_batch(
        self, audience: Audience, *, after: str | None, limit: int
    ) -> list[Recipient]:
        """Contacts matching ``audience``, by id, after ``after``."""
        sql, params = audience_query(audience, after=after, limit=limit)
        return rows.recipients(await self._fetch_rows(rows.recipients_sql(sql), params))

    async def get_contacts(self, ids: Sequence[str]) -> dict[str, Contact]:
        """Contacts by id."""
        if not ids:
            return {}
        # One JSON value for the batch (a worker reads a send batch's contacts at once).
        found = await self._fetch_rows(rows.CONTACTS_BY_ID_SQL, (jsontext.dumps(list(ids)),))
        return {c.id: c for c in rows.contacts(found)}

    # -- replies and opt-outs --------------------------------------------------------------
    async def add_opt_out(self, channel: str, address: str, source: str, now: datetime) -> bool:
        """Record that ``address`` refused ``channel``; False if it already had."""
        return await self._transaction(lambda db: _add_opt_out(db, channel, address, source, now))

    async def opted_out(self, channel: str, addresses: Sequence[str]) -> set[str]:
        """Those of ``addresses`` that refused ``channel``."""
        if not addresses:
            return set()
        found = await self._fetchall(
            "SELECT address FROM opt_outs WHERE channel = ? "
            "AND address IN (SELECT value FROM json_each(?))",
            (channel, jsontext.dumps(list(addresses))),
        )
        return {row["address"] for row in found}

    async def add_inbound(
        self,
        channel: str,
        sender: str,
        text: str,
        *,
        provider_id: str | None,
        received_at: datetime,
        opted_out: bool,
    ) -> Inbound:
        """Store a reply, linked to the latest delivery that went out to ``sender``."""
        if provider_id is not None:
            # A gateway that retries a reply it already handed over gets the first one back.
            seen = await self._inbound_rows(
                "channel = ? AND provider_id = ?", (channel, provider_id), 1
            )
            if seen:
                return seen[0]
        values = (channel, sender, text, provider_id, received_at.timestamp(), int(opted_out))
        row_id, last = await self._transaction(lambda db: _add_inbound(db, values))
        return Inbound(
            id=str(row_id),
            channel=channel,
            sender=sender,
            text=text,
            provider_id=provider_id,
            received_at=received_at,
            announcement_id=last["announcement_id"] if last else None,
            delivery_id=str(last["id"]) if last else None,
            opted_out=opted_out,
        )

    async def list_inbound(self, announcement_id: str, *, limit: int) -> list[Inbound]:
        """Replies linked to an announcement, oldest first."""
        return await self._inbound_rows("announcement_id = ?", (announcement_id,), limit)

    async def _inbound_rows(self, where: str, params: tuple[str, ...], limit: int) -> list[Inbound]:
        found = await self._fetchall(
            f"SELECT * FROM inbound_messages WHERE {where} ORDER BY id LIMIT ?", (*params, limit)
        )
        return [
            Inbound(
                id=str(r["id"]),
                channel=r["channel"],
                sender=r["sender"],
                text=r["text"],
                provider_id=r["provider_id"],
                received_at=rows.dt_req(r["received_at"]),
                announcement_id=r["announcement_id"],
                delivery_id=None if r["delivery_id"] is None else str(r["delivery_id"]),
                opted_out=bool(r["opted_out"]),
            )
            for r in found
        ]

    # -- bounces ---------------------------------------------------------------------------
    async def count_failed_receipts(self, channel: str, address: str, code_prefix: str) -> int:
        """Deliveries to ``address`` with a failed receipt coded ``code_prefix…``; the same
        bounce imported twice counts once."""
        row = await self._fetchone(
            "SELECT count(DISTINCT r.delivery_id) AS n FROM receipts r "
            "JOIN deliveries d ON d.id = r.delivery_id "
            "WHERE r.channel = ? AND d.channel = ? AND d.address = ? AND r.status = 'failed' "
            "AND substr(r.provider_code, 1, length(?)) = ?",
            (channel, channel, address, code_prefix, code_prefix),
        )
        return int(row["n"]) if row is not None else 0
