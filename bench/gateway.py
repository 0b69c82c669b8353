"""A fake SMS gateway for the benchmarks, run in its own process on 127.0.0.1.

It speaks the generic HTTP gateway's default shapes (:mod:`plugins.sms.generic_config`):

- ``POST /send``: ``{"to", "text", "ref"}`` answered by ``{"id": "gw-<ref>"}``;
- ``POST /batch``: ``{"messages": [{"to", "text", "ref"}, ...]}`` answered by
  ``{"results": [{"ref", "id"}, ...]}``.

Options: a latency per request (``asyncio.sleep`` in the handler, so requests overlap as
they would at a real provider), a failure share (that share of requests answers 500), and
delivery reports (``DELIVRD``) posted back in batches to a callback URL. Reports wait in a
bounded queue: when ``max_pending`` reports are waiting, sends are held until there is room
again, so a slow callback slows the gateway down instead of growing it without bound.

A text carrying ``[mark:<name>]`` has the wall-clock time of its first arrival recorded
under ``<name>`` (the emergency variant measures with it). The first and the last request
since the last reset are timed too, so a run's time can be split into before the first
provider call, between the first and the last, and after the last.

Control routes for the benchmark driver: ``GET /stats``; ``POST /control`` with any of
``{"reset": true, "callback": url | null, "latency_ms": ms, "fail_share": share}``.

Run: ``python bench/gateway.py --port 9000 [--latency-ms 50] [--fail-share 0.01]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import time
from collections import deque
from typing import Any

import aiohttp
from aiohttp import web

from dispatcher.cli_support import event_loop_factory

MARK = "[mark:"
REPORT_BATCH = 500
REPORTERS = 4


class FakeGateway:
    """The gateway's state: counters, report queue, marker arrival times."""

    def __init__(self, latency_ms: float, fail_share: float, max_pending: int) -> None:
        self.latency = latency_ms / 1000
        self.fail_share = fail_share
        self.max_pending = max_pending
        self.callback: str | None = None
        self.pending: deque[str] = deque()
        self.has_pending = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.session: aiohttp.ClientSession | None = None
        self.reset()

    def reset(self) -> None:
        """Forget counters, markers and reports not yet posted."""
        self.messages = 0
        self.requests = 0
        self.failed = 0
        self.reported = 0
        self.report_errors = 0
        self.marks: dict[str, float] = {}
        self.first_at: float | None = None  # wall-clock arrival of the first request
        self.last_at: float | None = None  # and of the last
        self.pending.clear()
        self.room.set()

    def stats(self) -> dict[str, Any]:
        """Counters for the driver."""
        return {
            "messages": self.messages,
            "requests": self.requests,
            "failed": self.failed,
            "reported": self.reported,
            "report_errors": self.report_errors,
            "pending_reports": len(self.pending),
            "marks": self.marks,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }

    async def _arrive(self, messages: list[dict[str, Any]]) -> bool:
        """Count ``messages``; wait for the latency and for report room; False: answer 500."""
        now = time.time()
        self.requests += 1
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        for message in messages:
            text = message.get("text", "")
            if MARK in text:
                name = text.split(MARK, 1)[1].split("]", 1)[0]
                self.marks.setdefault(name, now)
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.fail_share and random.random() < self.fail_share:
            self.failed += 1
            return False
        self.messages += len(messages)
        if self.callback is not None:
            while len(self.pending) >= self.max_pending:
                self.room.clear()
                await self.room.wait()
            self.pending.extend(f"gw-{m['ref']}" for m in messages)
            self.has_pending.set()
        return True

    async def send(self, request: web.Request) -> web.Response:
        """One message."""
        message = await request.json()
        if not await self._arrive([message]):
            return web.json_response({"error": "injected failure"}, status=500)
        return web.json_response({"id": f"gw-{message['ref']}"})

    async def batch(self, request: web.Request) -> web.Response:
        """Many messages."""
        messages = (await request.json())["messages"]
        if not await self._arrive(messages):
            return web.json_response({"error": "injected failure"}, status=500)
        results = [{"ref": m["ref"], "id": f"gw-{m['ref']}"} for m in messages]
        return web.json_response({"results": results})

    async def control(self, request: web.Request) -> web.Response:
        """Change settings or reset counters."""
        body = await request.json()
        if body.get("reset"):
            self.reset()
        if "callback" in body:
            self.callback = body["callback"]
        if "latency_ms" in body:
            self.latency = float(body["latency_ms"]) / 1000
        if "fail_share" in body:
            self.fail_share = float(body["fail_share"])
        return web.json_response(self.stats())

    async def get_stats(self, request: web.Request) -> web.Response:
        """The counters."""
        return web.json_response(self.stats())

    async def report_loop(self) -> None:
        """Post reports in batches; keep them (and try again) while thongbao refuses."""
        assert self.session is not None
        while True:
            await self.has_pending.wait()
            callback = self.callback
            if not self.pending or callback is None:
                self.has_pending.clear()
                continue
            size = min(REPORT_BATCH, len(self.pending))
            ids = [self.pending.popleft() for _ in range(size)]
            if len(self.pending) < self.max_pending:
                self.room.set()
            reports = [{"id": provider_id, "status": "DELIVRD"} for provider_id in ids]
            try:
                async with self.session.post(callback, json=reports) as answer:
                    await answer.read()
                    taken = answer.status == 200
            except aiohttp.ClientError:
                taken = False
            if taken:
                self.reported += size
            else:
                self.report_errors += 1
                self.pending.extendleft(reversed(ids))
                await asyncio.sleep(0.2)


async def serve(port: int, latency_ms: float, fail_share: float, max_pending: int) -> None:
    """Run the gateway until killed."""
    gateway = FakeGateway(latency_ms, fail_share, max_pending)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/send", gateway.send)
    app.router.add_post("/batch", gateway.batch)
    app.router.add_post("/control", gateway.control)
    app.router.add_get("/stats", gateway.get_stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    connector = aiohttp.TCPConnector(limit=REPORTERS)
    async with aiohttp.ClientSession(connector=connector) as session:
        gateway.session = session
        reporters = [asyncio.create_task(gateway.report_loop()) for _ in range(REPORTERS)]
        try:
            await asyncio.Event().wait()
        finally:
            for task in reporters:
                task.cancel()
            await runner.cleanup()


class GatewayProcess:
    """The gateway as a subprocess, with a client for its control routes."""

    def __init__(
        self, port: int, *, latency_ms: float = 0, fail_share: float = 0, max_pending: int = 100_000
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.args = [
            sys.executable,
            __file__,
            "--port",
            str(port),
            "--latency-ms",
            str(latency_ms),
            "--fail-share",
            str(fail_share),
            "--max-pending",
            str(max_pending),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> GatewayProcess:
        self.process = subprocess.Popen(self.args)
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                await self.stats()
                return self
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the fake gateway did not start")
            await asyncio.sleep(0.1)

    @property
    def pid(self) -> int:
        """The gateway's process id."""
        assert self.process is not None
        return self.process.pid

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)

    async def stats(self) -> dict[str, Any]:
        """The gateway's counters."""
        async with aiohttp.ClientSession() as s, s.get(f"{self.url}/stats") as answer:
            result: dict[str, Any] = await answer.json()
            return result

    async def control(self, **changes: Any) -> dict[str, Any]:
        """``reset``, ``callback``, ``latency_ms``, ``fail_share``."""
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{self.url}/control", data=json.dumps(changes)) as answer,
        ):
            result: dict[str, Any] = await answer.json()
            return result


def main() -> None:
    """Command line: run one gateway."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--fail-share", type=float, default=0)
    parser.add_argument("--max-pending", type=int, default=100_000)
    args = parser.parse_args()
    # The service's event loop: the gateway answers both thongbao and the plain loop.
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=event_loop_factory()) as runner,
    ):
        runner.run(serve(args.port, args.latency_ms, args.fail_share, args.max_pending))


if __name__ == "__main__":
    main()
