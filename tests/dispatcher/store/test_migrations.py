"""Migrations bring a blank database to the current schema, once."""

from __future__ import annotations

import aiosqlite

from dispatcher.store.migrations import MIGRATIONS, migrate

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
            async with db.execute(
                f"EXPLAIN QUERY PLAN DELETE FROM {table} WHERE {column} = ?", ("c1",)
            ) as cur:
                plan = " ".join(row[3] for row in await cur.fetchall())
            assert plan.startswith(f"SEARCH {table} USING"), (table, plan)
