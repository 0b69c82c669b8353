"""A batch's writes take as many SQLite steps for 300 deliveries as for 3.

The ``sqlite3`` module lets go of the interpreter lock around each step (one a row of
``executemany`` or of a result) and must win it back from a busy event loop after each; the
store's write paths therefore move a batch's rows in and out as one JSON value. The steps are
counted on a ``sqlite3.Connection`` that sees every row cross into or out of Python.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from store_helpers import T0, announce, later

from dispatcher.store import AttemptRecord, NewDelivery, Outcome, SQLiteStore
from dispatcher.store import sqlite_queue as queue
from schemas import AnnouncementStatus, AttemptOutcome, DeliveryStatus, Priority, ReceiptIn


class _Cursor:
    def __init__(self, cursor: sqlite3.Cursor, owner: CountingConnection) -> None:
        self._cursor, self._owner = cursor, owner

    def fetchall(self) -> list[Any]:
        found = self._cursor.fetchall()
        self._owner.steps += len(found)
        return found

    def fetchone(self) -> Any:
        self._owner.steps += 1
        return self._cursor.fetchone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class CountingConnection(sqlite3.Connection):
    """Counts statements run, rows fetched and parameter sets of ``executemany``."""

    steps = 0

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        self.steps += 1
        return _Cursor(super().execute(sql, parameters), self)

    def executemany(self, sql: str, seq: Any, /) -> sqlite3.Cursor:
        rows = list(seq)
        self.steps += len(rows)
        return super().executemany(sql, rows)


async def steps_of_a_batch(path: Path, n: int) -> tuple[int, set[DeliveryStatus]]:
    """Fan ``n`` deliveries out, claim, record them sent and apply their receipts: the steps
    taken, and the statuses they end in."""
    store = SQLiteStore(path)
    await store.open()
    await announce(store, status=AnnouncementStatus.FANNING_OUT)
    await store.close()
    db = sqlite3.connect(path, factory=CountingConnection, isolation_level=None)
    db.row_factory = sqlite3.Row
    try:
        now = T0.timestamp()
        new = [NewDelivery("a1", "sms", f"+849100{i:05d}", Priority.NORMAL, T0) for i in range(n)]
        assert n == queue.insert_deliveries(db, new, announcement_id="a1", cursor="c")
        claimed, _ = queue.claim(db, "sms", limit=n, now=now, lease_seconds=30, repeatable=True)
        assert n == len(claimed)
        attempt = AttemptRecord(number=1, started_at=T0, outcome=AttemptOutcome.ACCEPTED)
        outcomes = [
            Outcome(c.id, c.lease_token, DeliveryStatus.SENT, attempt, provider_id=f"p{c.id}")
            for c in claimed
        ]
        assert n == len(queue.record_outcomes(db, outcomes, now))
        receipts = [
            ReceiptIn(channel="sms", provider_id=f"p{c.id}", status=DeliveryStatus.DELIVERED)
            for c in claimed
        ]
        applied, _ = queue.add_receipts(db, receipts, later(1).timestamp())
        assert [True] * n == applied
        steps = db.steps
        found = db.execute("SELECT status FROM deliveries").fetchall()
        statuses = {DeliveryStatus(r[0]) for r in found}
    finally:
        db.close()
    return steps, statuses


@pytest.mark.parametrize("n", [3, 300])
async def test_a_batch_ends_delivered(tmp_path: Path, n: int) -> None:
    _, statuses = await steps_of_a_batch(tmp_path / "store.db", n)
    assert {DeliveryStatus.DELIVERED} == statuses


async def test_a_batch_costs_the_same_steps_whatever_its_size(tmp_path: Path) -> None:
    few, _ = await steps_of_a_batch(tmp_path / "few.db", 3)
    many, _ = await steps_of_a_batch(tmp_path / "many.db", 300)
    assert few == many
