"""The OpenAPI document: valid 3.1, complete, and what /openapi.json serves."""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

from dispatcher.api.app import ENDPOINTS
from dispatcher.api.openapi import build_openapi, openapi_path


@pytest.fixture
async def document(api_client: Any) -> dict[str, Any]:
    response = await api_client.client.get("/openapi.json")
    assert 200 == response.status
    doc: dict[str, Any] = await response.json()
    return doc


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }


async def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)

    assert "3.1.0" == document["openapi"]


async def test_every_served_route_is_documented(api_client: Any, document: dict[str, Any]) -> None:
    served = {
        (route.method, openapi_path(route.resource.canonical)[0])
        for route in api_client.client.server.app.router.routes()
        if route.resource is not None
    }

    assert served == set(_operations(document))


async def test_protected_operations_name_bearer_auth_and_their_problems(
    document: dict[str, Any],
) -> None:
    ops = _operations(document)
    create = ops[("POST", "/v1/announcements")]
    private = ops[("GET", "/hooks/test/private")]

    assert [{"bearerAuth": []}] == create["security"] == private["security"]
    assert ["200", "201", "400", "401", "403", "409", "413", "422", "500"] == list(
        create["responses"]
    )
    assert {"401", "403", "default"} == set(private["responses"])
    assert "bearer" == document["components"]["securitySchemes"]["bearerAuth"]["scheme"]


async def test_public_operations_need_no_auth(document: dict[str, Any]) -> None:
    ops = _operations(document)

    assert all(
        [] == ops[key]["security"]
        for key in [
            ("GET", "/healthz"),
            ("GET", "/metrics"),
            ("POST", "/hooks/test/{channel}/receipts"),
        ]
    )


async def test_plugin_route_takes_its_docstring_and_path_parameters(
    document: dict[str, Any],
) -> None:
    op = _operations(document)[("POST", "/hooks/test/{channel}/receipts")]

    assert (
        "test_receipts",
        "A provider callback: public, like a real receipt webhook.",
        [{"name": "channel", "in": "path", "required": True, "schema": {"type": "string"}}],
    ) == (op["operationId"], op["summary"], op["parameters"])


async def test_schemas_come_from_the_models(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    body = _operations(document)[("POST", "/v1/announcements")]["requestBody"]

    assert {
        "AnnouncementIn",
        "Announcement",
        "Audience",
        "Delivery",
        "Contact",
        "Area",
        "Problem",
    } <= set(schemas)
    assert {"$ref": "#/components/schemas/AnnouncementIn"} == body["content"]["application/json"][
        "schema"
    ]
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', str(document).replace("'", '"')))
    assert refs <= set(schemas)


async def test_list_parameters_are_documented(document: dict[str, Any]) -> None:
    op = _operations(document)[("GET", "/v1/announcements/{id}/deliveries")]

    assert ["id", "status", "channel", "cursor", "limit"] == [p["name"] for p in op["parameters"]]
    assert {"type": "integer", "minimum": 1, "maximum": 500, "default": 50} == op["parameters"][-1][
        "schema"
    ]


def test_public_url_becomes_the_server() -> None:
    doc = build_openapi(ENDPOINTS, server_url="https://thongbao.example.vn")

    validate(doc)
    assert [{"url": "https://thongbao.example.vn"}] == doc["servers"]
