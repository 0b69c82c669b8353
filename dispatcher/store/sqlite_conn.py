"""SQLite connections: one writer (``BEGIN IMMEDIATE`` transactions) and two readers.

Writes go through one connection, each a ``BEGIN IMMEDIATE`` transaction run whole in that
connection's thread (:meth:`SQLiteConnections._transaction`), so two processes on one file
(``thongbao serve`` and ``thongbao worker``) queue for the write lock instead of failing
half-way, and the lock is held for the SQL alone, never across turns of the event loop.
They ask for it again every fraction of a millisecond (:func:`_begin`): SQLite's own busy
handler sleeps 1, 2, 5, then 10 ms and more between tries, while a transaction here holds
the lock for a few milliseconds, so with two busy processes it would leave the lock idle
most of the time. Reads use a second connection and so never wait behind a write; reads
made for an emergency (:func:`~dispatcher.store.urgency.urgent`) use a third, so they never
wait behind a bulk send's reads either.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from dispatcher import jsontext
from dispatcher.errors import DispatcherError
from dispatcher.store.migrations import migrate
from dispatcher.store.urgency import PriorityLock, is_urgent
from dispatcher.store.write_queue import Job, WriteQueue, run_next

T = TypeVar("T")


class SQLiteConnections:
    """An SQLite file (or ``":memory:"``) with its writer and reader connections.

    Args:
        path: the database file; created with its folder if missing.
        busy_timeout: seconds to wait for another process's write lock.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = str(path)
        self._busy_s = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._rdb: aiosqlite.Connection | None = None
        self._urgent_rdb: aiosqlite.Connection | None = None
        self._lock = PriorityLock()  # reads of a store in memory, which share the writer
        self._writes = WriteQueue()
        self._sharing = Sharing()

    @property
    def file(self) -> Path | None:
        """The database file (other processes may open it too); None when in memory."""
        return None if self._memory else Path(self.path).expanduser()

    @property
    def _memory(self) -> bool:
        return self.path == ":memory:" or self.path.startswith("file::memory:")

    async def _connect(self) -> aiosqlite.Connection:
        db = await aiosqlite.connect(self.path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute(f"PRAGMA busy_timeout = {int(self._busy_s * 1000)}")
        if not self._memory:
            await db.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode loses at most the last commits on power loss, never corrupts.
            await db.execute("PRAGMA synchronous = NORMAL")
        return db

    async def open(self) -> None:
        """Open the file, apply migrations and open the read connection."""
        if self._db is not None:
            return
        if not self._memory:
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        db = await self._connect()
        try:
            # Migrated before the store takes it as its writer: no transaction comes between.
            await migrate(db)
            # From here on the writer waits for the lock in _begin, in short steps.
            await db.execute("PRAGMA busy_timeout = 0")
        except BaseException:
            await db.close()
            raise
        self._db = db
        self._rdb = self._db if self._memory else await self._connect()
        self._urgent_rdb = self._db if self._memory else await self._connect()

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` was called, and :meth:`close` not since."""
        return self._db is not None

    async def close(self) -> None:
        """Close the writer and both readers; safe to call twice."""
        db, rdb, urdb = self._db, self._rdb, self._urgent_rdb
        self._db = self._rdb = self._urgent_rdb = None
        for reader in (rdb, urdb):
            if reader is not None and reader is not db:
                await reader.close()
        if db is not None:
            await db.close()

    async def ping(self) -> bool:
        """True when a trivial query answers."""
        try:
            await self._fetchone("SELECT 1")
        except (DispatcherError, aiosqlite.Error):
            return False
        return True

    # -- plumbing --------------------------------------------------------------------------
    def _writer(self) -> aiosqlite.Connection:
        if self._db is None:
            raise DispatcherError("the store is not open: call await store.open() first")
        return self._db

    async def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` as one ``BEGIN IMMEDIATE`` … ``COMMIT`` in the writer's thread, in one
        hop: the write lock is held for the SQL alone, not across turns of a busy event loop
        (an emergency's writes wait for one bulk transaction at most, measured in
        milliseconds). ``work`` is plain ``sqlite3`` code; any error rolls it back.
        Transactions wait in the writer's own queue (:mod:`dispatcher.store.write_queue`),
        urgent ones first."""
        db = self._writer()
        atomically = partial(_atomically, timeout=self._busy_s, sharing=self._sharing)
        # Built before the job is queued: every job queued must have its call to follow.
        step = partial(run_next, self._writes, db._conn, atomically)
        job = Job(work, is_urgent(), asyncio.get_running_loop().create_future())
        self._writes.put(job)
        # One call in the connection's thread for each transaction queued; aiosqlite's own
        # calls go the same way (its queue of (future, function), ``None``: no result back).
        db._tx.put_nowait((None, step))
        try:
            return cast(T, await asyncio.shield(job.future))
        except asyncio.CancelledError:
            if not self._writes.drop(job):
                # The transaction runs on in the thread: let it end first, so the caller's
                # cancellation never leaves one half-way.
                await asyncio.wait([job.future])
                if not job.future.cancelled():
                    job.future.exception()  # seen: its error goes with the cancellation
            raise

    async def _fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        reader = self._urgent_rdb if is_urgent() else self._rdb
        if reader is None:
            raise DispatcherError("the store is not open: call await store.open() first")
        # One call into the connection's thread runs and drains the statement, so reads never
        # overlap: overlapping statements would hold one read transaction open, and a later
        # read would see an old snapshot (an announcement just written not yet there).
        if self._memory:
            async with self._lock:
                return list(await reader.execute_fetchall(sql, params))
        return list(await reader.execute_fetchall(sql, params))

    async def _fetch_rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        """The rows of ``sql``, a ``SELECT json_group_array(...)``, parsed: a batch crosses
        from the reader's thread in one step, not one a row, each of which would have to win
        the GIL back from the event loop (see :mod:`dispatcher.store.sqlite_queue`)."""
        [(found,)] = await self._fetchall(sql, params)
        rows: list[Any] = jsontext.loads(found)
        return rows

    async def _fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        found = await self._fetchall(sql, params)
        return found[0] if found else None


# Seconds between two tries for the write lock held by another process: short at first (a
# transaction here lasts milliseconds), then longer so a long wait does not spin. An urgent
# write (an emergency's) keeps trying every 0.1 ms: between two processes, the one that
# asks more often tends to get the lock first.
_BUSY_STEPS = (0.0002, 0.0005, 0.001, 0.002)
_URGENT_STEPS = (0.0001,)
# While another process writes to the file too, a bulk transaction leaves the lock free this
# long before it asks: the writer's thread goes from one transaction to the next by itself
# (see write_queue), and without a gap the other process's emergency, asking every 0.1 ms,
# would have to hit the microseconds between a COMMIT and the next BEGIN.
_GAP = 0.0003
_SHARED_FOR = 1.0  # seconds since our last wait for the lock that "another process writes"


class Sharing:
    """When this connection last had to wait for the write lock: another process writes."""

    __slots__ = ("waited_at",)

    def __init__(self) -> None:
        self.waited_at = -_SHARED_FOR

    def waited(self) -> None:
        """The lock was held by another process."""
        self.waited_at = time.monotonic()

    def lately(self) -> bool:
        """Whether another process held the lock within the last ``_SHARED_FOR`` seconds."""
        return time.monotonic() - self.waited_at < _SHARED_FOR


def _begin(conn: sqlite3.Connection, timeout: float, urgent: bool, sharing: Sharing) -> None:
    """``BEGIN IMMEDIATE``, trying again in short steps while another process writes, for
    up to ``timeout`` seconds (then SQLite's "database is locked" is raised)."""
    if not urgent and sharing.lately():
        time.sleep(_GAP)
    deadline = time.monotonic() + timeout
    steps = _URGENT_STEPS if urgent else _BUSY_STEPS
    tries = 0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # extended codes too
            if not busy or time.monotonic() >= deadline:
                raise
            sharing.waited()
        time.sleep(steps[min(tries, len(steps) - 1)])
        tries += 1


def _atomically(
    conn: sqlite3.Connection,
    work: Callable[[sqlite3.Connection], T],
    timeout: float,
    urgent: bool,
    sharing: Sharing,
) -> T:
    _begin(conn, timeout, urgent, sharing)
    try:
        result = work(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result
