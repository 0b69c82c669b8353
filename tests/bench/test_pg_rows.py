"""bench/pg_rows.py: every delivery it times goes through every step (no speed is asserted)."""

from __future__ import annotations

from bench_scripts import load
from services import listening, need_service

pg_rows = load("pg_rows")


async def test_each_delivery_is_inserted_claimed_sent_and_delivered_by_its_receipt() -> None:
    need_service(listening(5432), "PostgreSQL on 127.0.0.1:5432 (database test, trust auth)")
    figures = await pg_rows.one_run(pg_rows.DSN, 1_200, 2)
    assert (figures["delivered"], figures["receipts applied"], figures["attempts"]) == (
        1_200,
        1_200,
        1_200,
    )
    # The server's processes are found in /proc: their CPU over the steps is not nothing.
    assert sum(figures[f"{step} server"] for step in pg_rows.STEPS) > 0
