"""A write cancelled while its transaction opens leaves the SQLite store usable.

Found by the drain-mode tests here: ``run(until_idle=True)`` cancels the scheduler, the
workers and the lease renewer when it returns, and the store stays open for the next
drain. A task cancelled while it awaits ``BEGIN IMMEDIATE`` returns at once, but aiosqlite's
thread still runs the ``BEGIN``; nothing rolls it back, so the next write fails with
"cannot start a transaction within a transaction" (the scheduler dies, a receipt callback
answers 503). The test cancels each kind of background write at exactly that point.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dispatcher.store.sqlite import SQLiteStore
from schemas import DeliveryStatus, ReceiptIn

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Write = Callable[[SQLiteStore], Awaitable[object]]


def claim(store: SQLiteStore) -> Awaitable[object]:
    """A worker looking for due deliveries."""
    return store.claim("sms", limit=100, now=NOW, lease_seconds=30)


def renew(store: SQLiteStore) -> Awaitable[object]:
    """The lease renewer."""
    return store.renew_leases(["0123456789abcdef"], NOW)


def complete(store: SQLiteStore) -> Awaitable[object]:
    """A scheduler tick closing finished announcements."""
    return store.complete_finished(NOW)


def receipt(store: SQLiteStore) -> Awaitable[object]:
    """A delivery report arriving."""
    return store.add_receipts(
        [ReceiptIn(channel="sms", provider_id="gw-1", status=DeliveryStatus.DELIVERED)], NOW
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """An open store on a file, as the engine keeps it between drains."""
    opened = SQLiteStore(tmp_path / "cancel.db")
    await opened.open()
    yield opened
    await opened.close()


@pytest.mark.parametrize(
    "cancelled",
    [
        pytest.param(claim, id="claim"),
        pytest.param(renew, id="renew-leases"),
        pytest.param(complete, id="complete-finished"),
        pytest.param(receipt, id="add-receipts"),
    ],
)
async def test_a_write_cancelled_while_beginning_leaves_the_store_usable(
    store: SQLiteStore, cancelled: Write
) -> None:
    task = asyncio.ensure_future(cancelled(store))
    await asyncio.sleep(0)  # one step: the task now awaits its BEGIN IMMEDIATE
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ([], []) == await store.claim("sms", limit=100, now=NOW, lease_seconds=30)
