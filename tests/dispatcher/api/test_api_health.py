"""Liveness, readiness and the metrics route."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.api import make_app


async def test_healthz_is_ok(api_client: Any) -> None:
    response = await api_client.client.get("/healthz")

    assert (200, {"status": "ok"}) == (response.status, await response.json())


async def test_readyz_follows_the_readiness_check(api_client: Any) -> None:
    ready = await api_client.client.get("/readyz")
    api_client.readiness.ready = False
    not_ready = await api_client.client.get("/readyz")

    assert (200, {"status": "ready"}) == (ready.status, await ready.json())
    body = await api_client.problem(not_ready, 503)
    assert ("urn:thongbao:problem:not-ready", "5") == (
        body["type"],
        not_ready.headers["Retry-After"],
    )


async def test_metrics_is_prometheus_text_with_delivery_totals(api_client: Any) -> None:
    api_client.metrics.attempt("sms", "accepted", 0.2)

    response = await api_client.client.get("/metrics")

    assert "text/plain; version=0.0.4; charset=utf-8" == response.headers["Content-Type"]
    families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    samples = [(s.name, s.labels, s.value) for s in families["thongbao_attempts"].samples]
    assert ("thongbao_attempts_total", {"channel": "sms", "outcome": "accepted"}, 1.0) in samples


async def test_readyz_by_default_asks_the_store(api_client: Any) -> None:
    app = make_app(api_client.services)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        ready = await client.get("/readyz")
        await api_client.store.close()
        not_ready = await client.get("/readyz")

    assert (200, 503) == (ready.status, not_ready.status)
