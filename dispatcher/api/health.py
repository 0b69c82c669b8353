"""Health, readiness and metrics: the routes a load balancer and Prometheus call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from dispatcher.api.endpoint import Endpoint, Reply, json_model
from dispatcher.api.models import Health
from dispatcher.api.problems import ProblemError
from dispatcher.metrics import CONTENT_TYPE, Metrics
from dispatcher.webkeys import services

log = structlog.get_logger(__name__)

Ready = Callable[[], Awaitable[bool]]
READY: web.AppKey[Ready] = web.AppKey("thongbao_ready")
METRICS: web.AppKey[Metrics] = web.AppKey("thongbao_metrics", Metrics)


async def healthz(request: web.Request) -> web.Response:
    """The process is up and answering."""
    return json_model(Health(status="ok"))


async def readyz(request: web.Request) -> web.Response:
    """The process can do its work (the store answers): 503 while it cannot."""
    try:
        ready = await request.app[READY]()
    except Exception as exc:
        log.warning("readiness_check_failed", error=type(exc).__name__)
        ready = False
    if not ready:
        raise ProblemError(
            503,
            "not ready: the store or the engine is not available yet",
            kind="not-ready",
            title="Not ready",
            headers={"Retry-After": "5"},
        )
    return json_model(Health(status="ready"))


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics in the text exposition format."""
    body = await request.app[METRICS].render(services(request).store)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


ENDPOINTS = (
    Endpoint(
        "GET",
        "/healthz",
        healthz,
        name="healthz",
        summary="Liveness",
        tag="operations",
        replies=(Reply(200, "Up.", Health),),
    ),
    Endpoint(
        "GET",
        "/readyz",
        readyz,
        name="readyz",
        summary="Readiness",
        tag="operations",
        replies=(Reply(200, "Ready.", Health),),
        problems=(503,),
    ),
    Endpoint(
        "GET",
        "/metrics",
        metrics,
        name="metrics",
        summary="Prometheus metrics",
        tag="operations",
        replies=(
            Reply(
                200, "Text exposition format 0.0.4.", {"type": "string"}, media_type="text/plain"
            ),
        ),
    ),
)
