"""Keys under which the aiohttp application holds thongbao's objects, for plugin routes."""

from __future__ import annotations

from aiohttp import web

from dispatcher.service import Services

SERVICES: web.AppKey[Services] = web.AppKey("thongbao_services", Services)


def services(request: web.Request) -> Services:
    """The :class:`Services` of the running thongbao, from inside a route handler."""
    return request.app[SERVICES]
