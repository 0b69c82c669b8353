"""The preview route: what a draft would send, per channel, before it is posted."""

from __future__ import annotations

from aiohttp import web

from dispatcher.api.endpoint import Endpoint, Reply, json_model
from dispatcher.api.params import read_model
from dispatcher.keys import Role
from dispatcher.webkeys import services
from schemas import AnnouncementIn, Preview


async def preview_announcement(request: web.Request) -> web.Response:
    """Per channel: the text the first recipient would get, channel details (SMS encoding
    and segments), problems, recipients and suppressions by reason. Nothing is stored."""
    data = await read_model(request, AnnouncementIn)
    return json_model(await services(request).preview(data))


ENDPOINTS = (
    Endpoint(
        "POST",
        "/v1/preview",
        preview_announcement,
        name="preview_announcement",
        summary="Preview a draft announcement",
        tag="announcements",
        roles=(Role.STAFF, Role.SYSTEM, Role.OPERATOR),
        body={"application/json": AnnouncementIn},
        replies=(Reply(200, "What the draft would send.", Preview),),
    ),
)
