"""The queue's write paths on SQLite: fan-out inserts, claim, outcomes, receipts, expiry.

Plain ``sqlite3`` functions: each runs whole inside one ``BEGIN IMMEDIATE`` transaction in
the writer connection's thread (``SQLiteConnections._transaction``), so a ``SELECT``
followed by an ``UPDATE`` here sees no other writer in between, and the write lock is held
for the SQL alone, never across turns of a busy event loop.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from dispatcher.events import StatusChange
from dispatcher.store import sqlite_rows as rows
from dispatcher.store.base import (
    ClaimedDelivery,
    DayCounts,
    NewDelivery,
    Outcome,
    StaleCountsError,
)
from schemas import DeliveryStatus, ReceiptIn

_UNKNOWN_REASON = "the worker holding it stopped mid-send: the provider may have it"
# Receipts may move a delivery from these states to the ones mapped.
_RECEIPT_MOVES = {
    "sent": {"delivered", "failed"},
    "failed": {"delivered"},
}


# A sent step of a fallback announcement with a deadline, when a next step exists: when the
# next channel goes out unless a receipt settles it first. NULL otherwise.
_FALLBACK_AT = (
    "(CASE WHEN ? = 'sent' THEN (SELECT a.fallback_after + ? FROM announcements a "
    "WHERE a.id = deliveries.announcement_id AND a.fallback_after IS NOT NULL "
    "AND deliveries.contact_id IS NOT NULL "
    "AND deliveries.step + 1 < json_array_length(a.data, '$.channels')) END)"
)


def new_delivery_params(d: NewDelivery) -> tuple[Any, ...]:
    """Parameters of the INSERT in ``SQLiteStore.add_deliveries``."""
    due = d.due_at.timestamp()
    return (
        d.announcement_id,
        d.channel,
        d.address,
        d.contact_id,
        d.status.value,
        d.priority.rank,
        due,
        d.step,
        d.reason,
        due,
        due,
        d.note,
    )


def _fetchall(db: sqlite3.Connection, sql: str, params: Any = ()) -> list[Any]:
    return db.execute(sql, params).fetchall()


# What a daily cap counts (see Store.recent_counts), by the deliveries_contact index.
RECENT_COUNTS_SQL = (
    "SELECT contact_id, channel, count(*) AS n FROM deliveries "
    "WHERE contact_id IN (SELECT value FROM json_each(?)) "
    "AND created_at >= ? AND created_at < ? "
    "AND priority_rank > 0 AND status NOT IN ('suppressed', 'cancelled', 'expired') "
    "GROUP BY contact_id, channel"
)


def recent_counts_params(
    contact_ids: Sequence[str], since: datetime, until: datetime
) -> tuple[str, float, float]:
    """The parameters of RECENT_COUNTS_SQL."""
    return json.dumps(list(contact_ids)), since.timestamp(), until.timestamp()


def day_counts(
    found: Sequence[Any], contact_ids: Sequence[str], since: datetime, until: datetime
) -> DayCounts:
    """The rows of RECENT_COUNTS_SQL as DayCounts."""
    counts = {(r[0], r[1]): r[2] for r in found}
    return DayCounts(tuple(contact_ids), since, until, counts)


def insert_deliveries(
    db: sqlite3.Connection,
    deliveries: Sequence[NewDelivery],
    *,
    announcement_id: str,
    cursor: str | None,
    counted: DayCounts | None = None,
) -> int:
    """Insert a fan-out batch (existing rows ignored) and save its cursor; nothing once the
    announcement is no longer fanning out or sending. Returns the rows inserted. Raises
    StaleCountsError when ``counted`` no longer holds (see Store.add_deliveries)."""
    if counted is not None and counted.contact_ids:
        ids, since, until = counted.contact_ids, counted.since, counted.until
        found = _fetchall(db, RECENT_COUNTS_SQL, recent_counts_params(ids, since, until))
        if day_counts(found, ids, since, until).counts != counted.counts:
            raise StaleCountsError(
                f"another fan-out wrote to these {len(counted.contact_ids)} people meanwhile"
            )
    row = db.execute("SELECT status FROM announcements WHERE id = ?", (announcement_id,)).fetchone()
    if row is None or row["status"] not in ("fanning_out", "sending", "completed"):
        return 0
    if row["status"] == "completed":
        db.execute(
            "UPDATE announcements SET status = 'sending', finished_at = NULL WHERE id = ?",
            (announcement_id,),
        )
    before = db.total_changes
    db.executemany(
        "INSERT OR IGNORE INTO deliveries (announcement_id, channel, address, contact_id, "
        "status, priority_rank, due_at, step, reason, created_at, updated_at, note) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [new_delivery_params(d) for d in deliveries],
    )
    inserted = db.total_changes - before
    if cursor is not None:
        db.execute(
            "UPDATE announcements SET fanout_cursor = ? WHERE id = ?", (cursor, announcement_id)
        )
    return inserted


# The first columns of every row a StatusChange is made from (see _change).
_CHANGE_COLUMNS = "id, announcement_id, channel, contact_id, step"


def _reclaim_expired(
    db: sqlite3.Connection, channel: str, *, limit: int, now: float, repeatable: bool
) -> list[StatusChange]:
    stale = _fetchall(
        db,
        f"SELECT {_CHANGE_COLUMNS}, attempt_count, updated_at FROM deliveries "
        "WHERE channel = ? AND status = 'sending' AND lease_expires < ? LIMIT ?",
        (channel, now, limit),
    )
    if not stale:
        return []
    db.executemany(
        "INSERT OR IGNORE INTO attempts (delivery_id, number, started_at, outcome, reason) "
        "VALUES (?, ?, ?, 'unknown', ?)",
        [(r["id"], r["attempt_count"], r["updated_at"], _UNKNOWN_REASON) for r in stale],
    )
    if repeatable:
        sql = (
            "UPDATE deliveries SET status = 'queued', due_at = ?, lease_token = NULL, "
            "lease_expires = NULL, unknown_count = unknown_count + 1, updated_at = ? WHERE id = ?"
        )
        db.executemany(sql, [(now, now, r["id"]) for r in stale])
        return []
    reason = "outcome unknown after a crash, and this channel may not send twice"
    db.executemany(
        "UPDATE deliveries SET status = 'failed', failure_kind = 'technical', reason = ?, "
        "lease_token = NULL, lease_expires = NULL, unknown_count = unknown_count + 1, "
        "updated_at = ? WHERE id = ?",
        [(reason, now, r["id"]) for r in stale],
    )
    return [_change(r, DeliveryStatus.FAILED, reason) for r in stale]


def claim(
    db: sqlite3.Connection,
    channel: str,
    *,
    limit: int,
    now: float,
    lease_seconds: float,
    repeatable: bool,
    max_rank: int | None = None,
) -> tuple[list[ClaimedDelivery], list[StatusChange]]:
    """Reclaim expired leases, then lease up to ``limit`` due rows, best priority first
    (with ``max_rank``, only rows of that priority rank or better)."""
    changes = _reclaim_expired(db, channel, limit=limit, now=now, repeatable=repeatable)
    token = secrets.token_hex(8)
    claimed = _fetchall(
        db,
        "UPDATE deliveries SET status = 'sending', lease_token = :token, lease_expires = :exp, "
        "attempt_count = attempt_count + 1, updated_at = :now "
        "WHERE id IN (SELECT id FROM deliveries WHERE channel = :channel "
        "AND status IN ('queued', 'retry_wait') AND due_at <= :now "
        "AND priority_rank <= :max_rank ORDER BY priority_rank, due_at LIMIT :limit) "
        "RETURNING id, announcement_id, channel, address, contact_id, attempt_count, "
        "unknown_count, step, priority_rank, due_at",
        {
            "token": token,
            "exp": now + lease_seconds,
            "now": now,
            "channel": channel,
            "limit": limit,
            "max_rank": 99 if max_rank is None else max_rank,
        },
    )
    # By position, in the order of RETURNING (a bulk send reads every claimed row).
    claimed.sort(key=lambda r: (r[8], r[9], r[0]))  # priority_rank, due_at, id
    return [
        ClaimedDelivery(str(r[0]), r[1], r[2], r[3], r[4], r[5], token, r[6] > 0, r[7])
        for r in claimed
    ], changes


def record_outcomes(
    db: sqlite3.Connection, outcomes: Sequence[Outcome], now: float
) -> list[StatusChange]:
    """Apply outcomes whose lease is still held; stale ones (lease lost) change nothing."""
    held = {
        (str(r[0]), r[5]): r  # (id, lease_token): the row
        for r in _fetchall(
            db,
            f"SELECT {_CHANGE_COLUMNS}, lease_token FROM deliveries "
            "WHERE status = 'sending' AND id IN (SELECT value FROM json_each(?))",
            (json.dumps([int(o.delivery_id) for o in outcomes]),),
        )
    }
    # One pass builds every row's parameters: a bulk send records 500 outcomes at a time.
    updates: list[tuple[Any, ...]] = []
    tries: list[tuple[Any, ...]] = []
    changes: list[StatusChange] = []
    early: list[tuple[str, str | None]] = []
    started: datetime | None = None  # a batch's attempts share one start
    started_ts = 0.0
    for o in outcomes:
        row = held.get((o.delivery_id, o.lease_token))
        if row is None:
            continue
        status, a = o.status.value, o.attempt
        updates.append(
            (
                status,
                o.provider_id,
                o.provider_code,
                o.reason,
                o.failure_kind.value if o.failure_kind else None,
                rows.ts(o.retry_at),
                0 if a is not None else 1,
                now,
                status,
                now,
                row[0],
            )
        )
        if a is not None:
            if a.started_at is not started:
                started, started_ts = a.started_at, a.started_at.timestamp()
            tries.append(
                (
                    row[0],
                    a.number,
                    started_ts,
                    a.outcome.value,
                    a.latency_ms,
                    a.provider_id,
                    a.provider_code,
                    a.reason,
                    rows.ts(a.retry_at),
                )
            )
        changes.append(_change(row, o.status, o.reason))
        if o.status == DeliveryStatus.SENT and o.provider_id:
            early.append((row[2], o.provider_id))
    if not updates:
        return []
    db.executemany(
        "UPDATE deliveries SET status = ?, provider_id = coalesce(?, provider_id), "
        "provider_code = ?, reason = ?, failure_kind = ?, due_at = coalesce(?, due_at), "
        "attempt_count = attempt_count - ?, lease_token = NULL, lease_expires = NULL, "
        "updated_at = ?, fallback_at = " + _FALLBACK_AT + " WHERE id = ?",
        updates,
    )
    db.executemany(
        "INSERT OR REPLACE INTO attempts (delivery_id, number, started_at, outcome, latency_ms, "
        "provider_id, provider_code, reason, retry_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tries,
    )
    changes.extend(_apply_early_receipts(db, early, now))
    return changes


def _change(row: Any, status: DeliveryStatus, reason: str | None) -> StatusChange:
    """The move of a delivery to ``status``, from a row that starts with _CHANGE_COLUMNS
    (read by position: a bulk send makes one per delivery)."""
    return StatusChange(str(row[0]), row[1], row[2], status, reason, row[3], row[4])


def _apply_early_receipts(
    db: sqlite3.Connection, sent: list[tuple[str, str | None]], now: float
) -> list[StatusChange]:
    by_channel: dict[str, list[str]] = defaultdict(list)
    for channel, provider_id in sent:
        if provider_id:
            by_channel[channel].append(provider_id)
    changes: list[StatusChange] = []
    for channel, ids in by_channel.items():
        waiting = _fetchall(
            db,
            f"SELECT {_PENDING_COLUMNS} FROM receipts WHERE delivery_id IS NULL AND channel = ? "
            "AND provider_id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (channel, json.dumps(ids)),
        )
        if waiting:
            changes.extend(_apply(db, channel, waiting, now))
    return changes


def add_receipts(
    db: sqlite3.Connection, receipts: Sequence[ReceiptIn], now: float
) -> tuple[list[bool], list[StatusChange]]:
    """Insert receipts, each already matched to its delivery and applied (per channel, in
    order); returns the applied flags in input order."""
    # We hold the write lock: the new rows take the ids after the largest one, given here
    # so the match is written with the row instead of by an UPDATE after it.
    [top] = _fetchall(db, "SELECT coalesce(max(id), 0) AS top FROM receipts")
    first_id = top["top"] + 1
    by_channel: dict[str, list[Pending]] = defaultdict(list)
    for n, r in enumerate(receipts):
        by_channel[r.channel].append(
            (first_id + n, r.provider_id, r.status.value, r.provider_code, r.detail)
        )
    found: dict[int, tuple[int, int]] = {}
    changes: list[StatusChange] = []
    for channel, group in by_channel.items():
        matched, moved = _match(db, channel, group, now)
        found.update(
            (receipt_id, (delivery_id, applied)) for delivery_id, applied, receipt_id in matched
        )
        changes.extend(moved)
    unmatched = (None, 0)
    db.executemany(
        "INSERT INTO receipts (id, channel, provider_id, status, occurred_at, provider_code, "
        "detail, received_at, delivery_id, applied) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                first_id + n,
                r.channel,
                r.provider_id,
                r.status.value,
                rows.ts(r.occurred_at),
                r.provider_code,
                r.detail,
                now,
                *found.get(first_id + n, unmatched),
            )
            for n, r in enumerate(receipts)
        ],
    )
    return [found.get(first_id + n, unmatched)[1] == 1 for n in range(len(receipts))], changes


# A receipt as _match reads it: (id, provider id, status, provider code, detail).
Pending = tuple[int, str, str, str | None, str | None]
_PENDING_COLUMNS = "id, provider_id, status, provider_code, detail"


def _apply(
    db: sqlite3.Connection, channel: str, receipts: Sequence[Pending], now: float
) -> list[StatusChange]:
    """Match stored receipts that had no delivery yet, and apply them."""
    matched, changes = _match(db, channel, receipts, now)
    db.executemany("UPDATE receipts SET delivery_id = ?, applied = ? WHERE id = ?", matched)
    return changes


def _match(
    db: sqlite3.Connection, channel: str, receipts: Sequence[Pending], now: float
) -> tuple[list[tuple[int, int, int]], list[StatusChange]]:
    """Match receipts to deliveries by provider id and move the deliveries that may move.
    Returns (delivery id, applied 0/1, receipt id) per receipt matched, and the moves."""
    ids = sorted({r[1] for r in receipts})
    # provider id → [id, announcement_id, channel, contact_id, step, status]; status moves
    # as the batch's receipts are applied in order.
    current = {
        r[6]: list(r[:6])
        for r in _fetchall(
            db,
            f"SELECT {_CHANGE_COLUMNS}, status, provider_id FROM deliveries "
            "WHERE channel = ? AND provider_id IN (SELECT value FROM json_each(?))",
            (channel, json.dumps(ids)),
        )
    }
    changes: list[StatusChange] = []
    matched: list[tuple[int, int, int]] = []
    moved: list[tuple[Any, ...]] = []
    for receipt_id, provider_id, status, code, detail in receipts:
        target = current.get(provider_id)
        if target is None:
            continue  # stays unmatched; applied when the send is recorded
        applied = status in _RECEIPT_MOVES.get(target[5], ())
        matched.append((target[0], int(applied), receipt_id))
        if not applied:
            continue
        failed = status == "failed"
        moved.append(
            (
                status,
                code,
                "permanent" if failed else None,
                (detail or "the provider reported it undelivered") if failed else None,
                now,
                target[0],
            )
        )
        target[5] = status
        changes.append(_change(target, DeliveryStatus(status), detail))
    # In receipt order, so a delivery moved twice in one batch ends in its last state.
    db.executemany(
        "UPDATE deliveries SET status = ?, provider_code = coalesce(?, provider_code), "
        "failure_kind = ?, reason = ?, updated_at = ?, fallback_at = NULL WHERE id = ?",
        moved,
    )
    return matched, changes


def expire(db: sqlite3.Connection, now: float) -> tuple[list[StatusChange], list[str]]:
    """Expire announcements whose ``expires_at`` has passed, and their open deliveries."""
    due = [
        r["id"]
        for r in _fetchall(
            db,
            "SELECT id FROM announcements WHERE status IN ('scheduled', 'fanning_out', 'sending') "
            "AND expires_at IS NOT NULL AND expires_at <= ?",
            (now,),
        )
    ]
    if not due:
        return [], []
    ids = json.dumps(due)
    gone = _fetchall(
        db,
        "UPDATE deliveries SET status = 'expired', reason = 'expired before it could be sent', "
        "updated_at = ? WHERE announcement_id IN (SELECT value FROM json_each(?)) "
        "AND status IN ('queued', 'retry_wait') "
        f"RETURNING {_CHANGE_COLUMNS}",
        (now, ids),
    )
    db.execute(
        "UPDATE announcements SET status = 'expired', finished_at = ? "
        "WHERE id IN (SELECT value FROM json_each(?))",
        (now, ids),
    )
    reason = "expired before it could be sent"
    return [_change(r, DeliveryStatus.EXPIRED, reason) for r in gone], due


def overdue_fallbacks(db: sqlite3.Connection, now: float, limit: int) -> list[StatusChange]:
    """Sent steps whose fallback deadline passed without a receipt: each is taken once."""
    due = _fetchall(
        db,
        "UPDATE deliveries SET fallback_at = NULL WHERE id IN (SELECT id FROM deliveries "
        "WHERE fallback_at IS NOT NULL AND fallback_at <= ? AND status = 'sent' LIMIT ?) "
        f"RETURNING {_CHANGE_COLUMNS}",
        (now, limit),
    )
    reason = "not delivered by the fallback deadline"
    return [replace(_change(r, DeliveryStatus.SENT, reason), overdue=True) for r in due]
