"""Prometheus metrics of one thongbao process, in a registry of its own.

Counters are pushed by the engine as things happen; the per-status gauge of deliveries is
pulled from the store each time ``/metrics`` is scraped, so it is right across processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# Provider calls range from a local sandbox write (ms) to a slow SMTP handshake (tens of s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class StatusTotals(Protocol):
    """The part of the store that metrics read."""

    async def status_totals(self) -> dict[tuple[str, str], int]:
        """Deliveries per (channel, status)."""
        ...


class Metrics:
    """Counters, a latency histogram and a deliveries gauge, never in the global registry.

    Attributes:
        registry: the ``CollectorRegistry`` everything here is registered in.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._attempts = Counter(
            "thongbao_attempts",
            "Attempts to send a message, by channel and outcome (one provider request may "
            "carry many).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "thongbao_send_latency_seconds",
            "How long a provider took to answer the request that carried a message, one "
            "observation per attempt (a channel that does not time its requests gives its "
            "whole send's duration).",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._receipts = Counter(
            "thongbao_receipts",
            "Delivery receipts received, by channel and whether they changed a delivery.",
            ["channel", "applied"],
            registry=self.registry,
        )
        self._created = Counter(
            "thongbao_deliveries_created",
            "Deliveries written by fan-out.",
            registry=self.registry,
        )
        self._deliveries = Gauge(
            "thongbao_deliveries",
            "Deliveries in the store, by channel and status.",
            ["channel", "status"],
            registry=self.registry,
        )

    def register(self, collector: Collector) -> None:
        """Show a plugin's own collector (see :meth:`Channel.collectors`) in ``/metrics``."""
        self.registry.register(collector)

    def attempt(self, channel: str, outcome: str, latency_s: float | None = None) -> None:
        """Count one attempt; record its latency when the provider was actually called."""
        self.batch(channel, [(outcome, latency_s)])

    def batch(self, channel: str, attempts: Sequence[tuple[str, float | None]]) -> None:
        """Count a batch's attempts, each ``(outcome, latency_s)``: labels are looked up once
        a batch, not once a message."""
        counts: dict[str, int] = {}
        for outcome, _ in attempts:
            counts[outcome] = counts.get(outcome, 0) + 1
        for outcome, n in counts.items():
            self._attempts.labels(channel, outcome).inc(n)
        latency = self._latency.labels(channel)
        for _, seconds in attempts:
            if seconds is not None:
                latency.observe(seconds)

    def attempts(self, channel: str, outcome: str, n: int) -> None:
        """Count ``n`` attempts at once (a batch that failed as a whole)."""
        if n > 0:
            self._attempts.labels(channel, outcome).inc(n)

    def receipts(self, channel: str, applied: bool, n: int = 1) -> None:
        """Count receipts; ``applied`` tells whether they moved a delivery on."""
        if n > 0:
            self._receipts.labels(channel, "true" if applied else "false").inc(n)

    def fanout(self, n: int) -> None:
        """Count deliveries that fan-out created."""
        if n > 0:
            self._created.inc(n)

    async def render(self, store: StatusTotals) -> bytes:
        """Refresh the deliveries gauge from ``store`` and return the text exposition."""
        totals = await store.status_totals()
        # Clear first, so a (channel, status) pair that has emptied does not keep its old value.
        # No await between clear and generate_latest: a concurrent scrape cannot interleave.
        self._deliveries.clear()
        for (channel, status), count in sorted(totals.items()):
            self._deliveries.labels(channel, status).set(count)
        return generate_latest(self.registry)
