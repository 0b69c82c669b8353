"""The store's write lock serves an emergency's writes before bulk ones waiting, and a
transaction run whole in the writer's thread holds it for exactly its own span."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

from dispatcher.store import SQLiteStore
from dispatcher.store.urgency import PriorityLock, urgent


async def test_urgent_waiters_go_first_and_each_kind_keeps_its_order() -> None:
    lock = PriorityLock()
    order: list[str] = []

    async def write(name: str, is_urgent: bool) -> None:
        with urgent(is_urgent):
            async with lock:
                order.append(name)
                await asyncio.sleep(0)

    await lock.acquire()
    tasks = [
        asyncio.create_task(write(name, name.startswith("u")))
        for name in ["b1", "b2", "u1", "b3", "u2"]
    ]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert ["u1", "u2", "b1", "b2", "b3"] == order
    assert not lock.locked()


async def test_a_cancelled_waiter_neither_holds_nor_blocks_the_lock() -> None:
    lock = PriorityLock()
    await lock.acquire()
    waiter = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)
    lock.release()  # handed to the waiter …
    waiter.cancel()  # … which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not lock.locked()
    async with asyncio.timeout(1):
        await lock.acquire()


async def test_a_transaction_that_fails_writes_nothing_and_the_next_one_runs(
    store: SQLiteStore,
) -> None:
    def half_then_fail(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO areas (code, name) VALUES ('X1', 'half')")
        raise sqlite3.IntegrityError("stop here")

    with pytest.raises(sqlite3.IntegrityError):
        await store._transaction(half_then_fail)
    await store._transaction(
        lambda db: db.execute("INSERT INTO areas (code, name) VALUES ('X2', 'whole')")
    )
    assert [("X2",)] == [
        tuple(r) for r in await store._fetchall("SELECT code FROM areas WHERE code LIKE 'X%'")
    ]


async def test_a_cancelled_transaction_still_ends_before_the_lock_is_free(
    store: SQLiteStore,
) -> None:
    started = threading.Event()

    def slow(db: sqlite3.Connection) -> None:
        started.set()
        time.sleep(0.2)
        db.execute("INSERT INTO areas (code, name) VALUES ('X3', 'slow')")

    task = asyncio.create_task(store._transaction(slow))
    await asyncio.to_thread(started.wait)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The thread's transaction committed, and only then was the lock given back.
    assert not store._lock.locked()
    assert [("X3",)] == [
        tuple(r) for r in await store._fetchall("SELECT code FROM areas WHERE code = 'X3'")
    ]


async def test_an_urgent_read_does_not_wait_behind_a_long_bulk_read(store: SQLiteStore) -> None:
    started = threading.Event()
    release = threading.Event()

    def held(x: int) -> int:
        started.set()
        release.wait(5)
        return x

    assert store._rdb is not None
    await store._rdb.create_function("held", 1, held)
    bulk = asyncio.create_task(store._fetchall("SELECT held(1)"))
    await asyncio.to_thread(started.wait, 5)
    with urgent():
        assert [(1,)] == [tuple(r) for r in await store._fetchall("SELECT 1")]
    assert not bulk.done()  # the emergency's read answered while the bulk read still ran
    release.set()
    await bulk
