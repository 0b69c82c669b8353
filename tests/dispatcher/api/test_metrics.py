"""Metrics: counters, the latency histogram, the deliveries gauge, and a registry of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.metrics import Metrics
from dispatcher.store.base import NewDelivery
from dispatcher.store.sqlite import SQLiteStore
from schemas import AnnouncementIn, AnnouncementStatus, Audience, DeliveryStatus, Priority

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def store() -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(":memory:")
    await store.open()
    yield store
    await store.close()


async def _deliveries(store: SQLiteStore, rows: list[tuple[str, str, DeliveryStatus]]) -> None:
    data = AnnouncementIn(
        title="t", body="b", channels=["sms", "email"], audience=Audience(tags=["x"])
    )
    await store.create_announcement("a1", data, created_by=None, now=NOW)
    await store.set_announcement_status(
        "a1", [AnnouncementStatus.SCHEDULED], AnnouncementStatus.SENDING, NOW
    )
    await store.add_deliveries(
        [NewDelivery("a1", ch, addr, Priority.NORMAL, NOW, status=st) for ch, addr, st in rows],
        announcement_id="a1",
        cursor=None,
    )


def _samples(text: bytes, family: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {f.name: f for f in text_string_to_metric_families(text.decode())}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in found[family].samples}


async def test_attempts_count_by_channel_and_outcome(store: SQLiteStore) -> None:
    metrics = Metrics()
    metrics.attempt("sms", "accepted", 0.02)
    metrics.attempt("sms", "accepted", None)
    metrics.attempts("sms", "retry", 3)
    metrics.attempts("email", "failed", 0)

    samples = _samples(await metrics.render(store), "thongbao_attempts")

    assert {
        ("thongbao_attempts_total", (("channel", "sms"), ("outcome", "accepted"))): 2.0,
        ("thongbao_attempts_total", (("channel", "sms"), ("outcome", "retry"))): 3.0,
    } == {key: value for key, value in samples.items() if key[0].endswith("_total")}


async def test_latency_is_observed_only_when_given(store: SQLiteStore) -> None:
    metrics = Metrics()
    metrics.attempt("sms", "accepted", 0.02)
    metrics.attempt("sms", "unknown", None)

    samples = _samples(await metrics.render(store), "thongbao_send_latency_seconds")

    assert (1.0, 0.02) == (
        samples[("thongbao_send_latency_seconds_count", (("channel", "sms"),))],
        samples[("thongbao_send_latency_seconds_sum", (("channel", "sms"),))],
    )


async def test_a_batch_counts_each_attempt_and_each_latency(store: SQLiteStore) -> None:
    metrics = Metrics()
    metrics.batch("sms", [("accepted", 0.5), ("accepted", 0.5), ("failed", 0.5), ("retry", None)])

    text = await metrics.render(store)
    attempts = _samples(text, "thongbao_attempts")
    latency = _samples(text, "thongbao_send_latency_seconds")

    assert (
        2.0 == attempts[("thongbao_attempts_total", (("channel", "sms"), ("outcome", "accepted")))]
    )
    assert 1.0 == attempts[("thongbao_attempts_total", (("channel", "sms"), ("outcome", "retry")))]
    assert (3.0, 1.5) == (
        latency[("thongbao_send_latency_seconds_count", (("channel", "sms"),))],
        latency[("thongbao_send_latency_seconds_sum", (("channel", "sms"),))],
    )


async def test_receipts_and_fanout_count(store: SQLiteStore) -> None:
    metrics = Metrics()
    metrics.receipts("sms", True)
    metrics.receipts("sms", False, 2)
    metrics.fanout(5)
    metrics.fanout(0)

    text = await metrics.render(store)

    receipts = _samples(text, "thongbao_receipts")
    created = _samples(text, "thongbao_deliveries_created")
    assert {
        ("thongbao_receipts_total", (("applied", "true"), ("channel", "sms"))): 1.0,
        ("thongbao_receipts_total", (("applied", "false"), ("channel", "sms"))): 2.0,
    } == {key: value for key, value in receipts.items() if key[0].endswith("_total")}
    assert 5.0 == created[("thongbao_deliveries_created_total", ())]


async def test_render_reads_delivery_totals_from_the_store(store: SQLiteStore) -> None:
    await _deliveries(
        store,
        [
            ("sms", "+1", DeliveryStatus.QUEUED),
            ("sms", "+2", DeliveryStatus.QUEUED),
            ("email", "a@b.vn", DeliveryStatus.SUPPRESSED),
        ],
    )

    samples = _samples(await Metrics().render(store), "thongbao_deliveries")

    assert {
        ("thongbao_deliveries", (("channel", "sms"), ("status", "queued"))): 2.0,
        ("thongbao_deliveries", (("channel", "email"), ("status", "suppressed"))): 1.0,
    } == samples


async def test_render_drops_pairs_that_emptied(store: SQLiteStore) -> None:
    metrics = Metrics()
    await _deliveries(store, [("sms", "+1", DeliveryStatus.QUEUED)])
    await metrics.render(store)
    await store.cancel_announcement("a1", NOW)

    samples = _samples(await metrics.render(store), "thongbao_deliveries")

    assert {("thongbao_deliveries", (("channel", "sms"), ("status", "cancelled"))): 1.0} == samples


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.fanout(1)

    assert (1.0, 0.0, None) == (
        first.registry.get_sample_value("thongbao_deliveries_created_total"),
        second.registry.get_sample_value("thongbao_deliveries_created_total"),
        REGISTRY.get_sample_value("thongbao_deliveries_created_total"),
    )
