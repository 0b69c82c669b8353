"""make_app refuses plugin routes that cannot work, naming them."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from dispatcher.api import make_app
from dispatcher.channel import RouteSpec
from dispatcher.errors import PluginError


async def handler(request: web.Request) -> web.Response:
    """A plugin handler."""
    return web.json_response({})


@pytest.mark.parametrize(
    ("route", "message"),
    [
        pytest.param(
            RouteSpec("GET", "/hooks/x", handler, role="root"),
            "route GET /hooks/x asks for role 'root'; roles are staff, system, operator, admin",
            id="unknown-role",
        ),
        pytest.param(
            RouteSpec("GET", "/healthz", handler),
            "plugin route GET /healthz is already served",
            id="served-path",
        ),
        pytest.param(
            RouteSpec("post", "/v1/announcements", handler),
            "plugin route post /v1/announcements is already served",
            id="served-path-lower-case-method",
        ),
        pytest.param(
            RouteSpec("GET", "/hooks/x", handler, name="create_announcement"),
            "cannot add plugin route GET /hooks/x: Duplicate 'create_announcement'",
            id="taken-name",
        ),
        pytest.param(
            RouteSpec("GET", "hooks/x", handler),
            "cannot add plugin route GET hooks/x: path should be started with /",
            id="relative-path",
        ),
    ],
)
async def test_bad_plugin_route_is_a_plugin_error(
    api_client: Any, route: RouteSpec, message: str
) -> None:
    with pytest.raises(PluginError) as caught:
        make_app(api_client.services, routes=[route])

    assert str(caught.value).startswith(message)
