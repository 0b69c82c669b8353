"""How a route of the API is declared: once, for both the router and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from dispatcher.channel import Handler
from dispatcher.keys import Role

Schema = type[BaseModel] | dict[str, Any]
"""A pydantic model, or a JSON schema written out (which may ``$ref`` the components)."""


@dataclass(frozen=True)
class Param:
    """A query or header parameter (path parameters come from the path itself)."""

    name: str
    where: Literal["query", "header"]
    schema: dict[str, Any]
    description: str
    required: bool = False


@dataclass(frozen=True)
class Reply:
    """A successful answer an endpoint gives."""

    status: int
    description: str
    schema: Schema | None = None
    media_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """One operation of the API.

    Attributes:
        method: the HTTP method.
        path: the aiohttp path, e.g. ``/v1/announcements/{id}``.
        handler: the aiohttp handler; its docstring becomes the operation's description.
        name: the route name and the OpenAPI ``operationId``.
        summary: one line for the OpenAPI document.
        tag: the OpenAPI tag grouping it.
        replies: its successful answers.
        roles: the key roles that may call it (``admin`` always may); None: no key needed.
        params: query and header parameters.
        body: the request body schema per media type (empty: no body).
        problems: problem statuses it may answer with besides the ones implied by the
            other fields (401/403 for roles, 400/413/422 for a body, 404 for a path id).
    """

    method: str
    path: str
    handler: Handler
    name: str
    summary: str
    tag: str
    replies: tuple[Reply, ...]
    roles: tuple[Role, ...] | None = None
    params: tuple[Param, ...] = ()
    body: Mapping[str, Schema] = field(default_factory=dict)
    problems: tuple[int, ...] = ()


def json_model(
    model: BaseModel, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response of a pydantic model, in its JSON mode."""
    return web.Response(
        text=model.model_dump_json(),
        status=status,
        headers=headers,
        content_type="application/json",
    )
