"""SQLite schema migrations: an ordered list of named functions, recorded in ``_migrations``.

Add a migration by appending ``m00N_what_it_does``; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from dispatcher.text import fold

Migration = Callable[[aiosqlite.Connection], Awaitable[None]]

_M001 = """
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE announcements (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    status TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,
    send_at REAL,
    expires_at REAL,
    created_at REAL NOT NULL,
    released_at REAL,
    finished_at REAL,
    created_by TEXT,
    fanout_cursor TEXT
);
CREATE INDEX announcements_release ON announcements (status, send_at);
CREATE TABLE idempotency (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    announcement_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE TABLE areas (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_code TEXT
);
CREATE INDEX areas_parent ON areas (parent_code);
CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    area_code TEXT,
    language TEXT NOT NULL,
    tags TEXT NOT NULL,
    addresses TEXT NOT NULL,
    opt_outs TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX contacts_area ON contacts (area_code, id);
CREATE TABLE contact_tags (
    tag TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (tag, contact_id)
) WITHOUT ROWID;
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    announcement_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    contact_id TEXT,
    status TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,
    due_at REAL NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    unknown_count INTEGER NOT NULL DEFAULT 0,
    lease_token TEXT,
    lease_expires REAL,
    failure_kind TEXT,
    reason TEXT,
    provider_id TEXT,
    provider_code TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (announcement_id, channel, address)
);
CREATE INDEX deliveries_due ON deliveries (channel, priority_rank, due_at)
    WHERE status IN ('queued', 'retry_wait');
CREATE INDEX deliveries_lease ON deliveries (channel, lease_expires) WHERE status = 'sending';
CREATE INDEX deliveries_provider ON deliveries (channel, provider_id)
    WHERE provider_id IS NOT NULL;
CREATE INDEX deliveries_announcement ON deliveries (announcement_id, status);
CREATE TABLE attempts (
    delivery_id INTEGER NOT NULL,
    number INTEGER NOT NULL,
    started_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms REAL,
    provider_id TEXT,
    provider_code TEXT,
    reason TEXT,
    retry_at REAL,
    PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;
CREATE TABLE receipts (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    status TEXT NOT NULL,
    occurred_at REAL,
    provider_code TEXT,
    detail TEXT,
    received_at REAL NOT NULL,
    delivery_id INTEGER,
    applied INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX receipts_unmatched ON receipts (channel, provider_id) WHERE delivery_id IS NULL;
CREATE INDEX receipts_delivery ON receipts (delivery_id);
"""


async def _run(db: aiosqlite.Connection, script: str) -> None:
    # executescript() commits on its own; statements run one by one stay in our transaction.
    for statement in script.split(";"):
        if statement.strip():
            await db.execute(statement)


async def m001_initial(db: aiosqlite.Connection) -> None:
    """Keys, announcements, directory, deliveries, attempts, receipts."""
    await _run(db, _M001)


_M002 = """
CREATE TABLE opt_outs (
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    at REAL NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (channel, address)
) WITHOUT ROWID;
CREATE TABLE inbound_messages (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    provider_id TEXT,
    received_at REAL NOT NULL,
    announcement_id TEXT,
    delivery_id INTEGER,
    opted_out INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX inbound_announcement ON inbound_messages (announcement_id);
CREATE UNIQUE INDEX inbound_provider ON inbound_messages (channel, provider_id)
    WHERE provider_id IS NOT NULL;
CREATE INDEX deliveries_address ON deliveries (channel, address, id)
"""


async def m002_replies_and_opt_outs(db: aiosqlite.Connection) -> None:
    """Opt-outs by address (a STOP reply, an unsubscribe link) and citizens' replies."""
    await _run(db, _M002)


_M003 = """
ALTER TABLE announcements ADD COLUMN fallback_after REAL;
ALTER TABLE deliveries ADD COLUMN fallback_at REAL;
CREATE INDEX deliveries_fallback ON deliveries (fallback_at) WHERE fallback_at IS NOT NULL
"""


async def m003_fallback_deadline(db: aiosqlite.Connection) -> None:
    """When a sent but undelivered step of a fallback announcement lets the next one go."""
    await _run(db, _M003)


_M004 = """
CREATE TABLE plugin_state (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
)
"""


async def m004_plugin_state(db: aiosqlite.Connection) -> None:
    """Documents plugins keep (tokens, subscriptions, devices) and named leases."""
    await _run(db, _M004)


_M005 = """
ALTER TABLE areas ADD COLUMN folded TEXT NOT NULL DEFAULT '';
CREATE INDEX areas_folded ON areas (folded);
ALTER TABLE contacts ADD COLUMN preferred_channels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE contacts ADD COLUMN erased_at REAL;
CREATE TABLE contact_addresses (
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (channel, address)
) WITHOUT ROWID;
CREATE INDEX contact_addresses_contact ON contact_addresses (contact_id);
CREATE TABLE consents (
    contact_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    opted_in INTEGER NOT NULL,
    at REAL NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (contact_id, channel)
) WITHOUT ROWID;
ALTER TABLE deliveries ADD COLUMN note TEXT;
CREATE INDEX deliveries_contact ON deliveries (contact_id, channel, created_at)
    WHERE contact_id IS NOT NULL
"""


async def m005_people(db: aiosqlite.Connection) -> None:
    """Area names folded for search, addresses indexed for de-duplication, consent with
    time and source, preferred channels, erasure, and per-person counts for caps."""
    await _run(db, _M005)
    async with db.execute("SELECT code, name FROM areas") as cur:
        found = await cur.fetchall()
    await db.executemany(
        "UPDATE areas SET folded = ? WHERE code = ?", [(fold(row[1]), row[0]) for row in found]
    )


async def m006_contact_tags_by_contact(db: aiosqlite.Connection) -> None:
    """Tags found by contact too: an import replaces each contact's tags, and without this
    index every one of those deletes read the whole table (an import of 200,000 tagged
    contacts in batches of 50,000 did not end in ten minutes)."""
    await _run(db, "CREATE INDEX contact_tags_contact ON contact_tags (contact_id)")


async def m007_counts_from_the_index(db: aiosqlite.Connection) -> None:
    """An announcement's counts by status and channel read from an index alone. The counts
    had to read every delivery row: 29 ms an announcement of 50,000, 750 ms one of 900,000,
    at every poll of its status; now 4.5 and 90 ms. The index takes the place of
    (announcement_id, status), so a delivery's moves write as many index entries as before."""
    await _run(
        db,
        "DROP INDEX deliveries_announcement;"
        "CREATE INDEX deliveries_announcement_status "
        "ON deliveries (announcement_id, status, channel)",
    )


# Where a delivery is counted: the delivery_counts row of its announcement, channel and
# status. SQLite runs these inside the statement that writes the delivery, so a count can
# never disagree with the rows (a delivery's channel and announcement never change, but
# the triggers move the count whichever of the three does).
_COUNT_IN = (
    "INSERT INTO delivery_counts VALUES (NEW.announcement_id, NEW.channel, NEW.status, 1) "
    "ON CONFLICT DO UPDATE SET n = n + 1"
)
_COUNT_OUT = (
    "UPDATE delivery_counts SET n = n - 1 WHERE announcement_id = OLD.announcement_id "
    "AND channel = OLD.channel AND status = OLD.status"
)
_M008 = (
    "CREATE TABLE delivery_counts (announcement_id TEXT NOT NULL, channel TEXT NOT NULL, "
    "status TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (announcement_id, channel, status)) "
    "WITHOUT ROWID",
    "INSERT INTO delivery_counts SELECT announcement_id, channel, status, count(*) "
    "FROM deliveries GROUP BY announcement_id, channel, status",
    f"CREATE TRIGGER deliveries_counted AFTER INSERT ON deliveries BEGIN {_COUNT_IN}; END",
    "CREATE TRIGGER deliveries_recounted AFTER UPDATE OF status, announcement_id, channel "
    "ON deliveries WHEN OLD.status IS NOT NEW.status "
    "OR OLD.announcement_id IS NOT NEW.announcement_id OR OLD.channel IS NOT NEW.channel "
    f"BEGIN {_COUNT_OUT}; {_COUNT_IN}; END",
    f"CREATE TRIGGER deliveries_uncounted AFTER DELETE ON deliveries BEGIN {_COUNT_OUT}; END",
    "DROP INDEX deliveries_announcement_status",
    "CREATE INDEX deliveries_announcement ON deliveries (announcement_id)",
)


async def m008_counts_kept_by_triggers(db: aiosqlite.Connection) -> None:
    """Counts by announcement, channel and status in a table of their own, kept by triggers,
    instead of counted from an index at every read. m007's index still read every entry of
    an announcement: 286 ms a poll of its status, and as much a scrape of /metrics, for one
    of 1,000,000 deliveries (``bench/status_reads.py``). The index it replaces, with the
    status in its key, moved an entry at every status change; the one on announcement_id
    alone is written once a delivery and lets a page of deliveries stop at its last row."""
    for statement in _M008:
        await db.execute(statement)


MIGRATIONS: list[Migration] = [
    m001_initial,
    m002_replies_and_opt_outs,
    m003_fallback_deadline,
    m004_plugin_state,
    m005_people,
    m006_contact_tags_by_contact,
    m007_counts_from_the_index,
    m008_counts_kept_by_triggers,
]


async def migrate(db: aiosqlite.Connection) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied.

    Each migration runs in its own transaction with its record, so a crash leaves the
    database at a known version.
    """
    await db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    await db.commit()
    async with db.execute("SELECT name FROM _migrations") as cur:
        done = {row[0] for row in await cur.fetchall()}
    applied = []
    for migration in MIGRATIONS:
        name = migration.__name__
        if name in done:
            continue
        await db.execute("BEGIN IMMEDIATE")
        try:
            await migration(db)
            await db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))", (name,)
            )
            await db.commit()
        except Exception:
            await db.rollback()
            raise
        applied.append(name)
    return applied
