"""The OpenAPI 3.1 document of the API, generated from the endpoint table and the schemas.

Nothing here is written by hand twice: routes come from the same :class:`Endpoint` records
the router is built from, and bodies from the pydantic models that validate them.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypeGuard

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, JsonSchemaValue, models_json_schema

from dispatcher.api.endpoint import Endpoint, Reply, Schema
from dispatcher.api.models import Problem
from dispatcher.api.problems import PROBLEM_JSON
from dispatcher.channel import RouteSpec
from dispatcher.keys import Role

REF = "#/components/schemas/{model}"
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("thongbao_openapi", dict)

_PATH_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PROBLEM_TEXT = {
    400: "The body could not be read: not JSON (or CSV), or the wrong content type.",
    401: "No API key, or one that is not valid.",
    403: "The API key's role may not do this.",
    404: "There is no such object.",
    409: "The Idempotency-Key was used before with a different body.",
    413: "The body is larger than the server takes.",
    422: "The request is not valid; `errors` says where and why.",
    500: "The server failed; the error was logged.",
    503: "Not ready yet.",
}
ModelKey = tuple[type[BaseModel], JsonSchemaMode]


def _is_model(schema: Schema | None) -> TypeGuard[type[BaseModel]]:
    return isinstance(schema, type) and issubclass(schema, BaseModel)


def _models(endpoints: Iterable[Endpoint]) -> list[ModelKey]:
    wanted: set[ModelKey] = {(Problem, "serialization")}
    for endpoint in endpoints:
        for schema in endpoint.body.values():
            if _is_model(schema):
                wanted.add((schema, "validation"))
        for reply in endpoint.replies:
            if _is_model(reply.schema):
                wanted.add((reply.schema, "serialization"))
    return sorted(wanted, key=lambda item: (item[0].__name__, item[1]))


class _Builder:
    """Turns endpoints into path items, with the model references resolved."""

    def __init__(self, refs: Mapping[Any, JsonSchemaValue]) -> None:
        self.refs = refs

    def schema(self, schema: Schema, mode: JsonSchemaMode) -> dict[str, Any]:
        if isinstance(schema, dict):
            return schema
        return dict(self.refs[(schema, mode)])

    def reply(self, reply: Reply) -> dict[str, Any]:
        out: dict[str, Any] = {"description": reply.description}
        if reply.schema is not None:
            schema = self.schema(reply.schema, "serialization")
            out["content"] = {reply.media_type: {"schema": schema}}
        if reply.headers:
            out["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in reply.headers.items()
            }
        return out

    def operation(self, endpoint: Endpoint, path_params: list[dict[str, Any]]) -> dict[str, Any]:
        op: dict[str, Any] = {
            "operationId": endpoint.name,
            "summary": endpoint.summary,
            "description": _description(inspect.getdoc(endpoint.handler), endpoint.roles),
            "tags": [endpoint.tag],
            "security": [] if endpoint.roles is None else [{"bearerAuth": []}],
        }
        params = path_params + [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required,
                "description": p.description,
                "schema": p.schema,
            }
            for p in endpoint.params
        ]
        if params:
            op["parameters"] = params
        if endpoint.body:
            content = {
                m: {"schema": self.schema(s, "validation")} for m, s in endpoint.body.items()
            }
            op["requestBody"] = {"required": True, "content": content}
        responses = {str(r.status): self.reply(r) for r in endpoint.replies}
        for status in _problem_statuses(endpoint, bool(path_params)):
            responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
        op["responses"] = dict(sorted(responses.items()))
        return op


def _description(doc: str | None, roles: Sequence[Role] | None) -> str:
    if roles is None:
        who = "No API key needed."
    else:
        names = sorted({r.value for r in roles} | {Role.ADMIN.value})
        who = f"Roles: {', '.join(names)}."
    return f"{doc}\n\n{who}" if doc else who


def _problem_statuses(endpoint: Endpoint, has_path_params: bool) -> list[int]:
    statuses = set(endpoint.problems) | {500}
    if endpoint.roles is not None:
        statuses |= {401, 403}
    if endpoint.body:
        statuses |= {400, 413, 422}
    if endpoint.params:
        statuses.add(422)
    if has_path_params:
        statuses.add(404)
    return sorted(statuses)


def openapi_path(path: str) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI form of an aiohttp path (``{id:\\d+}`` → ``{id}``) and its parameters."""
    names = _PATH_PARAM.findall(path)
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in names
    ]
    return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", path), params


def _plugin_operation(route: RouteSpec, path: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    doc = inspect.getdoc(route.handler) or ""
    method = route.method.lower()
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    names = (route.role,) if isinstance(route.role, str) else route.role
    roles = None if names is None else tuple(Role(name) for name in names)
    responses: dict[str, Any] = {"default": {"description": "Answered by the plugin."}}
    if roles is not None:
        for status in (401, 403):
            responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    op: dict[str, Any] = {
        "operationId": route.name or f"plugin_{method}_{slug}",
        "summary": doc.splitlines()[0] if doc else f"{route.method.upper()} {path}",
        "description": _description(doc, roles),
        "tags": ["plugins"],
        "security": [] if roles is None else [{"bearerAuth": []}],
        "responses": responses,
    }
    if params:
        op["parameters"] = params
    return op


def _problem_responses(problem_ref: JsonSchemaValue) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, text in _PROBLEM_TEXT.items():
        response: dict[str, Any] = {
            "description": f"{HTTPStatus(status).phrase}. {text}",
            "content": {PROBLEM_JSON: {"schema": dict(problem_ref)}},
        }
        if status == 401:
            response["headers"] = {
                "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
            }
        responses[f"Problem{status}"] = response
    return responses


def _version() -> str:
    try:
        return importlib.metadata.version("thongbao")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def build_openapi(
    endpoints: Sequence[Endpoint],
    routes: Sequence[RouteSpec] = (),
    *,
    server_url: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``endpoints`` and plugin ``routes``.

    Args:
        endpoints: the API's own operations.
        routes: routes plugins added; documented with what their handlers' docstrings say.
        server_url: the public base URL, listed under ``servers`` when given.

    Returns:
        The document, ready for ``json.dumps``.
    """
    refs, top = models_json_schema(_models(endpoints), ref_template=REF)
    builder = _Builder(refs)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        path, params = openapi_path(endpoint.path)
        paths.setdefault(path, {})[endpoint.method.lower()] = builder.operation(endpoint, params)
    for route in routes:
        path, params = openapi_path(route.path)
        if route.method.lower() in _METHODS:
            paths.setdefault(path, {})[route.method.lower()] = _plugin_operation(
                route, path, params
            )
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "thongbao",
            "version": _version(),
            "description": "Multichannel dispatch of public announcements. Every error is an "
            "RFC 9457 problem document (application/problem+json).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": top.get("$defs", {}),
            "responses": _problem_responses(refs[(Problem, "serialization")]),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (tb_…) made with POST /v1/keys or the CLI.",
                }
            },
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


async def serve_openapi(request: web.Request) -> web.Response:
    """This document."""
    return web.json_response(request.app[OPENAPI])


_DOC_SCHEMA: dict[str, Any] = {"type": "object", "description": "An OpenAPI 3.1 document."}
ENDPOINTS = (
    Endpoint(
        "GET",
        "/openapi.json",
        serve_openapi,
        name="openapi",
        summary="This API, described in OpenAPI 3.1",
        tag="operations",
        replies=(Reply(200, "The document.", _DOC_SCHEMA),),
    ),
)
