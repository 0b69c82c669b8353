"""Bad input on every route is a 4xx problem document, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from structlog.testing import capture_logs

from dispatcher.keys import Role

MAX_BODY = 64 * 1024  # as in conftest

BODY_ROUTES = [
    pytest.param("/v1/announcements", Role.STAFF, id="announcements"),
    pytest.param("/v1/contacts/import", Role.STAFF, id="contacts"),
    pytest.param("/v1/areas/import", Role.STAFF, id="areas"),
    pytest.param("/v1/keys", Role.ADMIN, id="keys"),
]
JSON = "application/json"
BAD_BODIES = [
    pytest.param(b"{not json", JSON, 400, id="not-json"),
    pytest.param(b"", JSON, 400, id="empty"),
    pytest.param(b'{"a": "\xff\xfe"}', JSON, 400, id="not-utf8"),
    pytest.param(b"[" * 20_000 + b"]" * 20_000, JSON, 400, id="nested-too-deep"),
    pytest.param(b'{"name": ["\\udc00"]}', JSON, 400, id="lone-surrogate"),
    pytest.param(b'{"role": "staff"}', "text/plain", 400, id="wrong-content-type"),
    pytest.param(b'{"role": "staff"}', "application/x-www-form-urlencoded", 400, id="form"),
    pytest.param(b'{"x": "' + b"a" * MAX_BODY + b'"}', JSON, 413, id="huge"),
    pytest.param(b"42", JSON, 422, id="json-number"),
    pytest.param(b'"text"', JSON, 422, id="json-string"),
    pytest.param(b"null", JSON, 422, id="json-null"),
    pytest.param(b"[1, 2]", JSON, 422, id="json-list-of-numbers"),
    pytest.param(b'{"unexpected": true}', JSON, 422, id="unknown-field"),
    pytest.param(b"{}", JSON, 422, id="missing-fields"),
]


@pytest.mark.parametrize(("path", "role"), BODY_ROUTES)
@pytest.mark.parametrize(("data", "content_type", "status"), BAD_BODIES)
async def test_bad_body_is_a_problem(
    api_client: Any, path: str, role: Role, data: bytes, content_type: str, status: int
) -> None:
    headers = {**api_client.auth(role), "Content-Type": content_type}

    response = await api_client.client.post(path, data=data, headers=headers)

    await api_client.problem(response, status)


BAD_ANNOUNCEMENTS = [
    pytest.param({"title": None}, ["title"], id="null-title"),
    pytest.param({"title": ""}, ["title"], id="empty-title"),
    pytest.param({"title": "x" * 501}, ["title"], id="title-too-long"),
    pytest.param({"body": 42}, ["body"], id="body-not-text"),
    pytest.param({"priority": "urgent!"}, ["priority"], id="bad-enum"),
    pytest.param({"mode": "some"}, ["mode"], id="bad-mode"),
    pytest.param({"send_at": "tomorrow"}, ["send_at"], id="bad-date"),
    pytest.param({"send_at": "2026-13-45T99:00:00+07:00"}, ["send_at"], id="impossible-date"),
    pytest.param({"send_at": "2026-03-01T08:00:00"}, [], id="date-without-zone"),
    pytest.param(
        {"send_at": "2026-03-01T08:00:00+07:00", "expires_at": "2026-03-01T07:00:00+07:00"},
        [],
        id="expires-before-send",
    ),
    pytest.param({"audience": {}}, ["audience"], id="empty-audience"),
    pytest.param({"audience": {"addresses": {"sms": []}}}, ["audience"], id="no-addresses"),
    pytest.param({"audience": []}, ["audience"], id="audience-not-object"),
    pytest.param({"channels": []}, ["channels"], id="no-channels"),
    pytest.param({"channels": "sms"}, ["channels"], id="channels-not-list"),
    pytest.param({"channels": ["sms", "sms"]}, [], id="channel-twice"),
    pytest.param({"channels": ["SMS!"]}, ["channels", 0], id="bad-channel-name"),
    pytest.param({"channels": ["sms", "fax"]}, ["channels", 1], id="unknown-channel"),
    pytest.param({"content": {"email": {"body": "x"}}}, [], id="content-for-unlisted-channel"),
    pytest.param({"max_attempts": 0}, ["max_attempts"], id="max-attempts-zero"),
    pytest.param({"max_attempts": "many"}, ["max_attempts"], id="max-attempts-not-int"),
    pytest.param({"variables": {"1bad": "x"}}, ["variables", "1bad", "[key]"], id="bad-variable"),
    pytest.param({"body": "Xin chào {{ ten }}"}, ["body"], id="unknown-template-variable"),
    pytest.param({"body": "{% if %}"}, ["body"], id="template-syntax-error"),
    pytest.param({"extra": 1}, ["extra"], id="unknown-field"),
]


@pytest.mark.parametrize(("changes", "loc"), BAD_ANNOUNCEMENTS)
async def test_invalid_announcement_is_422_naming_the_field(
    api_client: Any, announcement_body: Any, changes: dict[str, Any], loc: list[Any]
) -> None:
    response = await api_client.client.post(
        "/v1/announcements", json=announcement_body(**changes), headers=api_client.auth(Role.STAFF)
    )

    body = await api_client.problem(response, 422)
    assert "urn:thongbao:problem:invalid-request" == body["type"]
    assert loc in [error["loc"] for error in body["errors"]]
    assert all(error.keys() == {"loc", "msg"} for error in body["errors"])


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"variables": {"x": "\ud800"}}, id="variable-value"),
        pytest.param({"audience": {"contact_ids": ["\udfff"]}}, id="contact-id"),
    ],
)
async def test_lone_surrogate_in_an_unconstrained_field_is_400(
    api_client: Any, announcement_body: Any, changes: dict[str, Any]
) -> None:
    data = json.dumps(announcement_body(**changes))  # ensure_ascii: the surrogate as \\uXXXX

    response = await api_client.client.post(
        "/v1/announcements",
        data=data,
        headers={**api_client.auth(Role.STAFF), "Content-Type": "application/json"},
    )

    await api_client.problem(response, 400)


LIST_PATHS = [
    pytest.param("/v1/announcements", id="announcements"),
    pytest.param("/v1/announcements/{id}/deliveries", id="deliveries"),
]
BAD_QUERIES = [
    pytest.param({"status": "bogus"}, "status", id="bad-status"),
    pytest.param({"limit": "0"}, "limit", id="limit-zero"),
    pytest.param({"limit": "501"}, "limit", id="limit-too-big"),
    pytest.param({"limit": "-1"}, "limit", id="limit-negative"),
    pytest.param({"limit": "abc"}, "limit", id="limit-not-number"),
    pytest.param({"limit": "9" * 5000}, "limit", id="limit-5000-digits"),
    pytest.param({"limit": "٣"}, "limit", id="limit-arabic-digit"),
    pytest.param({"cursor": "garbage!!"}, "cursor", id="cursor-garbage"),
    pytest.param({"cursor": "YW5ub3VuY2VtZW50cw"}, "cursor", id="cursor-without-value"),
    pytest.param({"stauts": "queued"}, "stauts", id="unknown-parameter"),
    pytest.param([("limit", "1"), ("limit", "2")], "limit", id="repeated-parameter"),
]


@pytest.mark.parametrize("template", LIST_PATHS)
@pytest.mark.parametrize(("params", "name"), BAD_QUERIES)
async def test_bad_query_is_422_naming_the_parameter(
    api_client: Any, announcement_body: Any, template: str, params: Any, name: str
) -> None:
    created = await api_client.client.post(
        "/v1/announcements", json=announcement_body(), headers=api_client.auth(Role.STAFF)
    )
    path = template.format(id=(await created.json())["id"])

    response = await api_client.client.get(path, params=params, headers=api_client.auth(Role.STAFF))

    body = await api_client.problem(response, 422)
    assert [["query", name]] == [error["loc"] for error in body["errors"]]


WEIRD_IDS = [
    pytest.param("nope", id="word"),
    pytest.param("%00", id="nul"),
    pytest.param("%ED%A0%80", id="lone-surrogate"),
    pytest.param("%F0%9F%98%80", id="emoji"),
    pytest.param("'%20OR%201=1%20--", id="sql"),
    pytest.param("-1", id="negative"),
    pytest.param("1.5", id="fraction"),
    pytest.param("0x10", id="hex"),
    pytest.param("9" * 5000, id="5000-digits"),
]
ID_ROUTES = [
    pytest.param("GET", "/v1/announcements/{}", id="get-announcement"),
    pytest.param("GET", "/v1/announcements/{}/deliveries", id="list-deliveries"),
    pytest.param("POST", "/v1/announcements/{}/cancel", id="cancel"),
    pytest.param("GET", "/v1/deliveries/{}", id="get-delivery"),
]


@pytest.mark.parametrize(("method", "template"), ID_ROUTES)
@pytest.mark.parametrize("weird", WEIRD_IDS)
async def test_unknown_or_odd_id_is_404(
    api_client: Any, method: str, template: str, weird: str
) -> None:
    headers = api_client.auth(Role.ADMIN)

    response = await api_client.client.request(method, template.format(weird), headers=headers)

    await api_client.problem(response, 404)


@pytest.mark.parametrize(
    "number", [pytest.param(2**63, id="2**63"), pytest.param(10**400, id="1e400")]
)
async def test_delivery_id_beyond_int64_is_404(api_client: Any, number: int) -> None:
    response = await api_client.client.get(
        f"/v1/deliveries/{number}", headers=api_client.auth(Role.ADMIN)
    )

    await api_client.problem(response, 404)


async def test_unknown_route_is_404_problem(api_client: Any) -> None:
    response = await api_client.client.get("/v2/nothing-here")

    body = await api_client.problem(response, 404)
    assert ("about:blank", "Not Found", "/v2/nothing-here") == (
        body["type"],
        body["title"],
        body["instance"],
    )


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("DELETE", "/v1/announcements", "GET,HEAD,POST", id="delete-announcements"),
        pytest.param("PUT", "/v1/keys", "POST", id="put-keys"),
        pytest.param("POST", "/healthz", "GET,HEAD", id="post-healthz"),
    ],
)
async def test_wrong_method_is_405_problem_with_allow(
    api_client: Any, method: str, path: str, allow: str
) -> None:
    response = await api_client.client.request(method, path, headers=api_client.auth(Role.ADMIN))

    await api_client.problem(response, 405)
    assert set(allow.split(",")) >= set(response.headers["Allow"].split(","))


async def test_unexpected_error_is_logged_and_answered_without_internals(api_client: Any) -> None:
    with capture_logs() as logs:
        response = await api_client.client.get("/hooks/test/broken")

    body = await api_client.problem(response, 500)
    assert "hunter2" not in await response.text()
    assert [("api_error", "error", "GET", "/hooks/test/broken", "RuntimeError")] == [
        (e["event"], e["log_level"], e["method"], e["path"], e["error"]) for e in logs
    ]
    assert "/hooks/test/broken" == body["instance"]
