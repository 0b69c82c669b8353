"""SQLiteStore: the embedded default store (aiosqlite, WAL, one writer connection).

Announcements, the queue, receipts and reads live here; connections in ``sqlite_conn``,
keys and the directory in ``sqlite_directory``, the queue's SQL in ``sqlite_queue``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from sqlite3 import Connection
from typing import Any

from dispatcher import jsontext
from dispatcher.errors import NotFoundError
from dispatcher.events import StatusChange
from dispatcher.store import sqlite_queue as queue
from dispatcher.store import sqlite_rows as rows
from dispatcher.store.base import (
    ClaimedDelivery,
    DayCounts,
    IdempotencyConflictError,
    NewDelivery,
    Outcome,
    Page,
    Store,
)
from dispatcher.store.sqlite_directory import SQLiteDirectory
from dispatcher.store.sqlite_people import SQLitePeople
from dispatcher.store.sqlite_state import SQLiteState
from schemas import (
    Announcement,
    AnnouncementIn,
    AnnouncementStatus,
    Delivery,
    DeliveryStatus,
    ReceiptIn,
)

_OPEN_ANNOUNCEMENT = ("scheduled", "fanning_out", "sending")
_RENEW_LEASES = (
    "UPDATE deliveries SET lease_expires = ? WHERE status = 'sending' "
    "AND lease_token IN (SELECT value FROM json_each(?))"
)
# Both read the counts the triggers of migration m008 keep, not the deliveries.
ANNOUNCEMENT_COUNTS_SQL = (
    "SELECT channel, status, n FROM delivery_counts WHERE announcement_id = ? AND n > 0"
)
STATUS_TOTALS_SQL = (
    "SELECT channel, status, sum(n) AS n FROM delivery_counts GROUP BY channel, status "
    "HAVING sum(n) > 0"
)

# A page of an announcement's deliveries, read in id order from deliveries_announcement: it
# stops at the page's last row (a status or channel asked for is checked row by row).
DELIVERIES_PAGE_SQL = (
    f"SELECT {rows.DELIVERY_COLUMNS} FROM deliveries WHERE announcement_id = :a "
    "AND (:status IS NULL OR status = :status) AND (:channel IS NULL OR channel = :channel) "
    "AND id > :after ORDER BY id LIMIT :limit"
)


class SQLiteStore(SQLiteDirectory, SQLitePeople, SQLiteState, Store):
    """The store in one SQLite file (or ``":memory:"`` for tests).

    Args:
        path: the database file; created with its folder if missing.
        busy_timeout: seconds to wait for another process's write lock.
    """

    # -- announcements ---------------------------------------------------------------------
    async def create_announcement(
        self,
        announcement_id: str,
        data: AnnouncementIn,
        *,
        created_by: str | None,
        now: datetime,
        idempotency: tuple[str, str, str] | None = None,
    ) -> tuple[str, bool]:
        """Store an announcement as ``scheduled`` (see :meth:`Store.create_announcement`)."""
        return await self._transaction(
            partial(
                _create_announcement,
                announcement_id=announcement_id,
                data=data.model_dump_json(),
                values=(
                    data.priority.rank,
                    rows.ts(data.send_at or now),
                    rows.ts(data.expires_at),
                    created_by,
                    data.fallback_after,
                ),
                idempotency=idempotency,
                now=now.timestamp(),
            )
        )

    async def get_announcement(self, announcement_id: str) -> Announcement:
        """The announcement with its per-channel counts."""
        row = await self._fetchone(
            f"SELECT {rows.ANNOUNCEMENT_COLUMNS} FROM announcements WHERE id = ?",
            (announcement_id,),
        )
        if row is None:
            raise NotFoundError(f"no announcement {announcement_id!r}")
        counts: dict[str, dict[str, int]] = {}
        for c in await self._fetchall(
            ANNOUNCEMENT_COUNTS_SQL,
            (announcement_id,),
        ):
            counts.setdefault(c["channel"], {})[c["status"]] = c["n"]
        return rows.announcement(row, counts)

    async def get_announcements(self, ids: Sequence[str]) -> dict[str, Announcement]:
        """Announcements by id, without counts."""
        if not ids:
            return {}
        found = await self._fetchall(
            f"SELECT {rows.ANNOUNCEMENT_COLUMNS} FROM announcements "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (jsontext.dumps(list(ids)),),
        )
        return {row["id"]: rows.announcement(row) for row in found}

    async def announcement_statuses(self, ids: Sequence[str]) -> dict[str, AnnouncementStatus]:
        """The current status of each announcement in ``ids``."""
        found = await self._fetchall(
            "SELECT id, status FROM announcements WHERE id IN (SELECT value FROM json_each(?))",
            (jsontext.dumps(list(ids)),),
        )
        return {row["id"]: AnnouncementStatus(row["status"]) for row in found}

    async def list_announcements(
        self, *, status: AnnouncementStatus | None, after: str | None, limit: int
    ) -> Page[Announcement]:
        """Announcements, newest first (ids are time-ordered)."""
        found = await self._fetchall(
            f"SELECT {rows.ANNOUNCEMENT_COLUMNS} FROM announcements "
            "WHERE (:status IS NULL OR status = :status) AND (:after IS NULL OR id < :after) "
            "ORDER BY id DESC LIMIT :limit",
            {"status": status, "after": after, "limit": limit + 1},
        )
        items = [rows.announcement(row) for row in found[:limit]]
        return Page(items, items[-1].id if len(found) > limit else None)

    async def announcements_to_release(self, now: datetime, limit: int) -> list[Announcement]:
        """Scheduled ones whose time has come, and interrupted fan-outs."""
        found = await self._fetchall(
            f"SELECT {rows.ANNOUNCEMENT_COLUMNS} FROM announcements "
            "WHERE (status = 'scheduled' AND send_at <= ?) OR status = 'fanning_out' "
            "ORDER BY priority_rank, send_at LIMIT ?",
            (rows.ts(now), limit),
        )
        return [rows.announcement(row) for row in found]

    async def set_announcement_status(
        self,
        announcement_id: str,
        expected: Sequence[AnnouncementStatus],
        status: AnnouncementStatus,
        now: datetime,
    ) -> bool:
        """Move an announcement on if it is in one of ``expected``."""
        stamp = {
            AnnouncementStatus.FANNING_OUT: "released_at",
            AnnouncementStatus.COMPLETED: "finished_at",
            AnnouncementStatus.CANCELLED: "finished_at",
            AnnouncementStatus.EXPIRED: "finished_at",
        }.get(status)
        extra = f", {stamp} = coalesce({stamp}, :now)" if stamp else ""
        sql = (
            f"UPDATE announcements SET status = :status{extra} WHERE id = :id "
            "AND status IN (SELECT value FROM json_each(:expected))"
        )
        params = {
            "status": status.value,
            "now": rows.ts(now),
            "id": announcement_id,
            "expected": jsontext.dumps([s.value for s in expected]),
        }
        return await self._transaction(lambda db: db.execute(sql, params).rowcount == 1)

    async def fanout_cursor(self, announcement_id: str) -> str | None:
        """Where an interrupted fan-out stopped."""
        row = await self._fetchone(
            "SELECT fanout_cursor FROM announcements WHERE id = ?", (announcement_id,)
        )
        return None if row is None else row["fanout_cursor"]

    async def add_deliveries(
        self,
        deliveries: Sequence[NewDelivery],
        *,
        announcement_id: str,
        cursor: str | None,
        counted: DayCounts | None = None,
    ) -> int:
        """Insert deliveries (ignoring existing ones) and save the cursor, atomically.

        Nothing is inserted once the announcement is no longer fanning out or sending (it was
        cancelled or expired meanwhile); ``StaleCountsError`` when ``counted`` no longer
        holds (see :meth:`Store.add_deliveries`).
        """
        return await self._transaction(
            partial(
                queue.insert_deliveries,
                deliveries=deliveries,
                announcement_id=announcement_id,
                cursor=cursor,
                counted=counted,
            )
        )

    async def cancel_announcement(self, announcement_id: str, now: datetime) -> int:
        """Cancel the announcement and its deliveries that have not gone out (a completed
        one is withdrawn: nothing is left to stop, but it says it was cancelled)."""
        return await self._transaction(
            partial(_cancel_announcement, announcement_id=announcement_id, now=rows.ts(now))
        )

    async def expire(self, now: datetime) -> tuple[list[StatusChange], list[str]]:
        """Expire open deliveries and announcements past ``expires_at``."""
        return await self._transaction(partial(queue.expire, now=rows.ts(now) or 0.0))

    async def complete_finished(self, now: datetime) -> list[str]:
        """Complete ``sending`` announcements that have no open delivery left; one past its
        ``expires_at`` with a delivery that expired is left to :meth:`expire` (a worker may
        have expired that delivery before the scheduler's expiry pass came)."""
        return await self._transaction(partial(_complete_finished, now=rows.ts(now)))

    # -- the queue -------------------------------------------------------------------------
    async def claim(
        self,
        channel: str,
        *,
        limit: int,
        now: datetime,
        lease_seconds: float,
        repeatable: bool = True,
        max_rank: int | None = None,
    ) -> tuple[list[ClaimedDelivery], list[StatusChange]]:
        """Lease due deliveries of ``channel`` (see :meth:`Store.claim`)."""
        return await self._transaction(
            partial(
                queue.claim,
                channel=channel,
                limit=limit,
                now=now.timestamp(),
                lease_seconds=lease_seconds,
                repeatable=repeatable,
                max_rank=max_rank,
            )
        )

    async def renew_leases(self, lease_tokens: Sequence[str], until: datetime) -> int:
        """Extend leases still held under these tokens."""
        if not lease_tokens:
            return 0
        params = (until.timestamp(), jsontext.dumps(list(lease_tokens)))
        return await self._transaction(lambda db: db.execute(_RENEW_LEASES, params).rowcount)

    async def record_outcomes(
        self, outcomes: Sequence[Outcome], now: datetime
    ) -> list[StatusChange]:
        """Write attempts and move deliveries on, fenced by lease token."""
        if not outcomes:
            return []
        return await self._transaction(
            partial(queue.record_outcomes, outcomes=outcomes, now=now.timestamp())
        )

    async def overdue_fallbacks(self, now: datetime, limit: int) -> list[StatusChange]:
        """Sent fallback steps past their deadline, each once."""
        # The scheduler asks every tick: look with the reader before taking the write lock.
        if not await self._fetchone(
            "SELECT 1 FROM deliveries WHERE fallback_at IS NOT NULL AND fallback_at <= ? LIMIT 1",
            (now.timestamp(),),
        ):
            return []
        return await self._transaction(
            partial(queue.overdue_fallbacks, now=now.timestamp(), limit=limit)
        )

    async def next_due(self, channel: str) -> datetime | None:
        """When the next delivery of ``channel`` falls due."""
        row = await self._fetchone(
            "SELECT min(t) AS t FROM ("
            "SELECT min(due_at) AS t FROM deliveries WHERE channel = :c "
            "AND status IN ('queued', 'retry_wait') "
            "UNION ALL SELECT min(lease_expires) FROM deliveries WHERE channel = :c "
            "AND status = 'sending')",
            {"c": channel},
        )
        return rows.dt(row["t"]) if row is not None else None

    async def has_due_work(self, now: datetime) -> bool:
        """True while something is due for release, fan-out or sending, or is being sent."""
        row = await self._fetchone(
            "SELECT EXISTS (SELECT 1 FROM announcements WHERE status = 'fanning_out' "
            "OR (status = 'scheduled' AND send_at <= :now)) "
            "OR EXISTS (SELECT 1 FROM deliveries WHERE status IN ('queued', 'retry_wait') "
            "AND due_at <= :now) "
            "OR EXISTS (SELECT 1 FROM deliveries WHERE status = 'sending') AS busy",
            {"now": now.timestamp()},
        )
        return bool(row["busy"])

    # -- receipts --------------------------------------------------------------------------
    async def add_receipts(
        self, receipts: Sequence[ReceiptIn], now: datetime
    ) -> tuple[list[bool], list[StatusChange]]:
        """Store receipts and apply those that move a delivery forward."""
        if not receipts:
            return [], []
        return await self._transaction(
            partial(queue.add_receipts, receipts=receipts, now=now.timestamp())
        )

    # -- reading ---------------------------------------------------------------------------
    async def get_delivery(self, delivery_id: str) -> Delivery:
        """A delivery with its attempts and receipts."""
        key = _delivery_key(delivery_id)
        row = await self._fetchone(
            f"SELECT {rows.DELIVERY_COLUMNS} FROM deliveries WHERE id = ?", (key,)
        )
        if row is None:
            raise NotFoundError(f"no delivery {delivery_id!r}")
        attempts = await self._fetchall(
            "SELECT * FROM attempts WHERE delivery_id = ? ORDER BY number", (key,)
        )
        receipts = await self._fetchall(
            "SELECT * FROM receipts WHERE delivery_id = ? ORDER BY id", (key,)
        )
        return rows.delivery(
            row, [rows.attempt(a) for a in attempts], [rows.receipt(r) for r in receipts]
        )

    async def list_deliveries(
        self,
        announcement_id: str,
        *,
        status: DeliveryStatus | None,
        channel: str | None,
        after: str | None,
        limit: int,
    ) -> Page[Delivery]:
        """Deliveries of an announcement in id order."""
        found = await self._fetchall(
            DELIVERIES_PAGE_SQL,
            {
                "a": announcement_id,
                "status": status,
                "channel": channel,
                "after": _delivery_key(after) if after else 0,
                "limit": limit + 1,
            },
        )
        items = [rows.delivery(row) for row in found[:limit]]
        return Page(items, items[-1].id if len(found) > limit else None)

    async def status_totals(self) -> dict[tuple[str, str], int]:
        """Deliveries per (channel, status)."""
        found = await self._fetchall(STATUS_TOTALS_SQL)
        return {(row["channel"], row["status"]): row["n"] for row in found}


_MAX_ROWID = 2**63 - 1


def _delivery_key(delivery_id: str) -> int:
    try:
        key = int(delivery_id)
    except ValueError:
        raise NotFoundError(f"no delivery {delivery_id!r}: delivery ids are numbers") from None
    if not 0 < key <= _MAX_ROWID:
        raise NotFoundError(f"no delivery {delivery_id!r}")
    return key


# -- the transactions above, run whole in the writer's thread ----------------------------------
def _create_announcement(
    db: Connection,
    *,
    announcement_id: str,
    data: str,
    values: tuple[Any, ...],
    idempotency: tuple[str, str, str] | None,
    now: float,
) -> tuple[str, bool]:
    if idempotency is not None:
        owner, key, digest = idempotency
        seen = db.execute(
            "SELECT request_hash, announcement_id FROM idempotency WHERE owner = ? AND key = ?",
            (owner, key),
        ).fetchone()
        if seen is not None:
            if seen["request_hash"] != digest:
                raise IdempotencyConflictError(
                    f"Idempotency-Key {key!r} was used for a different request: "
                    "use a new key for a new announcement"
                )
            return str(seen["announcement_id"]), False
        db.execute(
            "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?)",
            (owner, key, digest, announcement_id, now),
        )
    db.execute(
        "INSERT INTO announcements (id, data, created_at, status, priority_rank, send_at, "
        "expires_at, created_by, fallback_after) VALUES (?, ?, ?, 'scheduled', ?, ?, ?, ?, ?)",
        (announcement_id, data, now, *values),
    )
    return announcement_id, True


def _cancel_announcement(db: Connection, *, announcement_id: str, now: float | None) -> int:
    row = db.execute("SELECT status FROM announcements WHERE id = ?", (announcement_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no announcement {announcement_id!r}")
    if row["status"] not in (*_OPEN_ANNOUNCEMENT, "completed"):
        return 0  # cancelled or expired already
    db.execute(
        "UPDATE announcements SET status = 'cancelled', finished_at = ? WHERE id = ?",
        (now, announcement_id),
    )
    return db.execute(
        "UPDATE deliveries SET status = 'cancelled', updated_at = ?, "
        "reason = 'announcement cancelled' "
        "WHERE announcement_id = ? AND status IN ('queued', 'retry_wait')",
        (now, announcement_id),
    ).rowcount


def _complete_finished(db: Connection, *, now: float | None) -> list[str]:
    return [
        row["id"]
        for row in db.execute(
            "UPDATE announcements SET status = 'completed', finished_at = :now "
            "WHERE status = 'sending' AND NOT EXISTS (SELECT 1 FROM delivery_counts c "
            "WHERE c.announcement_id = announcements.id "
            "AND c.status IN ('queued', 'sending', 'retry_wait') AND c.n > 0) "
            "AND NOT (expires_at IS NOT NULL AND expires_at <= :now AND EXISTS (SELECT 1 "
            "FROM delivery_counts c WHERE c.announcement_id = announcements.id "
            "AND c.status = 'expired' AND c.n > 0)) RETURNING id",
            {"now": now},
        ).fetchall()
    ]
