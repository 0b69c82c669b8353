"""A programmable fake HTTP provider: a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class ProviderRequest:
    """A request the fake provider received."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body, parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class ProviderAnswer:
    """How the fake provider answers: ``text`` wins over ``json``; ``hang`` never answers;
    ``delay`` answers after that many seconds."""

    status: int = 200
    json: Any = None
    text: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False
    delay: float = 0.0


Answerer = Callable[[ProviderRequest], ProviderAnswer]


class FakeProvider:
    """A programmable HTTP provider: a real aiohttp server on 127.0.0.1.

    Queued answers (:meth:`answer`) are used first, then the default (:meth:`always`).

    Args:
        default: answers each request; default 200 ``{"id": "prov-1"}``.
    """

    def __init__(self, default: ProviderAnswer | Answerer | None = None) -> None:
        self.requests: list[ProviderRequest] = []
        self.received = asyncio.Event()
        self._queue: deque[ProviderAnswer] = deque()
        self._default: ProviderAnswer | Answerer = default or ProviderAnswer(json={"id": "prov-1"})
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        """Where to send requests."""
        return str(self._server.make_url("/send"))

    def answer(self, *answers: ProviderAnswer) -> None:
        """Answer the next requests with ``answers``, in order."""
        self._queue.extend(answers)

    def always(self, answer: ProviderAnswer | Answerer) -> None:
        """Answer every request not covered by :meth:`answer` with ``answer``."""
        self._default = answer

    async def start(self) -> FakeProvider:
        """Start listening; returns self."""
        await self._server.start_server()
        return self

    async def close(self) -> None:
        """Release hanging requests and stop; safe to call twice."""
        self._release.set()
        await self._server.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = ProviderRequest(
            request.method, request.path, dict(request.headers), await request.read()
        )
        self.requests.append(recorded)
        self.received.set()
        answer = self._queue.popleft() if self._queue else self._default
        if callable(answer):
            answer = answer(recorded)
        if answer.hang:
            await self._release.wait()
            return web.Response(status=504)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.text is not None:
            return web.Response(status=answer.status, text=answer.text, headers=answer.headers)
        return web.json_response(answer.json, status=answer.status, headers=answer.headers)
