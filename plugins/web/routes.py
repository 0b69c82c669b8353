"""HTTP routes of the web channel.

Public (no key):

- ``GET /feeds/announcements.{atom,json,cap.xml}``: every released public announcement;
- ``GET /feeds/areas/{code}/announcements.{atom,json,cap.xml}``: those of one area;
- ``GET /a/{code}``: the page of one announcement (``code``: its short code or id).

Admin (API key of role admin):

- ``POST /v1/web/subscriptions``: subscribe a URL; the answer shows its secret, once;
- ``GET /v1/web/subscriptions``, ``GET|DELETE /v1/web/subscriptions/{id}``;
- ``POST /v1/web/subscriptions/{id}/rotate``: a new secret (shown once), the old one
  signing too for ``overlap_seconds``;
- ``POST /v1/web/subscriptions/{id}/enable``: after a 410 disabled it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlparse

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatcher import PluginState, RouteSpec, services
from plugins.web.cap import alert
from plugins.web.channel import WebChannel
from plugins.web.feeds import (
    AreaScope,
    FeedPage,
    area_scope,
    cached_response,
    feed_page,
    with_related,
)
from plugins.web.feeds_atom import FeedInfo, atom_feed
from plugins.web.feeds_json import json_feed
from plugins.web.links import announcement_id, is_visible, modified_at
from plugins.web.page import missing_page, render_page
from plugins.web.settings import WebSettings
from plugins.web.subscriptions import SubscriptionIn, Subscriptions
from plugins.web.updates import UpdateIndex

SUBSCRIPTIONS_PATH = "/v1/web/subscriptions"
PAGE_PATH = "/a/{code}"
_CURSOR = re.compile(r"^[0-9A-Za-z._-]{1,64}$")
_LABELS = {"atom": "Atom feed", "json": "JSON Feed 1.1", "cap": "CAP 1.2 feed (Atom of alerts)"}
_FORMATS = {
    "atom": ("announcements.atom", "application/atom+xml"),
    "json": ("announcements.json", "application/feed+json"),
    "cap": ("announcements.cap.xml", "application/atom+xml"),
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem(status: int, title: str, detail: str, **extra: Any) -> web.Response:
    """An RFC 9457 problem answer."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return web.json_response(body, status=status, content_type="application/problem+json")


# -- what a handler needs --------------------------------------------------------------------
def _channel(request: web.Request) -> WebChannel | None:
    channel = services(request).channels.get("web")
    return channel if isinstance(channel, WebChannel) else None


def _settings(request: web.Request) -> WebSettings:
    channel = _channel(request)
    return channel.settings if channel else WebSettings()


def _state(request: web.Request) -> PluginState:
    channel = _channel(request)
    if channel is not None and channel.ctx.state is not None:
        return channel.ctx.state
    found = services(request)
    return PluginState(found.store, "web", found.clock)


def _public_url(request: web.Request) -> str:
    channel = _channel(request)
    return (channel.ctx.public_url if channel else str(request.url.origin())).rstrip("/")


# -- feeds -----------------------------------------------------------------------------------
def _feed_handler(fmt: str, *, by_area: bool) -> Handler:
    name, content_type = _FORMATS[fmt]

    async def handle(request: web.Request) -> web.StreamResponse:
        store = services(request).store
        before = request.query.get("before")
        if before is not None and not _CURSOR.match(before):
            return problem(400, "Bad cursor", "before must be an announcement id from a next link")
        scope: AreaScope | None = None
        if by_area:
            scope = await area_scope(store, request.match_info["code"])
            if scope is None:
                return problem(404, "No such area", "use an area code, e.g. 79 or 26740")
        size = _settings(request).feed_page_size
        page = await feed_page(store, scope=scope, before=before, limit=size)
        info = _info(request, name, scope, page)
        if fmt == "json":
            body = json_feed(page, info)
        elif fmt == "atom":
            body = atom_feed(page, info)
        else:
            body = _cap_feed(await with_related(store, page), info, request)
        return cached_response(request, body, content_type, page.modified)

    where = "one area (with the areas above and under it)" if by_area else "everything"
    handle.__doc__ = (
        f"{_LABELS[fmt]} of released public announcements: {where}.\n\n"
        "Newest first; ``?before=<id>`` pages back (follow the next link). Answers carry "
        "ETag and Last-Modified; If-None-Match / If-Modified-Since give 304."
    )
    return handle


def _info(request: web.Request, name: str, scope: AreaScope | None, page: FeedPage) -> FeedInfo:
    base = _public_url(request)
    path = f"/feeds/areas/{scope.code}/{name}" if scope else f"/feeds/{name}"
    first = base + path
    next_url = f"{first}?{urlencode({'before': page.next_before})}" if page.next_before else None
    before = request.query.get("before")
    title = f"Thông báo — địa bàn {scope.code}" if scope else "Thông báo"
    return FeedInfo(
        title=title,
        feed_id=first,
        self_url=f"{first}?{urlencode({'before': before})}" if before else first,
        next_url=next_url,
        public_url=base,
    )


def _cap_feed(page: FeedPage, info: FeedInfo, request: web.Request) -> bytes:
    sender = _settings(request).cap_sender or f"thongbao@{urlparse(info.public_url).hostname}"
    return atom_feed(
        page,
        info,
        content=lambda a: alert(a, sender=sender, public_url=info.public_url, related=page.related),
    )


# -- the page --------------------------------------------------------------------------------
async def handle_page(request: web.Request) -> web.StreamResponse:
    """The public page of an announcement (Vietnamese HTML), by short code or id."""
    store = services(request).store
    wanted = announcement_id(request.match_info["code"])
    found = (await store.get_announcements([wanted])).get(wanted)
    if found is None or not is_visible(found):
        return web.Response(
            status=404, text=missing_page(), content_type="text/html", charset="utf-8"
        )
    newer_ids = await UpdateIndex(_state(request)).updates_of(found.id)
    related = await store.get_announcements(
        [*newer_ids, *([found.updates] if found.updates else [])]
    )
    newer = [related[i] for i in newer_ids if i in related and is_visible(related[i])]
    older = related.get(found.updates) if found.updates else None
    html = render_page(
        found,
        public_url=_public_url(request),
        newer=newer,
        older=older if older is not None and is_visible(older) else None,
    )
    modified = max([modified_at(found), *(modified_at(a) for a in newer)])
    return cached_response(request, html.encode(), "text/html", modified)


# -- subscriptions (admin) -------------------------------------------------------------------
class RotateIn(BaseModel):
    """How long the current secret keeps signing beside the new one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    overlap_seconds: float | None = Field(default=None, ge=0, le=30 * 86400)


async def _json(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _invalid(exc: ValidationError) -> web.Response:
    errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return problem(422, "Invalid subscription", "the request does not validate", errors=errors)


async def handle_create(request: web.Request) -> web.StreamResponse:
    """Subscribe a URL to announcements (filters: areas, priorities, tags).

    The answer carries the subscription's ``secret`` (``whsec_…``): it is shown this once.
    """
    payload = await _json(request)
    if payload is None:
        return problem(400, "Bad JSON", "send a JSON object with url and filters")
    try:
        data = SubscriptionIn.model_validate(payload)
    except ValidationError as exc:
        return _invalid(exc)
    if (refused := services(request).outbound.url_problem(data.url)) is not None:
        errors = [{"loc": ["url"], "msg": refused}]
        return problem(422, "Invalid subscription", refused, errors=errors)
    areas = data.filters.areas
    unknown = sorted(set(areas) - await services(request).store.known_areas(areas))
    if unknown:
        return problem(422, "Unknown areas", f"no such area: {', '.join(unknown)}")
    sub, secret = await Subscriptions(_state(request)).create(data)
    return web.json_response({**sub.public(), "secret": secret}, status=201)


async def handle_list(request: web.Request) -> web.StreamResponse:
    """Every webhook subscription (secrets are never shown)."""
    subs = await Subscriptions(_state(request)).all()
    return web.json_response({"items": [s.public() for s in subs]})


async def handle_get(request: web.Request) -> web.StreamResponse:
    """One webhook subscription (its secrets are never shown)."""
    sub = await Subscriptions(_state(request)).get(request.match_info["sub_id"])
    if sub is None:
        return problem(404, "No such subscription", "list them at GET /v1/web/subscriptions")
    return web.json_response(sub.public())


async def handle_delete(request: web.Request) -> web.StreamResponse:
    """Remove a webhook subscription; its queued deliveries then fail."""
    if not await Subscriptions(_state(request)).delete(request.match_info["sub_id"]):
        return problem(404, "No such subscription", "list them at GET /v1/web/subscriptions")
    return web.Response(status=204)


async def handle_rotate(request: web.Request) -> web.StreamResponse:
    """A new secret for a subscription, shown once; the current one keeps signing beside it
    for ``overlap_seconds`` (default: the ``rotation_overlap`` setting)."""
    payload = await _json(request)
    try:
        data = RotateIn.model_validate(payload if payload is not None else {})
    except ValidationError as exc:
        return _invalid(exc)
    overlap = data.overlap_seconds
    if overlap is None:
        overlap = _settings(request).rotation_overlap
    rotated = await Subscriptions(_state(request)).rotate(request.match_info["sub_id"], overlap)
    if rotated is None:
        return problem(404, "No such subscription", "list them at GET /v1/web/subscriptions")
    sub, secret = rotated
    return web.json_response({**sub.public(), "secret": secret})


async def handle_enable(request: web.Request) -> web.StreamResponse:
    """Enable a subscription again (after the receiver answered 410 Gone)."""
    sub = await Subscriptions(_state(request)).set_active(request.match_info["sub_id"], True)
    if sub is None:
        return problem(404, "No such subscription", "list them at GET /v1/web/subscriptions")
    return web.json_response(sub.public())


def _routes() -> list[RouteSpec]:
    one = SUBSCRIPTIONS_PATH + "/{sub_id}"
    routes = [
        RouteSpec("POST", SUBSCRIPTIONS_PATH, handle_create, role="admin"),
        RouteSpec("GET", SUBSCRIPTIONS_PATH, handle_list, role="admin"),
        RouteSpec("GET", one, handle_get, role="admin"),
        RouteSpec("DELETE", one, handle_delete, role="admin"),
        RouteSpec("POST", one + "/rotate", handle_rotate, role="admin"),
        RouteSpec("POST", one + "/enable", handle_enable, role="admin"),
        RouteSpec("GET", PAGE_PATH, handle_page),
    ]
    for fmt, (name, _) in _FORMATS.items():
        routes.append(RouteSpec("GET", f"/feeds/{name}", _feed_handler(fmt, by_area=False)))
        routes.append(
            RouteSpec("GET", f"/feeds/areas/{{code}}/{name}", _feed_handler(fmt, by_area=True))
        )
    return routes


ROUTES = _routes()
