"""Bearer keys and roles: 401 without a good key, 403 for a role that may not, on every route."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.api.app import ENDPOINTS
from dispatcher.keys import Role

STAFF, SYSTEM, OPERATOR, ADMIN = Role.STAFF, Role.SYSTEM, Role.OPERATOR, Role.ADMIN
READERS = {STAFF, SYSTEM, OPERATOR}

# (method, route template, a concrete path, roles besides admin that may call it)
PROTECTED = [
    ("POST", "/v1/announcements", "/v1/announcements", {STAFF, SYSTEM}),
    ("GET", "/v1/announcements", "/v1/announcements", READERS),
    ("GET", "/v1/announcements/{id}", "/v1/announcements/x", READERS),
    ("GET", "/v1/announcements/{id}/deliveries", "/v1/announcements/x/deliveries", READERS),
    ("POST", "/v1/announcements/{id}/cancel", "/v1/announcements/x/cancel", {STAFF}),
    ("POST", "/v1/preview", "/v1/preview", READERS),
    ("GET", "/v1/deliveries/{id}", "/v1/deliveries/1", READERS),
    ("POST", "/v1/contacts/import", "/v1/contacts/import", {STAFF}),
    ("POST", "/v1/areas/import", "/v1/areas/import", {STAFF}),
    ("GET", "/v1/contacts/export", "/v1/contacts/export", set()),
    ("GET", "/v1/contacts/{id}", "/v1/contacts/x", {STAFF, OPERATOR}),
    ("PUT", "/v1/contacts/{id}/consents/{channel}", "/v1/contacts/x/consents/sms", {STAFF}),
    ("DELETE", "/v1/contacts/{id}", "/v1/contacts/x", set()),
    ("GET", "/v1/areas", "/v1/areas?q=ba", {STAFF, OPERATOR}),
    ("POST", "/v1/areas/official", "/v1/areas/official", set()),
    ("POST", "/v1/keys", "/v1/keys", set()),
    ("GET", "/hooks/test/private", "/hooks/test/private", {OPERATOR}),
    ("GET", "/hooks/test/readers", "/hooks/test/readers", {OPERATOR, SYSTEM}),
]
PUBLIC = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("POST", "/hooks/test/sms/receipts"),
]


def _route_id(method: str, path: str) -> str:
    return f"{method} {path}"


ROUTES = [pytest.param(m, p, id=_route_id(m, t)) for m, t, p, _ in PROTECTED]
DENIED = [
    pytest.param(m, p, role, id=f"{_route_id(m, t)}-{role}")
    for m, t, p, allowed in PROTECTED
    for role in Role
    if role not in allowed | {ADMIN}
]
GRANTED = [
    pytest.param(m, p, role, id=f"{_route_id(m, t)}-{role}")
    for m, t, p, allowed in PROTECTED
    for role in allowed | {ADMIN}
]


def test_the_table_above_covers_every_protected_endpoint() -> None:
    own = {(m, t, frozenset(a)) for m, t, _, a in PROTECTED if not t.startswith("/hooks/")}
    declared = {(e.method, e.path, frozenset(e.roles)) for e in ENDPOINTS if e.roles is not None}
    assert declared == own


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_missing_key_is_401_with_a_bearer_challenge(
    api_client: Any, method: str, path: str
) -> None:
    response = await api_client.client.request(method, path, json={})

    body = await api_client.problem(response, 401)
    assert ('Bearer realm="thongbao"', "urn:thongbao:problem:unauthorized") == (
        response.headers["WWW-Authenticate"],
        body["type"],
    )


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_unknown_key_is_401_invalid_token(api_client: Any, method: str, path: str) -> None:
    headers = {"Authorization": "Bearer tb_not-a-real-key"}

    response = await api_client.client.request(method, path, json={}, headers=headers)

    await api_client.problem(response, 401)
    assert 'Bearer realm="thongbao", error="invalid_token"' == response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param("Bearer", id="no-token"),
        pytest.param("Bearer    ", id="blank-token"),
        pytest.param("Basic c3RhZmY6c2VjcmV0", id="basic"),
        pytest.param("tb_abc", id="no-scheme"),
        pytest.param("Bearer " + "x" * 5000, id="huge-token"),
    ],
)
async def test_malformed_authorization_is_401(api_client: Any, header: str) -> None:
    response = await api_client.client.get("/v1/announcements", headers={"Authorization": header})

    await api_client.problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="thongbao"')


async def test_scheme_is_case_insensitive(api_client: Any) -> None:
    headers = {"Authorization": f"bearer {api_client.tokens[OPERATOR]}"}

    response = await api_client.client.get("/v1/announcements", headers=headers)

    assert 200 == response.status


@pytest.mark.parametrize(("method", "path", "role"), DENIED)
async def test_role_that_may_not_is_403(
    api_client: Any, method: str, path: str, role: Role
) -> None:
    response = await api_client.client.request(method, path, json={}, headers=api_client.auth(role))

    body = await api_client.problem(response, 403)
    allowed = next(a for m, _, p, a in PROTECTED if (m, p) == (method, path))
    assert ("urn:thongbao:problem:forbidden", sorted(allowed | {ADMIN})) == (
        body["type"],
        body["allowed_roles"],
    )
    assert f"this key has role {role}" in body["detail"]


@pytest.mark.parametrize(("method", "path", "role"), GRANTED)
async def test_role_that_may_gets_past_auth(
    api_client: Any, method: str, path: str, role: Role
) -> None:
    response = await api_client.client.request(method, path, json={}, headers=api_client.auth(role))

    assert response.status not in (401, 403)


@pytest.mark.parametrize(("method", "path"), [pytest.param(m, p, id=p) for m, p in PUBLIC])
async def test_public_routes_need_no_key(api_client: Any, method: str, path: str) -> None:
    response = await api_client.client.request(method, path)

    assert 200 == response.status


async def test_new_key_from_admin_works_for_its_role(api_client: Any) -> None:
    made = await api_client.client.post(
        "/v1/keys", json={"role": "operator", "name": "ward-7"}, headers=api_client.auth(ADMIN)
    )
    key = await made.json()

    read = await api_client.client.get(
        "/v1/announcements", headers={"Authorization": f"Bearer {key['token']}"}
    )
    post = await api_client.client.post(
        "/v1/announcements", json={}, headers={"Authorization": f"Bearer {key['token']}"}
    )

    assert (201, "ward-7", "operator") == (made.status, key["name"], key["role"])
    assert {"id", "name", "role", "created_at", "token"} == key.keys()
    assert (200, 403) == (read.status, post.status)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param("khóa".encode(), id="non-ascii"),
        pytest.param(b"tb_abc def", id="space-inside"),
    ],
)
async def test_token_outside_the_bearer_alphabet_is_401(api_client: Any, token: bytes) -> None:
    head = b"GET /v1/announcements HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token

    status, body = await api_client.raw(head)

    assert (401, 401) == (status, body["status"])
