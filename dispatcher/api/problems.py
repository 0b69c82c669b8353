"""Problem details (RFC 9457): every error the API gives is an ``application/problem+json``.

The middleware here is the one place exceptions turn into HTTP answers, so no handler builds
an error response of its own and no input can reach the client as a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from dispatcher.errors import ChannelNotFoundError, InvalidRequestError, NotFoundError
from dispatcher.store.base import IdempotencyConflictError

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "urn:thongbao:problem:"

# Headers of an aiohttp HTTPException worth keeping on the problem that replaces it.
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


def problem(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """Build a problem response.

    Args:
        status: the HTTP status.
        detail: what went wrong with this request, and what to do about it.
        kind: a short slug naming the problem type (``urn:thongbao:problem:<kind>``); when
            None the type is ``about:blank`` and the title the status phrase.
        title: a summary of the problem type (default: the status phrase).
        instance: the request path the problem happened on.
        headers: extra response headers.
        **extra: extension members, e.g. ``errors``.

    Returns:
        The response, ready to return or raise.
    """
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind if kind else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return web.json_response(body, status=status, content_type=PROBLEM_JSON, headers=headers)


class ProblemError(Exception):
    """Raise this in a handler to answer with a problem document (see :func:`problem`)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.title = title
        self.headers = headers
        self.extra = extra

    def response(self, instance: str | None = None) -> web.Response:
        """The problem response for this error."""
        return problem(
            self.status,
            self.detail,
            kind=self.kind,
            title=self.title,
            instance=instance,
            headers=self.headers,
            **self.extra,
        )


def field_errors(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, object]]:
    """Pydantic's errors as ``{"loc": [...], "msg": ...}``, without echoing the input."""
    return [{"loc": [*prefix, *err["loc"]], "msg": err["msg"]} for err in exc.errors()]


def _from_http_exception(exc: web.HTTPException, path: str) -> web.Response:
    headers = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
    status = exc.status
    if status == 404:
        detail = f"there is nothing at {path}; see /openapi.json for the routes"
    elif status == 405:
        detail = f"{path} does not take this method; it allows {headers.get('Allow', 'none')}"
    elif status == 413:
        detail = f"{exc.text} Send less per request (split a large import into parts)."
    else:
        # aiohttp's text is "<status>: <reason>" unless a handler chose its own.
        text = exc.text or ""
        detail = text if text and not text.startswith(f"{status}:") else HTTPStatus(status).phrase
    return problem(status, detail, instance=path, headers=headers)


def _from_exception(exc: Exception, request: web.Request) -> web.Response:
    path = request.path
    if isinstance(exc, ProblemError):
        return exc.response(path)
    if isinstance(exc, ValidationError):
        return problem(
            422,
            "the request is not valid: see errors",
            kind="invalid-request",
            title="Invalid request",
            instance=path,
            errors=field_errors(exc),
        )
    if isinstance(exc, InvalidRequestError):
        return problem(
            422,
            str(exc),
            kind="invalid-request",
            title="Invalid request",
            instance=path,
            errors=exc.errors,
        )
    if isinstance(exc, ChannelNotFoundError):
        return problem(
            422, str(exc), kind="unknown-channel", title="Unknown channel", instance=path
        )
    if isinstance(exc, NotFoundError):
        return problem(404, str(exc), kind="not-found", title="Not found", instance=path)
    if isinstance(exc, IdempotencyConflictError):
        return problem(
            409,
            "this Idempotency-Key was already used with a different request body; "
            "use a new key for a new request",
            kind="idempotency-conflict",
            title="Idempotency-Key reused",
            instance=path,
        )
    log.error("api_error", method=request.method, path=path, error=type(exc).__name__, exc_info=exc)
    return problem(
        500, "the server failed to answer this request; it has been logged", instance=path
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error raised below into a problem document."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == PROBLEM_JSON:
            raise
        return _from_http_exception(exc, request.path)
    except ConnectionResetError:
        raise  # the client went away: there is no one to answer
    except Exception as exc:
        return _from_exception(exc, request)
