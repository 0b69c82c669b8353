"""Two processes on one SQLite file: a write waits for the other's lock, then lands.

The other process is a plain ``sqlite3`` connection holding ``BEGIN IMMEDIATE``, as a
``thongbao worker`` beside ``thongbao serve`` would while it writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dispatcher.store import SQLiteStore, sqlite_conn
from schemas import Area

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def other(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    yield conn
    conn.close()


async def test_a_write_waits_for_the_other_process_and_then_lands(
    store: SQLiteStore, other: sqlite3.Connection
) -> None:
    other.execute("BEGIN IMMEDIATE")
    # One write of each kind: an async transaction (areas) and a one-hop one (a claim).
    areas = asyncio.create_task(store.upsert_areas([Area(code="01", name="Hà Nội")]))
    claim = asyncio.create_task(
        store.claim("sms", limit=10, now=NOW, lease_seconds=60, repeatable=True)
    )
    await asyncio.sleep(0.2)
    assert not areas.done()
    assert not claim.done()

    other.execute("COMMIT")

    await asyncio.wait_for(asyncio.gather(areas, claim), 5)
    assert await store.known_areas(["01"]) == {"01"}


async def test_a_write_gives_up_after_busy_timeout_and_the_store_still_works(
    tmp_path: Path, other: sqlite3.Connection
) -> None:
    store = SQLiteStore(tmp_path / "store.db", busy_timeout=0.3)
    await store.open()
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await store.upsert_areas([Area(code="01", name="Hà Nội")])
        assert 0.3 <= time.monotonic() - started < 3
        other.execute("COMMIT")

        await store.upsert_areas([Area(code="02", name="Hà Giang")])
        assert await store.known_areas(["01", "02"]) == {"02"}
    finally:
        await store.close()


async def test_after_waiting_for_the_other_process_bulk_writes_leave_the_lock_a_gap(
    store: SQLiteStore, other: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer's thread chains its transactions; once it has met another process at the
    # lock, each bulk transaction first leaves the lock free for a moment, so an emergency
    # in the other process (asking every 0.1 ms) gets in between. Urgent ones never wait.
    assert not store._sharing.lately()  # alone on the file: no gaps
    other.execute("BEGIN IMMEDIATE")
    write = asyncio.create_task(store.upsert_areas([Area(code="01", name="Hà Nội")]))
    await asyncio.sleep(0.05)
    other.execute("COMMIT")
    await asyncio.wait_for(write, 5)
    assert store._sharing.lately()

    slept: list[float] = []
    monkeypatch.setattr(sqlite_conn.time, "sleep", slept.append)
    db = sqlite3.connect(other_path(other), isolation_level=None)
    try:
        sqlite_conn._begin(db, 1.0, urgent=True, sharing=store._sharing)
        db.execute("ROLLBACK")
        assert [] == slept
        sqlite_conn._begin(db, 1.0, urgent=False, sharing=store._sharing)
        db.execute("ROLLBACK")
        assert [sqlite_conn._GAP] == slept
    finally:
        db.close()


def other_path(conn: sqlite3.Connection) -> str:
    """The file ``conn`` has open."""
    return str(conn.execute("PRAGMA database_list").fetchone()[2])
