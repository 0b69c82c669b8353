"""A fake Zalo on 127.0.0.1: ZNS, template info, OA messages, the token endpoint, webhooks.

Answers follow Zalo's documented shapes: HTTP 200 with ``{"error", "message", "data"}``;
the token endpoint rotates the refresh token (an old one is refused, as Zalo does).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from plugins.zalo.channel import ZaloChannel

APP_ID = "1234567890"
SECRET_KEY = "app-secret-7f3e-never-show"
OA_SECRET = "oa-secret-91ab-never-show"
FIRST_REFRESH = "refresh-0"

#: ``await make(store=..., api={...}, zns={...})`` → a started channel (see conftest).
MakeChannel = Callable[..., Awaitable[ZaloChannel]]
TEMPLATE = "231677"
NOTICE_PARAMS = [
    {"name": "title", "require": True, "type": "STRING", "maxLength": 100, "minLength": 0},
    {"name": "body", "require": True, "type": "STRING", "maxLength": 400, "minLength": 0},
    {"name": "ward", "require": False, "type": "STRING", "maxLength": 30, "minLength": 0},
]


@dataclass
class FakeZalo:
    """State and records of the fake; tests change the fields to script Zalo's answers."""

    access_token: str = "access-0"
    refresh_token: str = FIRST_REFRESH
    expires_in: str = "90000"
    daily_quota: int = 500
    remaining: int = 500
    no_zalo: set[str] = field(default_factory=set)  # phones without a Zalo account (-118)
    blocked: set[str] = field(default_factory=set)  # phones that cannot receive ZNS (-119)
    codes: dict[str, int] = field(default_factory=dict)  # phone → error code to answer
    delays: dict[str, float] = field(default_factory=dict)  # phone → seconds before answering
    templates: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {TEMPLATE: NOTICE_PARAMS}
    )
    zns: list[dict[str, Any]] = field(default_factory=list)
    oa: list[dict[str, Any]] = field(default_factory=list)
    template_requests: int = 0
    refreshes: list[dict[str, str]] = field(default_factory=list)
    refresh_gate: asyncio.Event | None = None  # hold refresh answers until set
    refresh_started: asyncio.Event = field(default_factory=asyncio.Event)
    issued: int = 0

    def app(self) -> web.Application:
        """The aiohttp application serving Zalo's paths."""
        app = web.Application()
        app.router.add_post("/message/template", self.send_zns)
        app.router.add_get("/template/info/v2", self.template_info)
        app.router.add_post("/v3.0/oa/message/cs", self.send_oa)
        app.router.add_post("/v4/oa/access_token", self.token)
        return app

    def _token_ok(self, request: web.Request) -> bool:
        return request.headers.get("access_token") == self.access_token

    async def send_zns(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return web.json_response({"error": -124, "message": "Access token is invalid"})
        body = await request.json()
        self.zns.append(body)
        phone = body["phone"]
        await asyncio.sleep(self.delays.get(phone, 0.0))
        code = self.codes.get(phone) or (-118 if phone in self.no_zalo else 0)
        code = code or (-119 if phone in self.blocked else 0)
        if code == 0 and self.remaining <= 0:
            code = -144
        if code:
            return web.json_response({"error": code, "message": "refused by fake Zalo"})
        self.remaining -= 1
        quota = {"dailyQuota": str(self.daily_quota), "remainingQuota": str(self.remaining)}
        data = {"msg_id": f"zns-{body['tracking_id']}", "sent_time": "1700000000000"}
        return web.json_response(
            {"error": 0, "message": "Success", "data": {**data, "quota": quota}}
        )

    async def template_info(self, request: web.Request) -> web.Response:
        self.template_requests += 1
        if not self._token_ok(request):
            return web.json_response({"error": -124, "message": "Access token is invalid"})
        tid = request.query.get("template_id", "")
        if tid not in self.templates:
            return web.json_response({"error": -109, "message": "Template ID invalid"})
        data = {
            "templateId": int(tid),
            "templateName": "Thông báo của phường",
            "status": "ENABLE",
            "listParams": self.templates[tid],
        }
        return web.json_response({"error": 0, "message": "Success", "data": data})

    async def send_oa(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        body = await request.json()
        self.oa.append(body)
        user = body["recipient"]["user_id"]
        data = {"message_id": f"oa-{user}-{len(self.oa)}", "user_id": user}
        return web.json_response({"error": 0, "message": "Success", "data": data})

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.refreshes.append({k: str(v) for k, v in form.items()})
        self.refresh_started.set()
        if self.refresh_gate is not None:
            await self.refresh_gate.wait()
        good = (
            request.headers.get("secret_key") == SECRET_KEY
            and form.get("app_id") == APP_ID
            and form.get("grant_type") == "refresh_token"
            and form.get("refresh_token") == self.refresh_token
        )
        if not good:
            return web.json_response(
                {
                    "error": -14014,
                    "error_name": "Invalid refresh token",
                    "error_description": "Refresh token is invalid or was used",
                }
            )
        self.issued += 1
        self.access_token, self.refresh_token = f"access-{self.issued}", f"refresh-{self.issued}"
        return web.json_response(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_in": self.expires_in,
            }
        )


async def serve(fake: FakeZalo) -> tuple[TestServer, str]:
    """Start ``fake`` on 127.0.0.1; returns the server and its base URL."""
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    return server, str(server.make_url("")).rstrip("/")


def api_settings(url: str, **extra: Any) -> dict[str, Any]:
    """``[channels.zalo.api]`` pointing every host at the fake."""
    return {
        "app_id": APP_ID,
        "secret_key": SECRET_KEY,
        "oa_secret_key": OA_SECRET,
        "refresh_token": FIRST_REFRESH,
        "zns_url": url,
        "oa_url": url,
        "oauth_url": url,
        "timeout": 0.5,
        **extra,
    }


def signed(
    event: dict[str, Any], now: datetime, *, secret: str = OA_SECRET
) -> tuple[bytes, dict[str, str]]:
    """An event's body and headers as Zalo sends them, stamped ``now`` unless it has a
    ``timestamp``."""
    event = {"app_id": APP_ID, "timestamp": str(int(now.timestamp() * 1000)), **event}
    body = json.dumps(event).encode()
    mac = hashlib.sha256(
        APP_ID.encode() + body + event["timestamp"].encode() + secret.encode()
    ).hexdigest()
    return body, {"X-ZEvent-Signature": f"mac={mac}", "Content-Type": "application/json"}
