"""Bearer API keys: who is calling, and whether their role may call this route."""

from __future__ import annotations

import functools
import re
from collections.abc import Collection

from aiohttp import web

from dispatcher.api.problems import ProblemError
from dispatcher.channel import Handler
from dispatcher.keys import Role
from dispatcher.store.base import ApiKey
from dispatcher.webkeys import services

API_KEY: web.RequestKey[ApiKey] = web.RequestKey("thongbao_api_key", ApiKey)

REALM = 'Bearer realm="thongbao"'
# RFC 6750 b64token. Real tokens are ~46 characters; anything far longer is not worth hashing,
# and anything outside this alphabet (even undecodable bytes) cannot be one of ours.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]{1,512}=*")


def _unauthorized(detail: str, *, invalid: bool) -> ProblemError:
    challenge = f'{REALM}, error="invalid_token"' if invalid else REALM
    return ProblemError(
        401,
        detail,
        kind="unauthorized",
        title="API key needed",
        headers={"WWW-Authenticate": challenge},
    )


def bearer_token(request: web.Request) -> str:
    """The token of ``Authorization: Bearer <token>``; a 401 problem when there is none."""
    header = request.headers.get("Authorization")
    if not header:
        raise _unauthorized(
            "this route needs an API key: send Authorization: Bearer <token>", invalid=False
        )
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized(
            "the Authorization header must be Bearer <token> (thongbao API key)", invalid=False
        )
    return token


async def authenticate(request: web.Request) -> ApiKey:
    """The live key the request carries; a 401 problem for a missing, unknown or revoked one."""
    token = bearer_token(request)
    key = await services(request).authenticate(token) if _TOKEN.fullmatch(token) else None
    if key is None:
        raise _unauthorized(
            "the API key is not valid (unknown or revoked): ask an admin for a key", invalid=True
        )
    return key


def allows(roles: Collection[Role], key: ApiKey) -> bool:
    """True when ``key`` may call a route open to ``roles``; admin may call every route."""
    return key.role == Role.ADMIN or key.role in roles


def guarded(handler: Handler, roles: Collection[Role] | None) -> Handler:
    """Wrap ``handler`` so that it runs only for a key with one of ``roles``.

    ``roles`` None leaves the handler public. The key is left in ``request[API_KEY]``.
    """
    if roles is None:
        return handler
    allowed = tuple(roles)

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        key = await authenticate(request)
        if not allows(allowed, key):
            names = sorted({role.value for role in allowed} | {Role.ADMIN.value})
            raise ProblemError(
                403,
                f"a key with role {' or '.join(names)} may do this; this key has role {key.role}",
                kind="forbidden",
                title="Role not allowed",
                allowed_roles=names,
            )
        request[API_KEY] = key
        return await handler(request)

    return checked


def current_key(request: web.Request) -> ApiKey | None:
    """The key that authenticated this request (None on public routes)."""
    return request.get(API_KEY)
