"""Building the aiohttp application: the endpoint table, plugin routes, middleware, state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from dispatcher.api import (
    announcements,
    apikeys,
    contacts,
    deliveries,
    health,
    openapi,
    people,
    preview,
)
from dispatcher.api.auth import guarded
from dispatcher.api.endpoint import Endpoint
from dispatcher.api.problems import problem_middleware
from dispatcher.channel import RouteSpec
from dispatcher.config import ApiSettings
from dispatcher.errors import PluginError
from dispatcher.keys import Role
from dispatcher.metrics import Metrics
from dispatcher.service import Services
from dispatcher.webkeys import SERVICES

ENDPOINTS: tuple[Endpoint, ...] = (
    *announcements.ENDPOINTS,
    *preview.ENDPOINTS,
    *deliveries.ENDPOINTS,
    *contacts.ENDPOINTS,
    *people.ENDPOINTS,
    *apikeys.ENDPOINTS,
    *health.ENDPOINTS,
    *openapi.ENDPOINTS,
)


def _plugin_roles(route: RouteSpec) -> tuple[Role, ...] | None:
    if route.role is None:
        return None
    names = (route.role,) if isinstance(route.role, str) else route.role
    try:
        return tuple(Role(name) for name in names)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise PluginError(
            f"route {route.method} {route.path} asks for role {route.role!r}; roles are {known}"
        ) from None


def _add_plugin_route(app: web.Application, route: RouteSpec) -> None:
    handler = guarded(route.handler, _plugin_roles(route))
    # aiohttp would quietly put a second handler for a served method+path out of reach.
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    if (route.method.upper(), route.path) in served:
        raise PluginError(f"plugin route {route.method} {route.path} is already served")
    try:
        app.router.add_route(route.method, route.path, handler, name=route.name)
    except (ValueError, RuntimeError) as exc:
        # aiohttp refuses a malformed path and a route name that is taken.
        raise PluginError(f"cannot add plugin route {route.method} {route.path}: {exc}") from exc


def make_app(
    services: Services,
    *,
    routes: Sequence[RouteSpec] = (),
    metrics: Metrics | None = None,
    settings: ApiSettings | None = None,
    ready: Callable[[], Awaitable[bool]] | None = None,
) -> web.Application:
    """The HTTP API over ``services``.

    Args:
        services: what the routes call.
        routes: extra routes from plugins (receipt callbacks and the like).
        metrics: the engine's metrics, served at ``/metrics`` (a fresh set when None).
        settings: body size limit and public URL (defaults when None).
        ready: the readiness check behind ``/readyz`` (default: the store answers a ping).

    Returns:
        The application, for ``web.AppRunner`` or a test server.

    Raises:
        PluginError: a plugin route is malformed or clashes with another route.
    """
    settings = settings or ApiSettings()
    app = web.Application(middlewares=[problem_middleware], client_max_size=settings.max_body_bytes)
    app[SERVICES] = services
    app[health.METRICS] = metrics or Metrics()
    app[health.READY] = ready or services.store.ping
    for endpoint in ENDPOINTS:
        app.router.add_route(
            endpoint.method,
            endpoint.path,
            guarded(endpoint.handler, endpoint.roles),
            name=endpoint.name,
        )
    for route in routes:
        _add_plugin_route(app, route)
    app[openapi.OPENAPI] = openapi.build_openapi(ENDPOINTS, routes, server_url=settings.public_url)
    return app
