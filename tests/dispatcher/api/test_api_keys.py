"""Admins make API keys over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.keys import Role


@pytest.mark.parametrize("role", list(Role))
async def test_admin_makes_a_key_of_each_role(api_client: Any, role: Role) -> None:
    response = await api_client.client.post(
        "/v1/keys",
        json={"role": role.value, "name": "xã Tân Phú"},
        headers=api_client.auth(Role.ADMIN),
    )

    body = await response.json()
    key = await api_client.services.authenticate(body.pop("token"))
    assert (201, body) == (
        response.status,
        {
            "id": key.id,
            "name": "xã Tân Phú",
            "role": role.value,
            "created_at": "2026-01-01T00:00:00Z",
        },
    )


async def test_name_defaults_to_the_role(api_client: Any) -> None:
    response = await api_client.client.post(
        "/v1/keys", json={"role": "system"}, headers=api_client.auth(Role.ADMIN)
    )

    assert "system-key" == (await response.json())["name"]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        pytest.param({"role": "root"}, ["role"], id="unknown-role"),
        pytest.param({"role": "staff", "name": "x" * 101}, ["name"], id="name-too-long"),
        pytest.param({"role": "staff", "token": "mine"}, ["token"], id="own-token"),
    ],
)
async def test_bad_key_request_is_422(
    api_client: Any, payload: dict[str, str], loc: list[str]
) -> None:
    response = await api_client.client.post(
        "/v1/keys", json=payload, headers=api_client.auth(Role.ADMIN)
    )

    body = await api_client.problem(response, 422)
    assert [loc] == [error["loc"] for error in body["errors"]]
