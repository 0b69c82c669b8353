"""Where the store's writes wait: each write transaction of a running thongbao, timed.

``bench/sms_fanout.py --trace-store VARIANTS`` starts the service of those variants' first
run with ``bench/store_trace_site`` on its ``PYTHONPATH``; the ``sitecustomize`` there calls
:func:`install`, which wraps the store's writer (``SQLiteConnections._transaction`` and the
``_atomically`` it runs in the writer's thread). For every write transaction it keeps:

- its kind (the store function: ``claim``, ``record_outcomes``, ``add_receipts`` ...);
- when the event loop asked for it, when the writer's thread began it (``BEGIN``) and when
  it committed;
- the writer thread's CPU time over the transaction (``time.thread_time``).

The gap between asking and beginning is the queue: the transactions ahead of it, and the
writer thread winning the interpreter back from the event loop between them. A transaction
that took much longer than its CPU waited inside itself, mostly for the interpreter, at
each statement (see ``bench/sqlite_gil.py``), while holding SQLite's write lock.

At exit each traced process writes ``<trace>-<pid>.tsv``; ``python bench/store_trace.py
FILE...`` prints the table of such files, as ``sms_fanout.py`` does after the run.
"""

from __future__ import annotations

import argparse
import atexit
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ENV = "THONGBAO_BENCH_STORE_TRACE"
SITE = Path(__file__).resolve().parent / "store_trace_site"
COLUMNS = ("kind", "asked", "began", "ended", "cpu")


@dataclass(frozen=True)
class Transaction:
    """One write transaction; times in seconds on the monotonic clock."""

    kind: str
    asked: float
    began: float
    ended: float
    cpu: float


class _Traced:
    """A transaction's work, carrying what the writer's thread needs to time it."""

    __slots__ = ("asked", "kind", "work")

    def __init__(self, work: Callable[[Any], Any], asked: float) -> None:
        self.work, self.asked = work, asked
        inner = work.func if isinstance(work, partial) else work
        self.kind = getattr(inner, "__name__", type(inner).__name__)

    def __call__(self, conn: Any) -> Any:
        return self.work(conn)


def install(trace: str) -> list[Transaction]:
    """Time every write transaction of this process; written to ``<trace>-<pid>.tsv`` at
    exit. Returns the live list (the tests read it)."""
    from dispatcher.store import sqlite_conn

    done: list[Transaction] = []
    atomically = sqlite_conn._atomically
    transaction = sqlite_conn.SQLiteConnections._transaction

    def timed_atomically(conn: Any, work: Any, *args: Any, **kw: Any) -> Any:
        if not isinstance(work, _Traced):
            return atomically(conn, work, *args, **kw)
        began, cpu = time.perf_counter(), time.thread_time()
        try:
            return atomically(conn, work, *args, **kw)
        finally:
            ended = time.perf_counter()
            done.append(Transaction(work.kind, work.asked, began, ended, time.thread_time() - cpu))

    async def timed_transaction(self: Any, work: Callable[[Any], Any]) -> Any:
        return await transaction(self, _Traced(work, time.perf_counter()))

    sqlite_conn._atomically = timed_atomically
    sqlite_conn.SQLiteConnections._transaction = timed_transaction  # type: ignore[method-assign]
    atexit.register(write, done, Path(f"{trace}-{os.getpid()}.tsv"))
    return done


def write(done: Sequence[Transaction], path: Path) -> None:
    """``done`` as tab-separated lines, a header first; nothing when empty."""
    if not done:
        return
    lines = ["\t".join(COLUMNS)]
    lines += [f"{t.kind}\t{t.asked:.6f}\t{t.began:.6f}\t{t.ended:.6f}\t{t.cpu:.6f}" for t in done]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read(path: Path) -> list[Transaction]:
    """The transactions of a file :func:`write` wrote."""
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    found = []
    for row in rows:
        kind, *times = row.split("\t")
        asked, began, ended, cpu = (float(t) for t in times)
        found.append(Transaction(kind, asked, began, ended, cpu))
    return found


@dataclass(frozen=True)
class KindRow:
    """The figures of one kind of transaction, times in milliseconds."""

    kind: str
    count: int
    wait_median: float
    wait_max: float
    took_median: float
    cpu_median: float
    took_total: float
    cpu_total: float


def summarise(done: Sequence[Transaction]) -> tuple[list[KindRow], float]:
    """Rows by kind (most time first), and the share of the traced span (first ask to last
    commit) the writer spent inside transactions."""
    if not done:
        return [], 0.0
    by_kind: dict[str, list[Transaction]] = defaultdict(list)
    for t in done:
        by_kind[t.kind].append(t)
    rows = [
        KindRow(
            kind,
            len(ts),
            statistics.median(1000 * (t.began - t.asked) for t in ts),
            max(1000 * (t.began - t.asked) for t in ts),
            statistics.median(1000 * (t.ended - t.began) for t in ts),
            statistics.median(1000 * t.cpu for t in ts),
            sum(1000 * (t.ended - t.began) for t in ts),
            sum(1000 * t.cpu for t in ts),
        )
        for kind, ts in by_kind.items()
    ]
    rows.sort(key=lambda r: -r.took_total)
    span = max(t.ended for t in done) - min(t.asked for t in done)
    inside = sum(t.ended - t.began for t in done)
    return rows, (inside / span if span > 0 else 0.0)


def table(rows: Sequence[KindRow], busy: float) -> str:
    """Markdown: one line a kind, then the writer's busy share."""
    lines = [
        "| transaction | count | queue wait ms (median / max) | took ms (median) "
        "| of which writer CPU ms (median) | took s (all) | writer CPU s (all) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.kind} | {r.count:,} | {r.wait_median:.1f} / {r.wait_max:.1f} | "
        f"{r.took_median:.1f} | {r.cpu_median:.1f} | {r.took_total / 1000:.2f} | "
        f"{r.cpu_total / 1000:.2f} |"
        for r in rows
    ]
    lines.append(f"\nThe writer was inside a transaction {busy:.0%} of the traced span.")
    return "\n".join(lines)


def main() -> None:
    """Print the table of each trace file given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="<trace>-<pid>.tsv files")
    for path in parser.parse_args().files:
        print(f"{path}:\n")
        print(table(*summarise(read(path))), end="\n\n")


if __name__ == "__main__":
    main()
