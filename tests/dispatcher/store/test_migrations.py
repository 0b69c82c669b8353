"""Migrations bring a blank database to the current schema, once."""

from __future__ import annotations

from typing import Any

import aiosqlite

from dispatcher.store.migrations import MIGRATIONS, migrate
from dispatcher.store.sqlite import (
    ANNOUNCEMENT_COUNTS_SQL,
    DELIVERIES_PAGE_SQL,
    STATUS_TOTALS_SQL,
)

EXPECTED_TABLES = [
    "_migrations",
    "announcements",
    "api_keys",
    "areas",
    "attempts",
    "consents",
    "contact_addresses",
    "contact_tags",
    "contacts",
    "deliveries",
    "delivery_counts",
    "idempotency",
    "inbound_messages",
    "leases",
    "opt_outs",
    "plugin_state",
    "receipts",
]


async def _tables(db: aiosqlite.Connection) -> list[str]:
    async with db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    ) as cur:
        return [row[0] for row in await cur.fetchall()]


async def test_blank_database_gets_every_table() -> None:
    async with aiosqlite.connect(":memory:", isolation_level=None) as db:
        applied = await migrate(db)
        assert [m.__name__ for m in MIGRATIONS] == applied
        assert EXPECTED_TABLES == await _tables(db)


async def test_deliveries_are_unique_per_announcement_channel_and_address() -> None:
    async with aiosqlite.connect(":memory:", isolation_level=None) as db:
        await migrate(db)
        async with db.execute("PRAGMA index_list('deliveries')") as cur:
            unique = [row[1] for row in await cur.fetchall() if row[2]]
        columns = []
        for name in unique:
            async with db.execute(f"PRAGMA index_info('{name}')") as cur:
                columns.append([row[2] for row in await cur.fetchall()])
        assert ["announcement_id", "channel", "address"] in columns


async def test_second_run_applies_nothing() -> None:
    async with aiosqlite.connect(":memory:", isolation_level=None) as db:
        await migrate(db)
        assert [] == await migrate(db)


async def test_what_an_import_finds_by_contact_it_finds_by_index() -> None:
    # An import replaces each contact's tags, addresses and consents by contact id: a scan
    # per contact makes an import of many tagged contacts take quadratic time.
    keyed = [
        ("contacts", "id"),
        ("contact_tags", "contact_id"),
        ("contact_addresses", "contact_id"),
        ("consents", "contact_id"),
    ]
    async with aiosqlite.connect(":memory:", isolation_level=None) as db:
        await migrate(db)
        for table, column in keyed:
            plan = " ".join(await _plan(db, f"DELETE FROM {table} WHERE {column} = ?", ("c1",)))
            assert plan.startswith(f"SEARCH {table} USING"), (table, plan)


async def _plan(db: aiosqlite.Connection, sql: str, params: Any = ()) -> list[str]:
    async with db.execute(f"EXPLAIN QUERY PLAN {sql}", params) as cur:
        return [row[3] for row in await cur.fetchall()]


async def test_status_counts_read_the_kept_counts_not_the_deliveries() -> None:
    # An operator's status page polls an announcement's counts, and /metrics the totals:
    # read from the deliveries' index they took 286 ms each for 1,000,000 deliveries.
    async with aiosqlite.connect(":memory:", isolation_level=None) as db:
        await migrate(db)
        for sql, params in ((ANNOUNCEMENT_COUNTS_SQL, ("a1",)), (STATUS_TOTALS_SQL, ())):
            plan = await _plan(db, sql, params)
            assert any("delivery_counts" in step for step in plan), plan
            assert not any("deliveries" in step.split() for step in plan), plan


async def test_a_page_of_deliveries_stops_at_its_last_row() -> None:
    # Read in id order from an index: a page of 50 of a million reads 51 rows, not all of
    # them and a sort.
    async with aiosqlite.connect(":memory:", isolation_level=None) as db:
        await migrate(db)
        page = {"a": "a1", "status": None, "channel": None, "after": 0, "limit": 51}
        plan = await _plan(db, DELIVERIES_PAGE_SQL, page)
        assert [
            "SEARCH deliveries USING INDEX deliveries_announcement (announcement_id=? AND rowid>?)"
        ] == plan


async def test_a_database_of_the_previous_version_keeps_its_counts() -> None:
    *earlier, last = MIGRATIONS
    async with aiosqlite.connect(":memory:", isolation_level=None) as db:
        db.row_factory = aiosqlite.Row
        await db.execute(
            "CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for migration in earlier:
            await migration(db)
            await db.execute(
                "INSERT INTO _migrations VALUES (?, datetime('now'))", (migration.__name__,)
            )
        await db.executemany(
            "INSERT INTO deliveries (announcement_id, channel, address, status, priority_rank, "
            "due_at, created_at, updated_at) VALUES (?, ?, ?, ?, 2, 0, 0, 0)",
            [
                ("a1", "sms", "+84900000001", "delivered"),
                ("a1", "sms", "+84900000002", "delivered"),
                ("a1", "zalo", "z1", "failed"),
                ("a2", "sms", "+84900000001", "queued"),
            ],
        )
        assert [last.__name__] == await migrate(db)
        async with db.execute(ANNOUNCEMENT_COUNTS_SQL, ("a1",)) as cur:
            counts = {(r["channel"], r["status"]): r["n"] for r in await cur.fetchall()}
        assert {("sms", "delivered"): 2, ("zalo", "failed"): 1} == counts
        async with db.execute(STATUS_TOTALS_SQL) as cur:
            totals = {(r["channel"], r["status"]): r["n"] for r in await cur.fetchall()}
        assert {("sms", "delivered"): 2, ("zalo", "failed"): 1, ("sms", "queued"): 1} == totals
