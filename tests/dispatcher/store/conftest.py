"""A fresh SQLite store per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from counts_check import miscounted

from dispatcher.store import SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """An open store on a file (WAL, two connections, as in production)."""
    s = SQLiteStore(tmp_path / "store.db")
    await s.open()
    yield s
    wrong = await miscounted(s) if s.is_open else []
    await s.close()
    assert not wrong, f"delivery_counts disagree with the deliveries: {wrong}"
