"""The store's writer serves an emergency's writes before bulk ones waiting, runs each
transaction whole in its own thread, and goes from one to the next without the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable

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


async def test_a_cancelled_transaction_still_ends_before_the_cancellation_returns(
    store: SQLiteStore,
) -> None:
    started, finished = threading.Event(), threading.Event()

    def slow(db: sqlite3.Connection) -> None:
        started.set()
        time.sleep(0.2)
        db.execute("INSERT INTO areas (code, name) VALUES ('X3', 'slow')")
        finished.set()

    task = asyncio.create_task(store._transaction(slow))
    await asyncio.to_thread(started.wait)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The thread's transaction had ended (committed) before the caller saw its cancellation.
    assert finished.is_set()
    assert [("X3",)] == [
        tuple(r) for r in await store._fetchall("SELECT code FROM areas WHERE code = 'X3'")
    ]


def _insert(code: str, ran: list[str]) -> Callable[[sqlite3.Connection], None]:
    def work(db: sqlite3.Connection) -> None:
        ran.append(code)
        db.execute("INSERT INTO areas (code, name) VALUES (?, 'queued')", (code,))

    return work


async def _hold_the_writer(store: SQLiteStore) -> tuple[asyncio.Task[None], threading.Event]:
    """A transaction that keeps the writer's thread until the event is set."""
    started, release = threading.Event(), threading.Event()

    def held(db: sqlite3.Connection) -> None:
        started.set()
        release.wait(5)

    task = asyncio.create_task(store._transaction(held))
    await asyncio.to_thread(started.wait, 5)
    return task, release


async def test_urgent_transactions_waiting_go_before_bulk_ones_asked_for_earlier(
    store: SQLiteStore,
) -> None:
    holder, release = await _hold_the_writer(store)
    ran: list[str] = []
    waiting = []
    for code in ["B1", "B2", "U1", "B3", "U2"]:
        with urgent(code.startswith("U")):
            waiting.append(asyncio.create_task(store._transaction(_insert(code, ran))))
        await asyncio.sleep(0)  # each is queued before the next is asked for
    release.set()
    await asyncio.gather(holder, *waiting)
    assert ["U1", "U2", "B1", "B2", "B3"] == ran


async def test_a_transaction_cancelled_before_it_began_never_runs_nor_blocks_the_next(
    store: SQLiteStore,
) -> None:
    holder, release = await _hold_the_writer(store)
    ran: list[str] = []
    dropped = asyncio.create_task(store._transaction(_insert("C1", ran)))
    kept = asyncio.create_task(store._transaction(_insert("C2", ran)))
    await asyncio.sleep(0)
    dropped.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dropped  # at once: it had not begun, so nothing waits for it
    assert not kept.done()
    release.set()
    await asyncio.gather(holder, kept)
    assert ["C2"] == ran


async def test_the_writer_goes_on_to_the_next_transaction_while_the_event_loop_is_busy(
    store: SQLiteStore,
) -> None:
    holder, release = await _hold_the_writer(store)
    ran: list[str] = []
    queued = [asyncio.create_task(store._transaction(_insert(f"L{n}", ran))) for n in range(3)]
    await asyncio.sleep(0)
    release.set()
    # The event loop does not turn for 0.5 s: before the writer's own queue, each
    # transaction waited for a lock the loop had to hand on, so none of these could run.
    time.sleep(0.5)
    assert ["L0", "L1", "L2"] == ran
    await asyncio.gather(holder, *queued)


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
