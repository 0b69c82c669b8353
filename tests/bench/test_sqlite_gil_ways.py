"""bench/sqlite_gil.py: both ways of moving rows store and read the same rows (no speed is
asserted)."""

from __future__ import annotations

import sqlite3

from bench_scripts import load

gil = load("sqlite_gil")


def test_json_and_executemany_write_the_same_rows() -> None:
    rows = [("a", "sms", f"+84{i}", "queued", 3, 1.79e9 + i / 7) for i in range(7)]
    tables = []
    for write in (gil.insert_many, gil.insert_json):
        db = sqlite3.connect(":memory:", isolation_level=None)
        db.executescript(gil._SCHEMA)
        write(db, rows, 3)
        tables.append(db.execute("SELECT * FROM deliveries ORDER BY id").fetchall())
    assert tables[0] == tables[1]
    assert [r[1:] for r in tables[0]] == rows  # floats exact through JSON


def test_each_way_is_timed_idle_and_beside_a_busy_thread() -> None:
    for busy in (False, True):
        write_us, read_us = gil.timed(
            gil.insert_json, gil.read_json, [("a",) * 5 + (1.0,)], 1, busy
        )
        assert write_us > 0 and read_us > 0
