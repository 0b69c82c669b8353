"""What a row costs the store's writer thread while the event loop's thread is busy: one
``executemany`` step a row, or one JSON array for the batch.

    python bench/sqlite_gil.py [--rows 20000] [--batch 500] [--runs 3]

The ``sqlite3`` module lets go of the interpreter lock (GIL) around each step of a statement
and takes it back after. A step is one row of ``executemany`` or of a result. While another
thread runs Python, taking the lock back waits until that thread lets go: at the latest after
the interpreter's switch interval (5 ms). So a row can cost milliseconds.

This inserts ``--rows`` rows in transactions of ``--batch``, then reads them back in results
of ``--batch`` rows, into an in-memory table shaped like ``deliveries`` (three indexes). Each
is done the old way (``executemany``, ``fetchall``) and the store's way (``INSERT … SELECT …
FROM json_each(?)``, ``SELECT json_group_array(…)``). Each runs with the other thread idle,
then with it spinning in Python. Prints µs a row (median of ``--runs``).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable

COLUMNS = ("announcement_id", "channel", "address", "status", "priority_rank", "due_at")
_SCHEMA = (
    "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, announcement_id TEXT, channel TEXT, "
    "address TEXT, status TEXT, priority_rank INTEGER, due_at REAL, "
    "UNIQUE (announcement_id, channel, address));"
    "CREATE INDEX deliveries_status ON deliveries (announcement_id, status, channel);"
    "CREATE INDEX deliveries_address ON deliveries (channel, address, id);"
)
_INSERT_MANY = f"INSERT INTO deliveries ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)"
_INSERT_JSON = (
    f"INSERT INTO deliveries ({', '.join(COLUMNS)}) SELECT "
    + ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(COLUMNS)))
    + " FROM json_each(?)"
)
_READ_ROWS = f"SELECT id, {', '.join(COLUMNS)} FROM deliveries WHERE id > ? AND id <= ?"
_READ_JSON = (
    f"SELECT json_group_array(json_array(id, {', '.join(COLUMNS)})) FROM deliveries "
    "WHERE id > ? AND id <= ?"
)

Rows = list[tuple[object, ...]]
Way = Callable[[sqlite3.Connection, Rows, int], None]


def insert_many(db: sqlite3.Connection, rows: Rows, batch: int) -> None:
    for start in range(0, len(rows), batch):
        db.execute("BEGIN")
        db.executemany(_INSERT_MANY, rows[start : start + batch])
        db.execute("COMMIT")


def insert_json(db: sqlite3.Connection, rows: Rows, batch: int) -> None:
    for start in range(0, len(rows), batch):
        db.execute("BEGIN")
        db.execute(_INSERT_JSON, (json.dumps(rows[start : start + batch]),))
        db.execute("COMMIT")


def read_rows(db: sqlite3.Connection, rows: Rows, batch: int) -> None:
    for start in range(0, len(rows), batch):
        db.execute(_READ_ROWS, (start, start + batch)).fetchall()


def read_json(db: sqlite3.Connection, rows: Rows, batch: int) -> None:
    for start in range(0, len(rows), batch):
        json.loads(db.execute(_READ_JSON, (start, start + batch)).fetchone()[0])


def timed(write: Way, read: Way, rows: Rows, batch: int, busy: bool) -> tuple[float, float]:
    """µs a row to write ``rows``, then to read them back, beside a busy thread or not."""
    db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    db.executescript(_SCHEMA)
    stop = threading.Event()

    def spin() -> None:  # the event loop's thread, running Python
        while not stop.is_set():
            sum(range(200))

    spinner = threading.Thread(target=spin)
    if busy:
        spinner.start()
    try:
        start = time.perf_counter()
        write(db, rows, batch)
        written = time.perf_counter()
        read(db, rows, batch)
        read_s = time.perf_counter() - written
    finally:
        stop.set()
        if busy:
            spinner.join()
        db.close()
    return (written - start) / len(rows) * 1e6, read_s / len(rows) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: Rows = [
        ("01HZX3V9K2M4N6P8Q0R2S4T6V8", "sms", f"+8491{i:07d}", "queued", 3, 1.79e9 + i / 7)
        for i in range(args.rows)
    ]
    ways = {"one step a row": (insert_many, read_rows), "one JSON value": (insert_json, read_json)}
    print(f"{args.rows:,} rows in batches of {args.batch}, median of {args.runs} runs")
    print("| rows go | other thread | write µs/row | read µs/row |")
    print("|---|---|---|---|")
    for busy in (False, True):
        for name, (write, read) in ways.items():
            runs = [timed(write, read, rows, args.batch, busy) for _ in range(args.runs)]
            w = statistics.median(r[0] for r in runs)
            r = statistics.median(r[1] for r in runs)
            print(f"| {name} | {'busy' if busy else 'idle'} | {w:.2f} | {r:.2f} |")


if __name__ == "__main__":
    main()
