"""What the integration tests share (their fixtures are in ``conftest.py``).

- :class:`Gateway`: a generic HTTP SMS gateway (the wire of :mod:`plugins.sms.channel`) as a
  real aiohttp server on 127.0.0.1. It counts every ``ref`` it receives, answers
  ``{"id": "gw-<ref>"}`` unless a test scripts another answer, and can post delivery reports
  back to thongbao, trying again while the service is down.
- :class:`Launcher`: ``thongbao serve`` / ``thongbao worker`` as subprocesses on a temporary
  TOML file; every process it starts is gone at the end of the test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

Responder = Callable[[dict[str, Any]], Awaitable[web.StreamResponse]]

# Messages a second thongbao may send to the stand-in gateway: the SMS channel's default
# pace (50/s, a real brandname allowance) would stretch the 20,000-message send to minutes.
GATEWAY_RATE = 5000
PROVINCE = "79"
COMMUNES = ("26740", "26743", "26758")
AREAS = [
    {"code": PROVINCE, "name": "Thành phố Hồ Chí Minh"},
    {"code": "26740", "name": "Phường Sài Gòn", "parent_code": PROVINCE},
    {"code": "26743", "name": "Phường Bến Thành", "parent_code": PROVINCE},
    {"code": "26758", "name": "Phường Cầu Ông Lãnh", "parent_code": PROVINCE},
]


def vn_mobile(n: int) -> str:
    """The ``n``-th of 10 million valid Vietnamese mobile numbers (Vinaphone's 091 range)."""
    return f"091{n:07d}"


def contact_rows(count: int) -> list[dict[str, Any]]:
    """``count`` contacts spread over the communes of :data:`PROVINCE`, one phone each."""
    return [
        {
            "id": f"c{n:06d}",
            "name": f"Người dân {n}",
            "area_code": COMMUNES[n % len(COMMUNES)],
            "addresses": {"sms": vn_mobile(n)},
        }
        for n in range(count)
    ]


def announcement_body(**changes: Any) -> dict[str, Any]:
    """An SMS announcement to the whole province; keyword arguments replace fields."""
    body: dict[str, Any] = {
        "title": "Cảnh báo triều cường",
        "body": "Triều cường đạt đỉnh lúc 18:00; người dân vùng trũng chủ động phòng tránh.",
        "channels": ["sms"],
        "audience": {"areas": [PROVINCE]},
    }
    body.update(changes)
    return body


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_for(what: str, check: Callable[[], Awaitable[Any]], timeout: float) -> Any:
    """Poll ``check`` (another process's progress) until truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.25)
    return result


class Gateway:
    """A stand-in SMS gateway; ``refs`` counts what arrived, ``paths`` where it arrived.

    Args:
        respond: answers one message (default: accept it as ``gw-<ref>``).
        report: post a ``DELIVRD`` report to :attr:`callback_url` for each accepted message.
    """

    def __init__(self, respond: Responder | None = None, *, report: bool = False) -> None:
        self.respond = respond or self.accept
        self.report = report
        self.refs: Counter[str] = Counter()
        self.paths: Counter[str] = Counter()
        self.callback_url = ""
        self._pending: list[str] = []
        self._has_pending = asyncio.Event()
        self._thresholds: list[tuple[int, asyncio.Event]] = []
        app = web.Application()
        app.router.add_post("/send/{lane}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")
        self._session: aiohttp.ClientSession | None = None
        self._reporter: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    def url(self, lane: str = "a") -> str:
        """Where thongbao should POST; one lane per sender tells senders apart."""
        return str(self.server.make_url(f"/send/{lane}"))

    async def __aenter__(self) -> Gateway:
        await self.server.start_server()
        self._session = aiohttp.ClientSession()
        if self.report:
            self._reporter = asyncio.create_task(self._report_loop(), name="gateway-reports")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        if self._reporter is not None:
            self._reporter.cancel()
            await asyncio.gather(self._reporter, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        await self.server.close()

    async def received(self, count: int) -> None:
        """Return once ``count`` messages (repeats included) have arrived."""
        event = asyncio.Event()
        self._thresholds.append((count, event))
        self._check_thresholds()
        await event.wait()

    def _check_thresholds(self) -> None:
        total = self.refs.total()
        for count, event in self._thresholds:
            if total >= count:
                event.set()

    async def accept(self, message: dict[str, Any]) -> web.StreamResponse:
        """The usual answer: accepted under provider id ``gw-<ref>``."""
        provider_id = f"gw-{message['ref']}"
        if self.report:
            self._pending.append(provider_id)
            self._has_pending.set()
        return web.json_response({"id": provider_id})

    async def hang(self, message: dict[str, Any]) -> web.StreamResponse:
        """Never answer in time: hold the request until the gateway closes."""
        await self._closing.wait()
        return web.Response(status=504)

    async def post_report(self, provider_id: str, status: str) -> Any:
        """POST one delivery report to thongbao now; returns the JSON answer."""
        assert self._session is not None
        report = {"id": provider_id, "status": status}
        async with self._session.post(self.callback_url, json=report) as answer:
            assert 200 == answer.status, await answer.text()
            return await answer.json()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        message = await request.json()
        self.refs[message["ref"]] += 1
        self.paths[request.match_info["lane"]] += 1
        self._check_thresholds()
        return await self.respond(message)

    async def _report_loop(self) -> None:
        """Send reports in batches, keeping them while thongbao cannot take them."""
        assert self._session is not None
        while True:
            await self._has_pending.wait()
            batch, self._pending = self._pending[:500], self._pending[500:]
            if not self._pending:
                self._has_pending.clear()
            reports = [{"id": provider_id, "status": "DELIVRD"} for provider_id in batch]
            try:
                async with self._session.post(self.callback_url, json=reports) as answer:
                    taken = answer.status == 200
            except aiohttp.ClientError:
                taken = False
            if not taken:  # the service is down or restarting: keep them, try again soon
                self._pending[:0] = batch
                self._has_pending.set()
                await asyncio.sleep(0.2)


def thongbao_command() -> list[str]:
    """The ``thongbao`` script installed beside this Python, or the module as a fallback."""
    script = shutil.which("thongbao", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c", "from dispatcher.cli import main; main()"]


def write_config(
    path: Path, *, db: Path, gateway_url: str, port: int | None = None, **worker: float
) -> Path:
    """A TOML config: SMS over the HTTP gateway at ``gateway_url``, ``[worker]`` settings."""
    lines = [f'db = "{db}"', f'data_dir = "{db.parent / "data"}"', 'enabled_channels = ["sms"]']
    if port is not None:
        lines += ["[api]", f"port = {port}"]
    lines += ["[worker]", *(f"{key} = {value}" for key, value in worker.items())]
    lines += [
        "[channels.sms]",
        'transport = "http"',
        "[channels.sms.http]",
        f'url = "{gateway_url}"',
        "parallel = 20",
        f"rate_per_sec = {GATEWAY_RATE}",
        # Quiet hours (22:00-07:00 in Viet Nam) and daily caps would hold these sends back
        # at night: they have tests of their own (tests/dispatcher/test_audience_rules.py).
        "[audience]",
        "quiet_channels = []",
        "daily_caps = {}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Launcher:
    """Starts ``thongbao`` commands as subprocesses and makes sure none outlives the test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self, config: Path, *args: str, name: str) -> asyncio.subprocess.Process:
        """Run ``thongbao <args>`` on ``config``; output goes to ``<name>.out`` / ``.err``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("THONGBAO_")}
        env["THONGBAO_CONFIG"] = str(config)
        with (
            (self.workdir / f"{name}.out").open("ab") as out,
            (self.workdir / f"{name}.err").open("ab") as err,
        ):
            process = await asyncio.create_subprocess_exec(
                *thongbao_command(), *args, cwd=self.workdir, env=env, stdout=out, stderr=err
            )
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        """What a process wrote on stderr so far."""
        return (self.workdir / f"{name}.err").read_text(errors="replace")

    async def serve(self, config: Path, url: str, *, name: str) -> asyncio.subprocess.Process:
        """``thongbao serve``, returned once ``/healthz`` answers at ``url``."""
        process = await self.start(config, "serve", name=name)

        async def up() -> bool:
            if process.returncode is not None:
                pytest.fail(f"thongbao serve exited {process.returncode}:\n{self.log(name)}")
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"{url}/healthz") as answer,
                ):
                    return answer.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for("thongbao serve to answer /healthz", up, timeout=30)
        return process

    @staticmethod
    async def kill(process: asyncio.subprocess.Process) -> None:
        """``kill -9``: no shutdown code runs."""
        process.kill()
        await process.wait()

    @staticmethod
    async def stop(process: asyncio.subprocess.Process, timeout: float = 30) -> int:
        """SIGTERM, then the exit code (SIGKILL if it does not stop within ``timeout``)."""
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                process.kill()
        return await process.wait()
