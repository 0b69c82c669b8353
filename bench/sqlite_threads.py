"""Whether two threads can run SQLite at once, with SQLite's allocation statistics on and off.

    python bench/sqlite_threads.py [--rows 3000000] [--runs 3]

The store's writer and reader threads run their SQL without the GIL. This runs one long
statement (a recursive count to ``--rows``, on an in-memory database of its own) twice in a
row, then in two threads at once, in a fresh interpreter each time: once as Python starts
it, once after ``turn_off_memory_statistics()`` (what every ``thongbao`` command does before
it opens the store). Prints both timings and the speed-up of the two threads over one after
the other: about 2 on two free cores when the threads do not wait for each other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = """
import json, sys, threading, time, sqlite3
sys.path.insert(0, {root!r})
if {off!r}:
    from dispatcher.store.sqlite_memory import turn_off_memory_statistics
    assert turn_off_memory_statistics()

def statement():
    db = sqlite3.connect(":memory:")
    db.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
               "WHERE x < {rows}) SELECT sum(x) FROM c").fetchall()
    db.close()

start = time.perf_counter(); statement(); statement()
in_a_row = time.perf_counter() - start
threads = [threading.Thread(target=statement) for _ in range(2)]
start = time.perf_counter()
for thread in threads: thread.start()
for thread in threads: thread.join()
print(json.dumps([in_a_row, time.perf_counter() - start]))
"""


def one(rows: int, off: bool) -> tuple[float, float]:
    """Seconds for the two statements one after the other, then in two threads."""
    code = _CHILD.format(root=str(ROOT), off=off, rows=rows)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    in_a_row, together = json.loads(out.stdout)
    return in_a_row, together


def main() -> None:
    """Run, then print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3_000_000, help="rows the statement counts")
    parser.add_argument("--runs", type=int, default=3, help="runs; figures are medians")
    args = parser.parse_args()
    print(f"sqlite threads, {os.cpu_count()} cores, median of {args.runs} run(s)\n")
    print(
        "| SQLite's allocation statistics | one after the other s | two threads at once s "
        "| speed-up |\n|---|---|---|---|"
    )
    for label, off in (("on (as Python starts)", False), ("off (thongbao)", True)):
        runs = [one(args.rows, off) for _ in range(args.runs)]
        in_a_row = statistics.median(r[0] for r in runs)
        together = statistics.median(r[1] for r in runs)
        speed_up = statistics.median(r[0] / r[1] for r in runs)
        print(f"| {label} | {in_a_row:.2f} | {together:.2f} | {speed_up:.2f} |")


if __name__ == "__main__":
    main()
