"""Zalo's webhook: delivery events become receipts, citizens' messages become replies.

Zalo posts every event of the app to one URL, ``POST /v1/callbacks/zalo/webhook`` (set
it in Zalo for Developers → Webhook). Each event is a JSON object with ``event_name``,
``app_id``, ``timestamp`` (milliseconds) and the event's fields; the header
``X-ZEvent-Signature: mac=<hex>`` carries
``sha256(app_id + raw body + timestamp + OA secret key)``. Events with a wrong or missing
signature, another app's id, or a timestamp older than ``webhook_max_age`` are refused
with 401 and change nothing.

- ``user_received_message``: the message reached the user's device. ZNS events carry
  ``message.msg_id`` (and our ``tracking_id``), OA events ``message.msg_ids``; each id
  becomes a ``delivered`` receipt matched by provider id.
- ``user_seen_message``: ``message.msg_ids`` were read, which means delivered too.
- ``user_send_text``: a citizen wrote to the OA (``sender.id``, ``message.text``,
  ``message.msg_id``): stored as a reply; a STOP keyword also opts the sender out of Zalo.

Other events are acknowledged and ignored. Receipts and replies are idempotent: a
repeated event changes nothing (``msg_id`` de-duplicates replies).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from dispatcher import DeliveryStatus, NotFoundError, PluginState, ReceiptIn, services
from plugins.zalo.channel import ZaloChannel
from plugins.zalo.reply import is_stop
from plugins.zalo.settings import ZaloApiSettings

log = structlog.get_logger(__name__)

WEBHOOK_PATH = "/v1/callbacks/zalo/webhook"
SIGNATURE_HEADER = "X-ZEvent-Signature"
CHANNEL = "zalo"
_DELIVERED = frozenset({"user_received_message", "user_seen_message"})


def signature(app_id: str, body: bytes, timestamp: str, secret: str) -> str:
    """The ``mac`` Zalo puts in ``X-ZEvent-Signature`` for an event."""
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + secret.encode()).hexdigest()


def _problem(status: int, title: str, detail: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.json_response(body, status=status, content_type="application/problem+json")


async def handle_webhook(request: web.Request) -> web.Response:
    """Verify one event, then store its receipts or reply (see the module docstring)."""
    engine = services(request)
    channel = engine.channels.get(CHANNEL)
    api = channel.settings.api if isinstance(channel, ZaloChannel) else None
    if api is None or api.oa_secret_key is None:
        return _problem(404, "No Zalo webhook", "set [channels.zalo.api] oa_secret_key")
    body = await request.read()
    try:
        event = json.loads(body)
    except ValueError:
        return _problem(400, "Bad event", "the body is not JSON")
    if not isinstance(event, dict):
        return _problem(400, "Bad event", "the body is not a JSON object")
    refusal = _verify(request, api, body, event, engine.clock.now())
    if refusal is not None:
        log.warning("zalo_webhook_refused", reason=refusal, zalo_event=event.get("event_name"))
        return _problem(401, "Event not verified", refusal)
    try:
        result = await _apply(request, event)
    except Exception as exc:
        log.error("zalo_webhook_failed", zalo_event=event.get("event_name"), error=repr(exc))
        return _problem(503, "The event cannot be stored now", "try again later")
    return web.json_response({"ok": True, **result})


def _verify(
    request: web.Request, api: ZaloApiSettings, body: bytes, event: dict[str, Any], now: datetime
) -> str | None:
    given = request.headers.get(SIGNATURE_HEADER, "").strip()
    given = given[4:] if given.lower().startswith("mac=") else given
    timestamp = str(event.get("timestamp") or "")
    if not given or not timestamp:
        return f"the {SIGNATURE_HEADER} header or the timestamp is missing"
    if str(event.get("app_id") or "") != api.app_id:
        return "the event is for another app"
    secret = api.oa_secret_key.get_secret_value() if api.oa_secret_key else ""
    expected = signature(api.app_id, body, timestamp, secret)
    if not hmac.compare_digest(given.lower(), expected):
        return "the signature does not match: check api.oa_secret_key"
    sent = _moment(timestamp)
    if sent is None or abs((now - sent).total_seconds()) > api.webhook_max_age:
        return "the event is too old (or its timestamp unreadable): replays are refused"
    return None


async def _apply(request: web.Request, event: dict[str, Any]) -> dict[str, Any]:
    name = str(event.get("event_name") or "")
    found = event.get("message")
    message: dict[str, Any] = found if isinstance(found, dict) else {}
    if name in _DELIVERED:
        return await _receipts(request, event, message)
    if name == "user_send_text":
        return await _reply(request, event, message)
    return {"ignored": name}


async def _receipts(
    request: web.Request, event: dict[str, Any], message: dict[str, Any]
) -> dict[str, Any]:
    ids = [message["msg_id"]] if message.get("msg_id") else list(message.get("msg_ids") or [])
    at = _moment(str(message.get("delivery_time") or event.get("timestamp") or ""))
    receipts = [
        ReceiptIn(
            channel=CHANNEL,
            provider_id=str(pid),
            status=DeliveryStatus.DELIVERED,
            occurred_at=at,
            detail=str(event.get("event_name")),
        )
        for pid in ids
        if pid
    ]
    applied = await services(request).submit(receipts) if receipts else []
    await _learn_phone(request, event, message)
    return {"applied": applied}


async def _learn_phone(
    request: web.Request, event: dict[str, Any], message: dict[str, Any]
) -> None:
    """Remember which phone number a user id belongs to (a ZNS event names both), so the
    user's replies link to the announcements sent to that number."""
    tracking, user = message.get("tracking_id"), _user(event.get("recipient"))
    if not tracking or not user:
        return
    engine = services(request)
    try:
        delivery = await engine.get_delivery(str(tracking))
    except NotFoundError:
        return
    if delivery.channel == CHANNEL and delivery.address.startswith("+"):
        state = PluginState(engine.store, CHANNEL, engine.clock)
        await state.put(f"user:{user}", {"phone": delivery.address})


async def _reply(
    request: web.Request, event: dict[str, Any], message: dict[str, Any]
) -> dict[str, Any]:
    user, text = _user(event.get("sender")), str(message.get("text") or "")
    if not user:
        return {"ignored": "user_send_text without sender.id"}
    engine = services(request)
    state = PluginState(engine.store, CHANNEL, engine.clock)
    known = await state.get(f"user:{user}")
    sender = str(known["phone"]) if known and known.get("phone") else user
    channel = engine.channels.get(CHANNEL)
    keywords = channel.settings.stop_keywords if isinstance(channel, ZaloChannel) else []
    stop = is_stop(text, keywords)
    if stop:
        for address in dict.fromkeys([user, sender]):
            await engine.opt_out(CHANNEL, address, "zalo-reply")
    stored = await engine.record_inbound(
        CHANNEL,
        sender,
        text[:5000],
        provider_id=str(message.get("msg_id") or "") or None,
        received_at=_moment(str(event.get("timestamp") or "")),
        opted_out=stop,
    )
    log.info("zalo_reply_stored", opted_out=stop, linked=bool(stored.announcement_id))
    return {"stored": True, "opted_out": stop, "announcement_id": stored.announcement_id}


def _user(party: Any) -> str | None:
    return str(party["id"]) if isinstance(party, dict) and party.get("id") else None


def _moment(millis: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(millis) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
