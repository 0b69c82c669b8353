"""What PostgreSQL's server spends on the rows of one delivery, beside what SQLite does.

    python bench/pg_rows.py [--dsn postgresql://postgres@127.0.0.1/test] [--n 20000]
                            [--runs 3] [--connections 1,2,4]

The question it answers: would the scale-out store take the single SQLite writer's limit
off a bulk send on this machine? It writes the rows a bulk SMS send writes for each
delivery, in the engine's batch sizes, each batch one transaction, a statement a table taking
its rows as one JSON value (as the SQLite store does): fan-out inserts (1,000 a
transaction), claims (500: queued to sending, with a lease), outcomes (500: sent, with
the provider's id, and an attempt row each), then delivery reports (500: a receipt row
each, matched by the provider's id, and the delivery moved to delivered). The tables and
indexes are those of the SQLite store's migrations, in PostgreSQL's types; the counts the
SQLite store keeps by triggers are left out, and fewer columns are set (no reasons, codes
or fallback deadlines), so these are the rows' cost and no more.

Each run uses ``--connections`` connections at once, each writing its own announcement
of N / connections deliveries, one step over all of them before the next (the statistics
are gathered after each step, untimed, as autovacuum would). Printed per count of
connections and step, medians of the runs, per delivery: the wall time, the CPU of
PostgreSQL's processes (every process of the server, read from ``/proc``: the backends,
the WAL writer, the checkpointer) and the CPU of this client. ``synchronous_commit`` is
off for the session, as SQLite's WAL with ``synchronous = NORMAL`` (thongbao's setting)
does not wait for the disk at each commit.

The schema lives in a schema of its own, dropped at the end. Needs ``asyncpg`` (a test
dependency) and a server on this machine (its processes' CPU is read from ``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

import asyncpg
import orjson

# The local server of this machine and of CI (trust auth, database test).
DSN = "postgresql://postgres@127.0.0.1/test"
STEPS = ("fan-out insert", "claim", "record outcome", "store receipt")
INSERT_BATCH, SEND_BATCH = 1_000, 500
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

SCHEMA = """
CREATE TABLE deliveries (
    id BIGSERIAL PRIMARY KEY,
    announcement_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    contact_id TEXT,
    status TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,
    due_at DOUBLE PRECISION NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    unknown_count INTEGER NOT NULL DEFAULT 0,
    lease_token TEXT,
    lease_expires DOUBLE PRECISION,
    failure_kind TEXT,
    reason TEXT,
    provider_id TEXT,
    provider_code TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    fallback_at DOUBLE PRECISION,
    note TEXT,
    UNIQUE (announcement_id, channel, address)
);
CREATE INDEX deliveries_due ON deliveries (channel, priority_rank, due_at)
    WHERE status IN ('queued', 'retry_wait');
CREATE INDEX deliveries_lease ON deliveries (channel, lease_expires) WHERE status = 'sending';
CREATE INDEX deliveries_provider ON deliveries (channel, provider_id)
    WHERE provider_id IS NOT NULL;
CREATE INDEX deliveries_address ON deliveries (channel, address, id);
CREATE INDEX deliveries_fallback ON deliveries (fallback_at) WHERE fallback_at IS NOT NULL;
CREATE INDEX deliveries_contact ON deliveries (contact_id, channel, created_at)
    WHERE contact_id IS NOT NULL;
CREATE INDEX deliveries_announcement ON deliveries (announcement_id);
CREATE TABLE attempts (
    delivery_id BIGINT NOT NULL,
    number INTEGER NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL,
    latency_ms DOUBLE PRECISION,
    provider_id TEXT,
    provider_code TEXT,
    reason TEXT,
    retry_at DOUBLE PRECISION,
    PRIMARY KEY (delivery_id, number)
);
CREATE TABLE receipts (
    id BIGSERIAL PRIMARY KEY,
    channel TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    status TEXT NOT NULL,
    occurred_at DOUBLE PRECISION,
    provider_code TEXT,
    detail TEXT,
    received_at DOUBLE PRECISION NOT NULL,
    delivery_id BIGINT,
    applied INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX receipts_unmatched ON receipts (channel, provider_id) WHERE delivery_id IS NULL;
CREATE INDEX receipts_delivery ON receipts (delivery_id);
"""

INSERT = """
INSERT INTO deliveries (announcement_id, channel, address, contact_id, status, priority_rank,
    due_at, created_at, updated_at)
SELECT $2, 'sms', r.address, r.contact, 'queued', 2, $3, $3, $3
FROM jsonb_to_recordset($1::text::jsonb) AS r(address TEXT, contact TEXT)
ON CONFLICT DO NOTHING
"""
CLAIM = """
UPDATE deliveries SET status = 'sending', lease_token = $2, lease_expires = $3 + 60,
    attempt_count = attempt_count + 1, updated_at = $3
WHERE id IN (SELECT id FROM deliveries WHERE channel = 'sms' AND announcement_id = $1
    AND status IN ('queued', 'retry_wait') AND due_at <= $3
    ORDER BY priority_rank, due_at LIMIT $4 FOR UPDATE SKIP LOCKED)
RETURNING id, announcement_id, channel, address, contact_id, attempt_count, step
"""
OUTCOME = """
UPDATE deliveries SET status = 'sent', provider_id = o.provider_id, lease_token = NULL,
    lease_expires = NULL, updated_at = $2
FROM jsonb_to_recordset($1::text::jsonb) AS o(id BIGINT, provider_id TEXT)
WHERE deliveries.id = o.id AND deliveries.status = 'sending'
"""
ATTEMPTS = """
INSERT INTO attempts (delivery_id, number, started_at, outcome, latency_ms, provider_id)
SELECT a.id, 1, $2, 'accepted', 3.5, a.provider_id
FROM jsonb_to_recordset($1::text::jsonb) AS a(id BIGINT, provider_id TEXT)
ON CONFLICT (delivery_id, number) DO UPDATE SET outcome = excluded.outcome
"""
RECEIPTS = """
WITH matched AS (
    SELECT r.provider_id, d.id AS delivery_id
    FROM jsonb_to_recordset($1::text::jsonb) AS r(provider_id TEXT)
    LEFT JOIN LATERAL (SELECT id FROM deliveries WHERE channel = 'sms'
        AND provider_id = r.provider_id LIMIT 1) d ON true
), moved AS (
    UPDATE deliveries SET status = 'delivered', updated_at = $2
    FROM matched WHERE deliveries.id = matched.delivery_id AND deliveries.status = 'sent'
    RETURNING deliveries.id
)
INSERT INTO receipts (channel, provider_id, status, received_at, delivery_id, applied)
SELECT 'sms', m.provider_id, 'delivered', $2, m.delivery_id,
    (m.delivery_id IN (SELECT id FROM moved))::int
FROM matched m
"""


def server_cpu_seconds() -> float:
    """User + system CPU of every process named ``postgres`` on this machine."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        name, fields = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1]
        if name == "postgres":
            parts = fields.split()
            total += int(parts[11]) + int(parts[12])  # utime, stime (fields 14 and 15)
    return total / CLOCK_TICKS


class Writer:
    """One connection writing one announcement's deliveries, a step at a time."""

    def __init__(self, conn: asyncpg.Connection, announcement: str, n: int) -> None:
        self.conn, self.announcement, self.n = conn, announcement, n
        self.claimed: list[list[int]] = []

    async def step(self, name: str) -> None:
        """Run the step ``name`` (one of STEPS) over all this writer's deliveries."""
        await {
            "fan-out insert": self.insert,
            "claim": self.claim,
            "record outcome": self.record,
            "store receipt": self.receipts,
        }[name]()

    async def insert(self) -> None:
        for start in range(0, self.n, INSERT_BATCH):
            rows = [
                {"address": f"+8491{i:07d}", "contact": f"c{i}"}
                for i in range(start, min(self.n, start + INSERT_BATCH))
            ]
            async with self.conn.transaction():
                await self.conn.execute(
                    INSERT, orjson.dumps(rows).decode(), self.announcement, time.time()
                )

    async def claim(self) -> None:
        while True:
            lease = os.urandom(8).hex()
            async with self.conn.transaction():
                found = await self.conn.fetch(
                    CLAIM, self.announcement, lease, time.time(), SEND_BATCH
                )
            if not found:
                return
            self.claimed.append([row["id"] for row in found])

    async def record(self) -> None:
        for ids in self.claimed:
            rows = orjson.dumps([{"id": i, "provider_id": f"gw-{i}"} for i in ids]).decode()
            async with self.conn.transaction():
                now = time.time()
                await self.conn.execute(OUTCOME, rows, now)
                await self.conn.execute(ATTEMPTS, rows, now)

    async def receipts(self) -> None:
        for ids in self.claimed:
            rows = orjson.dumps([{"provider_id": f"gw-{i}"} for i in ids]).decode()
            async with self.conn.transaction():
                await self.conn.execute(RECEIPTS, rows, time.time())


async def one_run(dsn: str, n: int, connections: int) -> dict[str, float]:
    """One run on a fresh schema: per step, seconds per delivery of wall time, of
    PostgreSQL's CPU and of this client's; then the rows written, counted."""
    schema = f"bench_rows_{os.getpid()}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        await admin.execute(f"SET search_path = {schema}; {SCHEMA}")
        conns = [
            await asyncpg.connect(
                dsn, server_settings={"search_path": schema, "synchronous_commit": "off"}
            )
            for _ in range(connections)
        ]
        try:
            per = n // connections
            writers = [Writer(c, f"a{k}", per) for k, c in enumerate(conns)]
            figures: dict[str, float] = {}
            for step in STEPS:
                server, client = server_cpu_seconds(), time.process_time()
                started = time.perf_counter()
                await asyncio.gather(*(w.step(step) for w in writers))
                figures[f"{step} wall"] = (time.perf_counter() - started) / (per * connections)
                figures[f"{step} server"] = (server_cpu_seconds() - server) / (per * connections)
                figures[f"{step} client"] = (time.process_time() - client) / (per * connections)
                # Each step changed every delivery: what autovacuum's analyze then does,
                # untimed. With the statistics of an earlier step the planner can read every
                # delivery for each row of a batch (matching receipts to rows it still
                # thought queued took 300 us a delivery at N = 4,000).
                await admin.execute("ANALYZE deliveries")
            # What the steps did, so that a fast figure cannot hide rows left unwritten.
            figures["delivered"] = await admin.fetchval(
                "SELECT count(*) FROM deliveries WHERE status = 'delivered'"
            )
            figures["receipts applied"] = await admin.fetchval(
                "SELECT count(*) FROM receipts WHERE applied = 1"
            )
            figures["attempts"] = await admin.fetchval("SELECT count(*) FROM attempts")
            wrote = (figures["delivered"], figures["receipts applied"], figures["attempts"])
            if set(wrote) != {per * connections}:
                raise RuntimeError(
                    f"{connections} connections, {per * connections} deliveries: delivered, "
                    f"applied receipts and attempts came to {wrote}"
                )
            return figures
        finally:
            for c in conns:
                await c.close()
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


async def main() -> None:
    """Run, then print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=DSN)
    parser.add_argument("--n", type=int, default=20_000, help="deliveries a run")
    parser.add_argument("--runs", type=int, default=3, help="runs; figures are medians")
    parser.add_argument(
        "--connections", default="1,2,4", help="comma-separated counts of connections at once"
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.connections.split(",")]
    results = {c: [await one_run(args.dsn, args.n, c) for _ in range(args.runs)] for c in counts}
    print(
        f"pg rows, N={args.n:,}, {os.cpu_count()} cores, median of {args.runs} run(s), "
        "µs per delivery: wall / PostgreSQL's CPU / this client's CPU\n"
    )
    print("| connections | " + " | ".join(STEPS) + " | **all** | deliveries/s |")
    print("|---" * (len(STEPS) + 3) + "|")
    for count, runs in results.items():
        cells, sums = [], [0.0, 0.0, 0.0]
        for step in STEPS:
            three = [
                statistics.median(r[f"{step} {kind}"] for r in runs) * 1e6
                for kind in ("wall", "server", "client")
            ]
            sums = [a + b for a, b in zip(sums, three, strict=True)]
            cells.append(" / ".join(f"{f:.1f}" for f in three))
        total = " / ".join(f"{f:.1f}" for f in sums)
        print(f"| {count} | " + " | ".join(cells) + f" | **{total}** | {1e6 / sums[0]:,.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
