"""Key routes: admins hand out API keys."""

from __future__ import annotations

from aiohttp import web

from dispatcher.api.endpoint import Endpoint, Reply, json_model
from dispatcher.api.models import KeyIn, KeyOut
from dispatcher.api.params import read_model
from dispatcher.keys import Role
from dispatcher.webkeys import services


async def create_key(request: web.Request) -> web.Response:
    """Make an API key. Its token is in this answer only: thongbao keeps just a hash."""
    data = await read_model(request, KeyIn)
    key, token = await services(request).create_api_key(data.role, data.name)
    out = KeyOut(
        id=key.id, name=key.name, role=Role(key.role), created_at=key.created_at, token=token
    )
    return json_model(out, status=201)


ENDPOINTS = (
    Endpoint(
        "POST",
        "/v1/keys",
        create_key,
        name="create_key",
        summary="Create an API key",
        tag="keys",
        roles=(),
        body={"application/json": KeyIn},
        replies=(Reply(201, "The new key, with its token.", KeyOut),),
    ),
)
