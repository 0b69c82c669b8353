"""A batch's writes take as many SQLite steps for 300 deliveries as for 3.

The ``sqlite3`` module lets go of the interpreter lock around each step (one a row of
``executemany`` or of a result) and must win it back from a busy event loop after each; the
store's write paths therefore move a batch's rows in and out as one JSON value. The steps are
counted on a ``sqlite3.Connection`` that sees every row cross into or out of Python.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from store_helpers import T0, announce, later

from dispatcher.store import AttemptRecord, DayCounts, NewDelivery, Outcome, SQLiteStore
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


async def counting_db(path: Path, **announcement: Any) -> CountingConnection:
    """A store file holding announcement a1 (fanning out), opened through the counter."""
    store = SQLiteStore(path)
    await store.open()
    await announce(store, status=AnnouncementStatus.FANNING_OUT, **announcement)
    await store.close()
    db = sqlite3.connect(path, factory=CountingConnection, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def fan_out(db: sqlite3.Connection, n: int) -> None:
    new = [NewDelivery("a1", "sms", f"+849100{i:05d}", Priority.NORMAL, T0) for i in range(n)]
    assert n == queue.insert_deliveries(db, new, announcement_id="a1", cursor="c")


def statuses(db: sqlite3.Connection) -> set[DeliveryStatus]:
    found = db.execute("SELECT status FROM deliveries").fetchall()
    return {DeliveryStatus(r[0]) for r in found}


async def steps_of_a_batch(path: Path, n: int) -> tuple[int, set[DeliveryStatus]]:
    """Fan ``n`` deliveries out, claim, record them sent and apply their receipts: the steps
    taken, and the statuses they end in."""
    db = await counting_db(path)
    try:
        now = T0.timestamp()
        fan_out(db, n)
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
        return db.steps, statuses(db)
    finally:
        db.close()


async def steps_of_receipts_before_the_send(path: Path, n: int) -> tuple[int, set[DeliveryStatus]]:
    """Claim ``n`` deliveries; their receipts come before their sends are recorded (a fast
    gateway reports while the rest of the batch is still in flight), are kept unmatched,
    and are applied when the sends are recorded."""
    db = await counting_db(path)
    try:
        now = T0.timestamp()
        fan_out(db, n)
        claimed, _ = queue.claim(db, "sms", limit=n, now=now, lease_seconds=30, repeatable=True)
        receipts = [
            ReceiptIn(channel="sms", provider_id=f"p{c.id}", status=DeliveryStatus.DELIVERED)
            for c in claimed
        ]
        applied, _ = queue.add_receipts(db, receipts, now)
        assert [False] * n == applied
        attempt = AttemptRecord(number=1, started_at=T0, outcome=AttemptOutcome.ACCEPTED)
        outcomes = [
            Outcome(c.id, c.lease_token, DeliveryStatus.SENT, attempt, provider_id=f"p{c.id}")
            for c in claimed
        ]
        changes = queue.record_outcomes(db, outcomes, later(1).timestamp())
        assert [DeliveryStatus.SENT] * n + [DeliveryStatus.DELIVERED] * n == [
            c.status for c in changes
        ]
        return db.steps, statuses(db)
    finally:
        db.close()


async def steps_of_a_capped_fan_out(path: Path, n: int) -> tuple[int, set[DeliveryStatus]]:
    """Fan ``n`` contacts out twice under a daily cap: each batch counts their deliveries of
    the day again inside the write (one for each contact, the second time)."""
    db = await counting_db(path)
    try:
        since, until = T0 - timedelta(hours=8), T0 + timedelta(hours=16)
        ids = tuple(f"c{i}" for i in range(n))
        for channel, counts in (("sms", {}), ("zalo", {(c, "sms"): 1 for c in ids})):
            new = [
                NewDelivery("a1", channel, f"+849100{i:05d}", Priority.NORMAL, T0, contact_id=c)
                for i, c in enumerate(ids)
            ]
            counted = DayCounts(ids, since, until, counts)
            assert n == queue.insert_deliveries(
                db, new, announcement_id="a1", cursor="c", counted=counted
            )
        return db.steps, statuses(db)
    finally:
        db.close()


async def steps_of_an_expiry(path: Path, n: int) -> tuple[int, set[DeliveryStatus]]:
    """Expire an announcement with ``n`` open deliveries."""
    db = await counting_db(path, expires_at=later(60).isoformat())
    try:
        fan_out(db, n)
        changes, _ = queue.expire(db, later(60).timestamp())
        assert n == len(changes)
        return db.steps, statuses(db)
    finally:
        db.close()


async def steps_of_a_reclaim(path: Path, n: int) -> tuple[int, set[DeliveryStatus]]:
    """Take back ``n`` leases that ran out (a worker stopped mid-send) and claim them again."""
    db = await counting_db(path)
    try:
        fan_out(db, n)
        now = T0.timestamp()
        queue.claim(db, "sms", limit=n, now=now, lease_seconds=30, repeatable=True)
        again, _ = queue.claim(db, "sms", limit=n, now=now + 60, lease_seconds=30, repeatable=True)
        assert n == len(again)
        [(unknown,)] = db.execute(
            "SELECT count(*) FROM attempts WHERE outcome = 'unknown'"
        ).fetchall()
        assert n == unknown
        return db.steps, statuses(db)
    finally:
        db.close()


@pytest.mark.parametrize(
    ("path", "end"),
    [
        (steps_of_a_batch, DeliveryStatus.DELIVERED),
        (steps_of_receipts_before_the_send, DeliveryStatus.DELIVERED),
        (steps_of_a_capped_fan_out, DeliveryStatus.QUEUED),
        (steps_of_an_expiry, DeliveryStatus.EXPIRED),
        (steps_of_a_reclaim, DeliveryStatus.SENDING),
    ],
    ids=["send-and-receipts", "receipts-before-send", "capped-fan-out", "expiry", "lease-reclaim"],
)
async def test_a_batch_costs_the_same_steps_whatever_its_size(
    tmp_path: Path, path: Any, end: DeliveryStatus
) -> None:
    few, few_end = await path(tmp_path / "few.db", 3)
    many, many_end = await path(tmp_path / "many.db", 300)
    assert {end} == few_end == many_end
    assert few == many
