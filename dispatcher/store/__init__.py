"""Storage: one interface (:class:`Store`), an SQLite implementation for the embedded default."""

from __future__ import annotations

from dispatcher.store.base import (
    ApiKey,
    AttemptRecord,
    ClaimedDelivery,
    DayCounts,
    IdempotencyConflictError,
    ImportReport,
    NewDelivery,
    Outcome,
    Page,
    Recipient,
    StaleCountsError,
    StateEntry,
    Store,
)
from dispatcher.store.sqlite import SQLiteStore

__all__ = [
    "ApiKey",
    "AttemptRecord",
    "ClaimedDelivery",
    "DayCounts",
    "IdempotencyConflictError",
    "ImportReport",
    "NewDelivery",
    "Outcome",
    "Page",
    "Recipient",
    "SQLiteStore",
    "StaleCountsError",
    "StateEntry",
    "Store",
]
