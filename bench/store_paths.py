"""What each write path of the durable SQLite store costs per delivery, with no HTTP at all.

    python bench/store_paths.py [--n 20000] [--runs 3]
    python bench/store_paths.py --instructions [--n 2000]

On a fresh SQLite file (WAL, synchronous NORMAL, as `thongbao serve` opens it), through the
public `SQLiteStore` methods the engine calls, in the batch sizes the engine uses: fan-out
inserts (1,000 a transaction), claims (500), judging the provider's answers (the worker's
`Judge`, no store), outcomes (500), then delivery reports read as the generic SMS callback
reads them (500 a request) and stored as receipts. Prints microseconds per delivery for
each step (median of the runs) and the sum: the floor under any send path that writes every
delivery, on this machine. Beside each store step, the part spent inside SQLite's statements
(execute, executemany and their fetches, in the writer's thread; BEGIN and COMMIT not
counted): what no change to the Python around them can take away, and which one writer
thread must carry for every delivery.

With ``--instructions`` it runs itself once under valgrind's callgrind (:mod:`callgrind_parts`)
and prints instructions per delivery instead: the same steps, counted the same to a few
parts in a hundred thousand on a fast hour or a slow one, and split between SQLite's
library, the interpreter and the rest (libc, orjson, the other extension modules).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dispatcher.channel import Accepted
from dispatcher.clock import FakeClock
from dispatcher.outcome import Judge
from dispatcher.retry import RetryPolicy
from dispatcher.store import NewDelivery, Outcome, SQLiteStore
from dispatcher.store.base import ClaimedDelivery
from dispatcher.store.sqlite_memory import turn_off_memory_statistics
from plugins.sms.callback import _parse, receipts  # the callback's own reading of reports
from schemas import AnnouncementIn, AnnouncementStatus, Priority, ReceiptIn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import callgrind_parts

T = TypeVar("T")
MARKING = False  # --mark-steps: each step between two callgrind_parts marks
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
STEPS = ("fan-out insert", "claim", "judge", "record outcome", "read report", "store receipt")


class _TimedCursor:
    """A cursor whose fetches add to the connection's SQL seconds."""

    def __init__(self, cursor: sqlite3.Cursor, timed: _TimedConnection) -> None:
        self._cursor = cursor
        self._timed = timed

    def fetchall(self) -> list[Any]:
        start = time.perf_counter()
        try:
            return self._cursor.fetchall()
        finally:
            self._timed.seconds += time.perf_counter() - start

    def fetchone(self) -> Any:
        start = time.perf_counter()
        try:
            return self._cursor.fetchone()
        finally:
            self._timed.seconds += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _TimedConnection:
    """The writer's connection as the store's write paths use it, timing the statements."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.seconds = 0.0

    def execute(self, sql: str, params: Any = ()) -> _TimedCursor:
        start = time.perf_counter()
        try:
            return _TimedCursor(self._conn.execute(sql, params), self)
        finally:
            self.seconds += time.perf_counter() - start

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        start = time.perf_counter()
        try:
            return self._conn.executemany(sql, rows)
        finally:
            self.seconds += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class TimedStore(SQLiteStore):
    """The store, counting the seconds its transactions spend inside SQLite statements."""

    sql_seconds = 0.0

    async def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def timed(conn: sqlite3.Connection) -> T:
            counted = _TimedConnection(conn)
            try:
                return work(counted)  # type: ignore[arg-type]
            finally:
                self.sql_seconds += counted.seconds

        return await super()._transaction(timed)


async def one_run(n: int) -> dict[str, float]:
    """Seconds per delivery of each step (and ``<step> SQL``: inside SQLite statements),
    for ``n`` deliveries on a fresh file."""
    with tempfile.TemporaryDirectory(prefix="thongbao-store-bench-") as folder:
        return await _steps(TimedStore(os.path.join(folder, "bench.db")), n)


async def _steps(store: TimedStore, n: int) -> dict[str, float]:
    await store.open()
    data = AnnouncementIn.model_validate(
        {"title": "T", "body": "B", "channels": ["sms"], "audience": {"areas": ["01"]}}
    )
    await store.create_announcement("a1", data, created_by=None, now=T0)
    await store.set_announcement_status(
        "a1", [AnnouncementStatus.SCHEDULED], AnnouncementStatus.FANNING_OUT, T0
    )
    announcement = (await store.get_announcements(["a1"]))["a1"]
    sent_at = T0 + timedelta(seconds=1)
    judge = Judge("sms", True, RetryPolicy(initial=1, maximum=10), FakeClock(sent_at))
    times: dict[str, float] = {}
    claimed: list[list[ClaimedDelivery]] = []
    outcomes: list[list[Outcome]] = []
    reports: list[list[dict[str, str]]] = []

    async def timed(step: str, work: Callable[[], Awaitable[None]]) -> None:
        start, sql_before = time.perf_counter(), store.sql_seconds
        if MARKING:
            callgrind_parts.mark()
        await work()
        if MARKING:
            callgrind_parts.mark()
        times[step] = (time.perf_counter() - start) / n
        times[f"{step} SQL"] = (store.sql_seconds - sql_before) / n

    async def insert() -> None:
        for s in range(0, n, 1000):
            batch = [
                NewDelivery("a1", "sms", f"+849{i:08d}", Priority.NORMAL, T0)
                for i in range(s, min(n, s + 1000))
            ]
            await store.add_deliveries(batch, announcement_id="a1", cursor=f"contacts:{s}")

    async def claim() -> None:
        for _ in range(0, n, 500):
            rows, _ = await store.claim("sms", limit=500, now=sent_at, lease_seconds=60)
            claimed.append(rows)

    async def judging() -> None:
        for rows in claimed:
            outcomes.append(
                [
                    judge.judge(c, announcement, Accepted(provider_id=f"gw-{c.id}"), sent_at, 5.0)
                    for c in rows
                ]
            )

    async def record() -> None:
        for batch in outcomes:
            await store.record_outcomes(batch, sent_at)

    parsed: list[list[ReceiptIn]] = []

    async def read_reports() -> None:
        for payload in reports:
            parsed.append(receipts(_parse(payload)))

    async def store_receipts() -> None:
        for found in parsed:
            await store.add_receipts(found, sent_at + timedelta(seconds=2))

    await timed("fan-out insert", insert)
    await timed("claim", claim)
    await timed("judge", judging)
    await timed("record outcome", record)
    # The gateway's reports as the callback's JSON parser hands them over (not timed).
    reports.extend([{"id": f"gw-{c.id}", "status": "DELIVRD"} for c in rows] for rows in claimed)
    await timed("read report", read_reports)
    await timed("store receipt", store_receipts)
    await store.close()
    return times


def instructions(n: int, memory_statistics: bool) -> None:
    """Run the steps once under callgrind and print instructions per delivery."""
    command = [sys.executable, __file__, "--n", str(n), "--runs", "1", "--mark-steps"]
    if memory_statistics:
        command.append("--memory-statistics")
    # A fixed hash seed: the same dicts and sets, so the same instructions, run after run.
    with tempfile.TemporaryDirectory(prefix="thongbao-callgrind-") as folder:
        parts = callgrind_parts.run(
            command, Path(folder), env={**os.environ, "PYTHONHASHSEED": "0"}
        )
        rows = step_costs(parts, n)
    version = sqlite3.sqlite_version
    print(
        f"store paths, N={n:,}, instructions per delivery (callgrind, all threads), SQLite "
        f"{version}, its allocation statistics {'on' if memory_statistics else 'off'}\n"
    )
    print(
        "| step | instructions | in SQLite's library | in the interpreter | other |\n"
        "|---|---|---|---|---|"
    )
    sums = [0.0, 0.0, 0.0, 0.0]
    for step, figures in rows.items():
        sums = [a + b for a, b in zip(sums, figures, strict=True)]
        print(f"| {step} | " + " | ".join(f"{f:,.0f}" for f in figures) + " |")
    print("| **sum** | " + " | ".join(f"**{f:,.0f}**" for f in sums) + " |")


def step_costs(parts: list[Path], n: int) -> dict[str, tuple[float, float, float, float]]:
    """Per step, instructions per delivery: in all, in SQLite's library, in the interpreter
    and elsewhere. ``parts`` are callgrind's files of a ``--mark-steps`` run: before the
    first step, then each step and what follows it, in turn."""
    if len(parts) != 2 * len(STEPS) + 1:
        raise SystemExit(
            f"callgrind wrote {len(parts)} files for {len(STEPS)} steps: something other than "
            f"the steps called {callgrind_parts.TRIGGER}"
        )
    rows = {}
    for k, step in enumerate(STEPS):
        part = parts[1 + 2 * k]
        costs = callgrind_parts.object_costs(part)
        total, summary = sum(costs.values()), callgrind_parts.summary(part)
        if total != summary:
            raise SystemExit(
                f"{part.name}: its functions add up to {total:,} instructions, its summary says "
                f"{summary:,}: not the callgrind format this script reads"
            )
        sqlite = sum(v for name, v in costs.items() if "libsqlite3" in Path(name).name)
        python = sum(v for name, v in costs.items() if Path(name).name.startswith(_INTERPRETER))
        rows[step] = (total / n, sqlite / n, python / n, (total - sqlite - python) / n)
    return rows


_INTERPRETER = ("libpython", "python3")  # a shared libpython, or a static interpreter


async def main() -> None:
    """Run, then print the table."""
    global MARKING
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=None, help="deliveries (default 20,000; 2,000 with --instructions)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs; figures are medians")
    parser.add_argument(
        "--memory-statistics",
        action="store_true",
        help="leave SQLite's allocation statistics on (every thongbao command turns them off)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions under valgrind's callgrind instead of timing (default N 2,000)",
    )
    parser.add_argument("--mark-steps", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        instructions(args.n or 2_000, args.memory_statistics)
        return
    args.n = args.n or 20_000
    MARKING = args.mark_steps
    if not args.memory_statistics and not turn_off_memory_statistics():
        raise SystemExit("SQLite's allocation statistics could not be turned off here")
    runs = [await one_run(args.n) for _ in range(args.runs)]
    statistics_state = "on" if args.memory_statistics else "off"
    print(
        f"store paths, N={args.n:,}, {os.cpu_count()} cores, median of {args.runs} run(s), "
        f"SQLite's allocation statistics {statistics_state}\n"
    )
    print("| step | µs per delivery | of which inside SQLite statements |\n|---|---|---|")
    total = sql_total = 0.0
    for step in STEPS:
        us = statistics.median(r[step] for r in runs) * 1e6
        sql_us = statistics.median(r[f"{step} SQL"] for r in runs) * 1e6
        total += us
        sql_total += sql_us
        print(f"| {step} | {us:.1f} | {f'{sql_us:.1f}' if sql_us else '-'} |")
    print(
        f"| **sum** | **{total:.1f}** (at most {1e6 / total:,.0f} deliveries/s on one core) | "
        f"**{sql_total:.1f}** (one writer thread: at most {1e6 / sql_total:,.0f}/s) |"
    )


if __name__ == "__main__":
    asyncio.run(main())
