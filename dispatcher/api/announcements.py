"""Announcement routes: post, list, read and cancel."""

from __future__ import annotations

import re

from aiohttp import web

from dispatcher.api.auth import current_key
from dispatcher.api.endpoint import Endpoint, Param, Reply, json_model
from dispatcher.api.models import AnnouncementPage
from dispatcher.api.params import CURSOR, LIMIT, Query, encode_cursor, enum_param, read_model
from dispatcher.api.problems import ProblemError
from dispatcher.keys import Role
from dispatcher.webkeys import services
from schemas import Announcement, AnnouncementIn, AnnouncementStatus

READERS = (Role.STAFF, Role.SYSTEM, Role.OPERATOR)
_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,200}$")


def idempotency_key(request: web.Request) -> str | None:
    """The ``Idempotency-Key`` header: 1 to 200 printable ASCII characters, or absent."""
    value = request.headers.get("Idempotency-Key")
    if value is None or _IDEMPOTENCY_KEY.match(value):
        return value
    raise ProblemError(
        422,
        "the Idempotency-Key header must be 1 to 200 printable ASCII characters",
        kind="invalid-request",
        title="Invalid request",
        errors=[{"loc": ["header", "Idempotency-Key"], "msg": "1 to 200 printable characters"}],
    )


async def create_announcement(request: web.Request) -> web.Response:
    """Store an announcement for sending; it goes out at ``send_at`` (or now).

    With an ``Idempotency-Key`` header, repeating the same request with the same key returns
    the first answer (200, ``Idempotent-Replayed: true``) instead of a second announcement.
    """
    key = idempotency_key(request)
    data = await read_model(request, AnnouncementIn)
    announcement, created = await services(request).create_announcement(
        data, key=current_key(request), idempotency_key=key
    )
    location = request.app.router["get_announcement"].url_for(id=announcement.id)
    headers = {"Location": str(location)}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return json_model(announcement, status=201 if created else 200, headers=headers)


async def list_announcements(request: web.Request) -> web.Response:
    """Announcements, newest first, a page at a time."""
    query = Query(request, ("status", "cursor", "limit"))
    status = query.enum("status", AnnouncementStatus)
    limit = query.limit()
    after = query.cursor("announcements")
    query.check()
    page = await services(request).list_announcements(status=status, after=after, limit=limit)
    cursor = encode_cursor("announcements", page.next_cursor)
    return json_model(AnnouncementPage(items=page.items, next_cursor=cursor))


async def get_announcement(request: web.Request) -> web.Response:
    """One announcement with ``counts``: deliveries per channel, then per status."""
    announcement = await services(request).get_announcement(request.match_info["id"])
    return json_model(announcement)


async def cancel_announcement(request: web.Request) -> web.Response:
    """Cancel what has not gone out yet; what was sent stays sent."""
    announcement = await services(request).cancel_announcement(request.match_info["id"])
    return json_model(announcement)


_IDEMPOTENCY_PARAM = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[\x20-\x7e]+$"},
    "Makes a repeated POST return the first answer instead of creating a second announcement.",
)
_ANNOUNCEMENT = Reply(200, "The announcement.", Announcement)

ENDPOINTS = (
    Endpoint(
        "POST",
        "/v1/announcements",
        create_announcement,
        name="create_announcement",
        summary="Post an announcement",
        tag="announcements",
        roles=(Role.STAFF, Role.SYSTEM),
        params=(_IDEMPOTENCY_PARAM,),
        body={"application/json": AnnouncementIn},
        replies=(
            Reply(201, "Stored.", Announcement, headers={"Location": "Where to read it."}),
            Reply(
                200,
                "A repeat of an earlier request with the same Idempotency-Key: its answer.",
                Announcement,
                headers={"Location": "Where to read it.", "Idempotent-Replayed": "Always true."},
            ),
        ),
        problems=(409,),
    ),
    Endpoint(
        "GET",
        "/v1/announcements",
        list_announcements,
        name="list_announcements",
        summary="List announcements",
        tag="announcements",
        roles=READERS,
        params=(enum_param("status", AnnouncementStatus, "Only these."), CURSOR, LIMIT),
        replies=(Reply(200, "A page of announcements.", AnnouncementPage),),
    ),
    Endpoint(
        "GET",
        "/v1/announcements/{id}",
        get_announcement,
        name="get_announcement",
        summary="Read an announcement and its delivery counts",
        tag="announcements",
        roles=READERS,
        replies=(_ANNOUNCEMENT,),
    ),
    Endpoint(
        "POST",
        "/v1/announcements/{id}/cancel",
        cancel_announcement,
        name="cancel_announcement",
        summary="Cancel an announcement",
        tag="announcements",
        roles=(Role.STAFF,),
        replies=(Reply(200, "The announcement after cancelling.", Announcement),),
    ),
)
