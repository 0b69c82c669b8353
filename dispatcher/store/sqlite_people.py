"""The people part of the SQLite store: addresses that identify a person, consent, erasure,
export, per-person counts for caps, and area search."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from sqlite3 import Connection

from dispatcher import jsontext
from dispatcher.store import sqlite_rows as rows
from dispatcher.store.base import DayCounts, Page
from dispatcher.store.sqlite_conn import SQLiteConnections
from dispatcher.store.sqlite_directory import write_consent
from dispatcher.store.sqlite_queue import RECENT_COUNTS_SQL, day_counts, recent_counts_params
from dispatcher.text import fold
from schemas import Area, Consent, Contact

ERASED = "erased"


def _set_consent(
    db: Connection, contact_id: str, channel: str, opted_in: bool, source: str, now: datetime
) -> bool:
    if not db.execute(
        "SELECT 1 FROM contacts WHERE id = ? AND erased_at IS NULL", (contact_id,)
    ).fetchone():
        return False
    write_consent(db, contact_id, channel, opted_in, source, now)
    if opted_in:
        # A renewed consent lifts a refusal the address made earlier (an SMS STOP).
        db.execute(
            "DELETE FROM opt_outs WHERE channel = ? AND address IN (SELECT address FROM "
            "contact_addresses WHERE contact_id = ? AND channel = ?)",
            (channel, contact_id, channel),
        )
    return True


def _erase(db: Connection, contact_id: str, now: float) -> bool:
    row = db.execute("SELECT addresses FROM contacts WHERE id = ?", (contact_id,)).fetchone()
    if row is None:
        return False
    addresses = jsontext.loads(row["addresses"])
    db.execute(
        "UPDATE contacts SET name = '', area_code = NULL, tags = '[]', addresses = '{}', "
        "preferred_channels = '[]', erased_at = ?, updated_at = ? WHERE id = ?",
        (now, now, contact_id),
    )
    db.execute("DELETE FROM contact_tags WHERE contact_id = ?", (contact_id,))
    db.execute("DELETE FROM contact_addresses WHERE contact_id = ?", (contact_id,))
    # Deliveries keep their status, attempts and receipts; the address goes.
    db.execute(
        "UPDATE deliveries SET address = ? || ':' || id WHERE contact_id = ?", (ERASED, contact_id)
    )
    db.executemany(
        "UPDATE inbound_messages SET sender = ?, text = '' WHERE channel = ? AND sender = ?",
        [(ERASED, channel, address) for channel, address in addresses.items()],
    )
    return True


class SQLitePeople(SQLiteConnections):
    """See the people section of :class:`~dispatcher.store.base.Store`."""

    async def contacts_by_address(
        self, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """The contact id that holds each ``(channel, normalised address)``, where one does."""
        if not pairs:
            return {}
        found = await self._fetchall(
            "SELECT a.channel, a.address, a.contact_id FROM contact_addresses a "
            "JOIN (SELECT json_extract(value, '$[0]') AS channel, "
            "json_extract(value, '$[1]') AS address FROM json_each(?)) w "
            "ON a.channel = w.channel AND a.address = w.address",
            (jsontext.dumps([list(p) for p in pairs]),),
        )
        return {(r["channel"], r["address"]): r["contact_id"] for r in found}

    async def set_consent(
        self, contact_id: str, channel: str, *, opted_in: bool, source: str, now: datetime
    ) -> bool:
        """Record a consent; False when there is no such contact."""
        return await self._transaction(
            lambda db: _set_consent(db, contact_id, channel, opted_in, source, now)
        )

    async def consents(self, contact_id: str) -> list[Consent]:
        """Every consent recorded for a contact, by channel."""
        found = await self._fetchall(
            "SELECT channel, opted_in, at, source FROM consents WHERE contact_id = ? "
            "ORDER BY channel",
            (contact_id,),
        )
        return [
            Consent(
                channel=r["channel"],
                opted_in=bool(r["opted_in"]),
                at=rows.dt_req(r["at"]),
                source=r["source"],
            )
            for r in found
        ]

    async def contact_erased(self, contact_id: str) -> bool | None:
        """True if erased, False if live, None if there is no such contact."""
        row = await self._fetchone("SELECT erased_at FROM contacts WHERE id = ?", (contact_id,))
        return None if row is None else row["erased_at"] is not None

    async def erase_contact(self, contact_id: str, now: datetime) -> bool:
        """Remove a person's data; keep the delivery statistics. False if no such contact."""
        return await self._transaction(lambda db: _erase(db, contact_id, now.timestamp()))

    async def list_contacts(self, *, after: str | None, limit: int) -> Page[Contact]:
        """Live (not erased) contacts in id order, a page at a time (for export)."""
        found = await self._fetchall(
            f"SELECT {rows.CONTACT_COLUMNS} FROM contacts WHERE erased_at IS NULL AND id > ? "
            "ORDER BY id LIMIT ?",
            (after or "", limit + 1),
        )
        items = [rows.contact(r) for r in found[:limit]]
        return Page(items, items[-1].id if len(found) > limit else None)

    async def recent_counts(
        self, contact_ids: Sequence[str], since: datetime, until: datetime
    ) -> DayCounts:
        """Per (contact, channel), non-emergency deliveries due from ``since`` until before
        ``until`` that were not suppressed, cancelled or expired (what a daily cap counts;
        a delivery held for the morning counts on the morning's day)."""
        if not contact_ids:
            return day_counts([], contact_ids, since, until)
        found = await self._fetch_rows(
            RECENT_COUNTS_SQL, recent_counts_params(contact_ids, since, until)
        )
        return day_counts(found, contact_ids, since, until)

    async def search_areas(self, query: str, *, limit: int) -> list[Area]:
        """Areas whose name contains ``query``, with or without tone marks; shortest first."""
        found = await self._fetchall(
            "SELECT code, name, parent_code FROM areas WHERE folded LIKE ? ESCAPE '\\' "
            "ORDER BY length(name), code LIMIT ?",
            ("%" + _like(fold(query)) + "%", limit),
        )
        return [Area(code=r["code"], name=r["name"], parent_code=r["parent_code"]) for r in found]

    async def known_areas(self, codes: Sequence[str]) -> set[str]:
        """Those of ``codes`` that are areas."""
        if not codes:
            return set()
        found = await self._fetchall(
            "SELECT code FROM areas WHERE code IN (SELECT value FROM json_each(?))",
            (jsontext.dumps(list(codes)),),
        )
        return {r["code"] for r in found}


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
