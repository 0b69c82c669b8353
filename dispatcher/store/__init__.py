"""Storage: one interface (:class:`Store`), an SQLite implementation for the embedded default."""

from __future__ import annotations

from dispatcher.store.base import (
    ApiKey,
    AttemptRecord,
    ClaimedDelivery,
    IdempotencyConflictError,
    ImportReport,
    NewDelivery,
    Outcome,
    Page,
    Recipient,
    StateEntry,
    Store,
)
from dispatcher.store.sqlite import SQLiteStore

__all__ = [
    "ApiKey",
    "AttemptRecord",
    "ClaimedDelivery",
    "IdempotencyConflictError",
    "ImportReport",
    "NewDelivery",
    "Outcome",
    "Page",
    "Recipient",
    "SQLiteStore",
    "StateEntry",
    "Store",
]
