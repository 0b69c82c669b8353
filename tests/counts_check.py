"""Whether the counts the store's triggers keep (migration m008) agree with its deliveries.

The fixtures that open a store (``store``, ``dispatcher_factory``) ask at the end of every
test, so each write path a test takes (fan-out, claim, outcomes, receipts, cancel, expiry,
lease reclaim, erasure) is checked against the rows it wrote.
"""

from __future__ import annotations

from dispatcher.store import SQLiteStore

# One statement, so one snapshot even while a dispatcher still writes.
_MISCOUNTED = """
SELECT k.announcement_id, k.channel, k.status, coalesce(c.n, 0) AS kept, k.rows
FROM (SELECT announcement_id, channel, status, count(*) AS rows FROM deliveries
      GROUP BY announcement_id, channel, status) AS k
LEFT JOIN delivery_counts AS c USING (announcement_id, channel, status)
WHERE coalesce(c.n, 0) != k.rows
UNION ALL
SELECT c.announcement_id, c.channel, c.status, c.n, 0 FROM delivery_counts AS c
WHERE c.n != 0 AND NOT EXISTS (SELECT 1 FROM deliveries AS d
    WHERE d.announcement_id = c.announcement_id AND d.channel = c.channel
    AND d.status = c.status)
"""


async def miscounted(store: SQLiteStore) -> list[tuple[str, str, str, int, int]]:
    """(announcement, channel, status, count kept, rows) wherever the two differ."""
    return [tuple(row) for row in await store._fetchall(_MISCOUNTED)]  # type: ignore[misc]
