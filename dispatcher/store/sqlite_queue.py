"""The queue's write paths on SQLite: fan-out inserts, claim, outcomes, receipts, expiry.

Plain ``sqlite3`` functions: each runs whole inside one ``BEGIN IMMEDIATE`` transaction in
the writer connection's thread (``SQLiteConnections._transaction``), so a ``SELECT``
followed by an ``UPDATE`` here sees no other writer in between, and the write lock is held
for the SQL alone, never across turns of a busy event loop.

A batch's rows go in as one JSON array read by ``json_each`` and come out as one
``json_group_array``, not through ``executemany`` and ``fetchall``. The ``sqlite3`` module
lets go of the interpreter lock around each step of a statement, that is once a row, and
must win it back from the event loop's thread after each: while that thread is busy, each
win can wait for the interpreter's switch interval (5 ms by default; ``thongbao serve``
sets 1 ms, see ``dispatcher.cli.SWITCH_INTERVAL``). One statement a batch is one
step, so the SQL of 500 rows runs beside the event loop, not in 500 turns with it
(``bench/sqlite_gil.py`` measures both).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from dispatcher import jsontext
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
# A status by its text for _match: a dict lookup, not an enum call (with the receipts' rows
# built from members, 6 % fewer instructions to store a receipt).
_STATUSES = {status.value: status for status in DeliveryStatus}
# Receipts may move a delivery from these states to the ones mapped.
_RECEIPT_MOVES = {
    "sent": {"delivered", "failed"},
    "failed": {"delivered"},
}


def new_delivery_params(d: NewDelivery) -> tuple[Any, ...]:
    """Parameters of the INSERT in ``SQLiteStore.add_deliveries``."""
    due = d.due_at.timestamp()
    return (
        d.announcement_id,
        d.channel,
        d.address,
        d.contact_id,
        d.status,
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


def _rows(db: sqlite3.Connection, sql: str, params: Any = ()) -> list[list[Any]]:
    """The rows of ``sql``, a ``SELECT json_group_array(json_array(...))``, as lists: one
    step for the whole result (see the module's docstring). SQLite writes a REAL to JSON
    with 15 significant digits: read exact floats with ``_fetchall``."""
    (found,) = db.execute(sql, params).fetchone()
    rows: list[list[Any]] = jsontext.loads(found)
    return rows


def _batch(values: Sequence[Sequence[Any]]) -> str:
    """Rows of parameters as the JSON array a ``json_each`` statement reads them from (floats
    go in exact: SQLite reads JSON numbers to the nearest double). Enum members go in as
    they are: orjson writes their values, and reading ``.value`` row by row cost about 2.5 %
    of the fan-out insert's and the outcomes' instructions (``bench/store_paths.py
    --instructions``)."""
    return jsontext.dumps(values)


def _columns(*names: str) -> str:
    """``json_each`` columns, one for each element of a row of ``_batch``: ``json_extract(
    value, '$[0]') AS first, ...``."""
    return ", ".join(f"json_extract(value, '$[{i}]') AS {name}" for i, name in enumerate(names))


# What a daily cap counts (see Store.recent_counts), by the deliveries_contact index: one
# JSON array of [contact id, channel, count] for a fan-out batch's contacts.
RECENT_COUNTS_SQL = (
    "SELECT json_group_array(json_array(contact_id, channel, n)) FROM ("
    "SELECT contact_id, channel, count(*) AS n FROM deliveries "
    "WHERE contact_id IN (SELECT value FROM json_each(?)) "
    "AND created_at >= ? AND created_at < ? "
    "AND priority_rank > 0 AND status NOT IN ('suppressed', 'cancelled', 'expired') "
    "GROUP BY contact_id, channel)"
)


def recent_counts_params(
    contact_ids: Sequence[str], since: datetime, until: datetime
) -> tuple[str, float, float]:
    """The parameters of RECENT_COUNTS_SQL."""
    return jsontext.dumps(list(contact_ids)), since.timestamp(), until.timestamp()


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
        found = _rows(db, RECENT_COUNTS_SQL, recent_counts_params(ids, since, until))
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
    # rowcount: the rows this INSERT wrote, not those the counting triggers wrote with them.
    inserted: int = db.execute(
        _INSERT_DELIVERIES, (_batch([new_delivery_params(d) for d in deliveries]),)
    ).rowcount
    if cursor is not None:
        db.execute(
            "UPDATE announcements SET fanout_cursor = ? WHERE id = ?", (cursor, announcement_id)
        )
    return inserted


_NEW_DELIVERY_COLUMNS = (
    "announcement_id, channel, address, contact_id, status, priority_rank, due_at, step, "
    "reason, created_at, updated_at, note"
)
# In the order of json_each, so ids follow the batch's order.
_INSERT_DELIVERIES = (
    f"INSERT OR IGNORE INTO deliveries ({_NEW_DELIVERY_COLUMNS}) "
    f"SELECT {_columns(*_NEW_DELIVERY_COLUMNS.split(', '))} FROM json_each(?)"
)


# The first columns of every row a StatusChange is made from (see _change).
_CHANGE_COLUMNS = "id, announcement_id, channel, contact_id, step"


def _change_rows(db: sqlite3.Connection, where: str, params: Any) -> list[list[Any]]:
    """The _CHANGE_COLUMNS of the deliveries ``where`` (a WHERE clause, with any LIMIT)
    picks, as one JSON value (see :func:`_rows`)."""
    return _rows(
        db,
        f"SELECT json_group_array(json_array({_CHANGE_COLUMNS})) "
        f"FROM (SELECT {_CHANGE_COLUMNS} FROM deliveries {where})",
        params,
    )


def _reclaim_expired(
    db: sqlite3.Connection, channel: str, *, limit: int, now: float, repeatable: bool
) -> list[StatusChange]:
    stale = _change_rows(
        db,
        "WHERE channel = ? AND status = 'sending' AND lease_expires < ? LIMIT ?",
        (channel, now, limit),
    )
    if not stale:
        return []
    ids = jsontext.dumps([r[0] for r in stale])
    # The attempt started when the lease was taken: its updated_at, copied inside SQLite.
    db.execute(
        "INSERT OR IGNORE INTO attempts (delivery_id, number, started_at, outcome, reason) "
        "SELECT id, attempt_count, updated_at, 'unknown', ? FROM deliveries "
        "WHERE id IN (SELECT value FROM json_each(?))",
        (_UNKNOWN_REASON, ids),
    )
    if repeatable:
        db.execute(
            "UPDATE deliveries SET status = 'queued', due_at = ?, lease_token = NULL, "
            "lease_expires = NULL, unknown_count = unknown_count + 1, updated_at = ? "
            "WHERE id IN (SELECT value FROM json_each(?))",
            (now, now, ids),
        )
        return []
    reason = "outcome unknown after a crash, and this channel may not send twice"
    db.execute(
        "UPDATE deliveries SET status = 'failed', failure_kind = 'technical', reason = ?, "
        "lease_token = NULL, lease_expires = NULL, unknown_count = unknown_count + 1, "
        "updated_at = ? WHERE id IN (SELECT value FROM json_each(?))",
        (reason, now, ids),
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
    lease = {"token": token, "exp": now + lease_seconds, "channel": channel}
    db.execute(
        "UPDATE deliveries SET status = 'sending', lease_token = :token, lease_expires = :exp, "
        "attempt_count = attempt_count + 1, updated_at = :now "
        "WHERE id IN (SELECT id FROM deliveries WHERE channel = :channel "
        "AND status IN ('queued', 'retry_wait') AND due_at <= :now "
        "AND priority_rank <= :max_rank ORDER BY priority_rank, due_at LIMIT :limit)",
        {**lease, "now": now, "limit": limit, "max_rank": 99 if max_rank is None else max_rank},
    )
    # The rows just leased, by the lease index (a bulk send reads every claimed row).
    claimed = _rows(
        db,
        "SELECT json_group_array(json_array(id, announcement_id, channel, address, contact_id, "
        "attempt_count, unknown_count, step, priority_rank, due_at)) FROM deliveries "
        "WHERE channel = :channel AND status = 'sending' AND lease_expires = :exp "
        "AND lease_token = :token",
        lease,
    )
    # due_at read from JSON is rounded to 15 digits (10 µs): it only orders equal ranks.
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
        for r in _rows(
            db,
            f"SELECT json_group_array(json_array({_CHANGE_COLUMNS}, lease_token)) "
            "FROM deliveries WHERE status = 'sending' "
            "AND id IN (SELECT value FROM json_each(?))",
            (jsontext.dumps([int(o.delivery_id) for o in outcomes]),),
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
        a = o.attempt
        updates.append(
            (
                o.status,
                o.provider_id,
                o.provider_code,
                o.reason,
                o.failure_kind,
                rows.ts(o.retry_at),
                0 if a is not None else 1,
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
                    a.outcome,
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
    db.execute(_RECORD_OUTCOMES, {"rows": _batch(updates), "now": now})
    if tries:
        db.execute(_RECORD_ATTEMPTS, (_batch(tries),))
    changes.extend(_apply_early_receipts(db, early, now))
    return changes


# The rows of record_outcomes: (status, provider id, provider code, reason, failure kind,
# retry at, 1 when no attempt was made, delivery id), one statement for a batch. A sent step
# of a fallback announcement with a deadline, when a next step exists, gets fallback_at:
# when the next channel goes out unless a receipt settles it first; NULL otherwise.
_RECORD_OUTCOMES = (
    "UPDATE deliveries SET status = o.new_status, "
    "provider_id = coalesce(o.new_provider_id, deliveries.provider_id), "
    "provider_code = o.new_provider_code, reason = o.new_reason, "
    "failure_kind = o.new_failure_kind, due_at = coalesce(o.retry_at, deliveries.due_at), "
    "attempt_count = deliveries.attempt_count - o.refund, lease_token = NULL, "
    "lease_expires = NULL, updated_at = :now, "
    "fallback_at = (CASE WHEN o.new_status = 'sent' THEN (SELECT a.fallback_after + :now "
    "FROM announcements a WHERE a.id = deliveries.announcement_id "
    "AND a.fallback_after IS NOT NULL AND deliveries.contact_id IS NOT NULL "
    "AND deliveries.step + 1 < json_array_length(a.data, '$.channels')) END) "
    "FROM (SELECT "
    + _columns(
        "new_status",
        "new_provider_id",
        "new_provider_code",
        "new_reason",
        "new_failure_kind",
        "retry_at",
        "refund",
        "delivery",
    )
    + " FROM json_each(:rows)) AS o WHERE deliveries.id = o.delivery"
)
_ATTEMPT_COLUMNS = (
    "delivery_id, number, started_at, outcome, latency_ms, provider_id, provider_code, "
    "reason, retry_at"
)
_RECORD_ATTEMPTS = (
    f"INSERT OR REPLACE INTO attempts ({_ATTEMPT_COLUMNS}) "
    f"SELECT {_columns(*_ATTEMPT_COLUMNS.split(', '))} FROM json_each(?)"
)


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
        waiting = _rows(
            db,
            f"SELECT json_group_array(json_array({_PENDING_COLUMNS})) FROM receipts "
            "WHERE delivery_id IS NULL AND channel = ? "
            "AND provider_id IN (SELECT value FROM json_each(?))",
            (channel, jsontext.dumps(ids)),
        )
        if waiting:
            waiting.sort(key=lambda r: r[0])  # applied in the order they came
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
            (first_id + n, r.provider_id, r.status, r.provider_code, r.detail)
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
    db.execute(
        _INSERT_RECEIPTS,
        (
            _batch(
                [
                    (
                        first_id + n,
                        r.channel,
                        r.provider_id,
                        r.status,
                        rows.ts(r.occurred_at),
                        r.provider_code,
                        r.detail,
                        now,
                        *found.get(first_id + n, unmatched),
                    )
                    for n, r in enumerate(receipts)
                ]
            ),
        ),
    )
    return [found.get(first_id + n, unmatched)[1] == 1 for n in range(len(receipts))], changes


_RECEIPT_COLUMNS = (
    "id, channel, provider_id, status, occurred_at, provider_code, detail, received_at, "
    "delivery_id, applied"
)
_INSERT_RECEIPTS = (
    f"INSERT INTO receipts ({_RECEIPT_COLUMNS}) "
    f"SELECT {_columns(*_RECEIPT_COLUMNS.split(', '))} FROM json_each(?)"
)
# The matches of _apply: (delivery id, applied 0/1, receipt id).
_MATCH_RECEIPTS = (
    "UPDATE receipts SET delivery_id = m.delivery, applied = m.applied FROM (SELECT "
    + _columns("delivery", "applied", "receipt")
    + " FROM json_each(?)) AS m WHERE receipts.id = m.receipt"
)
# The moves of _match: (status, provider code, failure kind, reason, delivery id).
_MOVE_ON_RECEIPTS = (
    "UPDATE deliveries SET status = m.new_status, "
    "provider_code = coalesce(m.new_provider_code, deliveries.provider_code), "
    "failure_kind = m.new_failure_kind, reason = m.new_reason, updated_at = :now, "
    "fallback_at = NULL FROM (SELECT "
    + _columns("new_status", "new_provider_code", "new_failure_kind", "new_reason", "delivery")
    + " FROM json_each(:rows)) AS m WHERE deliveries.id = m.delivery"
)

# A receipt as _match reads it: (id, provider id, status, provider code, detail).
Pending = Sequence[Any]
_PENDING_COLUMNS = "id, provider_id, status, provider_code, detail"


def _apply(
    db: sqlite3.Connection, channel: str, receipts: Sequence[Pending], now: float
) -> list[StatusChange]:
    """Match stored receipts that had no delivery yet, and apply them."""
    matched, changes = _match(db, channel, receipts, now)
    if matched:
        db.execute(_MATCH_RECEIPTS, (_batch(matched),))
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
        r[6]: r[:6]
        for r in _rows(
            db,
            f"SELECT json_group_array(json_array({_CHANGE_COLUMNS}, status, provider_id)) "
            "FROM deliveries "
            "WHERE channel = ? AND provider_id IN (SELECT value FROM json_each(?))",
            (channel, jsontext.dumps(ids)),
        )
    }
    changes: list[StatusChange] = []
    matched: list[tuple[int, int, int]] = []
    # delivery id → its move; a delivery moved twice in one batch ends as the later move
    # left it, with the code of the earlier one when the later one has none.
    moved: dict[int, tuple[Any, ...]] = {}
    for receipt_id, provider_id, status, code, detail in receipts:
        target = current.get(provider_id)
        if target is None:
            continue  # stays unmatched; applied when the send is recorded
        applied = status in _RECEIPT_MOVES.get(target[5], ())
        matched.append((target[0], int(applied), receipt_id))
        if not applied:
            continue
        failed = status == "failed"
        earlier = moved.get(target[0])
        moved[target[0]] = (
            status,
            code if code is not None or earlier is None else earlier[1],
            "permanent" if failed else None,
            (detail or "the provider reported it undelivered") if failed else None,
            target[0],
        )
        target[5] = status
        changes.append(_change(target, _STATUSES[status], detail))
    if moved:
        db.execute(_MOVE_ON_RECEIPTS, {"rows": _batch(list(moved.values())), "now": now})
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
    ids = jsontext.dumps(due)
    # Read, then moved by the same WHERE in the same transaction: the rows of a large
    # announcement come out as one JSON value, not one RETURNING step each.
    open_rows = (
        "WHERE announcement_id IN (SELECT value FROM json_each(?)) "
        "AND status IN ('queued', 'retry_wait')"
    )
    gone = _change_rows(db, open_rows, (ids,))
    db.execute(
        "UPDATE deliveries SET status = 'expired', reason = 'expired before it could be sent', "
        f"updated_at = ? {open_rows}",
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
    due = _change_rows(
        db,
        "WHERE fallback_at IS NOT NULL AND fallback_at <= ? AND status = 'sent' LIMIT ?",
        (now, limit),
    )
    if not due:
        return []
    db.execute(
        "UPDATE deliveries SET fallback_at = NULL WHERE id IN (SELECT value FROM json_each(?))",
        (jsontext.dumps([r[0] for r in due]),),
    )
    reason = "not delivered by the fallback deadline"
    return [replace(_change(r, DeliveryStatus.SENT, reason), overdue=True) for r in due]
